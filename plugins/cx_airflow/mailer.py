"""The outbox's transport under Airflow: ``SmtpHook`` sessions from ``smtp_default``.

The hook opens each session from the connection (host, port, TLS/SSL, credentials,
retry limit); the sender is the connection's extra ``from_email``.
``cx_tasks.mail.smtp`` builds the MIME (text + HTML alternative, the outbox's
``Message-ID``), reads the server's answers and closes the session. A batch goes over
one session (``per_message=True``: one session per message, slower, kept for
comparison). A session that cannot be opened leaves the whole batch queued.
"""

from __future__ import annotations

from cx_tasks.mail.outbox import DeliveryOutcome, OutboxMessage, Transport

SMTP_CONN_ID = "smtp_default"


def smtp_transport(conn_id: str = SMTP_CONN_ID, *, per_message: bool = False) -> Transport:
    """A ``send_batch`` for ``cx_tasks.mail.outbox.deliver`` over the Airflow connection."""
    from cx_tasks.mail.outbox import outbox_rules

    sessions = outbox_rules().sessions  # read once per transport, not per batch

    def send_batch(messages: list[OutboxMessage]) -> list[DeliveryOutcome]:
        import smtplib

        from airflow.providers.smtp.hooks.smtp import SmtpHook
        from airflow.sdk.exceptions import AirflowException

        from cx_tasks.mail.smtp import OPEN_ERRORS, session_transport, unreachable

        try:
            sender = SmtpHook.get_connection(conn_id).extra_dejson.get("from_email")
        except AirflowException as error:
            return unreachable(messages, error)
        if not sender:
            raise ValueError(f"connection {conn_id!r} has no extra 'from_email'")

        def open_session() -> smtplib.SMTP:
            # The hook exposes its session only as _smtp_client (its own test_connection
            # reads it the same way); we send our own MIME with the outbox's Message-ID.
            return SmtpHook(smtp_conn_id=conn_id).get_conn()._smtp_client

        transport = session_transport(open_session, sender, per_message=per_message,
                                      sessions=sessions,
                                      open_errors=(*OPEN_ERRORS, AirflowException))
        return transport(messages)

    return send_batch
