"""Acknowledgements: decided once per feedback, rendered ru/en, delivered through the outbox."""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import unquote

import pytest
from fixtures.feedback_world import seed_crm
from fixtures.smtp_peers import answering_server
from sqlalchemy import select

from cx_tasks.feedback.acknowledgement import (
    KIND,
    LinkSettings,
    Pending,
    acknowledge,
    decide,
    language_of,
    reference_number,
)
from cx_tasks.feedback.rules import feedback_rules, owners
from cx_tasks.mail.outbox import deliver
from cx_tasks.mail.smtp import session_transport
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.surveys.tokens import verify
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import (
    feedback,
    feedback_acknowledgements,
    outbox,
    survey_invitations,
    unsubscribes,
)

NOW = datetime(2026, 11, 4, 12, 0)
SECRET = b"test-secret"
LINKS = LinkSettings("https://cx.example/s", SECRET, survey_catalogue())
RULES, OWNERS = feedback_rules(), owners()


def _feedback(feedback_id: str, source: str, contact_id: str | None, *,
              occurred_at: datetime = NOW - timedelta(hours=1), text: str | None = None,
              ref_id: str | None = None) -> dict:
    return {"feedback_id": feedback_id, "source": source, "channel": "service_desk",
            "client_id": "K1", "contact_id": contact_id, "role": None, "text": text,
            "scores": None, "ref_id": ref_id, "occurred_at": occurred_at,
            "recorded_at": NOW - timedelta(minutes=5)}


def _store(url: str, *rows: dict) -> None:
    with engine_for(url).begin() as conn:
        conn.execute(feedback.insert(), list(rows))


def _decisions(url: str) -> dict[str, tuple]:
    with engine_for(url).connect() as conn:
        return {r.feedback_id: (r.reference, r.owner, r.status, r.reason)
                for r in conn.execute(select(feedback_acknowledgements))}


def _received(url: str) -> list[EmailMessage]:
    """Deliver the queued acknowledgements to a real SMTP server; the messages it got."""
    with answering_server() as (handler, port):
        transport = session_transport(lambda: smtplib.SMTP("127.0.0.1", port, timeout=5),
                                      "cx-loop@example.com")
        summary = deliver(url, transport, kinds=[KIND])
    assert (summary.retry, summary.failed) == (0, 0)
    return [message_from_bytes(raw, policy=policy.default) for raw in handler.received]


def test_reference_number_is_the_recorded_day_and_six_hex_of_the_ids_hash() -> None:
    # sha256("claim:SC1") starts 384743..., sha256("survey:inv1") starts eef18e...
    assert reference_number("claim:SC1", datetime(2026, 11, 4, 23, 59)) == "CX-20261104-384743"
    assert reference_number("survey:inv1", datetime(2026, 1, 2)) == "CX-20260102-EEF18E"


def _pending(**changes) -> Pending:
    base = {"feedback_id": "claim:SC1", "source": "claim", "client_id": "K1",
            "contact_id": "C1", "text": None, "occurred_at": NOW - timedelta(hours=72),
            "recorded_at": NOW, "contact_known": True, "email": "a@k1.example",
            "language": "ru"}
    return Pending(**{**base, **changes})


@pytest.mark.parametrize(("changes", "reason"), [
    ({}, None),  # exactly 72 h old: still acknowledged
    ({"occurred_at": NOW - timedelta(hours=72, seconds=1)}, "too_old"),
    ({"contact_id": None, "contact_known": False}, "no_contact"),
    ({"contact_known": False}, "unknown_contact"),
    ({"email": None}, "no_email"),
    ({"contact_id": None, "occurred_at": datetime(2026, 1, 1)}, "no_contact"),  # first reason
])
def test_decide_gives_the_first_reason_that_applies(changes: dict, reason: str | None) -> None:
    decision = decide(_pending(**changes), RULES, OWNERS, NOW)
    assert (decision.reference, decision.owner, decision.reason) == (
        "CX-20261104-384743", "quality", reason)
    assert decision.status == ("acknowledged" if reason is None else "not_acknowledged")


def test_feedback_with_a_contact_is_acknowledged_once_in_the_contacts_language(
        warehouse_url: str) -> None:
    seed_crm(warehouse_url)
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(survey_invitations.insert().values(
            invitation_id="inv1", survey_id="tx_delivery_completed", kind="transactional",
            client_id="K1", contact_id="C2", role="technical_buyer", language="en",
            scheduled_at=NOW, planned_in=NOW))
        conn.execute(unsubscribes.insert().values(contact_id="C5", unsubscribed_at=NOW,
                                                  channel="link"))
    _store(warehouse_url,
           _feedback("claim:SC1", "claim", "C1", text="Упаковка <порвана>", ref_id="SC1"),
           _feedback("survey:inv1", "survey", "C2", ref_id="inv1"),
           _feedback("claim:SC2", "claim", None),                          # no contact
           _feedback("ticket:T1", "ticket", "C3"),                         # no e-mail
           _feedback("ticket:T2", "ticket", "C4"),         # opted out: still acknowledged
           _feedback("ticket:T4", "ticket", "C5"),         # unsubscribed: still acknowledged
           _feedback("ticket:T3", "ticket", "C9"),                         # not in the CRM
           _feedback("claim:SC3", "claim", "C1", occurred_at=datetime(2026, 6, 1)))

    first = acknowledge(warehouse_url, now=NOW, rules=RULES, owners=OWNERS, links=LINKS)

    assert first.to_dict() == {"acknowledged": 4, "not_acknowledged": {
        "no_contact": 1, "no_email": 1, "unknown_contact": 1, "too_old": 1}}
    decisions = _decisions(warehouse_url)
    assert decisions["claim:SC1"] == ("CX-20261104-384743", "quality", "acknowledged", None)
    assert decisions["survey:inv1"] == ("CX-20261104-EEF18E", "customer_experience",
                                        "acknowledged", None)
    assert decisions["claim:SC3"][2:] == ("not_acknowledged", "too_old")
    with engine_for(warehouse_url).connect() as conn:
        queued = {r.idempotency_key: r for r in conn.execute(select(outbox))}
    assert sorted(queued) == ["ack:claim:SC1", "ack:survey:inv1", "ack:ticket:T2",
                              "ack:ticket:T4"]
    assert {r.kind for r in queued.values()} == {KIND}
    assert queued["ack:claim:SC1"].created_at == NOW - timedelta(minutes=5)  # recorded_at

    again = acknowledge(warehouse_url, now=NOW + timedelta(hours=1), rules=RULES,
                        owners=OWNERS, links=LINKS)
    assert again.to_dict() == {"acknowledged": 0, "not_acknowledged": {}}

    mails = {m["To"]: m for m in _received(warehouse_url)}
    assert sorted(mails) == ["Anna.Smith@K1.example", "ivan@k1.example", "olga@k2.example",
                             "petr@k1.example"]  # the opted-out ones too: transactional

    ru = mails["ivan@k1.example"]
    assert ru["Subject"] == "Мы получили ваше обращение: номер CX-20261104-384743"
    text = ru.get_body(("plain",)).get_content()
    html = ru.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Уважаемый Иван Сергеевич!" in part  # first name and patronymic
        assert "ООО «ТехноСнаб»" in part and "care@technosnab.example.ru" in part  # supplier.yaml
        assert "Служба качества" in part and "claims@example.com" in part
        assert "в течение 24 часов" in part
    assert "«Упаковка <порвана>»" in text
    assert "под номером\u00a0CX-20261104-384743" in text  # never wraps
    assert '<strong style="white-space: nowrap;">CX-20261104-384743</strong>' in html
    assert ru["From"].addresses[0].display_name == "ТехноСнаб, служба качества"
    assert ru["From"].addresses[0].addr_spec == "cx-loop@example.com"
    assert ru["Reply-To"] == "care@technosnab.example.ru"
    assert "Упаковка &lt;порвана&gt;" in html and "<порвана>" not in html
    _assert_unsubscribe(ru, contact_id="C1", invitation_id="ack:claim:SC1",
                        survey_id="acknowledgement")

    en = mails["Anna.Smith@K1.example"]
    assert en["Subject"] == "We have received your feedback: reference CX-20261104-EEF18E"
    body = en.get_body(("plain",)).get_content()
    assert "Dear Anna Smith," in body and "thank you for answering our survey" in body
    assert "Customer Care, TechnoSnab LLC" in body
    assert str(en["From"]) == "TechnoSnab Customer Care <cx-loop@example.com>"
    assert "Customer Experience team (cx@example.com)" in body and "within 72 hours" in body
    _assert_unsubscribe(en, contact_id="C2", invitation_id="inv1",
                        survey_id="tx_delivery_completed")


def _assert_unsubscribe(mail: EmailMessage, *, contact_id: str, invitation_id: str,
                        survey_id: str) -> None:
    """The List-Unsubscribe header and the link in both parts carry one valid token."""
    header = mail["List-Unsubscribe"]
    assert header.startswith("<https://cx.example/s/u/") and header.endswith(">")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = header[1:-1]
    assert url in mail.get_body(("plain",)).get_content()
    assert url in mail.get_body(("html",)).get_content()
    claims = verify(unquote(url.rsplit("/", 1)[1]), SECRET, purpose="unsubscribe", now=NOW)
    assert (claims.contact_id, claims.invitation_id, claims.survey_id) == (
        contact_id, invitation_id, survey_id)


def test_informal_feedback_goes_to_key_accounts_and_unknown_languages_get_english(
        warehouse_url: str) -> None:
    seed_crm(warehouse_url)
    _store(warehouse_url, _feedback("informal:note:N1", "informal", "C1"))
    assert language_of(_pending(language="de")) == "en"
    assert language_of(_pending(language="ru")) == "ru"
    acknowledge(warehouse_url, now=NOW, rules=RULES, owners=OWNERS, links=LINKS)
    [mail] = _received(warehouse_url)
    assert mail["Subject"] == "Мы получили ваше обращение: номер " + reference_number(
        "informal:note:N1", NOW - timedelta(minutes=5))
    assert "Отдел по работе с ключевыми клиентами" in mail.get_body(("plain",)).get_content()
