"""Feedback beyond surveys, into the one ``feedback`` table (docs/feedback-intake.md).

Three ways in, each piece recorded once (insert if absent on ``feedback_id``):

- **service desk**: every claim (``claim:<claim_id>``) and ticket (``ticket:<ticket_id>``)
  the collect stage staged, as known by the run's interval (staging ``interval_start <=
  known_by``): source ``claim``/``ticket``, channel ``service_desk``, the claim's text,
  occurred at ``opened_at``, ``ref_id`` the claim or ticket id, role from the CRM contact;
- **drop folder** ``<data dir>/feedback_inbox/*.csv``: informal notes from sales and
  support, ``informal:file:<first 16 hex of the file's SHA-256>:<row>`` (row 2 is the first
  under the header). A file is taken once by the hash of its bytes (ledger
  ``feedback_inbox_files``, written in the transaction that loads its rows), then moved to
  ``done/<hash>-<name>``: a rerun, or the same file dropped again, loads nothing twice;
- **table** ``informal_feedback`` (same columns plus the writer's ``note_id``):
  ``informal:note:<note_id>``; a note is pending until it is loaded or quarantined.

An informal note is checked against the CRM as staged (client known, contact resolvable by
id or e-mail within that client) and ``rules/feedback.yaml``; a bad one goes to
``quarantine`` (source table ``feedback_inbox`` or ``informal_feedback``) with every rule
it broke, so rows in = loaded + quarantined. ``recorded_at`` is the intake's time.
Times are naive UTC; a note's ``occurred_at`` with an offset is converted to UTC.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, String, and_, exists, literal, select

from cx_tasks.feedback.rules import FeedbackRules
from cx_tasks.warehouse.db import engine_for, insert_if_absent
from cx_tasks.warehouse.schema import (
    STAGING,
    feedback,
    feedback_inbox_files,
    informal_feedback,
    quarantine,
)
from cx_tasks.warehouse.times import naive_utc

INBOX_SOURCE = "feedback_inbox"
NOTES_SOURCE = "informal_feedback"
REQUIRED_COLUMNS = ("client_id", "channel", "text", "occurred_at", "captured_by")
OPTIONAL_COLUMNS = ("contact_id", "contact_email", "score")
NOTE_PREFIX = "informal:note:"
SERVICE_DESK = {"claim": ("sd_claims", "claim_id"), "ticket": ("sd_tickets", "ticket_id")}
"""Feedback source -> (staged table, its key)."""

Problem = tuple[str, str]
"""A broken rule and what was wrong: ``(rule, detail)``."""


@dataclass(frozen=True)
class Contact:
    """A CRM contact as far as intake needs it."""

    contact_id: str
    client_id: str
    role: str | None
    email: str | None


@dataclass(frozen=True)
class Directory:
    """The clients and contacts known to the CRM, to check informal notes against."""

    clients: frozenset[str]
    contacts: Mapping[str, Contact]
    by_email: Mapping[tuple[str, str], Contact]
    """Contacts by (client id, lower-case e-mail)."""


def directory(clients: Iterable[str], contacts: Iterable[Contact]) -> Directory:
    """A directory of these clients and contacts."""
    contacts = list(contacts)
    return Directory(frozenset(clients), {c.contact_id: c for c in contacts},
                     {(c.client_id, c.email.strip().lower()): c for c in contacts if c.email})


@dataclass(frozen=True)
class Checked:
    """An informal note checked: its feedback columns, or the rules it broke."""

    row: dict[str, Any] | None
    problems: list[Problem]


@dataclass
class IntakeSummary:
    """What one intake run took in."""

    feedback_ids: list[str] = field(default_factory=list)
    claims: int = 0
    tickets: int = 0
    files: int = 0
    duplicate_files: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    notes_in: int = 0
    notes_loaded: int = 0
    notes_quarantined: int = 0
    quarantined_by_rule: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly values (for XCom and reports)."""
        return {**asdict(self), "quarantined_by_rule": dict(self.quarantined_by_rule)}


# --- checking one informal note ---------------------------------------------------------------

def _text(value: Any) -> str | None:
    """A stripped string, None when absent or blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _moment(value: Any) -> datetime:
    """A naive-UTC datetime from a datetime or ISO 8601 text (no offset: taken as UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    return naive_utc(moment)


def _contact(client_id: str, contact_id: str | None, email: str | None,
             known: Directory) -> tuple[Contact | None, list[Problem]]:
    """The note's contact (None when the note names none), or why it cannot be resolved."""
    if contact_id is None and email is None:
        return None, []
    found = known.contacts.get(contact_id) if contact_id else None
    if contact_id and (found is None or found.client_id != client_id):
        return None, [("unknown_contact", f"contact_id {contact_id!r} is not a contact of "
                                          f"client {client_id!r}")]
    if email:
        by_email = known.by_email.get((client_id, email.lower()))
        if by_email is None:
            return None, [("unknown_contact", f"no contact of client {client_id!r} has the "
                                              f"e-mail {email!r}")]
        if found is not None and by_email.contact_id != found.contact_id:
            return None, [("unknown_contact", f"contact_id {contact_id!r} and e-mail {email!r} "
                                              "name different contacts")]
        found = by_email
    return found, []


def check_note(raw: Mapping[str, Any], known: Directory, rules: FeedbackRules,
               now: datetime) -> Checked:
    """An informal note (CSV row or table row) as feedback columns, or every rule it broke."""
    problems: list[Problem] = []
    client_id = _text(raw.get("client_id"))
    if client_id is None:
        problems.append(("missing_client_id", "client_id is empty"))
    elif client_id not in known.clients:
        problems.append(("unknown_client", f"client {client_id!r} is not in the ERP"))
    contact = None
    if client_id in known.clients:
        contact, unresolved = _contact(client_id, _text(raw.get("contact_id")),
                                       _text(raw.get("contact_email")), known)
        problems += unresolved
    channel = _text(raw.get("channel"))
    if channel not in rules.informal_channels:
        problems.append(("unknown_channel", f"channel {channel!r} is not one of "
                                            f"{', '.join(rules.informal_channels)}"))
    text = _text(raw.get("text"))
    if text is None:
        problems.append(("missing_text", "text is empty"))
    elif len(text) > rules.text_max_chars:
        problems.append(("text_too_long", f"{len(text)} characters, at most "
                                          f"{rules.text_max_chars}"))
    score = None
    if _text(raw.get("score")) is not None:
        try:
            score = int(str(raw["score"]).strip())
        except ValueError:
            problems.append(("bad_score", f"score {raw['score']!r} is not a whole number"))
        else:
            if not rules.score_min <= score <= rules.score_max:
                problems.append(("bad_score", f"score {score} outside "
                                              f"{rules.score_min}-{rules.score_max}"))
    occurred_at = None
    if _text(raw.get("occurred_at")) is None:
        problems.append(("missing_occurred_at", "occurred_at is empty"))
    else:
        try:
            occurred_at = _moment(raw["occurred_at"])
        except ValueError:
            problems.append(("bad_occurred_at", f"occurred_at {raw['occurred_at']!r} is not "
                                                "an ISO 8601 date or time"))
        else:
            if occurred_at > now:
                problems.append(("occurred_in_future", f"occurred_at {occurred_at} is after "
                                                       f"the intake ({now})"))
    if _text(raw.get("captured_by")) is None:
        problems.append(("missing_captured_by", "captured_by is empty"))
    if problems:
        return Checked(None, problems)
    return Checked({
        "source": "informal", "channel": channel, "client_id": client_id,
        "contact_id": contact.contact_id if contact else None,
        "role": contact.role if contact else None, "text": text,
        "scores": json.dumps({"score": score}) if score is not None else None,
        "occurred_at": occurred_at,
    }, [])


# --- the drop folder --------------------------------------------------------------------------

@dataclass(frozen=True)
class FileIntake:
    """One CSV file read: its hash, the feedback rows it yields and the quarantine entries."""

    file_hash: str
    file_name: str
    rows_in: int
    feedback_rows: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]

    @property
    def rows_quarantined(self) -> int:
        return len({q["row_key"] for q in self.quarantined})


def file_hash(data: bytes) -> str:
    """The SHA-256 of a file's bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def _quarantined(source: str, row_key: str, problems: Sequence[Problem], payload: Any,
                 now: datetime, where: str = "") -> list[dict[str, Any]]:
    """Quarantine entries of one bad row: one per rule (details of a rule joined)."""
    by_rule: dict[str, list[str]] = {}
    for rule, detail in problems:
        by_rule.setdefault(rule, []).append(detail)
    body = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return [{"source_table": source, "interval_start": now, "row_key": row_key, "rule": rule,
             "detail": where + "; ".join(details), "payload": body}
            for rule, details in by_rule.items()]


def read_inbox_file(name: str, data: bytes, known: Directory, rules: FeedbackRules,
                    now: datetime) -> FileIntake:
    """A dropped CSV file read at ``now``: feedback rows and quarantine entries (module doc)."""
    digest = file_hash(data)
    short = digest[:16]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        entries = _quarantined(INBOX_SOURCE, f"{short}:file", [("not_utf8", str(error))],
                               {"file": name}, now, f"{name}: ")
        return FileIntake(digest, name, 1, [], entries)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    rows, entries, rows_in = [], [], 0
    for number, raw in enumerate(reader, start=2):
        rows_in += 1
        row_key = f"{short}:{number}"
        problems: list[Problem] = []
        if missing:
            problems.append(("missing_column", f"the header lacks {', '.join(missing)}"))
        if None in raw:
            problems.append(("malformed_row", f"{len(raw[None])} field(s) more than the header"))
        checked = check_note(raw, known, rules, now)
        problems += checked.problems
        if problems:
            payload = {k: v for k, v in raw.items() if k is not None}
            entries += _quarantined(INBOX_SOURCE, row_key, problems, payload, now,
                                    f"{name} row {number}: ")
        else:
            assert checked.row is not None
            rows.append({**checked.row, "feedback_id": f"informal:file:{row_key}",
                         "ref_id": f"{name}:{number}", "recorded_at": now})
    return FileIntake(digest, name, rows_in, rows, entries)


def _store_file(conn: Connection, taken: FileIntake, now: datetime) -> list[str]:
    """Record a read file (feedback, quarantine, ledger) in one transaction; new feedback ids."""
    new = _insert_feedback(conn, taken.feedback_rows)
    insert_if_absent(conn, quarantine, taken.quarantined)
    insert_if_absent(conn, feedback_inbox_files, [{
        "file_hash": taken.file_hash, "file_name": taken.file_name, "rows_in": taken.rows_in,
        "rows_loaded": len(taken.feedback_rows), "rows_quarantined": taken.rows_quarantined,
        "processed_at": now}])
    return new


def take_inbox(warehouse_url: str, inbox: Path, files: list[Path], known: Directory,
               rules: FeedbackRules, now: datetime, summary: IntakeSummary) -> None:
    """Load each of ``files`` (``*.csv`` in ``inbox``) not taken before, then move it to
    ``inbox/done``."""
    engine = engine_for(warehouse_url)
    done = inbox / "done"
    for path in files:
        data = path.read_bytes()
        digest = file_hash(data)
        with engine.begin() as conn:
            seen = conn.scalar(select(feedback_inbox_files.c.file_hash)
                               .where(feedback_inbox_files.c.file_hash == digest))
            if seen:
                summary.duplicate_files += 1
            else:
                taken = read_inbox_file(path.name, data, known, rules, now)
                summary.feedback_ids += _store_file(conn, taken, now)
                summary.files += 1
                summary.rows_in += taken.rows_in
                summary.rows_loaded += len(taken.feedback_rows)
                summary.rows_quarantined += taken.rows_quarantined
                summary.quarantined_by_rule.update(q["rule"] for q in taken.quarantined)
        done.mkdir(exist_ok=True)
        os.replace(path, done / f"{digest[:16]}-{path.name}")


# --- the informal_feedback table --------------------------------------------------------------

def pending_notes(conn: Connection) -> list[dict[str, Any]]:
    """Notes of ``informal_feedback`` neither loaded into ``feedback`` nor quarantined."""
    loaded = exists().where(
        feedback.c.feedback_id == literal(NOTE_PREFIX, String) + informal_feedback.c.note_id)
    caught = exists().where(and_(quarantine.c.source_table == NOTES_SOURCE,
                                 quarantine.c.row_key == informal_feedback.c.note_id))
    query = (select(informal_feedback).where(~loaded, ~caught)
             .order_by(informal_feedback.c.note_id))
    return [dict(r) for r in conn.execute(query).mappings()]


def take_notes(warehouse_url: str, notes: Iterable[Mapping[str, Any]], known: Directory,
               rules: FeedbackRules, now: datetime, summary: IntakeSummary) -> None:
    """Load or quarantine pending notes of the ``informal_feedback`` table."""
    rows, entries = [], []
    for note in notes:
        summary.notes_in += 1
        checked = check_note(note, known, rules, now)
        if checked.row is None:
            entries += _quarantined(NOTES_SOURCE, note["note_id"], checked.problems, note, now)
            summary.notes_quarantined += 1
            continue
        rows.append({**checked.row, "feedback_id": NOTE_PREFIX + note["note_id"],
                     "ref_id": note["note_id"], "recorded_at": now})
    with engine_for(warehouse_url).begin() as conn:
        summary.feedback_ids += _insert_feedback(conn, rows)
        insert_if_absent(conn, quarantine, entries)
    summary.notes_loaded += len(rows)
    summary.quarantined_by_rule.update(e["rule"] for e in entries)


# --- the service desk -------------------------------------------------------------------------

def service_desk_feedback(source: str, staged: Iterable[Mapping[str, Any]],
                          recorded_at: datetime) -> list[dict[str, Any]]:
    """Feedback rows of staged claims (``source="claim"``) or tickets (``"ticket"``); each
    staged row carries its key as ``ref_id`` and its contact's ``role`` (None if unknown)."""
    return [{"feedback_id": f"{source}:{row['ref_id']}", "source": source,
             "channel": "service_desk", "client_id": row["client_id"],
             "contact_id": row["contact_id"], "role": row["role"], "text": row["text"],
             "scores": None, "ref_id": row["ref_id"], "occurred_at": row["opened_at"],
             "recorded_at": recorded_at}
            for row in staged]


def new_service_desk_rows(conn: Connection, source: str,
                          known_by: datetime | None) -> list[dict[str, Any]]:
    """Staged claims or tickets (loaded by ``known_by``, all if None) not in ``feedback`` yet,
    with the role of their contact."""
    table_name, key = SERVICE_DESK[source]
    staged, contacts = STAGING[table_name], STAGING["crm_contacts"]
    recorded = exists().where(
        feedback.c.feedback_id == literal(f"{source}:", String) + staged.c[key])
    query = (select(staged.c[key].label("ref_id"), staged.c.client_id, staged.c.contact_id,
                    staged.c.opened_at, staged.c.text, contacts.c.role)
             .select_from(staged.outerjoin(contacts,
                                           contacts.c.contact_id == staged.c.contact_id))
             .where(~recorded).order_by(staged.c[key]))
    if known_by is not None:
        query = query.where(staged.c.interval_start <= known_by)
    return [dict(r) for r in conn.execute(query).mappings()]


def take_service_desk(warehouse_url: str, known_by: datetime | None, now: datetime,
                      summary: IntakeSummary) -> None:
    """Record the claims and tickets known by ``known_by`` that are not feedback yet."""
    with engine_for(warehouse_url).begin() as conn:
        new = {source: _insert_feedback(conn, service_desk_feedback(
                   source, new_service_desk_rows(conn, source, known_by), now))
               for source in SERVICE_DESK}
    summary.claims += len(new["claim"])
    summary.tickets += len(new["ticket"])
    summary.feedback_ids += new["claim"] + new["ticket"]


# --- together ---------------------------------------------------------------------------------

def _insert_feedback(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Insert feedback rows whose id is not stored yet; return the ids that were new."""
    ids = [r["feedback_id"] for r in rows]
    stored = {fid for start in range(0, len(ids), 1000) for fid in conn.scalars(
        select(feedback.c.feedback_id).where(feedback.c.feedback_id.in_(ids[start:start + 1000])))}
    fresh = [r for r in rows if r["feedback_id"] not in stored]
    insert_if_absent(conn, feedback, fresh)
    return [r["feedback_id"] for r in fresh]


def crm_directory(conn: Connection) -> Directory:
    """Every client and contact staged (what the CRM and ERP say now)."""
    clients, contacts = STAGING["erp_clients"], STAGING["crm_contacts"]
    return directory(
        conn.scalars(select(clients.c.client_id)),
        (Contact(r.contact_id, r.client_id, r.role, r.email)
         for r in conn.execute(select(contacts.c.contact_id, contacts.c.client_id,
                                      contacts.c.role, contacts.c.email))))


def take_in(warehouse_url: str, inbox: Path, rules: FeedbackRules, *, now: datetime,
            service_desk: bool, known_by: datetime | None = None) -> IntakeSummary:
    """One intake run at ``now`` (naive UTC): the service desk (when ``service_desk``, as
    known by ``known_by``), the drop folder and the ``informal_feedback`` table."""
    summary = IntakeSummary()
    if service_desk:
        take_service_desk(warehouse_url, known_by, now, summary)
    files = sorted(inbox.glob("*.csv")) if inbox.is_dir() else []
    with engine_for(warehouse_url).connect() as conn:
        notes = pending_notes(conn)
        known = crm_directory(conn) if files or notes else directory((), ())
    if files:
        take_inbox(warehouse_url, inbox, files, known, rules, now, summary)
    if notes:
        take_notes(warehouse_url, notes, known, rules, now, summary)
    return summary


def inbox_dir(data_dir: Path) -> Path:
    """The CSV drop folder: ``<data dir>/feedback_inbox`` (taken files go to ``done/``)."""
    return data_dir / "feedback_inbox"
