"""E-mail: the outbox every message goes through, its templates, and MIME over SMTP."""
