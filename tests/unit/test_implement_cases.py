"""Close-the-loop cases: triggers, owners, statuses with history, clocks to the hour,
escalation once per step across reruns, a changed rule applied to open cases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from fixtures.feedback_world import seed_crm, stage
from fixtures.smtp_peers import delivered
from sqlalchemy import select

from cx_tasks.feedback.acknowledgement import LinkSettings
from cx_tasks.feedback.rules import owners
from cx_tasks.implement.cases import (
    Candidate,
    CaseRefused,
    act,
    case_trigger,
    change_status,
    get_case,
    open_cases,
    question_kinds,
)
from cx_tasks.implement.escalation import deadline, due_steps, escalate
from cx_tasks.implement.links import LinkKeys, case_link
from cx_tasks.implement.rules import CaseRules, implement_rules
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import (
    case_escalations,
    case_history,
    feedback,
    feedback_classes,
    outbox,
)

RULES = implement_rules().cases
OWNERS = owners()
KINDS = question_kinds(survey_catalogue())
KEYS = LinkKeys("https://cx.example/s", b"test-secret")
LINKS = LinkSettings("https://cx.example/s", b"test-secret", survey_catalogue())
OPENED = datetime(2026, 11, 6, 10, 0)  # a Friday


def _candidate(**overrides) -> Candidate:
    base = {"feedback_id": "f", "source": "survey", "client_id": "K1", "contact_id": "C1",
            "text": None, "scores": {}, "occurred_at": OPENED, "recorded_at": OPENED,
            "group": None, "process_class": None, "key_account": False}
    return Candidate(**{**base, **overrides})


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"scores": {"nps": 6}}, "detractor"),          # 6 <= 6: a detractor
    ({"scores": {"nps": 7}}, None),                 # a passive opens nothing
    ({"scores": {"csat": 2}}, "low_csat"),          # 2 <= 2
    ({"scores": {"csat": 3, "ces": 3}}, "low_ces"), # CSAT 3 > 2, CES 3 <= 3
    ({"scores": {"ces": 4}}, None),
    ({"text": "Please CONTACT me  about the invoice", "scores": {"nps": 9}}, "contact_request"),
    ({"text": "свяжитесь со мной", "scores": {}}, "contact_request"),
    ({"group": "deterioration"}, "deterioration"),
    ({"group": "quality", "key_account": True}, "key_account_negative"),
    ({"group": "quality", "key_account": False}, None),   # negative, not a key account
    ({"group": None, "key_account": True}, None),         # a key account's praise
])
def test_triggers(overrides: dict, expected: str | None) -> None:
    assert case_trigger(_candidate(**overrides), RULES.triggers, KINDS) == expected


@pytest.mark.parametrize(("start", "hours", "weekends", "expected"), [
    # Friday 10:00 + 24 h through the weekend: Saturday 10:00
    (OPENED, 24, True, datetime(2026, 11, 7, 10, 0)),
    # weekends not counted: Friday 10:00 -> 24:00 is 14 h; 10 h left on Monday: 10:00
    (OPENED, 24, False, datetime(2026, 11, 9, 10, 0)),
    # 48 h not counting weekends: 14 h Friday + 24 h Monday + 10 h Tuesday -> Tuesday 10:00
    (OPENED, 48, False, datetime(2026, 11, 10, 10, 0)),
    # opened on a Saturday, weekends not counted: the clock starts Monday 00:00 -> 12:00
    (datetime(2026, 11, 7, 15, 0), 12, False, datetime(2026, 11, 9, 12, 0)),
    # half of a 24 h clock: 12 h
    (OPENED, 12, True, datetime(2026, 11, 6, 22, 0)),
])
def test_deadline_to_the_hour(start: datetime, hours: float, weekends: bool,
                              expected: datetime) -> None:
    assert deadline(start, hours, weekends) == expected


def _seed(url: str, *rows: tuple[str, str, dict, str | None, str | None]) -> None:
    """Feedback (id, contact, scores, group, process class) recorded at OPENED."""
    seed_crm(url)
    stage(url, "crm_accounts", [{"client_id": "K1", "key_account": False}])
    with engine_for(url).begin() as conn:
        for fid, contact, scores, group, process in rows:
            conn.execute(feedback.insert(), {
                "feedback_id": fid, "source": "survey", "channel": "email_survey",
                "client_id": "K1", "contact_id": contact, "role": "operator",
                "text": "Ужасная <b>доставка</b>", "scores": json.dumps(scores),
                "ref_id": None, "occurred_at": OPENED, "recorded_at": OPENED})
            if group:
                conn.execute(feedback_classes.insert(), {
                    "feedback_id": fid, "client_id": "K1", "status": "classified",
                    "dissatisfaction_group": group, "process_class": process, "cause": None,
                    "confidence": 0.9, "deterioration": None, "evidence": "[]",
                    "classifier_version": "t", "classified_on": OPENED.date()})


def _open(url: str, now: datetime = OPENED + timedelta(hours=1), rules: CaseRules = RULES):
    return open_cases(url, now=now, rules=rules, owners=OWNERS, kinds=KINDS, keys=KEYS)


def _outbox(url: str) -> dict[str, tuple[str, str]]:
    with engine_for(url).connect() as conn:
        return {r.idempotency_key: (r.recipient, r.status) for r in conn.execute(select(outbox))}


def test_a_case_opens_once_with_its_owner_and_mail(warehouse_url: str) -> None:
    _seed(warehouse_url, ("survey:i1", "C1", {"nps": 3}, "service", "documents"),
          ("survey:i2", "C2", {"nps": 9}, None, None))
    assert _open(warehouse_url) == {"detractor": 1}
    assert _open(warehouse_url) == {}  # a rerun opens nothing twice
    with engine_for(warehouse_url).connect() as conn:
        case = get_case(conn, "case:survey:i1")
    # documents is owned by the documents desk; its person is Anna Sokolova
    assert case is not None and (case.owner, case.owner_person, case.owner_email) == (
        "documents_desk", "Anna Sokolova", "a.sokolova@example.com")
    mails = _outbox(warehouse_url)
    assert mails == {"case:survey:i1:opened": ("a.sokolova@example.com", "queued")}


def test_feedback_older_than_the_window_opens_nothing(warehouse_url: str) -> None:
    _seed(warehouse_url, ("survey:i1", "C1", {"nps": 0}, None, None))
    # occurred at OPENED; 72 h + 1 min later it is too old
    assert _open(warehouse_url, now=OPENED + timedelta(hours=72, minutes=1)) == {}
    assert _open(warehouse_url, now=OPENED + timedelta(hours=72)) == {"detractor": 1}


def test_statuses_with_history_and_notes(warehouse_url: str) -> None:
    _seed(warehouse_url, ("survey:i1", "C1", {"nps": 3}, None, None))
    _open(warehouse_url)
    cid, at = "case:survey:i1", OPENED + timedelta(hours=3)
    with engine_for(warehouse_url).begin() as conn:
        with pytest.raises(CaseRefused) as refused:
            change_status(conn, cid, "acknowledged", actor="x", channel="link", now=at,
                          owner="quality")
        assert refused.value.reason == "foreign"  # a survey's owner is customer_experience
        assert change_status(conn, cid, "acknowledged", actor="t", channel="cli", now=at)
        assert not change_status(conn, cid, "acknowledged", actor="t", channel="cli", now=at)
        with pytest.raises(CaseRefused) as refused:
            change_status(conn, cid, "closed", actor="t", channel="cli", now=at, note="  ")
        assert refused.value.reason == "note_required"
    assert act(warehouse_url, cid, "closed", actor="t", channel="cli", note="Re-sent the docs",
               now=at + timedelta(hours=1), rules=RULES, links=LINKS)
    with engine_for(warehouse_url).connect() as conn:
        case = get_case(conn, cid)
        history = [(r.previous, r.status, r.channel) for r in conn.execute(
            select(case_history).order_by(case_history.c.changed_at))]
        with pytest.raises(CaseRefused):
            change_status(conn, cid, "in_progress", actor="t", channel="cli", now=at)
    assert case is not None and (case.status, case.acknowledged_at, case.note) == (
        "closed", at, "Re-sent the docs")
    assert history == [(None, "open", "pipeline"), ("open", "acknowledged", "cli"),
                       ("acknowledged", "closed", "cli")]
    # the client (C1, Russian) hears of the resolution once
    assert _outbox(warehouse_url)["case-closed:case:survey:i1"] == ("ivan@k1.example", "queued")


def test_closing_tells_an_opted_out_client_nothing(warehouse_url: str) -> None:
    _seed(warehouse_url, ("survey:i4", "C4", {"nps": 1}, None, None))
    _open(warehouse_url)
    act(warehouse_url, "case:survey:i4", "closed", actor="t", channel="cli", note="done",
        now=OPENED + timedelta(hours=2), rules=RULES, links=LINKS)
    assert _outbox(warehouse_url)["case-closed:case:survey:i4"] == ("olga@k2.example",
                                                                    "suppressed")


def _escalations(url: str) -> list[tuple[str, str, datetime, str]]:
    with engine_for(url).connect() as conn:
        return [(r.clock, r.step, r.due_at, r.recipient) for r in conn.execute(
            select(case_escalations).order_by(case_escalations.c.due_at,
                                              case_escalations.c.clock))]


def test_each_escalation_step_once_across_reruns(warehouse_url: str) -> None:
    _seed(warehouse_url, ("survey:i1", "C1", {"nps": 3}, "service", "documents"))
    _open(warehouse_url)
    # acknowledge 24 h: reminder at 12 h (22:00), manager at 24 h, CX lead at 48 h;
    # close 48 h: reminder at 24 h, manager at 48 h, CX lead at 96 h
    assert escalate(warehouse_url, now=OPENED + timedelta(hours=11, minutes=59), rules=RULES,
                    owners=OWNERS, keys=KEYS) == {}
    assert escalate(warehouse_url, now=OPENED + timedelta(hours=12), rules=RULES,
                    owners=OWNERS, keys=KEYS) == {"reminder": 1}
    assert escalate(warehouse_url, now=OPENED + timedelta(hours=24), rules=RULES,
                    owners=OWNERS, keys=KEYS) == {"manager": 1, "reminder": 1}
    for _ in range(2):  # hourly reruns take nothing twice
        assert escalate(warehouse_url, now=OPENED + timedelta(hours=25), rules=RULES,
                        owners=OWNERS, keys=KEYS) == {}
    assert _escalations(warehouse_url) == [
        ("acknowledge", "reminder", OPENED + timedelta(hours=12), "a.sokolova@example.com"),
        ("acknowledge", "manager", OPENED + timedelta(hours=24), "i.fedorova@example.com"),
        ("close", "reminder", OPENED + timedelta(hours=24), "a.sokolova@example.com"),
    ]
    keys = sorted(k for k in _outbox(warehouse_url) if k.count(":") == 4)
    assert keys == ["case:survey:i1:acknowledge:manager", "case:survey:i1:acknowledge:reminder",
                    "case:survey:i1:close:reminder"]


def test_acknowledging_stops_the_acknowledge_clock_only(warehouse_url: str) -> None:
    _seed(warehouse_url, ("survey:i1", "C1", {"nps": 3}, None, None))
    _open(warehouse_url)
    with engine_for(warehouse_url).begin() as conn:
        change_status(conn, "case:survey:i1", "acknowledged", actor="t", channel="cli",
                      now=OPENED + timedelta(hours=2))
        case = get_case(conn, "case:survey:i1")
    assert case is not None
    # at 48 h: the close clock's reminder (24 h) and manager (48 h) are due, nothing else
    assert [(d.clock, d.step.step) for d in due_steps(case, RULES, OPENED + timedelta(hours=48))
            ] == [("close", "reminder"), ("close", "manager")]


def test_a_changed_rule_applies_to_open_cases(warehouse_url: str) -> None:
    _seed(warehouse_url, ("survey:i1", "C1", {"nps": 3}, None, None))
    _open(warehouse_url)
    # opened Friday 10:00; at Saturday 11:00 the 24 h acknowledge clock ran out (manager)...
    saturday = datetime(2026, 11, 7, 11, 0)
    weekdays = RULES.model_copy(update={"clocks": RULES.clocks.model_copy(
        update={"count_weekends": False})})
    # ...but with weekends not counted it runs out Monday 10:00 and its reminder (12 h) was
    # due Monday 00:00 - 14 h counted on Friday, so 12 h fell on Friday 22:00
    assert escalate(warehouse_url, now=saturday, rules=weekdays, owners=OWNERS,
                    keys=KEYS) == {"reminder": 1}
    assert escalate(warehouse_url, now=saturday, rules=RULES, owners=OWNERS, keys=KEYS) == {
        "manager": 1, "reminder": 1}


def test_owner_mails_speak_each_recipients_language(warehouse_url: str) -> None:
    # documents_desk speaks Russian, pricing English; the documents manager has no language
    # (the owner's: ru), the pricing manager reads Russian, the CX lead English
    registry = OWNERS.model_copy(update={"owners": {
        **OWNERS.owners, "documents_desk": OWNERS.owners["documents_desk"].model_copy(
            update={"language": "ru"})}})
    managers = {**RULES.managers, "pricing": RULES.managers["pricing"].model_copy(
        update={"language": "ru"})}
    rules = RULES.model_copy(update={"managers": managers, "cx_lead": RULES.cx_lead.model_copy(
        update={"language": "en"})})
    _seed(warehouse_url, ("survey:i1", "C1", {"nps": 3}, "service", "documents"),
          ("survey:i2", "C1", {"nps": 3}, "service", "pricing"))
    open_cases(warehouse_url, now=OPENED + timedelta(hours=1), rules=rules, owners=registry,
               kinds=KINDS, keys=KEYS)
    # at 24 h: the acknowledge clock's reminder (12 h) and manager (24 h) steps
    assert escalate(warehouse_url, now=OPENED + timedelta(hours=24), rules=rules,
                    owners=registry, keys=KEYS) == {"reminder": 4, "manager": 2}
    assert escalate(warehouse_url, now=OPENED + timedelta(hours=48), rules=rules,
                    owners=registry, keys=KEYS) == {"manager": 2, "cx_lead": 2}
    messages = {(m["To"], m["Subject"]): m for m in delivered(warehouse_url, ["case"])}
    i1, i2 = "case:survey:i1", "case:survey:i2"
    assert set(messages) == {
        ("a.sokolova@example.com", f"Новое обращение {i1} от клиента K1: критик (NPS 0–6)"),
        ("a.sokolova@example.com", f"[напоминание] Обращение {i1} ещё не принято в работу"),
        ("a.sokolova@example.com", f"[напоминание] Обращение {i1} ещё не закрыто"),
        ("i.fedorova@example.com",
         f"[руководитель отдела] Обращение {i1} ещё не принято в работу"),
        ("i.fedorova@example.com", f"[руководитель отдела] Обращение {i1} ещё не закрыто"),
        ("cx-lead@example.com", f"[CX lead] Case {i1} is not acknowledged yet"),
        ("o.smirnova@example.com", f"New case {i2} from client K1: detractor (NPS 0-6)"),
        ("o.smirnova@example.com", f"[reminder] Case {i2} is not acknowledged yet"),
        ("o.smirnova@example.com", f"[reminder] Case {i2} is not closed yet"),
        ("y.egorova@example.com",
         f"[руководитель отдела] Обращение {i2} ещё не принято в работу"),
        ("y.egorova@example.com", f"[руководитель отдела] Обращение {i2} ещё не закрыто"),
        ("cx-lead@example.com", f"[CX lead] Case {i2} is not acknowledged yet"),
    }

    def parts(to: str, subject: str) -> tuple[str, str]:
        message = messages[(to, subject)]
        return (message.get_body(("plain",)).get_content(),
                message.get_body(("html",)).get_content())

    def links(case_id: str, owner: str, at: datetime) -> tuple[str, str]:
        return tuple(case_link(KEYS, case_id, owner, action, at, rules.link_valid_hours)
                     for action in ("acknowledge", "close"))

    # the Russian owner's new case: Russian words, the client's text escaped in HTML, the
    # one-touch links exactly as signed for the owner at the opening
    text, html = parts("a.sokolova@example.com",
                       f"Новое обращение {i1} от клиента K1: критик (NPS 0–6)")
    ack, close = links(i1, "documents_desk", OPENED)
    assert text.startswith("Здравствуйте, Anna Sokolova!\n")
    assert f"Принять в работу (одним нажатием): {ack}\n" in text
    assert f"Закрыть с описанием решения: {close}\n" in text
    assert "«Ужасная <b>доставка</b>»" in text
    assert "Ужасная &lt;b&gt;доставка&lt;/b&gt;" in html and "<b>доставка" not in html
    assert f'<a href="{ack}">Принять в работу</a>' in html
    assert f'<a href="{close}">Закрыть с описанием решения</a>' in html
    assert '<html lang="ru">' in html and "Открыто: 06.11.2026 10:00 UTC." in text
    # the English CX lead on the Russian owner's case: English words, the owner's links
    # signed at the step's due time (48 h)
    text, html = parts("cx-lead@example.com", f"[CX lead] Case {i1} is not acknowledged yet")
    ack, close = links(i1, "documents_desk", OPENED + timedelta(hours=48))
    assert text.startswith("Dear Tatiana Belova,\n")
    assert "(owner: Anna Sokolova) has not been acknowledged in time" in text
    assert f"Acknowledge (one click): {ack}\n" in text
    assert f'<a href="{ack}">Acknowledge</a>' in html and f'<a href="{close}">' in html
    assert "Ужасная &lt;b&gt;доставка&lt;/b&gt;" in html
    # the English owner's new case, and the Russian manager of that English owner
    text, _ = parts("o.smirnova@example.com",
                    f"New case {i2} from client K1: detractor (NPS 0-6)")
    assert "a close-the-loop case was opened for you: detractor (NPS 0-6) from client K1." in text
    assert f"Close with a resolution note: {links(i2, 'pricing', OPENED)[1]}\n" in text
    text, _ = parts("y.egorova@example.com",
                    f"[руководитель отдела] Обращение {i2} ещё не закрыто")
    assert "(ответственный: Olga Smirnova) не закрыто в срок" in text
    close = links(i2, "pricing", OPENED + timedelta(hours=48))[1]
    assert f"Закрыть с описанием решения: {close}\n" in text


def test_an_escalees_language_is_a_shipped_one_or_none() -> None:
    from pydantic import ValidationError

    from cx_tasks.implement.rules import Escalee

    lead = {"name": "Tatiana Belova", "email": "cx-lead@example.com"}
    assert Escalee.model_validate(lead).language is None
    assert Escalee.model_validate({**lead, "language": "ru"}).language == "ru"
    with pytest.raises(ValidationError, match="'de' is not one of"):
        Escalee.model_validate({**lead, "language": "de"})
