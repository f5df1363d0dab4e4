"""Callbacks that tell the data engineers when a task fails for good."""

from __future__ import annotations

from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from cx_tasks.mail.recipients import alert_recipients

FAILURE_SUBJECT = "[CX Loop] {{ dag.dag_id }}.{{ ti.task_id }} failed ({{ run_id }})"
FAILURE_HTML = (
    "<p>Task <code>{{ ti.task_id }}</code> of <code>{{ dag.dag_id }}</code> failed after "
    "{{ ti.try_number }} tries, run <code>{{ run_id }}</code>, data interval "
    "{{ data_interval_start }} to {{ data_interval_end }}.</p>"
    "<p>Log: <a href=\"{{ ti.log_url }}\">{{ ti.log_url }}</a></p>"
)


def task_failure_notifier() -> SmtpNotifier:
    """An ``on_failure_callback`` mailing the data engineers (``CX_ALERT_EMAILS``) through
    the ``smtp_default`` connection. Task failures are Airflow's business, so this is the
    one e-mail that does not go through the outbox (the outbox lives in the warehouse,
    which may be the thing that failed)."""
    return SmtpNotifier(to=alert_recipients(), subject=FAILURE_SUBJECT, html_content=FAILURE_HTML)
