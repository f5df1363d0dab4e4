"""How the warehouse stores moments: naive UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as the warehouse stores it: UTC without a zone (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
