"""Pareto analysis: ranking, cut-offs (boundary, ties, one dominant class), affected revenue,
segment ``all``, cause ranking, review items counted apart, and the chart file."""

from __future__ import annotations

import struct
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from cx_tasks.analyze.charts import chart_path, pareto_chart, pareto_charts
from cx_tasks.analyze.pareto import (
    ParetoRules,
    cause_ranking,
    complaints_only,
    pareto_ranking,
    pareto_table,
    period_of,
)


def _ranked(values: dict[str, float], cutoff: float = 0.8) -> pd.DataFrame:
    return pareto_ranking(pd.Series(values), cutoff)


def test_classes_up_to_the_one_reaching_the_cutoff_are_the_vital_few() -> None:
    ranked = _ranked({"documents": 3, "pricing": 1, "delivery_planning": 5, "payments": 1})
    # total 10; shares 5/10, 3/10, 1/10, 1/10; cumulative 0.5, 0.8, 0.9, 1.0.
    # documents reaches 0.8 exactly, so pricing (0.8 already covered above it) is not vital;
    # pricing and payments tie at 1 and come in name order: payments, pricing.
    assert list(ranked["process_class"]) == ["delivery_planning", "documents", "payments",
                                             "pricing"]
    assert list(ranked["rank"]) == [1, 2, 3, 4]
    assert list(ranked["share"]) == pytest.approx([0.5, 0.3, 0.1, 0.1])
    assert list(ranked["cumulative_share"]) == pytest.approx([0.5, 0.8, 0.9, 1.0])
    assert list(ranked["vital_few"]) == [True, True, False, False]


def test_a_class_tied_with_the_last_vital_class_is_vital_too() -> None:
    ranked = _ranked({"delivery_planning": 6, "pricing": 2, "documents": 2})
    # total 10; delivery_planning 0.6, then documents (name before pricing) 0.2 -> 0.8 reaches
    # the cut-off; pricing has the same 2 complaints as documents, so it is vital as well.
    assert list(ranked["process_class"]) == ["delivery_planning", "documents", "pricing"]
    assert list(ranked["cumulative_share"]) == pytest.approx([0.6, 0.8, 1.0])
    assert list(ranked["vital_few"]) == [True, True, True]


def test_a_tie_below_the_boundary_does_not_widen_the_vital_few() -> None:
    ranked = _ranked({"documents": 2, "pricing": 2, "delivery_planning": 7, "payments": 1})
    # total 12; cumulative 7/12 = 0.583, 9/12 = 0.75, 11/12 = 0.917, 1.0. Above pricing
    # only 0.75 < 0.8 is covered, so pricing is the last vital class; payments (1) is not.
    assert list(ranked["process_class"]) == ["delivery_planning", "documents", "pricing",
                                             "payments"]
    assert list(ranked["vital_few"]) == [True, True, True, False]


@pytest.mark.parametrize(("values", "share"), [
    ({"delivery_planning": 9, "documents": 1}, 0.9),
    ({"delivery_planning": 8, "documents": 1, "pricing": 1}, 0.8),
])
def test_a_single_dominant_class_is_the_vital_few_alone(values: dict[str, int],
                                                        share: float) -> None:
    ranked = _ranked(values)
    # delivery_planning alone covers 9/10 (or exactly 8/10) of the complaints.
    assert ranked["share"].iloc[0] == pytest.approx(share)
    assert list(ranked.loc[ranked["vital_few"], "process_class"]) == ["delivery_planning"]


def test_the_cutoff_is_configurable_and_zero_values_are_not_ranked() -> None:
    ranked = _ranked({"delivery_planning": 5, "documents": 3, "pricing": 2, "payments": 0},
                     cutoff=0.5)
    # 5/10 = 0.5 reaches a cut-off of 0.5 on its own; payments has no complaints.
    assert list(ranked["process_class"]) == ["delivery_planning", "documents", "pricing"]
    assert list(ranked["vital_few"]) == [True, False, False]
    assert _ranked({"pricing": 0}).empty


# Clients C1 (metals, revenue 1000), C2 (metals, 500), C3 (chemicals, 2000),
# C4 (chemicals, no revenue in the period).
COMPLAINTS = pd.DataFrame({
    "client_id": ["C1", "C1", "C1", "C2", "C3", "C3", "C4", "C4"],
    "segment": ["metals"] * 4 + ["chemicals"] * 4,
    "process_class": ["delivery_planning", "delivery_planning", "documents",
                      "delivery_planning", "documents", "pricing", "pricing", "pricing"],
    "cause": ["late", "late", "certificate", None, "certificate", "price", "price", "price"],
})
REVENUE = pd.Series({"C1": 1000.0, "C2": 500.0, "C3": 2000.0})


def _rows(table: pd.DataFrame, segment: str, measure: str) -> pd.DataFrame:
    return table[(table["segment"] == segment) & (table["measure"] == measure)]


def test_revenue_measure_counts_each_complaining_client_once_per_class() -> None:
    table = pareto_table(COMPLAINTS, REVENUE, cutoff=0.7)
    revenue = _rows(table, "all", "revenue")
    # documents: C1 + C3 = 3000; pricing: C3 + C4 = 2000 + 0; delivery_planning: C1 (twice,
    # counted once) + C2 = 1500. Total 6500: shares 0.4615, 0.3077, 0.2308; cumulative
    # 0.4615, 0.7692, 1.0 -> with a 0.7 cut-off documents and pricing are the vital few.
    assert list(revenue["process_class"]) == ["documents", "pricing", "delivery_planning"]
    assert list(revenue["revenue"]) == [3000.0, 2000.0, 1500.0]
    assert list(revenue["share"]) == pytest.approx([3000 / 6500, 2000 / 6500, 1500 / 6500])
    assert list(revenue["vital_few"]) == [True, True, False]
    assert list(revenue["complaints"]) == [2, 3, 3]


def test_count_measure_breaks_ties_by_name() -> None:
    count = _rows(pareto_table(COMPLAINTS, REVENUE, cutoff=0.7), "all", "count")
    # delivery_planning 3 and pricing 3 tie (name order), documents 2; total 8:
    # cumulative 3/8 = 0.375, 6/8 = 0.75, 1.0; 0.75 reaches 0.7.
    assert list(count["process_class"]) == ["delivery_planning", "pricing", "documents"]
    assert list(count["cumulative_share"]) == pytest.approx([0.375, 0.75, 1.0])
    assert list(count["vital_few"]) == [True, True, False]
    assert list(count["revenue"]) == [1500.0, 2000.0, 3000.0]


def test_segment_all_is_the_sum_of_the_segments() -> None:
    table = pareto_table(COMPLAINTS, REVENUE, cutoff=0.8)
    assert set(table["segment"]) == {"all", "metals", "chemicals"}
    for measure in ("count", "revenue"):
        column = "complaints" if measure == "count" else "revenue"
        whole = _rows(table, "all", measure).set_index("process_class")[column]
        parts = (table[(table["segment"] != "all") & (table["measure"] == measure)]
                 .groupby("process_class")[column].sum())
        pd.testing.assert_series_equal(whole.sort_index(), parts.sort_index(),
                                       check_names=False, check_dtype=False)
    chemicals = _rows(table, "chemicals", "revenue")
    # chemicals: documents (C3) 2000 and pricing (C3 + C4) 2000 tie -> name order, 0.5 each.
    assert list(chemicals["process_class"]) == ["documents", "pricing"]
    assert list(chemicals["share"]) == pytest.approx([0.5, 0.5])


def test_a_client_missing_from_the_erp_is_in_segment_unknown() -> None:
    table = pareto_table(COMPLAINTS.assign(segment=[None] + ["metals"] * 3 + ["chemicals"] * 4),
                         REVENUE, cutoff=0.8)
    unknown = _rows(table, "unknown", "count")
    assert list(unknown["process_class"]) == ["delivery_planning"]
    assert list(unknown["complaints"]) == [1]


def test_a_segment_whose_complainants_had_no_revenue_has_no_revenue_ranking() -> None:
    table = pareto_table(COMPLAINTS, pd.Series({"C1": 1000.0}), cutoff=0.8)
    assert _rows(table, "chemicals", "revenue").empty
    assert len(_rows(table, "chemicals", "count")) == 2


def test_review_items_are_counted_apart_and_undecided_rows_dropped() -> None:
    items = pd.DataFrame({
        "status": ["classified", "reviewed", "review", "review", "classified"],
        "process_class": ["pricing", "documents", None, "pricing", None],
    })
    complaints, in_review = complaints_only(items)
    assert list(complaints["process_class"]) == ["pricing", "documents"]
    assert in_review == 2


def test_praise_and_questions_are_never_counted_as_complaints() -> None:
    # issue 15: a text that praises or asks keeps the process class it speaks about (status
    # no_complaint, polarity positive or neutral) and never raises a complaint count
    items = pd.DataFrame({"status": ["no_complaint", "no_complaint", "classified"],
                          "process_class": ["delivery_planning", "payments", "pricing"]})
    complaints, in_review = complaints_only(items)
    assert list(complaints["process_class"]) == ["pricing"] and in_review == 0


def test_causes_are_ranked_by_complaints_with_shares_of_the_segment() -> None:
    causes = cause_ranking(COMPLAINTS)
    everyone = causes[causes["segment"] == "all"]
    # 8 complaints, one without a cause: price 3/8, certificate 2/8, late 2/8 (name order).
    assert list(everyone["cause"]) == ["price", "certificate", "late"]
    assert list(everyone["complaints"]) == [3, 2, 2]
    assert list(everyone["share"]) == pytest.approx([0.375, 0.25, 0.25])
    metals = causes[causes["segment"] == "metals"]
    assert list(metals["cause"]) == ["late", "certificate"]
    assert list(metals["share"]) == pytest.approx([0.5, 0.25])


def test_periods_end_at_as_of_exclusive() -> None:
    assert period_of(date(2025, 3, 1), 30) == (date(2025, 1, 30), date(2025, 3, 1))


def test_rules_reject_a_cutoff_outside_zero_to_one_and_repeated_windows() -> None:
    assert ParetoRules().cutoff == 0.8
    with pytest.raises(ValidationError):
        ParetoRules(cutoff=1.2)
    with pytest.raises(ValidationError):
        ParetoRules(window_days=(30, 30))


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG signature and IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_the_chart_is_a_png_of_the_stated_size(tmp_path: Path) -> None:
    rows = _rows(pareto_table(COMPLAINTS, REVENUE, cutoff=0.7), "all", "count")
    path = pareto_chart(rows, tmp_path / "charts" / "all.png", "Complaints", cutoff=0.7)
    assert path.stat().st_size > 0
    assert _png_size(path) == (960, 540)  # 9.6 x 5.4 inches at 100 dpi


def test_charts_of_a_table_get_deterministic_names(tmp_path: Path) -> None:
    table = pareto_table(COMPLAINTS, REVENUE, cutoff=0.8).assign(
        period_start=date(2025, 1, 30), period_end=date(2025, 3, 1))
    first = pareto_charts(table, tmp_path, cutoff=0.8)
    # 3 segments x 2 measures, in segment then measure order.
    assert [p.name for p in first] == [
        f"pareto_20250130_20250301_{segment}_{measure}.png"
        for segment in ("all", "chemicals", "metals") for measure in ("count", "revenue")]
    assert chart_path(tmp_path, date(2025, 1, 30), date(2025, 3, 1), "oil & gas", "count").name \
        == "pareto_20250130_20250301_oil-gas_count.png"
    before = first[0].read_bytes()
    assert pareto_charts(table, tmp_path, cutoff=0.8)[0].read_bytes() == before
