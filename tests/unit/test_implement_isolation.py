"""Never another client's data: over many random clients, contacts, feedback and
initiatives linking feedback of several clients, every progress e-mail names only its own
client's feedback, orders, people and company."""

from __future__ import annotations

import json
import tempfile
from datetime import date, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cx_tasks.feedback.acknowledgement import LinkSettings
from cx_tasks.feedback.rules import owners
from cx_tasks.implement.progress_mail import send_progress
from cx_tasks.implement.rules import implement_rules
from cx_tasks.surveys.catalogue import survey_catalogue
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import (
    STAGING,
    feedback,
    initiative_links,
    initiative_milestones,
    initiatives,
    outbox,
)

RULES = implement_rules()
LINKS = LinkSettings("https://cx.example/s", b"k", survey_catalogue())
NOW = datetime(2026, 11, 20, 12)
PROCESSES = ("documents", "delivery_planning", "pricing")

world = st.fixed_dictionaries({
    # per client: contacts, each with (language, number of feedback texts)
    "clients": st.lists(st.lists(st.tuples(st.sampled_from(["ru", "en"]),
                                           st.integers(0, 2)), min_size=1, max_size=3),
                        min_size=2, max_size=4),
    "key_accounts": st.sets(st.integers(0, 3)),
    "initiatives": st.integers(1, 3),
    "links": st.lists(st.tuples(st.integers(0, 99), st.integers(0, 2)), max_size=25),
    "other_roles": st.booleans(),
})


def _build(url: str, spec: dict) -> dict[str, set[str]]:
    """Store the world; return each client's private strings (company, people, addresses,
    feedback texts, order ids)."""
    private: dict[str, set[str]] = {}
    texts: list[tuple[str, str]] = []
    engine = engine_for(url)
    with engine.begin() as conn:
        for c, contacts in enumerate(spec["clients"]):
            client = f"K{c}"
            company = f"Company{c}Zq"
            private[client] = {company}
            conn.execute(STAGING["erp_clients"].insert(), {
                "client_id": client, "name": company, "segment": "metals",
                "account_manager": f"Manager{c}Zq", "interval_start": NOW})
            conn.execute(STAGING["crm_accounts"].insert(), {
                "client_id": client, "key_account": c in spec["key_accounts"],
                "interval_start": NOW})
            for p, (language, said) in enumerate(contacts):
                contact = f"P{c}x{p}"
                name, email = f"Person{c}x{p}Zq", f"person{c}x{p}@client{c}.example"
                private[client] |= {name, email, f"Manager{c}Zq"}
                conn.execute(STAGING["crm_contacts"].insert(), {
                    "contact_id": contact, "client_id": client, "role": "operator",
                    "full_name": name, "email": email, "language": language,
                    "opted_out": False, "interval_start": NOW})
                for n in range(said):
                    order = f"ORD{c}x{p}x{n}Zq"
                    text = f"Words{c}x{p}x{n}Zq about order {order}"
                    private[client] |= {text, order, f"Words{c}x{p}x{n}Zq"}
                    fid = f"claim:{c}:{p}:{n}"
                    texts.append((fid, client))
                    conn.execute(feedback.insert(), {
                        "feedback_id": fid, "source": "claim", "channel": "service_desk",
                        "client_id": client, "contact_id": contact, "role": "operator",
                        "text": text, "scores": json.dumps({}), "ref_id": order,
                        "occurred_at": NOW, "recorded_at": NOW})
        for i in range(spec["initiatives"]):
            initiative = f"init:metals:{PROCESSES[i]}:2026-11-01"
            conn.execute(initiatives.insert(), {
                "initiative_id": initiative, "title": "t", "process_class": PROCESSES[i],
                "segment": "metals", "owner": "documents_desk", "owner_person": "x",
                "sponsor": None, "status": "in_progress", "proposed_on": date(2026, 11, 1),
                "decided_at": NOW, "decided_by": "t", "reason": None, "evidence": "{}",
                "expected_effect": "{}"})
            for position, milestone in enumerate(RULES.initiatives.milestones):
                conn.execute(initiative_milestones.insert(), {
                    "initiative_id": initiative, "milestone_id": milestone.id,
                    "position": position, "title_en": milestone.title["en"],
                    "title_ru": milestone.title["ru"], "planned_on": date(2026, 12, 1),
                    "reached_on": date(2026, 11, 10) if position < 2 else None,
                    "client_visible": milestone.client_visible})
        links = {(f"init:metals:{PROCESSES[i % spec['initiatives']]}:2026-11-01",
                  *texts[f % len(texts)]) for f, i in spec["links"] if texts}
        if links:
            conn.execute(initiative_links.insert(), [
                {"initiative_id": i, "kind": "feedback", "ref_id": f, "client_id": c}
                for i, f, c in links])
    return private


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=world)
def test_no_progress_email_names_another_clients_data(spec: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'w.db'}"
        migrate(engine_for(url))
        try:
            private = _build(url, spec)
            progress = RULES.progress.model_copy(
                update={"include_other_roles": spec["other_roles"]})
            send_progress(url, now=NOW, rules=progress, owners=owners(), links=LINKS)
            with engine_for(url).connect() as conn:
                mails = conn.execute(select(outbox)).all()
        finally:
            engine_for(url).dispose()
    for mail in mails:
        client = f"K{mail.contact_id[1:].split('x')[0]}"
        shown = " ".join([mail.subject, mail.body_text, mail.body_html or "",
                          mail.headers or ""])
        for other, strings in private.items():
            if other != client:
                leaked = sorted(s for s in strings if s in shown)
                assert not leaked, f"e-mail to {mail.recipient} names {other}'s {leaked}"
