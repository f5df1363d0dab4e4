"""The demo's simulated contacts: scores follow true satisfaction, invitations are read from
received e-mails, and answers go through the response app's real endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from fixtures.surveys import store_invitation
from sqlalchemy import select

from cx_tasks.config import settings
from cx_tasks.demo.respondents import (
    Invitation,
    Respondent,
    answer,
    respondent_rules,
    score_on,
    survey_invitations,
)
from cx_tasks.surveys.app import create_app
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.links import answer_token, score_links
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import survey_answers, survey_responses

BASE = "http://127.0.0.1:8765"


def test_scores_follow_satisfaction_on_every_scale() -> None:
    rng = np.random.default_rng(0)
    # noise 0: low + (high - low) * satisfaction / 100, to the nearest step
    assert [score_on([1, 2, 3, 4, 5], s, 0, rng) for s in (0, 24, 50, 76, 100)] == [1, 2, 3, 4, 5]
    assert [score_on(list(range(11)), s, 0, rng) for s in (0, 33, 71, 100)] == [0, 3, 7, 10]
    assert score_on([1, 2, 3, 4, 5, 6, 7], 120, 0, rng) == 7  # clipped to the scale


def _mail(html: str | None, to: str = "anna@client.test") -> EmailMessage:
    message = EmailMessage()
    message["Message-ID"] = f"<{to.split('@')[0]}@cx-loop>"
    message["To"] = to
    message.set_content("plain")
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def test_only_emails_with_score_links_into_the_app_are_invitations() -> None:
    links = "".join(f'<a href="{BASE}/r/tok?score={n}">{n}</a>' for n in (1, 2, 3))
    found = survey_invitations([
        _mail(f'<p>{links}<a href="{BASE}/u/tok">unsubscribe</a></p>'),
        _mail(None, to="plain@client.test"),                                 # no HTML part
        _mail('<a href="https://elsewhere.test/r/tok?score=1">1</a>'),        # another site
    ], BASE)
    assert found == [Invitation("<anna@cx-loop>", "anna@client.test",
                                {n: f"{BASE}/r/tok?score={n}" for n in (1, 2, 3)})]


def test_a_contact_clicks_and_fills_the_form_through_the_app(tmp_path: Path) -> None:
    config = settings({"CX_DATA_DIR": str(tmp_path), "CX_SURVEY_SECRET": "s"})
    migrate(engine_for(config.warehouse_url))
    store_invitation(config.warehouse_url)  # inv:e1:C1, delivery survey, English
    catalogue = survey_catalogue()
    token = answer_token("inv:e1:C1", "C1", catalogue.for_event("delivery_completed"), catalogue,
                         datetime.now(UTC), config.survey_secret)
    invitation = Invitation("<k@cx-loop>", "c1@client.test", dict(score_links("", token, 1, 5)))
    # satisfaction 76 -> csat 4 of 1-5 and ces 6 of 1-7; availability follows on-time and
    # in-full (50 and 100 -> 75 -> 4); the form asks ces, availability, meeting_specifications
    person = Respondent("C1", "K1", "en", 76.0, {"on_time_delivery": 50.0,
                                                 "in_full_delivery": 100.0, "quality": 0.0})
    rules = respondent_rules().model_copy(update={
        "response_rate": 1.0, "form_rate": 1.0, "noise_points": 0.0,
        "comment_rate": {"happy": 1.0, "unhappy": 1.0}})
    done = answer([invitation], {"c1@client.test": person}, rules,
                  TestClient(create_app(config)), seed=1)
    assert (done.invitations, done.answered, done.forms_sent, done.comments, done.refused) == (
        1, 1, 1, 1, 0)
    with engine_for(config.warehouse_url).connect() as conn:
        scores = dict(conn.execute(select(survey_answers.c.question_id,
                                          survey_answers.c.score)).all())
        comment = conn.scalar(select(survey_responses.c.comment))
    assert scores == {"csat": 4, "ces": 6, "availability": 4, "meeting_specifications": 1}
    assert comment in rules.comments["happy"]["en"]


def test_an_invitation_keeps_its_sending_time_and_is_answered_after_it() -> None:
    from datetime import timedelta

    from cx_tasks.demo.respondents import AnswerClock

    mail = _mail(f'<a href="{BASE}/r/tok?score=1">1</a>')
    mail["Date"] = "Sun, 06 Dec 2026 02:00:10 GMT"
    (found,) = survey_invitations([mail], BASE)
    assert found.sent_at == datetime(2026, 12, 6, 2, 0, 10, tzinfo=UTC)
    now = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    clock = AnswerClock(lambda: now, 36, seed=7)
    assert clock() == now  # before any answer: the demo's clock
    old = Invitation("<o@cx-loop>", "o@client.test", {}, datetime(2026, 12, 1, 2, tzinfo=UTC))
    fresh = Invitation("<f@cx-loop>", "f@client.test", {}, datetime(2026, 12, 7, 22, tzinfo=UTC))
    for _ in range(50):
        clock.at(old)  # sent 6 days ago: within the 36 hours before now
        assert now - timedelta(hours=36) <= clock() <= now
        clock.at(fresh)  # sent an hour ago: after its sending
        assert fresh.sent_at <= clock() <= now
