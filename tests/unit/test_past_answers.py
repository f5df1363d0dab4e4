"""Past survey answers import: CSV and XLSX of the documented layout, matched to the CRM."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fixtures.feedback_world import seed_crm
from sqlalchemy import select

from cx_tasks.monitor.past_answers import COLUMNS, import_files
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import past_answer_files, past_answers, quarantine

NOW = datetime(2026, 11, 4, 12, 0)
HEADER = ",".join(COLUMNS)
GOOD = [
    # by contact id, role blank (taken from the CRM: operator)
    "C1,K1,,relationship,nps,9,Всё хорошо,2026-03-01T10:00:00",
    # by e-mail in another case, role given and equal to the CRM's
    "anna.smith@k1.example,K1,technical_buyer,transactional,csat,4,,2026-03-02T11:00:00",
    # an offset is converted to UTC: 12:00+03:00 -> 09:00
    "C5,K1,economic_buyer,relationship,acceptable_price,2,,2026-03-03T12:00:00+03:00",
]
BAD = [
    ("C1,K9,,relationship,nps,9,,2026-03-01T10:00:00", "unknown_client"),
    ("nobody@k1.example,K1,,relationship,nps,9,,2026-03-01T10:00:00", "unknown_contact"),
    ("C1,K1,economic_buyer,relationship,nps,9,,2026-03-01T10:00:00", "role_mismatch"),
    ("C1,K1,,relationship,nps,11,,2026-03-01T10:00:00", "score_out_of_range"),
    ("C1,K1,,relationship,ces,x,,2026-03-01T10:00:00", "score_not_a_number"),
    ("C1,K1,,relationship,comment,3,,2026-03-01T10:00:00", "unknown_question"),
    ("C1,K1,,weekly,nps,9,,2026-03-01T10:00:00", "unknown_survey_kind"),
    ("C1,K1,,relationship,nps,9,,01.03.2026", "bad_timestamp"),
    ("C1,K1,,relationship,nps,9,,2026-12-01T10:00:00", "answered_in_future"),
    ("C1,K1,,relationship,nps,7,,2026-03-01T10:00:00", "duplicate_answer"),  # key of GOOD[0]
]


def _rows(url: str) -> list[tuple]:
    with engine_for(url).connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(
            past_answers.c.contact_id, past_answers.c.client_id, past_answers.c.role,
            past_answers.c.survey_kind, past_answers.c.question, past_answers.c.score,
            past_answers.c.comment, past_answers.c.answered_at)))


def _quarantine(url: str) -> list[tuple[str, str]]:
    with engine_for(url).connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(
            quarantine.c.row_key, quarantine.c.rule).where(
                quarantine.c.source_table == "past_answers")))


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def test_good_rows_load_bad_rows_are_quarantined_with_their_rule(warehouse_url: str,
                                                                  tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    file = _write(tmp_path / "export.csv", GOOD + [line for line, _ in BAD])

    summary = import_files(warehouse_url, [file], now=NOW).to_dict()

    assert (summary["rows_in"], summary["rows_loaded"], summary["rows_quarantined"]) == (13, 3, 10)
    assert _rows(warehouse_url) == [
        ("C1", "K1", "operator", "relationship", "nps", 9, "Всё хорошо",
         datetime(2026, 3, 1, 10, 0)),
        ("C2", "K1", "technical_buyer", "transactional", "csat", 4, None,
         datetime(2026, 3, 2, 11, 0)),
        ("C5", "K1", "economic_buyer", "relationship", "acceptable_price", 2, None,
         datetime(2026, 3, 3, 9, 0)),
    ]
    rules = [rule for _, rule in _quarantine(warehouse_url)]
    assert sorted(rules) == sorted(rule for _, rule in BAD)
    # row keys name the file and the line: the bad rows are lines 5-14 (header is line 1)
    assert {key.split(":")[1] for key, _ in _quarantine(warehouse_url)} == {
        str(n) for n in range(5, 15)}


def test_reimport_adds_nothing_and_a_reexport_updates_by_natural_key(warehouse_url: str,
                                                                     tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    first = _write(tmp_path / "a.csv", GOOD + [BAD[0][0]])
    import_files(warehouse_url, [first], now=NOW)
    again = import_files(warehouse_url, [first], now=NOW).to_dict()
    assert (again["files"], again["duplicate_files"], again["rows_loaded"]) == (0, 1, 0)

    # a later export: the same first answer corrected to 10, plus one new answer
    later = _write(tmp_path / "b.csv", [GOOD[0].replace(",9,", ",10,"),
                                        "C2,K1,,transactional,ces,6,,2026-04-01T09:00:00"])
    import_files(warehouse_url, [later], now=NOW)

    rows = _rows(warehouse_url)
    assert len(rows) == 4  # 3 + 1 new; the corrected one replaced, not added
    assert [r[5] for r in rows if r[4] == "nps"] == [10]
    assert len(_quarantine(warehouse_url)) == 1
    with engine_for(warehouse_url).connect() as conn:
        assert conn.execute(select(past_answer_files.c.file_name, past_answer_files.c.rows_in,
                                   past_answer_files.c.rows_loaded)
                            .order_by(past_answer_files.c.file_name)).all() == [
            ("a.csv", 4, 3), ("b.csv", 2, 2)]


def test_xlsx_of_the_same_layout_loads_the_same_rows(warehouse_url: str, tmp_path: Path) -> None:
    from openpyxl import Workbook

    seed_crm(warehouse_url)
    book = Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    sheet.append(["C1", "K1", None, "relationship", "nps", 9, "Всё хорошо",
                  datetime(2026, 3, 1, 10, 0)])
    sheet.append(["C1", "K1", None, "relationship", "nps", 12, None, "2026-03-02T10:00:00"])
    path = tmp_path / "export.xlsx"
    book.save(path)

    summary = import_files(warehouse_url, [path], now=NOW).to_dict()

    assert (summary["rows_loaded"], summary["rows_quarantined"]) == (1, 1)
    assert _rows(warehouse_url) == [("C1", "K1", "operator", "relationship", "nps", 9,
                                     "Всё хорошо", datetime(2026, 3, 1, 10, 0))]
    assert summary["quarantined_by_rule"] == {"score_out_of_range": 1}


def test_a_file_without_a_required_column_is_quarantined_row_by_row(warehouse_url: str,
                                                                   tmp_path: Path) -> None:
    seed_crm(warehouse_url)
    path = tmp_path / "short.csv"
    path.write_text("contact,client,question,score,answered_at\n"
                    "C1,K1,nps,9,2026-03-01T10:00:00\n", encoding="utf-8")

    summary = import_files(warehouse_url, [path], now=NOW).to_dict()

    assert summary["quarantined_by_rule"] == {"missing_column": 1, "missing_value": 1}
    assert _rows(warehouse_url) == []
