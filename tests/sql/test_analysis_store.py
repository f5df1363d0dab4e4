"""Pareto causes and findings in the warehouse: what is read, what is stored, and that a rerun
for the same as_of leaves the same state (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from fixtures.feedback_world import stage_clients
from sqlalchemy import select, update

from cx_tasks.analyze.findings import findings_as_of, findings_rules, store_findings
from cx_tasks.analyze.pareto import ParetoRules, store_pareto, stored_pareto
from cx_tasks.feedback.rules import owners
from cx_tasks.metrics.catalogue import metric_catalogue
from cx_tasks.warehouse.db import engine_for, upsert
from cx_tasks.warehouse.schema import (
    feedback,
    feedback_classes,
    findings,
    metric_values,
)

AS_OF = date(2025, 3, 1)
RULES = ParetoRules(cutoff=0.8, window_days=(30, 90))
# feedback_id, client, occurred_at, status, process_class
ITEMS = [
    ("F1", "C1", datetime(2025, 2, 10, 9), "classified", "delivery_planning"),
    ("F2", "C1", datetime(2025, 2, 20, 9), "classified", "delivery_planning"),
    ("F3", "C2", datetime(2025, 2, 28, 23), "reviewed", "delivery_planning"),
    ("F4", "C3", datetime(2025, 2, 1, 9), "classified", "documents"),
    ("F5", "C3", datetime(2025, 3, 1, 0), "classified", "pricing"),    # as_of: outside
    ("F6", "C2", datetime(2025, 1, 15, 9), "classified", "pricing"),   # 90-day window only
    ("F7", "C1", datetime(2025, 2, 15, 9), "review", None),            # in the review queue
    ("F8", "C9", datetime(2025, 2, 5, 9), "classified", "documents"),  # C9 unknown to the ERP
]
REVENUE = {30: {"C1": 1000.0, "C2": 500.0, "C3": 2000.0},
           90: {"C1": 3000.0, "C2": 1500.0, "C3": 6000.0}}


def _load(url: str) -> None:
    stage_clients(url, {"C1": "metals", "C2": "metals", "C3": "chemicals"})
    with engine_for(url).begin() as conn:
        upsert(conn, feedback, [
            {"feedback_id": fid, "source": "claim", "channel": "email", "client_id": client,
             "occurred_at": at, "recorded_at": at} for fid, client, at, _, _ in ITEMS])
        upsert(conn, feedback_classes, [
            {"feedback_id": fid, "client_id": client, "status": status,
             "process_class": process_class, "cause": None, "confidence": 0.9, "evidence": "[]",
             "classifier_version": "test", "classified_on": AS_OF}
            for fid, client, _, status, process_class in ITEMS])
        upsert(conn, metric_values, [
            {"client_id": client, "metric": "revenue", "as_of": AS_OF, "window_days": days,
             "value": value} for days, values in REVENUE.items()
            for client, value in values.items()])
        upsert(conn, metric_values, [
            {"client_id": "C1", "metric": "otif_line", "as_of": AS_OF, "window_days": 30,
             "value": 0.5, "numerator": 5.0, "denominator": 10.0}])


def _ranking(url: str, window_days: int, segment: str, measure: str) -> list[tuple]:
    with engine_for(url).connect() as conn:
        rows = stored_pareto(conn, AS_OF, window_days)
    rows = rows[(rows["segment"] == segment) & (rows["measure"] == measure)]
    return [(r.process_class, r.rank, r.complaints, r.revenue, round(r.share, 4),
             bool(r.vital_few)) for r in rows.itertuples()]


def test_store_pareto_ranks_the_trailing_windows(warehouse_url: str) -> None:
    _load(warehouse_url)
    with engine_for(warehouse_url).begin() as conn:
        summary = store_pareto(conn, AS_OF, RULES)
    # 30 days [30 Jan, 1 Mar): F1-F4 and F8 are complaints (F5 on 1 March is outside, F6 in
    # January, F7 waits for review). Rows (count + revenue): 30 days: all 2 + 2, metals 1 + 1,
    # chemicals 1 + 1, unknown 1 + 0 = 9; 90 days: all 3 + 3, metals (with pricing) 2 + 2,
    # chemicals 1 + 1, unknown 1 + 0 = 13.
    assert summary == {"as_of": "2025-03-01", "windows": [
        {"window_days": 30, "complaints": 5, "in_review": 1, "rows": 9},
        {"window_days": 90, "complaints": 6, "in_review": 1, "rows": 13}]}
    # all, by count: delivery planning 3/5 = 0.6, documents 2/5 = 0.4; 0.6 < 0.8 so both vital.
    assert _ranking(warehouse_url, 30, "all", "count") == [
        ("delivery_planning", 1, 3, 1500.0, 0.6, True), ("documents", 2, 2, 2000.0, 0.4, True)]
    # all, by revenue: documents C3 2000 + C9 0 = 2000 (4/7), delivery planning C1 1000 +
    # C2 500 = 1500 (3/7).
    assert _ranking(warehouse_url, 30, "all", "revenue") == [
        ("documents", 1, 2, 2000.0, 0.5714, True),
        ("delivery_planning", 2, 3, 1500.0, 0.4286, True)]
    # C9's complaint is in segment unknown; with no revenue it has no revenue ranking.
    assert _ranking(warehouse_url, 30, "unknown", "count") == [
        ("documents", 1, 1, 0.0, 1.0, True)]
    assert _ranking(warehouse_url, 30, "unknown", "revenue") == []
    # 90 days adds F6 (pricing, C2): 3/6, 2/6, 1/6; cumulative 0.5, 0.833 -> pricing is out.
    assert _ranking(warehouse_url, 90, "all", "count") == [
        ("delivery_planning", 1, 3, 4500.0, 0.5, True), ("documents", 2, 2, 6000.0, 0.3333, True),
        ("pricing", 3, 1, 1500.0, 0.1667, False)]


def test_a_rerun_leaves_the_same_rows_and_drops_classes_no_longer_ranked(
        warehouse_url: str, warehouse_checksum: Callable[[str], dict[str, str]]) -> None:
    _load(warehouse_url)
    engine = engine_for(warehouse_url)
    with engine.begin() as conn:
        store_pareto(conn, AS_OF, RULES)
    first = warehouse_checksum(warehouse_url)
    with engine.begin() as conn:
        store_pareto(conn, AS_OF, RULES)
    assert warehouse_checksum(warehouse_url) == first
    with engine.begin() as conn:  # F4 goes back to the review queue
        conn.execute(update(feedback_classes).where(feedback_classes.c.feedback_id == "F4")
                     .values(status="review"))
        summary = store_pareto(conn, AS_OF, RULES)
    assert summary["windows"][0]["in_review"] == 2
    assert _ranking(warehouse_url, 30, "chemicals", "count") == []
    assert [r[0] for r in _ranking(warehouse_url, 30, "all", "count")] == [
        "delivery_planning", "documents"]  # documents now only F8 (1 of 4)


def test_findings_are_stored_once_and_keep_the_day_first_found(
        warehouse_url: str, warehouse_checksum: Callable[[str], dict[str, str]]) -> None:
    _load(warehouse_url)
    engine = engine_for(warehouse_url)
    rules, team, catalogue = findings_rules(), owners(), metric_catalogue()
    with engine.begin() as conn:
        store_pareto(conn, AS_OF, rules.pareto)
        found = findings_as_of(conn, AS_OF, rules, team, catalogue)
        assert store_findings(conn, found) == 2
    # metals: delivery planning 3 complaints >= 3, vital (3/3); C1's OTIF 0.5 < 0.55 over 10
    # lines (the shipped threshold, at its minimum of 10 lines). Both go to logistics, due
    # 1 March + 14 days.
    assert list(found["finding_id"]) == ["cluster:metals:delivery_planning",
                                         "metric:C1:otif_line:30d"]
    first = warehouse_checksum(warehouse_url)
    with engine.begin() as conn:
        store_findings(conn, findings_as_of(conn, AS_OF, rules, team, catalogue))
    assert warehouse_checksum(warehouse_url) == first

    later = found.assign(found_on=date(2025, 3, 5), due_on=date(2025, 3, 19),
                         summary="still there")
    with engine.begin() as conn:
        store_findings(conn, later)
        stored = conn.execute(select(findings.c.finding_id, findings.c.found_on,
                                     findings.c.due_on, findings.c.summary, findings.c.owner)
                              .order_by(findings.c.finding_id)).all()
    # found on 1 March, so due 15 March still; the summary is the latest one.
    assert [tuple(r) for r in stored] == [
        ("cluster:metals:delivery_planning", date(2025, 3, 1), date(2025, 3, 15), "still there",
         "logistics"),
        ("metric:C1:otif_line:30d", date(2025, 3, 1), date(2025, 3, 15), "still there",
         "logistics")]
