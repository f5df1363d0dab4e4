"""The outbox's transport under Airflow: one ``SmtpHook`` session per batch.

The hook opens the session from the ``smtp_default`` connection (host, port, TLS/SSL,
credentials, ``from_email``); ``cx_tasks.mail.smtp`` builds the MIME (text + HTML
alternative, the outbox's ``Message-ID``) and reads the server's answers. A session that
cannot be opened leaves the whole batch queued for the next run.
"""

from __future__ import annotations

from collections.abc import Callable

from cx_tasks.mail.outbox import DeliveryOutcome, OutboxMessage

SMTP_CONN_ID = "smtp_default"


def smtp_transport(
    conn_id: str = SMTP_CONN_ID,
) -> Callable[[list[OutboxMessage]], list[DeliveryOutcome]]:
    """A ``send_batch`` for ``cx_tasks.mail.outbox.deliver`` over the Airflow connection."""

    def send_batch(messages: list[OutboxMessage]) -> list[DeliveryOutcome]:
        import smtplib

        from airflow.providers.smtp.hooks.smtp import SmtpHook
        from airflow.sdk.exceptions import AirflowException

        from cx_tasks.mail.smtp import send_over, unreachable

        hook = SmtpHook(smtp_conn_id=conn_id)
        try:
            hook.get_conn()
        except (OSError, smtplib.SMTPException, AirflowException) as error:
            return unreachable(messages, error)
        with hook:  # the session is open: entering is a no-op, leaving closes it
            if not hook.from_email:
                raise ValueError(f"connection {conn_id!r} has no extra 'from_email'")
            # The hook exposes its session only as _smtp_client (its own test_connection
            # reads it the same way); we send our own MIME with the outbox's Message-ID.
            return send_over(hook._smtp_client, hook.from_email, messages)

    return send_batch
