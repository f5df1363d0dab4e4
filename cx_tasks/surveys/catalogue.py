"""The survey catalogue (``rules/survey_catalogue.yaml``): the questions, and which survey
each trigger event and each role gets, when, and to whom.

A transactional survey belongs to one event type: CSAT (1-5) first, then CES (1-7), one or
two factor questions, and a comment; it is sent ``send_after_hours`` after the event to
the contacts of its ``roles`` (and, with ``event_contact``, to the contact who raised the
claim or ticket). A relationship survey belongs to one role: NPS (0-10) first, factor
ratings, and a comment. Question texts are given in every shipped language.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cx_tasks.collect.contract import LANGUAGES, ROLES
from cx_tasks.config import load_rules
from cx_tasks.metrics.catalogue import VALUE_ELEMENTS

EVENT_TYPES = ("delivery_completed", "otif_miss", "claim_closed", "ticket_resolved",
               "document_delay")
"""The trigger events ``cx_tasks.collect.events`` detects."""

SCALES = {"csat": (1, 5), "ces": (1, 7), "nps": (0, 10), "factor": (1, 5)}
"""Answer range of each scored question kind (a comment has none)."""

QuestionKind = Literal["csat", "ces", "nps", "factor", "comment"]
Role = Literal["economic_buyer", "technical_buyer", "operator"]


class Question(BaseModel):
    """One question: its kind, the factor it rates and the asked metric its answers give
    (factor questions only), and its texts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: QuestionKind = Field(description="csat 1-5, ces 1-7, nps 0-10, factor 1-5, comment")
    factor: str | None = Field(None, description="value element rated (factor questions only)")
    metric: str | None = Field(
        None, description="the asked metric of the metric catalogue the answers give (factor "
        "questions only; its factor is this question's, checked by factors.factor_catalogue)")
    text: dict[str, str] = Field(description="question text per language (ru and en)")

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        if not (self.kind == "factor") == (self.factor is not None) == (self.metric is not None):
            raise ValueError("a factor question names a factor and a metric; other kinds do not")
        if self.factor is not None and self.factor not in VALUE_ELEMENTS:
            raise ValueError(f"unknown factor {self.factor!r}")
        missing = set(LANGUAGES) - set(self.text)
        if missing:
            raise ValueError(f"question text missing for languages {sorted(missing)}")
        return self

    @property
    def scale(self) -> tuple[int, int] | None:
        """Lowest and highest answer, or None for a comment."""
        return SCALES.get(self.kind)


class Survey(BaseModel):
    """One survey: transactional (per event type) or relationship (per role)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="the survey's id everywhere")
    kind: Literal["transactional", "relationship"]
    event_type: str | None = Field(None, description="trigger event (transactional only)")
    send_after_hours: float = Field(0, ge=0, description="hours from the event to the send")
    roles: tuple[Role, ...] = Field(description="roles asked, in this order (one contact each)")
    event_contact: bool = Field(
        False, description="also ask the contact who raised it (claims, tickets), first")
    questions: tuple[str, ...] = Field(min_length=3, description="question ids, in order")


class SurveyCatalogue(BaseModel):
    """Questions by id and the surveys built from them; every event type and role covered once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: dict[str, Question]
    surveys: tuple[Survey, ...]
    link_valid_days: int = Field(30, ge=1, description="days an e-mailed answer link works")
    unsubscribe_valid_days: int = Field(365, ge=1, description="days an unsubscribe link works")
    comment_max_chars: int = Field(2000, ge=1, description="longest comment a response keeps")
    legacy_questions: dict[str, str] = Field(
        default_factory=dict,
        description="a question id answers were stored under before a remap -> the current "
        "question that asks for the same factor (its answers count as that question's)")

    @model_validator(mode="after")
    def _complete(self) -> SurveyCatalogue:
        self._check_legacy()
        for survey in self.surveys:
            self._check_shape(survey)
        events = [s.event_type for s in self.surveys if s.kind == "transactional"]
        roles = [r for s in self.surveys if s.kind == "relationship" for r in s.roles]
        if sorted(events) != sorted(EVENT_TYPES):
            raise ValueError(f"need one transactional survey per event type, got {events}")
        if sorted(roles) != sorted(ROLES):
            raise ValueError(f"need one relationship survey per role, got {roles}")
        ids = [s.id for s in self.surveys]
        if len(set(ids)) != len(ids):
            raise ValueError(f"survey ids listed more than once: {ids}")
        return self

    def _check_legacy(self) -> None:
        for old, current in self.legacy_questions.items():
            if old in self.questions:
                raise ValueError(f"legacy_questions: {old!r} is a current question id")
            if current not in self.questions or self.questions[current].scale is None:
                raise ValueError(f"legacy_questions: {old!r} -> {current!r}, which is no "
                                 "scored question of the catalogue")

    def current_question(self, question_id: str) -> str:
        """The current id of a question: a legacy id's (``legacy_questions``), else itself."""
        return self.legacy_questions.get(question_id, question_id)

    def _check_shape(self, survey: Survey) -> None:
        if not survey.roles and not survey.event_contact:
            raise ValueError(f"survey {survey.id}: asks nobody (no roles, no event contact)")
        unknown = [q for q in survey.questions if q not in self.questions]
        if unknown:
            raise ValueError(f"survey {survey.id}: unknown questions {unknown}")
        kinds = [self.questions[q].kind for q in survey.questions]
        head = ["csat", "ces"] if survey.kind == "transactional" else ["nps"]
        factors = len(kinds) - len(head) - 1
        most = 2 if survey.kind == "transactional" else len(kinds)
        shaped = kinds == [*head, *["factor"] * factors, "comment"] and 1 <= factors <= most
        if not shaped or (survey.event_type in EVENT_TYPES) != (survey.kind == "transactional"):
            raise ValueError(f"survey {survey.id}: a transactional survey (with an event type) "
                             "asks csat, ces, 1-2 factors, comment; a relationship survey asks "
                             f"nps, factors, comment; got {kinds}")

    def for_event(self, event_type: str) -> Survey:
        """The transactional survey of ``event_type``."""
        return next(s for s in self.surveys if s.event_type == event_type)

    def for_role(self, role: str) -> Survey:
        """The relationship survey of ``role``."""
        return next(s for s in self.surveys if s.kind == "relationship" and role in s.roles)


def survey_catalogue(rules_dir: Path | None = None) -> SurveyCatalogue:
    """The survey catalogue from ``survey_catalogue.yaml`` (the user's copy if present)."""
    return load_rules("survey_catalogue", SurveyCatalogue, rules_dir)
