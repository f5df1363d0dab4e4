"""The demo's simulated contacts: they read the survey e-mails the local SMTP server received
and answer some of them through the response app's real endpoints, as a person clicking a
score link and filling the form would, with scores that follow their true satisfaction
(the simulator's ground truth, which only the simulated world knows).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path

import httpx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from cx_tasks.config import load_rules
from cx_tasks.warehouse.db import engine_for


class RespondentRules(BaseModel):
    """How simulated contacts answer (``rules/respondents.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    response_rate: float
    form_rate: float
    comment_rate: dict[str, float]
    unhappy_below: float
    noise_points: float
    answer_within_hours: float = Field(36, gt=0)
    factors: dict[str, tuple[str, ...]]
    comments: dict[str, dict[str, tuple[str, ...]]]


def respondent_rules() -> RespondentRules:
    """The respondents' rules from ``respondents.yaml`` (the user's copy if present)."""
    return load_rules("respondents", RespondentRules)


@dataclass(frozen=True)
class Respondent:
    """What a simulated contact knows about themself: who, in which language, how satisfied."""

    contact_id: str
    client_id: str
    language: str
    satisfaction: float
    """True satisfaction of the contact's role at the client, 0-100."""
    factor_scores: dict[str, float]
    """True score of each simulated factor at the client, 0-100."""


@dataclass(frozen=True)
class Invitation:
    """A received survey e-mail: its Message-ID, to whom, and its score links (score ->
    address)."""

    message_id: str
    recipient: str
    score_links: dict[int, str]
    sent_at: datetime | None = None


class AnswerClock:
    """The response app's clock while the simulated contacts answer: ``at(invitation)`` sets
    it to a moment drawn uniformly between the invitation's sending (or ``hours`` before
    ``now()``, if later) and ``now()``; deterministic for a seed and the same invitations."""

    def __init__(self, now: Callable[[], datetime], hours: float, seed: int) -> None:
        self._now, self._hours = now, hours
        self._rng = np.random.default_rng(seed)
        self._moment: datetime | None = None

    def at(self, invitation: Invitation) -> None:
        end = self._now()
        start = end - timedelta(hours=self._hours)
        if invitation.sent_at is not None:
            start = min(max(start, invitation.sent_at), end)
        self._moment = start + (end - start) * float(self._rng.random())

    def __call__(self) -> datetime:
        return self._moment if self._moment is not None else self._now()


@dataclass
class Answers:
    """What the simulated contacts did."""

    invitations: int = 0
    answered: int = 0
    forms_sent: int = 0
    comments: int = 0
    refused: int = 0


class _Hrefs(HTMLParser):
    """The ``href`` of every link in an HTML document."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


class _Form(HTMLParser):
    """The follow-up form: its action and the scores each radio question offers."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.questions: dict[str, list[int]] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("type") == "radio" and a.get("name") and a.get("value"):
            self.questions.setdefault(a["name"], []).append(int(a["value"]))


def survey_invitations(messages: Iterable[EmailMessage], base_url: str) -> list[Invitation]:
    """The received e-mails that carry score links into the response app at ``base_url``."""
    score_link = re.compile(re.escape(base_url) + r"/r/[^?\s\"]+\?score=(\d+)$")
    found = []
    for message in messages:
        body = message.get_body(("html",))
        if body is None:
            continue
        links = {int(m.group(1)): href for href in _Hrefs(body.get_content()).hrefs
                 if (m := score_link.match(href))}
        if links:
            sent = message["Date"]
            found.append(Invitation(str(message["Message-ID"]), str(message["To"]), links,
                                    parsedate_to_datetime(str(sent)) if sent else None))
    return found


def respondents(source_url: str, ground_truth_db: Path) -> dict[str, Respondent]:
    """Every simulated contact by e-mail address, with their role's and client's truth."""
    with engine_for(source_url).connect() as source:
        contacts = source.execute(text(
            "SELECT email, contact_id, client_id, role, language FROM crm_contacts")).all()
    with sqlite3.connect(ground_truth_db) as truth:
        roles = {(c, r): s for c, r, s in truth.execute(
            "SELECT client_id, role, satisfaction FROM role_truth")}
        factors: dict[str, dict[str, float]] = {}
        for client, factor, score in truth.execute(
                "SELECT client_id, factor, score FROM factor_scores"):
            factors.setdefault(client, {})[factor] = score
    return {email: Respondent(contact, client, language, roles.get((client, role), 50.0),
                              factors.get(client, {}))
            for email, contact, client, role, language in contacts}


def score_on(scale: list[int], satisfaction: float, noise: float,
             rng: np.random.Generator) -> int:
    """A score on ``scale`` for a true satisfaction (0-100) plus noise: the nearest step."""
    low, high = min(scale), max(scale)
    felt = float(np.clip(satisfaction + rng.normal(0, noise), 0, 100))
    return int(round(low + (high - low) * felt / 100))


def _factor_truth(question: str, who: Respondent, rules: RespondentRules) -> float:
    """The contact's true score for a factor question (``q_<id>``), else their satisfaction."""
    simulated = [who.factor_scores[f] for f in rules.factors.get(question.removeprefix("q_"), ())
                 if f in who.factor_scores]
    return float(np.mean(simulated)) if simulated else who.satisfaction


def answer(invitations: list[Invitation], people: dict[str, Respondent], rules: RespondentRules,
           http: httpx.Client, seed: int,
           before_answer: Callable[[Invitation], None] | None = None) -> Answers:
    """Let each invitation's contact decide and, if they answer, click and fill the form over
    ``http`` (an ``httpx.Client``); deterministic for a seed and the same invitations.
    ``before_answer`` hears each invitation about to be answered (``AnswerClock.at``)."""
    rng = np.random.default_rng(seed)
    done = Answers(invitations=len(invitations))
    # the outbox's Message-ID follows the idempotency key: the same order on every run,
    # whatever order the messages arrived in
    for invitation in sorted(invitations, key=lambda i: i.message_id):
        who = people.get(invitation.recipient)
        if who is None or rng.random() >= rules.response_rate:
            continue
        scale = sorted(invitation.score_links)
        score = score_on(scale, who.satisfaction, rules.noise_points, rng)
        if before_answer is not None:
            before_answer(invitation)
        page = http.get(invitation.score_links[score], follow_redirects=True)
        if page.status_code != 200:
            done.refused += 1
            continue
        done.answered += 1
        if rng.random() >= rules.form_rate:
            continue
        form = _Form(page.text)
        data = {name: str(score_on(values, _factor_truth(name, who, rules),
                                   rules.noise_points, rng))
                for name, values in form.questions.items()}
        unhappy = (score - scale[0]) < rules.unhappy_below * (scale[-1] - scale[0])
        mood = "unhappy" if unhappy else "happy"
        if rng.random() < rules.comment_rate[mood]:
            texts = rules.comments[mood][who.language]
            data["comment"] = texts[int(rng.integers(len(texts)))]
            done.comments += 1
        posted = http.post(str(page.url.join(form.action or "")), data=data,
                           follow_redirects=True)
        done.forms_sent += posted.status_code == 200
        done.refused += posted.status_code != 200
    return done
