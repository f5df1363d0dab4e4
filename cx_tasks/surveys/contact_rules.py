"""The contact rules (``rules/contact_rules.yaml``): how often anyone at a client is asked.

Every limit is a number the CX team may change; each field's default and meaning is
documented here and beside it in the YAML file. Windows are rolling and half-open: an
earlier invitation counts while it is *less than* the window older than the new one, so an
invitation exactly ``N`` days old no longer counts.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cx_tasks.config import load_rules


class ContactRules(BaseModel):
    """Limits on invitations per contact, per account, per role and per order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contact_transactional_limit: int = Field(
        1, ge=0, description="transactional invitations per contact within contact_window_days")
    contact_window_days: float = Field(30, gt=0, description="rolling window of the contact limit")
    awaiting_answer_days: float = Field(
        7, ge=0, description="no invitation while one of the contact's is unanswered and "
                             "younger than this")
    account_limit: int = Field(
        3, ge=0, description="invitations (all kinds) per account within account_window_days")
    account_window_days: float = Field(30, gt=0, description="rolling window of the account limit")
    role_limit: int = Field(
        1, ge=0, description="invitations per account and role within role_window_days")
    role_window_days: float = Field(30, gt=0, description="rolling window of the role limit")
    order_limit: int = Field(
        1, ge=0, description="transactional invitations per order and role, ever")
    duplicate_content_hours: float = Field(
        12, ge=0, description="the same content (survey) never twice to a contact within this")
    relationship_tenure_months: int = Field(
        18, ge=0, description="clients older than this (from contract_start) are established")
    relationship_per_year_established: int = Field(
        1, ge=1, description="relationship surveys per year and role for established clients")
    relationship_per_year_new: int = Field(
        2, ge=1, description="relationship surveys per year and role for younger clients")
    relationship_first_window_days: float = Field(
        30, gt=0, description="a client never asked is first asked within this many days after "
                              "its contract anniversary (or half-year mark): first relationship "
                              "surveys spread over the year")
    key_account_in_person: bool = Field(
        True, description="a key account gets no transactional e-mail survey: its account "
                          "manager is asked to collect the feedback in person instead "
                          "(skip reason key_account_in_person)")
    skip_open_claim: bool = Field(
        True, description="no survey to an account with an open claim (acknowledgements go)")
    event_max_age_hours: float = Field(
        72, gt=0, description="an event survey that would go out later than this after its "
                              "due time is not sent (stale_event): ask when it happened")
    reminder_after_days: float = Field(
        5, gt=0, description="one reminder this long after an unanswered invitation; "
                             "reminders never count against the limits")


def contact_rules(rules_dir: Path | None = None) -> ContactRules:
    """The contact rules from ``contact_rules.yaml`` (the user's copy if present)."""
    return load_rules("contact_rules", ContactRules, rules_dir)
