"""The feedback rule tables: intake limits and acknowledgement age (``rules/feedback.yaml``),
and the owners (``rules/owners.yaml``): who owns each source of feedback and each process
class (the department, the person and the days a finding on it is due in)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cx_tasks.analyze.taxonomy import PROCESS_CLASSES
from cx_tasks.collect.contract import LANGUAGES
from cx_tasks.config import load_rules

FEEDBACK_SOURCES = ("survey", "claim", "ticket", "informal")
"""Where a piece of feedback came from (``feedback.source``)."""


class FeedbackRules(BaseModel):
    """Which informal notes are accepted; which feedback is still fresh enough to acknowledge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    informal_channels: tuple[str, ...] = Field(
        min_length=1, description="the channels an informal note may name")
    score_min: int = Field(1, description="lowest score of an informal note")
    score_max: int = Field(5, description="highest score of an informal note")
    text_max_chars: int = Field(4000, gt=0, description="longest text of an informal note")
    acknowledge_within_hours: float = Field(
        72, gt=0, description="feedback older than this when the acknowledging run comes is "
        "recorded as too_old, not acknowledged")

    @model_validator(mode="after")
    def _range(self) -> FeedbackRules:
        if self.score_min > self.score_max:
            raise ValueError("score_min is above score_max")
        return self


class Owner(BaseModel):
    """A team that owns feedback: its name per language, its address and the language its
    one-touch pages and e-mails speak."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: dict[str, str]
    email: str
    language: str = "en"

    @model_validator(mode="after")
    def _languages(self) -> Owner:
        missing = set(LANGUAGES) - set(self.name)
        if missing:
            raise ValueError(f"owner name missing for languages {sorted(missing)}")
        if self.language not in LANGUAGES:
            raise ValueError(f"owner language {self.language!r} is not one of {list(LANGUAGES)}")
        return self


class SourceOwner(BaseModel):
    """The owner of one feedback source and the response time the acknowledgement promises."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str
    respond_within_hours: int = Field(gt=0)


class Person(BaseModel):
    """A named person who answers for a process: name and e-mail address."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class ProcessOwner(BaseModel):
    """The owner of one process class: its department (an owner id), the person who answers
    for it, and the days a finding on it is due in after it was first found."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str
    person: Person
    due_days: int = Field(gt=0)


class Owners(BaseModel):
    """Owners by id, the owner of each feedback source (every source has one), of each
    process class (a class left out is unowned: its findings are listed as such) and of the
    metrics no process owns (``by_metric``: metric id -> owner, before the process class)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owners: dict[str, Owner]
    by_source: dict[str, SourceOwner]
    by_process: dict[str, ProcessOwner] = {}
    by_metric: dict[str, ProcessOwner] = {}

    @model_validator(mode="after")
    def _complete(self) -> Owners:
        if set(self.by_source) != set(FEEDBACK_SOURCES):
            raise ValueError(f"by_source must name exactly {list(FEEDBACK_SOURCES)}")
        unknown_classes = set(self.by_process) - set(PROCESS_CLASSES)
        if unknown_classes:
            raise ValueError(f"by_process names unknown process classes "
                             f"{sorted(unknown_classes)}; known: {list(PROCESS_CLASSES)}")
        assigned = [*self.by_source.values(), *self.by_process.values(),
                    *self.by_metric.values()]
        unknown = {a.owner for a in assigned} - set(self.owners)
        if unknown:
            raise ValueError(f"unknown owners {sorted(unknown)}")
        return self

    def language_of(self, owner_id: str) -> str:
        """The language owner ``owner_id``'s one-touch pages and e-mails speak (English for
        an owner not in the registry)."""
        owner = self.owners.get(owner_id)
        return owner.language if owner is not None else "en"

    def for_source(self, source: str) -> tuple[str, Owner, SourceOwner]:
        """The owner id, owner and promise for a feedback source."""
        assigned = self.by_source[source]
        return assigned.owner, self.owners[assigned.owner], assigned


def feedback_rules(rules_dir: Path | None = None) -> FeedbackRules:
    """``rules/feedback.yaml`` (or the user's copy in ``rules_dir``)."""
    return load_rules("feedback", FeedbackRules, rules_dir)


def owners(rules_dir: Path | None = None) -> Owners:
    """``rules/owners.yaml`` (or the user's copy in ``rules_dir``)."""
    return load_rules("owners", Owners, rules_dir)
