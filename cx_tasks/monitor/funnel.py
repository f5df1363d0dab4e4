"""The monitor stage's lines of the demo's funnel check (``cx_tasks.demo.funnel``)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from cx_tasks.demo.funnel import FunnelLine
from cx_tasks.monitor.history import latest_version, published_count
from cx_tasks.warehouse.schema import outbox


def funnel_lines(conn: Connection) -> list[FunnelLine]:
    """KPIs published (figures with a value in the latest recalculation) and digests sent
    (outbox messages of kind ``digest`` the server accepted)."""
    version = latest_version(conn)
    published = published_count(conn, version) if version else 0
    sent = conn.scalar(select(func.count()).select_from(outbox).where(
        outbox.c.kind == "digest", outbox.c.status == "sent")) or 0
    return [FunnelLine("KPIs published", published, 1, f"version {version}"),
            FunnelLine("digests sent", int(sent), 1, "daily, weekly, owners, managers")]
