"""Feedback intake: service desk, CSV drop folder and informal_feedback table into ``feedback``."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fixtures.feedback_world import NIGHT, seed_crm, stage
from sqlalchemy import inspect, select, text

from cx_tasks.feedback.intake import Contact, check_note, directory, take_in
from cx_tasks.feedback.rules import feedback_rules
from cx_tasks.warehouse import db
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import (
    feedback,
    feedback_inbox_files,
    informal_feedback,
    quarantine,
)

NOW = datetime(2026, 11, 4, 12, 0)
RULES = feedback_rules()
HEADER = "client_id,contact_email,contact_id,channel,text,score,occurred_at,captured_by\n"


def _feedback(url: str) -> dict[str, dict]:
    with engine_for(url).connect() as conn:
        return {r["feedback_id"]: dict(r) for r in conn.execute(select(feedback)).mappings()}


def _quarantine(url: str) -> list[tuple[str, str, str]]:
    with engine_for(url).connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(
            quarantine.c.source_table, quarantine.c.row_key, quarantine.c.rule)))


def _take(url: str, inbox: Path, **kwargs) -> dict:
    return take_in(url, inbox, RULES, now=NOW, **{"service_desk": False, **kwargs}).to_dict()


# --- the service desk -----------------------------------------------------------------------

def test_claims_and_tickets_known_by_the_interval_become_feedback_once(
        warehouse_url: str, tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    opened = datetime(2026, 11, 1, 8, 30)
    stage(warehouse_url, "sd_claims", [
        {"claim_id": "SC1", "client_id": "K1", "contact_id": "C1", "order_id": "O1",
         "opened_at": opened, "text": "Пришла повреждённая упаковка"},
        {"claim_id": "SC2", "client_id": "K2", "contact_id": None, "opened_at": opened,
         "text": "Short shipment"},
    ])
    stage(warehouse_url, "sd_tickets", [{"ticket_id": "T1", "client_id": "K1",
                                         "contact_id": "C2", "opened_at": opened,
                                         "text": "Where is my invoice?"}])
    later = NIGHT + timedelta(days=1)  # loaded by the next night: not known by NIGHT
    stage(warehouse_url, "sd_claims", [{"claim_id": "SC3", "client_id": "K1",
                                        "contact_id": "C1", "opened_at": opened,
                                        "text": "late"}], loaded=later)

    first = _take(warehouse_url, tmp_path / "inbox", service_desk=True, known_by=NIGHT)

    assert (first["claims"], first["tickets"]) == (2, 1)
    assert sorted(first["feedback_ids"]) == ["claim:SC1", "claim:SC2", "ticket:T1"]
    rows = _feedback(warehouse_url)
    assert rows["claim:SC1"] == {
        "feedback_id": "claim:SC1", "source": "claim", "channel": "service_desk",
        "client_id": "K1", "contact_id": "C1", "role": "operator",
        "text": "Пришла повреждённая упаковка", "scores": None, "ref_id": "SC1",
        "occurred_at": opened, "recorded_at": NOW}
    assert (rows["claim:SC2"]["contact_id"], rows["claim:SC2"]["role"]) == (None, None)
    assert (rows["ticket:T1"]["source"], rows["ticket:T1"]["role"]) == ("ticket",
                                                                        "technical_buyer")
    again = _take(warehouse_url, tmp_path / "inbox", service_desk=True, known_by=NIGHT)
    assert again["feedback_ids"] == []
    later_run = _take(warehouse_url, tmp_path / "inbox", service_desk=True, known_by=later)
    assert later_run["feedback_ids"] == ["claim:SC3"]


def test_a_run_without_the_service_desk_takes_no_claims(warehouse_url: str,
                                                        tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    stage(warehouse_url, "sd_claims", [{"claim_id": "SC1", "client_id": "K1",
                                        "contact_id": "C1", "opened_at": NOW, "text": "x"}])
    assert _take(warehouse_url, tmp_path / "inbox")["feedback_ids"] == []
    assert _feedback(warehouse_url) == {}


# --- the drop folder ------------------------------------------------------------------------

GOOD_AND_BAD = (
    HEADER
    # row 2: good, contact by e-mail in another case, offset converted to UTC, score 4
    + "K1,anna.smith@k1.example,,sales_call,Хотят поставки по субботам,4,"
      "2026-11-03T12:00:00+03:00,m.ivanova\n"
    # row 3: good, no contact named, no score
    + 'K2,,,visit,"Liked the new packaging, asked about prices",,2026-11-02 15:00,p.orlov\n'
    # row 4: unknown client
    + "K9,,,chat,hello,,2026-11-03T10:00:00,p.orlov\n"
    # row 5: two problems: score out of range and an unknown channel
    + "K1,,C1,fax,too slow,7,2026-11-03T10:00:00,p.orlov\n"
    # row 6: in the future
    + "K1,,C1,visit,great,5,2026-11-05T10:00:00,p.orlov\n"
    # row 7: empty text; e-mail of another client's contact
    + "K1,olga@k2.example,,visit,,,2026-11-03T10:00:00,p.orlov\n"
)


def _drop(inbox: Path, name: str, content: str | bytes) -> str:
    inbox.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    (inbox / name).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_a_dropped_csv_loads_good_rows_and_quarantines_bad_ones_once(
        warehouse_url: str, tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    inbox = tmp_path / "inbox"
    digest = _drop(inbox, "visits.csv", GOOD_AND_BAD)
    short = digest[:16]

    summary = _take(warehouse_url, inbox)

    assert (summary["files"], summary["rows_in"], summary["rows_loaded"],
            summary["rows_quarantined"]) == (1, 6, 2, 4)
    assert summary["quarantined_by_rule"] == {
        "unknown_client": 1, "bad_score": 1, "unknown_channel": 1, "occurred_in_future": 1,
        "missing_text": 1, "unknown_contact": 1}
    assert summary["feedback_ids"] == [f"informal:file:{short}:2", f"informal:file:{short}:3"]
    rows = _feedback(warehouse_url)
    assert rows[f"informal:file:{short}:2"] == {
        "feedback_id": f"informal:file:{short}:2", "source": "informal",
        "channel": "sales_call", "client_id": "K1", "contact_id": "C2",
        "role": "technical_buyer", "text": "Хотят поставки по субботам",
        "scores": json.dumps({"score": 4}), "ref_id": "visits.csv:2",
        "occurred_at": datetime(2026, 11, 3, 9, 0), "recorded_at": NOW}
    third = rows[f"informal:file:{short}:3"]
    assert (third["contact_id"], third["scores"], third["occurred_at"]) == (
        None, None, datetime(2026, 11, 2, 15, 0))
    assert _quarantine(warehouse_url) == sorted([
        ("feedback_inbox", f"{short}:4", "unknown_client"),
        ("feedback_inbox", f"{short}:5", "bad_score"),
        ("feedback_inbox", f"{short}:5", "unknown_channel"),
        ("feedback_inbox", f"{short}:6", "occurred_in_future"),
        ("feedback_inbox", f"{short}:7", "missing_text"),
        ("feedback_inbox", f"{short}:7", "unknown_contact"),
    ])
    assert not (inbox / "visits.csv").exists()
    assert (inbox / "done" / f"{short}-visits.csv").read_text() == GOOD_AND_BAD
    with engine_for(warehouse_url).connect() as conn:
        ledger = conn.execute(select(feedback_inbox_files)).mappings().one()
    assert dict(ledger) == {"file_hash": digest, "file_name": "visits.csv", "rows_in": 6,
                            "rows_loaded": 2, "rows_quarantined": 4, "processed_at": NOW}

    # a rerun takes nothing; the same bytes dropped again under another name neither
    rerun = _take(warehouse_url, inbox)
    assert (rerun["files"], rerun["feedback_ids"]) == (0, [])
    _drop(inbox, "visits (copy).csv", GOOD_AND_BAD)
    redrop = _take(warehouse_url, inbox)
    assert (redrop["files"], redrop["duplicate_files"], redrop["feedback_ids"]) == (0, 1, [])
    assert len(_feedback(warehouse_url)) == 2 and len(_quarantine(warehouse_url)) == 6
    assert sorted(p.name for p in (inbox / "done").iterdir()) == [
        f"{short}-visits (copy).csv", f"{short}-visits.csv"]


def test_a_header_without_a_required_column_quarantines_every_row(
        warehouse_url: str, tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    inbox = tmp_path / "inbox"
    short = _drop(inbox, "no_author.csv", "client_id,channel,text,occurred_at\n"
                                          "K1,visit,fine,2026-11-03T10:00:00\n"
                                          "K1,visit,also fine,2026-11-03T11:00:00\n")[:16]
    summary = _take(warehouse_url, inbox)
    assert (summary["rows_in"], summary["rows_loaded"], summary["rows_quarantined"]) == (2, 0, 2)
    assert _quarantine(warehouse_url) == [
        ("feedback_inbox", f"{short}:2", "missing_captured_by"),
        ("feedback_inbox", f"{short}:2", "missing_column"),
        ("feedback_inbox", f"{short}:3", "missing_captured_by"),
        ("feedback_inbox", f"{short}:3", "missing_column"),
    ]


def test_a_file_that_is_not_utf8_is_quarantined_whole(warehouse_url: str,
                                                      tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    inbox = tmp_path / "inbox"
    short = _drop(inbox, "cp1251.csv", (HEADER + "K1,,,visit,Жалоба,,2026-11-03,a\n")
                  .encode("cp1251"))[:16]
    summary = _take(warehouse_url, inbox)
    assert (summary["rows_in"], summary["rows_loaded"], summary["rows_quarantined"]) == (1, 0, 1)
    assert _quarantine(warehouse_url) == [("feedback_inbox", f"{short}:file", "not_utf8")]


# --- the informal_feedback table ------------------------------------------------------------

def test_notes_in_the_table_are_loaded_or_quarantined_once(warehouse_url: str,
                                                           tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    note = {"client_id": "K1", "contact_email": None, "contact_id": "C1",
            "channel": "support_call", "text": "Спасибо за быструю замену", "score": 5,
            "occurred_at": datetime(2026, 11, 4, 9, 0), "captured_by": "s.kuznetsov",
            "captured_at": datetime(2026, 11, 4, 9, 5)}
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(informal_feedback.insert(), [
            {**note, "note_id": "N1"},
            {**note, "note_id": "N2", "contact_id": "C3"},  # C3 belongs to K2
            {**note, "note_id": "N3", "score": 0, "captured_by": None},
        ])
    summary = _take(warehouse_url, tmp_path / "inbox")
    assert (summary["notes_in"], summary["notes_loaded"], summary["notes_quarantined"]) == (
        3, 1, 2)
    assert summary["feedback_ids"] == ["informal:note:N1"]
    row = _feedback(warehouse_url)["informal:note:N1"]
    assert (row["source"], row["channel"], row["contact_id"], row["role"], row["scores"],
            row["ref_id"]) == ("informal", "support_call", "C1", "operator",
                               '{"score": 5}', "N1")
    assert _quarantine(warehouse_url) == [
        ("informal_feedback", "N2", "unknown_contact"),
        ("informal_feedback", "N3", "bad_score"),
        ("informal_feedback", "N3", "missing_captured_by"),
    ]
    rerun = _take(warehouse_url, tmp_path / "inbox")
    assert (rerun["notes_in"], rerun["feedback_ids"]) == (0, [])


# --- one note's checks ----------------------------------------------------------------------

KNOWN = directory(["K1"], [Contact("C1", "K1", "operator", "a@k1.example"),
                           Contact("C2", "K1", "technical_buyer", "b@k1.example")])


@pytest.mark.parametrize(("changes", "rules"), [
    ({"contact_id": "C1", "contact_email": "b@k1.example"}, ["unknown_contact"]),
    ({"contact_id": "C1", "contact_email": "A@K1.example"}, []),
    ({"occurred_at": "yesterday"}, ["bad_occurred_at"]),
    ({"occurred_at": NOW.isoformat()}, []),  # at the intake's moment: not in the future
    ({"score": "4.5"}, ["bad_score"]),
    ({"score": " 1 "}, []),
    ({"text": "x" * 4001}, ["text_too_long"]),
    ({"text": "x" * 4000}, []),
    ({"client_id": " "}, ["missing_client_id"]),
])
def test_note_checks_at_their_boundaries(changes: dict, rules: list[str]) -> None:
    note = {"client_id": "K1", "channel": "visit", "text": "ok",
            "occurred_at": "2026-11-03T10:00:00", "captured_by": "a", **changes}
    assert [rule for rule, _ in check_note(note, KNOWN, RULES, NOW).problems] == rules


# --- migration 3 ----------------------------------------------------------------------------

def test_a_version_2_warehouse_is_migrated_to_version_3(tmp_path: Path, monkeypatch) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'v2.db'}")
    monkeypatch.setattr(db, "MIGRATIONS", db.MIGRATIONS[:2])
    assert migrate(engine) == 2
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO feedback (feedback_id, source, channel, client_id, "
                          "occurred_at, recorded_at) VALUES ('survey:i1', 'survey', 'email', "
                          "'K1', '2026-11-01 00:00:00', '2026-11-01 00:00:00')"))
    v3 = {"informal_feedback", "feedback_inbox_files", "feedback_acknowledgements"}
    assert not v3 & set(inspect(engine).get_table_names())
    monkeypatch.undo()
    assert migrate(engine) == max(v for v, _, _ in db.MIGRATIONS)  # 3 and any later
    assert v3 <= set(inspect(engine).get_table_names())
    assert list(_feedback(f"sqlite:///{tmp_path / 'v2.db'}")) == ["survey:i1"]
