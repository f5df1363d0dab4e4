"""The data engineers' alert when the data-quality gate blocks an interval.

Recipients come from configuration (``cx_tasks.mail.recipients``). One outbox message
per recipient, keyed ``quality_alert:<interval start, ISO>:<recipient>``, created at the
interval's end: a rerun of the interval enqueues nothing new and an engineer is never alerted twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection

from cx_tasks.mail.outbox import enqueue
from cx_tasks.mail.render import RenderedMail, render_mail

KIND = "quality_alert"


def render_quality_alert(
    *,
    interval_start: datetime,
    interval_end: datetime,
    failed_expectations: Sequence[str],
    quarantined_by_rule: Mapping[str, int],
    results_path: str | None,
) -> RenderedMail:
    """The alert's subject and bodies: every failed expectation, quarantine counts, GX results."""
    return render_mail(KIND, "en", {
        "interval_start": interval_start,
        "interval_end": interval_end,
        "failed_expectations": list(failed_expectations),
        "quarantined_by_rule": sorted(quarantined_by_rule.items(), key=lambda kv: (-kv[1], kv[0])),
        "quarantined_total": sum(quarantined_by_rule.values()),
        "results_path": results_path,
    })


def alert_key(interval_start: datetime, recipient: str) -> str:
    """The idempotency key of the alert for one interval and recipient."""
    return f"{KIND}:{interval_start.isoformat()}:{recipient}"


def enqueue_quality_alert(
    conn: Connection,
    *,
    interval_start: datetime,
    interval_end: datetime,
    failed_expectations: Sequence[str],
    quarantined_by_rule: Mapping[str, int],
    results_path: str | None,
    recipients: Sequence[str],
) -> int:
    """Put the alert for a blocked interval in the outbox, once per recipient; return how many
    messages were new (0 on a rerun). Times are naive UTC, as the warehouse stores them."""
    mail = render_quality_alert(
        interval_start=interval_start, interval_end=interval_end,
        failed_expectations=failed_expectations, quarantined_by_rule=quarantined_by_rule,
        results_path=results_path,
    )
    return sum(
        enqueue(conn, idempotency_key=alert_key(interval_start, recipient), kind=KIND,
                recipient=recipient, subject=mail.subject, body_text=mail.text,
                body_html=mail.html, created_at=interval_end)
        for recipient in recipients
    )
