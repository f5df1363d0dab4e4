"""The quarterly staff pulse survey: one question (1-5, "how do you feel about your work
this quarter?") to every staff member in post, through the outbox, answered by one click.

The e-mail goes once per staff member and calendar quarter (key
``pulse:<staff_id>:<quarter's first day>``) to everyone in post on the day it is sent
(``hr_staff``: hired on or before it, not left before it); a staff member who opted out
(``hr_staff.pulse_opted_out``) gets the message recorded as suppressed with the reason
``pulse_opted_out``, never sent. Each of its five links is a signed token (purpose
``pulse``: the staff member, the quarter, the score range) that the response app turns into
an answer in ``staff_pulse_answers``; answers can also be imported (channel ``import``). A
later answer of the same quarter replaces the earlier one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from cx_tasks.mail.outbox import enqueue
from cx_tasks.surveys.links import _unix
from cx_tasks.surveys.tokens import TokenClaims, sign
from cx_tasks.warehouse.db import upsert
from cx_tasks.warehouse.frames import read_staging
from cx_tasks.warehouse.schema import staff_pulse_answers
from cx_tasks.warehouse.times import midnight

SCORES = range(1, 6)
OPTED_OUT = "pulse_opted_out"
QUESTION = {
    "ru": "Как вы оцениваете свою работу в этом квартале? (1 - очень плохо, 5 - отлично)",
    "en": "How do you feel about your work this quarter? (1 - very bad, 5 - very good)",
}
SUBJECT = {"ru": "Пульс-опрос сотрудников: один вопрос",
           "en": "Staff pulse survey: one question"}


def quarter_of(day: date) -> date:
    """The first day of ``day``'s calendar quarter."""
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def in_post(staff: pd.DataFrame, day: date) -> pd.DataFrame:
    """The staff rows of people in post on ``day``: hired by then, not left before it."""
    hired = pd.to_datetime(staff["hired_on"]).dt.date <= day
    left = pd.to_datetime(staff["left_on"]).dt.date
    return staff[hired & (left.isna() | (left >= day))]


def pulse_link(base_url: str, secret: bytes, staff_id: str, quarter: date, score: int,
               expires_at: datetime) -> str:
    """The one-click link that answers the pulse of ``quarter`` with ``score``."""
    claims = TokenClaims(invitation_id=f"{staff_id}:{quarter.isoformat()}", contact_id=staff_id,
                         survey_id="staff_pulse", purpose="pulse",
                         expires_at=_unix(expires_at), question_id="pulse",
                         score_min=SCORES.start, score_max=SCORES.stop - 1)
    return f"{base_url.rstrip('/')}/p/{sign(claims, secret)}?score={score}"


def send_pulse(conn: Connection, day: date, base_url: str, secret: bytes,
               link_days: int = 30) -> dict[str, Any]:
    """Enqueue the pulse e-mail of ``day``'s quarter to every staff member in post on
    ``day`` (module doc), its links valid ``link_days``; return how many were queued,
    suppressed and already there."""
    quarter = quarter_of(day)
    now = midnight(day)
    expires = now + timedelta(days=link_days)
    staff = in_post(read_staging(conn, "hr_staff", [
        "staff_id", "full_name", "email", "language", "hired_on", "left_on",
        "pulse_opted_out"]), day)
    counts = {"queued": 0, "suppressed": 0, "already": 0}
    for person in staff.sort_values("staff_id").itertuples():
        language = person.language if person.language in QUESTION else "en"
        links = [f"{n}: {pulse_link(base_url, secret, person.staff_id, quarter, n, expires)}"
                 for n in SCORES]
        opted_out = bool(person.pulse_opted_out)
        new = enqueue(
            conn, idempotency_key=f"pulse:{person.staff_id}:{quarter.isoformat()}",
            kind="staff_pulse", recipient=person.email, subject=SUBJECT[language],
            body_text=f"{person.full_name},\n\n{QUESTION[language]}\n\n" + "\n".join(links),
            created_at=now, suppressed_reason=OPTED_OUT if opted_out else None,
            links_expire_at=expires)
        counts["already" if not new else "suppressed" if opted_out else "queued"] += 1
    return {"quarter": quarter.isoformat(), "in_post": len(staff), **counts}


def record_pulse_answers(conn: Connection, answers: Iterable[dict[str, Any]],
                         channel: str) -> int:
    """Store pulse answers (staff_id, score 1-5, answered_at), each under its staff member
    and the quarter it was given in; return how many."""
    rows = [{"staff_id": a["staff_id"], "quarter": quarter_of(a["answered_at"].date()),
             "score": int(a["score"]), "answered_at": a["answered_at"], "channel": channel}
            for a in answers]
    bad = [r for r in rows if r["score"] not in SCORES]
    if bad:
        raise ValueError(f"pulse scores are 1-5: {bad[:3]}")
    return upsert(conn, staff_pulse_answers, rows) if rows else 0
