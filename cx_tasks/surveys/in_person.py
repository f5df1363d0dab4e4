"""Key accounts at the table: a transactional survey a key account is not sent by e-mail
(skip reason ``key_account_in_person``) becomes a task for its account manager, to ask the
client in person and record the answer as informal feedback with the channel ``in_person``
(counted as feedback collected in person, not automatically).

The task goes through the outbox to the owner of informal feedback (``owners.yaml``, the key
account team), naming the account manager of the account (``erp_clients.account_manager``);
its idempotency key follows the skipped invitation, so a rerun never sends it twice.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection

from cx_tasks.feedback.rules import Owners
from cx_tasks.mail.outbox import enqueue
from cx_tasks.mail.render import render_mail
from cx_tasks.warehouse.frames import read_staging

IN_PERSON_KIND = "in_person_task"
IN_PERSON_REASON = "key_account_in_person"
IN_PERSON_CHANNEL = "in_person"
"""The informal-feedback channel of what an account manager records at the client."""


def in_person_key(invitation_id: str) -> str:
    """The outbox key of the in-person task replacing a skipped invitation."""
    return f"{IN_PERSON_KIND}:{invitation_id}"


def enqueue_in_person_tasks(conn: Connection, skips: pd.DataFrame, contacts: pd.DataFrame,
                            owners: Owners, now: datetime) -> int:
    """One task per skip with reason ``key_account_in_person``; return how many were new."""
    asked = skips[skips["reason"] == IN_PERSON_REASON]
    if asked.empty:
        return 0
    clients = read_staging(conn, "erp_clients", ["client_id", "name", "account_manager"])
    accounts = clients.set_index("client_id")
    people = contacts.set_index("contact_id")
    _, team, _ = owners.for_source("informal")
    new = 0
    for task in asked.to_dict("records"):
        client, contact = task["client_id"], task["contact_id"]
        known = contact in people.index
        mail = render_mail("in_person_task", "en", {
            "client_id": client,
            "client_name": accounts["name"].get(client, client),
            "manager": accounts["account_manager"].get(client) or "(no account manager)",
            "contact_name": people["full_name"][contact] if known else "(unknown contact)",
            "role": task["role"], "survey_id": task["survey_id"],
            "order_id": task["order_id"] if pd.notna(task["order_id"]) else None,
            "channel": IN_PERSON_CHANNEL})
        new += enqueue(conn, idempotency_key=in_person_key(task["invitation_id"]),
                       kind=IN_PERSON_KIND, recipient=team.email, subject=mail.subject,
                       body_text=mail.text, body_html=mail.html, created_at=now)
    return new
