"""One-touch links in the response app: an owner acknowledges and closes a case (with a
note) without logging in, on pages in the owner's language (``owners.yaml``); forged,
expired, wrong-purpose and foreign links store nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from fixtures.feedback_world import seed_crm
from sqlalchemy import select

from cx_tasks.config import Settings, rules_text, settings
from cx_tasks.feedback.rules import owners
from cx_tasks.implement.cases import open_cases, question_kinds
from cx_tasks.implement.links import LinkKeys, case_link, milestone_link
from cx_tasks.implement.rules import implement_rules
from cx_tasks.surveys.app import create_app
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import (
    STAGING,
    case_history,
    cases,
    feedback,
    initiative_milestones,
    outbox,
)

SECRET = "s" * 32
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)  # the app checks expiry by wall clock
CASE = "case:survey:i1"
OWNER = "customer_experience"  # a survey's source owner (no process class)


@pytest.fixture()
def config(tmp_path: Path) -> Settings:
    config = settings({"CX_DATA_DIR": str(tmp_path), "CX_SURVEY_SECRET": SECRET,
                       "CX_SURVEY_BASE_URL": "http://testserver"})
    migrate(engine_for(config.warehouse_url))
    seed_crm(config.warehouse_url)
    with engine_for(config.warehouse_url).begin() as conn:
        conn.execute(feedback.insert(), {
            "feedback_id": "survey:i1", "source": "survey", "channel": "email_survey",
            "client_id": "K1", "contact_id": "C1", "role": "operator",
            "text": "<script>alert(1)</script> плохо", "scores": json.dumps({"nps": 2}),
            "ref_id": None, "occurred_at": NOW, "recorded_at": NOW})
    open_cases(config.warehouse_url, now=NOW, rules=implement_rules().cases, owners=owners(),
               kinds=question_kinds(survey_catalogue()), keys=_keys(config))
    yield config
    engine_for(config.warehouse_url).dispose()


def _keys(config: Settings) -> LinkKeys:
    return LinkKeys(config.survey_base_url, config.survey_secret)


def _path(url: str) -> str:
    return urlsplit(url).path


def _state(config: Settings) -> tuple[str, int, int]:
    """(case status, history rows, outbox rows)."""
    with engine_for(config.warehouse_url).connect() as conn:
        status = conn.scalar(select(cases.c.status).where(cases.c.case_id == CASE))
        history = len(conn.execute(select(case_history)).all())
        mails = len(conn.execute(select(outbox)).all())
    return status, history, mails


def test_acknowledge_then_close_with_a_note(config: Settings) -> None:
    client = TestClient(create_app(config))
    ack = _path(case_link(_keys(config), CASE, OWNER, "acknowledge", NOW, 24))
    page = client.get(ack)
    assert page.status_code == 200
    assert "&lt;script&gt;" in page.text and "<script>alert" not in page.text
    assert _state(config) == ("open", 1, 1)  # a GET (a link scanner) changes nothing
    assert 'data-result="changed"' in client.post(ack).text
    assert 'data-result="unchanged"' in client.post(ack).text  # a second click: no-op
    close = _path(case_link(_keys(config), CASE, OWNER, "close", NOW, 24))
    refused = client.post(close, data={"note": "   "})
    assert (refused.status_code, 'data-reason="note_required"' in refused.text) == (422, True)
    assert _state(config) == ("acknowledged", 2, 1)
    done = client.post(close, data={"note": "Called the client; documents re-sent"})
    assert done.status_code == 200 and 'data-result="changed"' in done.text
    # open, acknowledged, closed; the owner's mail and the client's resolution mail
    assert _state(config) == ("closed", 3, 2)


@pytest.mark.parametrize(("make", "status"), [
    # signed with another key: forged
    (lambda c: case_link(LinkKeys("", b"other"), CASE, OWNER, "acknowledge", NOW, 24), 403),
    # issued 25 h ago, valid 24 h: expired
    (lambda c: case_link(_keys(c), CASE, OWNER, "acknowledge", NOW - timedelta(hours=25), 24),
     410),
    # another department's link to this case: foreign
    (lambda c: case_link(_keys(c), CASE, "quality", "acknowledge", NOW, 24), 404),
    # a case that does not exist
    (lambda c: case_link(_keys(c), "case:nope", OWNER, "acknowledge", NOW, 24), 404),
])
def test_refused_links_store_nothing(config: Settings, make, status: int) -> None:
    client = TestClient(create_app(config))
    path = _path(make(config))
    assert client.get(path).status_code == status
    assert client.post(path, data={"note": "x"}).status_code == status
    assert _state(config) == ("open", 1, 1)


def test_an_unsubscribe_token_does_not_act_on_a_case(config: Settings) -> None:
    client = TestClient(create_app(config))
    path = _path(case_link(_keys(config), CASE, OWNER, "acknowledge", NOW, 24))
    assert client.post(path.replace("/c/", "/u/")).status_code == 403  # wrong purpose
    assert _state(config) == ("open", 1, 1)


APPROVAL = {
    "en": ("Initiative approved: Documents: fewer complaints from metals",
           "Dear Anna Sokolova,", "- Root cause found: planned {:%Y-%m-%d}", "reached today: "),
    "ru": ("Инициатива утверждена: документы и сертификаты, сегмент metals",
           "Здравствуйте, Anna Sokolova!", "- Найдена причина: план {:%d.%m.%Y}",
           "достигнут сегодня: "),
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_owner_marks_a_milestone_reached_from_the_approval_email(
        config: Settings, language: str) -> None:
    from fixtures.implement_world import AS_OF, complaint, pareto
    from fixtures.smtp_peers import delivered

    from cx_tasks.implement.initiatives import decide, propose, tell_owners

    url = config.warehouse_url
    with engine_for(url).begin() as conn:  # the CRM of seed_world: K1 in metals
        conn.execute(STAGING["erp_clients"].update().values(segment="metals"))
    for n in range(3):
        complaint(url, f"claim:D{n}", "K1", "C1", "x", "documents", datetime(2026, 10, 20 + n))
    pareto(url, "metals", "documents", 3)
    rules = implement_rules().initiatives
    registry = owners()
    registry = registry.model_copy(update={"owners": {
        **registry.owners, "documents_desk": registry.owners["documents_desk"].model_copy(
            update={"language": language})}})
    propose(url, AS_OF, rules=rules, owners=registry)
    init = "init:metals:documents:2026-11-01"
    with engine_for(url).begin() as conn:
        decide(conn, init, "approve", actor="lead", channel="cli", now=NOW, rules=rules)
    assert tell_owners(url, now=NOW, owners=registry, keys=_keys(config), valid_hours=24) == 1
    assert tell_owners(url, now=NOW, owners=registry, keys=_keys(config), valid_hours=24) == 0
    [mail] = delivered(url, ["initiative"])
    subject, greeting, first_milestone, reached = APPROVAL[language]
    assert (mail["To"], mail["Subject"]) == ("a.sokolova@example.com", subject)
    text = mail.get_body(("plain",)).get_content()
    assert text.startswith(greeting + "\n")
    assert first_milestone.format(NOW.date() + timedelta(days=7)) + "\n" in text
    links = [line.split(": ", 1)[1] for line in text.splitlines()
             if line.strip().startswith(reached)]
    # root cause, fix in place, verified: each link as signed for the owner at the decision
    assert links == [milestone_link(_keys(config), init, m, "documents_desk", NOW, 24)
                     for m in ("root_cause", "fix_in_place", "verified")]
    client = TestClient(create_app(config))
    foreign = _path(milestone_link(_keys(config), init, "root_cause", "quality", NOW, 24))
    assert client.post(foreign).status_code == 404
    assert 'data-result="changed"' in client.post(_path(links[0])).text
    with engine_for(url).connect() as conn:
        reached_on = conn.execute(select(initiative_milestones.c.milestone_id,
                                         initiative_milestones.c.reached_on)
                                  .where(initiative_milestones.c.reached_on.is_not(None))).all()
    assert [(m, d) for m, d in reached_on] == [("root_cause", NOW.date())]


PAGES = {
    "en": ['<html lang="en">', '<h1 id="heading">Acknowledge case case:survey:i1</h1>',
           "<dt>Trigger</dt><dd>detractor</dd>", "<dt>Status</dt><dd>open</dd>",
           "<p>The client wrote:</p>", '<button type="submit" id="submit">Acknowledge</button>'],
    "ru": ['<html lang="ru">', '<h1 id="heading">Принять в работу обращение case:survey:i1</h1>',
           "<dt>Повод</dt><dd>критик (NPS 0–6)</dd>", "<dt>Статус</dt><dd>открыто</dd>",
           "<p>Клиент написал:</p>",
           '<button type="submit" id="submit">Принять в работу</button>'],
}
ACKNOWLEDGED = {"en": ("Case acknowledged.", "The case was already acknowledged."),
                "ru": ("Обращение принято в работу.", "Обращение уже было принято в работу.")}
CLOSING = {"en": ("Close case case:survey:i1", "Resolution (what was done)",
                  "Please write a note: closing a case needs its resolution.",
                  "Nothing was recorded.", "Case closed."),
           "ru": ("Закрыть обращение case:survey:i1", "Решение (что сделано)",
                  "Напишите, что сделано: для закрытия обращения нужно решение.",
                  "Ничего не записано.", "Обращение закрыто.")}
MILESTONE = {"en": ("Milestone root_cause of init:x", ">Mark reached today</button>"),
             "ru": ("Этап root_cause инициативы init:x", ">Отметить достигнутым сегодня</button>")}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_an_owners_pages_speak_the_owners_language(config: Settings, tmp_path: Path,
                                                   language: str) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    # customer_experience is the first owner of owners.yaml
    (rules / "owners.yaml").write_text(rules_text("owners").replace(
        "    language: en\n", f"    language: {language}\n", 1), encoding="utf-8")
    assert owners(rules).owners[OWNER].language == language
    client = TestClient(create_app(replace(config, rules_dir=rules)))
    ack = _path(case_link(_keys(config), CASE, OWNER, "acknowledge", NOW, 24))
    page = client.get(ack).text
    assert [text for text in PAGES[language] if text not in page] == []
    for said in ACKNOWLEDGED[language]:
        assert said in client.post(ack).text  # first click, then the second
    close = _path(case_link(_keys(config), CASE, OWNER, "close", NOW, 24))
    heading, label, refusal, nothing, closed = CLOSING[language]
    page = client.get(close).text
    assert heading in page and f'<label for="note">{label}</label>' in page
    refused = client.post(close, data={"note": " "})
    assert refused.status_code == 422 and refusal in refused.text and nothing in refused.text
    assert closed in client.post(close, data={"note": "done"}).text
    assert _state(config) == ("closed", 3, 2)
    page = client.get(_path(milestone_link(_keys(config), "init:x", "root_cause", OWNER, NOW,
                                           24))).text
    assert [text for text in MILESTONE[language] if text not in page] == []


def test_an_owners_language_is_a_shipped_one_en_when_left_out() -> None:
    from pydantic import ValidationError

    from cx_tasks.feedback.rules import Owner

    team = {"name": {"ru": "Склад", "en": "Warehouse"}, "email": "w@example.com"}
    assert Owner.model_validate(team).language == "en"
    with pytest.raises(ValidationError, match="'de' is not one of"):
        Owner.model_validate({**team, "language": "de"})
