"""The implement stage's rule table ``rules/implement.yaml``: what opens a close-the-loop
case, its clocks and escalation ladder, how initiatives are proposed and approved, and how
"you said, we did" e-mails are paced. Each key is explained in the YAML beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cx_tasks.collect.contract import LANGUAGES
from cx_tasks.config import load_rules
from cx_tasks.feedback.rules import Person


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseTriggers(_Frozen):
    """Which feedback opens a case (``cases.triggers``)."""

    nps_detractor_max: int = Field(6, ge=0, le=10)
    csat_max: int = Field(2, ge=1, le=5)
    ces_max: int = Field(3, ge=1, le=7)
    contact_phrases: tuple[str, ...] = ()
    deterioration: bool = True
    key_account_negative: bool = True
    open_within_hours: float = Field(72, gt=0)


class Clocks(_Frozen):
    """Hours to acknowledge and to close a case, and whether weekends count."""

    acknowledge_hours: int = Field(24, gt=0)
    close_hours: int = Field(48, gt=0)
    count_weekends: bool = True


class EscalationStep(_Frozen):
    """One rung of the ladder: at this share of a clock elapsed, tell this person."""

    step: str = Field(pattern=r"^[a-z_]+$")
    at: float = Field(gt=0)
    to: Literal["owner", "manager", "cx_lead"]


class Escalee(Person):
    """A person on the escalation ladder (a department's manager, the CX lead): name,
    address and, optionally, the language of their e-mails (else the case owner's)."""

    language: str | None = None

    @model_validator(mode="after")
    def _language(self) -> Escalee:
        if self.language is not None and self.language not in LANGUAGES:
            raise ValueError(f"language {self.language!r} is not one of {list(LANGUAGES)}")
        return self


class CaseRules(_Frozen):
    """``cases``: triggers, clocks, the escalation ladder and who sits on it."""

    triggers: CaseTriggers = CaseTriggers()
    clocks: Clocks = Clocks()
    escalation: tuple[EscalationStep, ...] = ()
    managers: dict[str, Escalee] = {}
    cx_lead: Escalee
    link_valid_hours: int = Field(168, gt=0)
    tell_client_on_close: bool = True

    @model_validator(mode="after")
    def _ladder(self) -> CaseRules:
        names = [s.step for s in self.escalation]
        if len(set(names)) != len(names):
            raise ValueError(f"escalation steps named twice: {names}")
        shares = [s.at for s in self.escalation]
        if shares != sorted(shares):
            raise ValueError("escalation steps must be listed by ascending share of the clock")
        return self


class Milestone(_Frozen):
    """A milestone every proposed initiative starts with: planned this many days after
    approval; ``client_visible`` ones are told to the clients who spoke."""

    id: str = Field(pattern=r"^[a-z_]+$")
    title: dict[str, str]
    days_after_approval: int = Field(ge=0)
    client_visible: bool = False


class InitiativeRules(_Frozen):
    """``initiatives``: proposals from the Pareto, their milestones, rejection cool-down."""

    window_days: int = Field(30, gt=0)
    min_complaints: int = Field(3, ge=1)
    cool_down_days: int = Field(60, ge=0)
    milestones: tuple[Milestone, ...] = Field(min_length=1)
    expected_effect_points: float = Field(5.0, gt=0)
    expected_effect_days: int = Field(90, gt=0)
    milestone_link_valid_days: int = Field(180, gt=0)
    stalled_after_days: int = Field(21, gt=0)


class KeyAccountSender(_Frozen):
    """A key account's progress e-mail comes from its account manager (the ERP's
    ``account_manager`` name): the address of each manager, and the team address used as
    reply-to for a manager not listed."""

    addresses: dict[str, str] = {}
    fallback_reply_to: str = Field("accounts@example.com", pattern=r"^[^@\s]+@[^@\s]+$")


class ProgressRules(_Frozen):
    """``progress``: "you said, we did" e-mails."""

    min_days_between: int = Field(14, ge=0)
    include_other_roles: bool = False
    quote_chars: int = Field(200, gt=10)
    key_accounts: KeyAccountSender = KeyAccountSender()


class ImplementRules(_Frozen):
    """``rules/implement.yaml``."""

    cases: CaseRules
    initiatives: InitiativeRules
    progress: ProgressRules = ProgressRules()


def implement_rules(rules_dir: Path | None = None) -> ImplementRules:
    """``rules/implement.yaml`` (or the user's copy in ``rules_dir``)."""
    return load_rules("implement", ImplementRules, rules_dir)
