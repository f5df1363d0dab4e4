"""How the warehouse stores moments: naive UTC datetimes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as the warehouse stores it: UTC without a zone (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def midnight(day: date) -> datetime:
    """The first moment of ``day`` as the warehouse stores it (a window ``[start, end)`` of
    days starts at ``midnight(start)`` and ends before ``midnight(end)``)."""
    return datetime.combine(day, time())
