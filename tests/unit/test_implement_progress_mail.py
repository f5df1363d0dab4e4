""""You said, we did": once per (contact, initiative, milestone), batched, at most one per
contact per 14 days (edges), opt-outs absolute, the contact's language, quotes escaped, key
accounts from their account manager, delivered to a real SMTP server."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fixtures.implement_world import AS_OF, complaint, pareto, seed_world
from fixtures.smtp_peers import delivered
from sqlalchemy import select

from cx_tasks.feedback.acknowledgement import LinkSettings
from cx_tasks.feedback.rules import owners
from cx_tasks.implement.initiatives import decide, propose, reach
from cx_tasks.implement.progress_mail import KIND, send_progress
from cx_tasks.implement.rules import ProgressRules, implement_rules
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import outbox, progress_notices

RULES = implement_rules()
OWNERS = owners()
LINKS = LinkSettings("https://cx.example/s", b"test-secret", survey_catalogue())
DOCS = "init:metals:documents:2026-11-01"
PLANNING = "init:metals:delivery_planning:2026-11-01"
APPROVED = datetime(2026, 11, 2, 9)


def _world(url: str, *, key_accounts: tuple[str, ...] = ()) -> None:
    seed_world(url, key_accounts=key_accounts)
    complaint(url, "claim:D1", "K1", "C1", 'Нет сертификатов <b>"снова"</b>', "documents",
              datetime(2026, 10, 20, 9))
    complaint(url, "claim:D2", "K1", "C2", "Invoices without certificates", "documents",
              datetime(2026, 10, 21, 9))
    complaint(url, "claim:P1", "K1", "C1", "Поставка опять задержана", "delivery_planning",
              datetime(2026, 10, 22, 9))
    for process in ("documents", "delivery_planning"):
        pareto(url, "metals", process, 3)
    propose(url, AS_OF, rules=RULES.initiatives, owners=OWNERS)
    with engine_for(url).begin() as conn:
        for initiative in (DOCS, PLANNING):
            decide(conn, initiative, "approve", actor="lead", channel="cli", now=APPROVED,
                   rules=RULES.initiatives)


def _reach(url: str, initiative: str, milestone: str, day: date) -> None:
    with engine_for(url).begin() as conn:
        reach(conn, initiative, milestone, on=day, actor="owner", channel="cli",
              now=datetime.combine(day, datetime.min.time()))


def _send(url: str, now: datetime, rules: ProgressRules = RULES.progress):
    return send_progress(url, now=now, rules=rules, owners=OWNERS, links=LINKS).to_dict()


def _notices(url: str) -> list[tuple]:
    with engine_for(url).connect() as conn:
        return sorted((r.contact_id, r.initiative_id.split(":")[2], r.milestone_id, r.status,
                       r.reason) for r in conn.execute(select(progress_notices)))


def test_batched_once_and_the_fourteen_day_window(warehouse_url: str) -> None:
    _world(warehouse_url)
    # a milestone the clients do not see tells nobody
    _reach(warehouse_url, DOCS, "root_cause", date(2026, 11, 5))
    assert _send(warehouse_url, datetime(2026, 11, 5, 12))["emails"] == 0
    _reach(warehouse_url, DOCS, "fix_in_place", date(2026, 11, 6))
    _reach(warehouse_url, PLANNING, "root_cause", date(2026, 11, 6))
    _reach(warehouse_url, PLANNING, "fix_in_place", date(2026, 11, 6))
    first = datetime(2026, 11, 6, 12)
    # C1 spoke on both: one e-mail with two notices; C2 on documents: one e-mail, one notice
    assert _send(warehouse_url, first) == {"emails": 2, "notices": 3, "waiting": 0,
                                           "not_sent": {}}
    assert _send(warehouse_url, first)["emails"] == 0  # a rerun sends nothing twice
    _reach(warehouse_url, DOCS, "verified", date(2026, 11, 10))
    # 14 days after 2026-11-06 12:00 is 2026-11-20 12:00: a minute before, both wait
    assert _send(warehouse_url, first + timedelta(days=14, minutes=-1))["waiting"] == 2
    assert _send(warehouse_url, first + timedelta(days=14)) == {
        "emails": 2, "notices": 2, "waiting": 0, "not_sent": {}}
    assert _notices(warehouse_url) == [
        ("C1", "delivery_planning", "fix_in_place", "sent", None),
        ("C1", "documents", "fix_in_place", "sent", None),
        ("C1", "documents", "verified", "sent", None),
        ("C2", "documents", "fix_in_place", "sent", None),
        ("C2", "documents", "verified", "sent", None),
    ]
    received = delivered(warehouse_url, [KIND])
    assert len(received) == 4
    messages = {(m["To"], m["Subject"]): m for m in received}
    # notices in initiative order: delivery planning before documents
    ru = messages[("ivan@k1.example",
                   "Вы сказали — мы сделали: планирование поставок и сроки и ещё 1")]
    html = ru.get_body(("html",)).get_content()
    text = ru.get_body(("plain",)).get_content()
    # C1's own words, escaped in HTML; never C2's
    assert "&lt;b&gt;&#34;снова&#34;&lt;/b&gt;" in html and "<b>" not in html
    assert "Invoices without certificates" not in text
    assert "Исправление внедрено (06.11.2026)" in text
    # the next milestone of documents: verified, approved 2026-11-02 + 90 days
    assert "Результат подтверждён, план — 31.01.2027" in text
    assert "Anna Sokolova (a.sokolova@example.com)" in text
    en = messages[("Anna.Smith@K1.example", "You said, we did: documents and certificates")]
    assert "Нет сертификатов" not in en.get_body(("plain",)).get_content()
    assert ru["List-Unsubscribe"].startswith("<https://cx.example/s/u/")


def test_opt_outs_are_absolute_and_other_roles_optional(warehouse_url: str) -> None:
    _world(warehouse_url)
    with engine_for(warehouse_url).begin() as conn:
        from cx_tasks.warehouse.schema import unsubscribes
        conn.execute(unsubscribes.insert(), {"contact_id": "C2", "channel": "email_link",
                                             "unsubscribed_at": datetime(2026, 11, 1)})
    _reach(warehouse_url, DOCS, "fix_in_place", date(2026, 11, 6))
    others = RULES.progress.model_copy(update={"include_other_roles": True})
    summary = _send(warehouse_url, datetime(2026, 11, 6, 12), others)
    # C1 spoke; C5 is K1's other role (economic buyer); C2 unsubscribed
    assert summary == {"emails": 2, "notices": 2, "waiting": 0, "not_sent": {"opted_out": 1}}
    assert _notices(warehouse_url) == [
        ("C1", "documents", "fix_in_place", "sent", None),
        ("C2", "documents", "fix_in_place", "not_sent", "opted_out"),
        ("C5", "documents", "fix_in_place", "sent", None),
    ]
    with engine_for(warehouse_url).connect() as conn:
        recipients = sorted(r.recipient for r in conn.execute(select(outbox)))
    assert recipients == ["ivan@k1.example", "petr@k1.example"]


def test_a_key_account_hears_from_its_account_manager(warehouse_url: str) -> None:
    _world(warehouse_url, key_accounts=("K1",))
    _reach(warehouse_url, DOCS, "fix_in_place", date(2026, 11, 6))
    rules = RULES.progress.model_copy(update={"key_accounts": RULES.progress.key_accounts
                                              .model_copy(update={"addresses": {
                                                  "Ivanova E.": "e.ivanova@example.com"}})})
    _send(warehouse_url, datetime(2026, 11, 6, 12), rules)
    messages = delivered(warehouse_url, [KIND])
    assert {m["From"] for m in messages} == {"\"Ivanova E.\" <e.ivanova@example.com>"}
    assert {m["Reply-To"] for m in messages} == {"\"Ivanova E.\" <e.ivanova@example.com>"}


def test_the_progress_mail_follows_the_letter_conventions() -> None:
    """Issue 13's conventions hold in "you said, we did" too: the salutation by first name and
    patronymic, a company name that carries its own quotation marks quoted once."""
    from cx_tasks.implement.progress_mail import Notice, Recipient, render_progress

    notice = Notice("I1", "fix_in_place", "order_fulfilment", "Исправление внедрено",
                    date(2026, 12, 7), None, None, "Dmitry Popov", "d.popov@example.com",
                    ("Упаковка вскрыта",))
    person = Recipient("CT1", "C1", "Кузнецова Татьяна Станиславовна", "t@example.com", "ru",
                       False, "ПАО «Алтайстроймет»", False, None)
    mail = render_progress(person, [notice], "http://127.0.0.1/u/x")
    assert "Уважаемая Татьяна Станиславовна!" in mail.text
    assert "компанию ПАО «Алтайстроймет»." in mail.text
    assert "««" not in mail.html and "»»" not in mail.html
    english = render_progress(Recipient("CT2", "C2", "Jane Doe", "j@example.com", "en", False,
                                        "Acme Steel", False, None), [notice], "http://x/u/y")
    assert english.text.startswith("Dear Jane Doe,") or "\nDear Jane Doe," in english.text
