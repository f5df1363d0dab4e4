"""Past survey answers import: answers from the tool used before CX Loop, matched to the CRM.

The layout (CSV, UTF-8, comma, header row; or the first sheet of an XLSX file with the same
header), one scored question of one response per row (docs/past-answers.md):

============  ==========================================================================
column        meaning
============  ==========================================================================
contact       the CRM ``contact_id``, or the contact's e-mail (anything with an ``@``)
client        the ``client_id`` of the contact's account
role          economic_buyer | technical_buyer | operator (blank: the contact's CRM role)
survey_kind   relationship | transactional
question      a scored question of the survey catalogue: nps, csat, ces or a factor
score         an integer on the question's scale (nps 0-10, csat 1-5, ces 1-7, factor 1-5)
comment       optional free text of the respondent (kept as data, never interpreted)
answered_at   ISO 8601 date-time (no offset: UTC), not after the import's ``now``
============  ==========================================================================

Each row is checked against the CRM as staged and the survey catalogue; a bad row goes to
``quarantine`` (source table ``past_answers``, row key ``<file hash>:<row>``) with every
rule it broke, and the others load: rows in = loaded + quarantined. Idempotent twice over:
a file already imported (same SHA-256, ledger ``past_answer_files``) is skipped, and rows
are upserted on their natural key (contact, question, answered_at, survey kind), so a
re-export overlapping an earlier file updates answers instead of duplicating them.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cx_tasks.collect.contract import ROLES
from cx_tasks.feedback.intake import (
    Directory,
    Problem,
    _contact,
    _quarantined,
    crm_directory,
    file_hash,
)
from cx_tasks.surveys.catalogue import SurveyCatalogue, survey_catalogue
from cx_tasks.warehouse.db import engine_for, insert_if_absent, upsert
from cx_tasks.warehouse.schema import past_answer_files, past_answers, quarantine
from cx_tasks.warehouse.times import naive_utc

SOURCE = "past_answers"
COLUMNS = ("contact", "client", "role", "survey_kind", "question", "score", "comment",
           "answered_at")
REQUIRED = tuple(c for c in COLUMNS if c not in ("role", "comment"))
SURVEY_KINDS = ("relationship", "transactional")


@dataclass(frozen=True)
class CheckedAnswer:
    """A row of the layout checked: its ``past_answers`` columns, or the rules it broke."""

    row: dict[str, Any] | None
    problems: list[Problem]


@dataclass
class ImportSummary:
    """What one import of past answers took in."""

    files: int = 0
    duplicate_files: int = 0
    rows_in: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    quarantined_by_rule: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly values (for XCom and reports)."""
        return {**asdict(self), "quarantined_by_rule": dict(self.quarantined_by_rule)}


def _cell(value: Any) -> str | None:
    """A cell as stripped text, None when absent or blank (XLSX numbers as they print)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = value.isoformat() if isinstance(value, datetime) else str(value).strip()
    return text or None


def check_answer(raw: Mapping[str, Any], known: Directory, catalogue: SurveyCatalogue,
                 now: datetime) -> CheckedAnswer:
    """One row of the layout as ``past_answers`` columns, or every rule it broke."""
    cells = {c: _cell(raw.get(c)) for c in COLUMNS}
    problems: list[Problem] = [("missing_value", f"{c} is empty") for c in REQUIRED
                               if cells[c] is None]
    client, contact = cells["client"], cells["contact"]
    found = None
    if client is not None and client not in known.clients:
        problems.append(("unknown_client", f"client {client!r} is not in the CRM"))
    elif client is not None and contact is not None:
        by_email = "@" in contact
        found, wrong = _contact(client, None if by_email else contact,
                                contact if by_email else None, known)
        problems += wrong
    role = cells["role"] or (found.role if found else None)
    if cells["role"] is not None and cells["role"] not in ROLES:
        problems.append(("unknown_role", f"role {cells['role']!r} is not one of {list(ROLES)}"))
    elif found is not None and found.role and role != found.role:
        problems.append(("role_mismatch", f"role {role!r}, but the CRM says {found.role!r}"))
    kind = cells["survey_kind"]
    if kind is not None and kind not in SURVEY_KINDS:
        problems.append(("unknown_survey_kind", f"{kind!r} is not one of {list(SURVEY_KINDS)}"))
    asked = catalogue.current_question(cells["question"] or "")
    question = catalogue.questions.get(asked)
    scale = question.scale if question is not None else None
    if cells["question"] is not None and scale is None:
        problems.append(("unknown_question",
                         f"{cells['question']!r} is no scored question of the catalogue"))
    score = _score(cells["score"], scale, problems)
    moment = _answered_at(cells["answered_at"], now, problems)
    if problems or found is None or role is None or score is None or moment is None:
        return CheckedAnswer(None, problems)
    return CheckedAnswer({"contact_id": found.contact_id, "question": asked,
                          "answered_at": moment, "survey_kind": kind,
                          "client_id": client, "role": role, "score": score,
                          "comment": cells["comment"]}, [])


def _score(text: str | None, scale: tuple[int, int] | None,
           problems: list[Problem]) -> int | None:
    """The score as an integer on the question's scale, or None with the rule it broke."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append(("score_not_a_number", f"score {text!r}"))
        return None
    if not value.is_integer():
        problems.append(("score_not_a_number", f"score {text!r} is not a whole number"))
        return None
    if scale is not None and not scale[0] <= value <= scale[1]:
        problems.append(("score_out_of_range", f"score {int(value)} outside {scale[0]}-"
                                               f"{scale[1]}"))
        return None
    return int(value)


def _answered_at(text: str | None, now: datetime, problems: list[Problem]) -> datetime | None:
    """The answer's moment as naive UTC, or None with the rule it broke."""
    if text is None:
        return None
    try:
        moment = naive_utc(datetime.fromisoformat(text))
    except ValueError:
        problems.append(("bad_timestamp", f"answered_at {text!r} is not ISO 8601"))
        return None
    if moment > now:
        problems.append(("answered_in_future", f"answered_at {text} is after {now}"))
        return None
    return moment


def read_rows(name: str, data: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the rows of a CSV or XLSX file of the layout (by the name's suffix)."""
    if name.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        values = sheet.iter_rows(values_only=True)
        header = [str(c).strip() if c is not None else "" for c in next(values, ())]
        return header, [dict(zip(header, row, strict=False)) for row in values
                        if any(c is not None for c in row)]
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = [c.strip() for c in reader.fieldnames or []]
    reader.fieldnames = header
    return header, list(reader)


@dataclass(frozen=True)
class FileImport:
    """One file read: its hash and name, the rows to upsert and the quarantine entries."""

    file_hash: str
    file_name: str
    rows_in: int
    answers: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]

    @property
    def rows_quarantined(self) -> int:
        return len({q["row_key"] for q in self.quarantined})


def read_file(name: str, data: bytes, known: Directory, catalogue: SurveyCatalogue,
              now: datetime) -> FileImport:
    """A file of past answers checked at ``now``: answers and quarantine entries (module doc).
    A row repeating an earlier row's natural key is quarantined as ``duplicate_answer``."""
    digest = file_hash(data)
    short = digest[:16]
    try:
        header, rows = read_rows(name, data)
    except (UnicodeDecodeError, csv.Error, OSError, ValueError, KeyError) as error:
        entries = _quarantined(SOURCE, f"{short}:file", [("unreadable_file", str(error))],
                               {"file": name}, now, f"{name}: ")
        return FileImport(digest, name, 1, [], entries)
    missing = [c for c in REQUIRED if c not in header]
    answers: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for number, raw in enumerate(rows, start=2):
        problems: list[Problem] = []
        if missing:
            problems.append(("missing_column", f"the header lacks {', '.join(missing)}"))
        if None in raw:
            problems.append(("malformed_row", f"{len(raw[None])} field(s) more than the header"))
        checked = check_answer(raw, known, catalogue, now)
        problems += checked.problems
        if checked.row is not None and not problems:
            key = tuple(checked.row[c.name] for c in past_answers.primary_key.columns)
            if key in seen:
                problems.append(("duplicate_answer", "an earlier row has the same contact, "
                                                     "question, moment and survey kind"))
            seen.add(key)
        if problems:
            payload = {k: _cell(v) for k, v in raw.items() if k is not None}
            entries += _quarantined(SOURCE, f"{short}:{number}", problems, payload, now,
                                    f"{name} row {number}: ")
        else:
            assert checked.row is not None
            answers.append({**checked.row, "source_file": short})
    return FileImport(digest, name, len(rows), answers, entries)


def import_files(warehouse_url: str, files: Iterable[Path], *, now: datetime,
                 catalogue: SurveyCatalogue | None = None) -> ImportSummary:
    """Import each file of past answers once (by its SHA-256) at ``now`` (naive UTC), each in
    one transaction: answers upserted, bad rows quarantined, the file in the ledger."""
    catalogue = catalogue or survey_catalogue()
    summary = ImportSummary()
    engine = engine_for(warehouse_url)
    with engine.connect() as conn:
        known = crm_directory(conn)
        done = set(conn.scalars(select(past_answer_files.c.file_hash)))
    for path in files:
        data = Path(path).read_bytes()
        if file_hash(data) in done:
            summary.duplicate_files += 1
            continue
        taken = read_file(Path(path).name, data, known, catalogue, now)
        with engine.begin() as conn:
            upsert(conn, past_answers, taken.answers)
            insert_if_absent(conn, quarantine, taken.quarantined)
            insert_if_absent(conn, past_answer_files, [{
                "file_hash": taken.file_hash, "file_name": taken.file_name,
                "rows_in": taken.rows_in, "rows_loaded": len(taken.answers),
                "rows_quarantined": taken.rows_quarantined, "imported_at": now}])
        done.add(taken.file_hash)
        summary.files += 1
        summary.rows_in += taken.rows_in
        summary.rows_loaded += len(taken.answers)
        summary.rows_quarantined += taken.rows_quarantined
        summary.quarantined_by_rule.update(q["rule"] for q in taken.quarantined)
    return summary
