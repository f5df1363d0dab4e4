"""The monitor stage's rule table (``rules/monitor.yaml``): minimum n and confidence of the
KPIs, the satisfaction-money link's test, role gaps, and when digests go to whom."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cx_tasks.config import load_rules


class KpiRules(BaseModel):
    """Minimum n, the intervals' confidence and the trailing window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_n: int = Field(10, ge=1)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    trailing_days: int = Field(90, ge=7)


class LinkRules(BaseModel):
    """When the satisfaction-margin link is tested and who hears that it weakened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_clients: int = Field(10, ge=3)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    owner: str
    due_days: int = Field(14, ge=1)


class RoleGapRules(BaseModel):
    """An account where one role is satisfied (share at or above ``satisfied_at``) and
    another is not (below ``unsatisfied_below``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    satisfied_at: float = Field(75, ge=0, le=100)
    unsatisfied_below: float = Field(50, ge=0, le=100)
    min_answers: int = Field(3, ge=1)
    window_days: int = Field(180, ge=7)
    owner: str
    due_days: int = Field(14, ge=1)


class DigestRules(BaseModel):
    """When digests go, in the CX team's time zone, and whether an empty one goes at all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str
    daily_hour: int = Field(8, ge=0, le=23)
    weekly_weekday: int = Field(0, ge=0, le=6)
    send_when_empty: bool = False
    cx_team: tuple[str, ...] = Field(min_length=1)
    account_manager_address: str | None = None


class TrendRules(BaseModel):
    """How far back the computable metrics' trends per segment go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    months: int = Field(18, ge=1, le=120)


class MonitorRules(BaseModel):
    """``rules/monitor.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kpi: KpiRules
    link: LinkRules
    role_gap: RoleGapRules
    digests: DigestRules
    trends: TrendRules = TrendRules()


def monitor_rules(rules_dir: Path | None = None) -> MonitorRules:
    """The monitor rules (the user's copy if present)."""
    return load_rules("monitor", MonitorRules, rules_dir)


def digest_crons(rules_dir: Path | None = None) -> dict[str, tuple[str, str]]:
    """Per digest DAG (``daily``, ``weekly``) its cron and the CX team's time zone."""
    digests = monitor_rules(rules_dir).digests
    weekday = (digests.weekly_weekday + 1) % 7  # cron counts Sunday 0, Monday 1
    return {"daily": (f"0 {digests.daily_hour} * * *", digests.timezone),
            "weekly": (f"0 {digests.daily_hour} * * {weekday}", digests.timezone)}
