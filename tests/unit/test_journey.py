"""The customer-journey map and the share of its indicators collected automatically: moving a
question into an e-mail, or making a metric computable, moves the shares (hand-computed)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from typer.testing import CliRunner

from cx_tasks.cli import app
from cx_tasks.config import parse_yaml, rules_text
from cx_tasks.metrics.catalogue import MetricCatalogue, metric_catalogue
from cx_tasks.metrics.journey import (
    STAGES,
    JourneyMap,
    collection_share,
    collection_shares_of,
    journey_map,
    latest_collection_shares,
    map_rows,
    publish_collection_shares,
)
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import collection_shares


def _changed(catalogue: MetricCatalogue, metric_id: str, **change: object) -> MetricCatalogue:
    """The catalogue with one metric's fields changed (validated again)."""
    data = catalogue.model_dump()
    for metric in data["metrics"]:
        if metric["id"] == metric_id:
            metric.update(change)
    return MetricCatalogue.model_validate(data)


def _shares(catalogue: MetricCatalogue, segment: str = "all") -> tuple[int, int, int]:
    share = collection_share(journey_map(catalogue=catalogue), catalogue, segment)
    return share["from_systems"], share["from_automated_channels"], share["indicators"]


def test_the_map_has_the_four_stages_and_each_indicator_once() -> None:
    journey, catalogue = journey_map(), metric_catalogue()
    rows = map_rows(journey, catalogue)
    assert tuple(rows["stage"].unique()) == STAGES
    assert len(rows) == rows["indicator"].nunique() == 34
    # revenue and margins are finance, employee NPS is the staff's: not on the client's map
    assert set(m.id for m in catalogue.metrics) - set(rows["indicator"]) == {
        "revenue", "gross_margin", "gross_margin_pct", "employee_nps"}
    otif = rows.set_index("indicator").loc["otif_line"]
    assert (otif["stage"], otif["collection"], otif["process_class"]) == (
        "usage", "system", "delivery_planning")


def test_moving_a_question_into_an_email_or_making_a_metric_computable_moves_the_shares() -> None:
    catalogue = metric_catalogue()
    # shipped: 34 indicators, 16 from systems, 16 through the e-mail surveys, 2 in person
    # (share of wallet, regulatory compliance rating): 16/34 = 0.4706, 32/34 = 0.9412
    assert _shares(catalogue) == (16, 16, 34)
    # the regulatory compliance question moves into the relationship e-mail: 16/34, 33/34
    emailed = _changed(catalogue, "regulatory_compliance_rating", collection="automated_channel")
    assert _shares(emailed) == (16, 17, 34)
    share = collection_share(journey_map(catalogue=emailed), emailed, "all")
    assert share["system_share"] == pytest.approx(16 / 34)
    assert share["automated_share"] == pytest.approx(33 / 34)
    # share of wallet becomes computable (from the ERP and the client's purchase data):
    # 17/34 from systems, 34/34 automatic
    computed = _changed(emailed, "share_of_wallet", kind="computable", collection="system")
    assert _shares(computed) == (17, 17, 34)
    assert collection_share(journey_map(catalogue=computed), computed,
                            "all")["automated_share"] == pytest.approx(1.0)


def test_a_segment_asked_in_person_has_its_own_shares() -> None:
    # the account manager's rating asked of metals clients in meetings, not by e-mail
    catalogue = _changed(metric_catalogue(), "account_manager_rating",
                         collection_by_segment={"metals": "in_person"})
    shares = collection_shares_of(journey_map(catalogue=catalogue), catalogue,
                                  ["metals", "chemicals", "metals"]).set_index("segment")
    assert list(shares.index) == ["all", "chemicals", "metals"]
    # metals: 16 from systems, 15 automated, 3 in person -> 31/34; the others 32/34
    assert shares.loc["metals", ["from_systems", "from_automated_channels", "in_person"]
                      ].tolist() == [16, 15, 3]
    assert shares.loc["metals", "automated_share"] == pytest.approx(31 / 34)
    assert shares.loc["chemicals", "automated_share"] == pytest.approx(32 / 34)


def test_the_map_refuses_unknown_indicators_repeats_and_missing_stages() -> None:
    data = parse_yaml(rules_text("journey"))
    context = {"metric_catalogue": metric_catalogue()}
    for change, message in [
        (lambda d: d["stages"][0]["indicators"].append("no_such_metric"), "not in the metric"),
        (lambda d: d["stages"][1]["indicators"].append("nps"), "more than once"),
        (lambda d: d["stages"].pop(), "stages must be"),
    ]:
        bad = parse_yaml(rules_text("journey"))
        change(bad)
        with pytest.raises(ValidationError, match=message):
            JourneyMap.model_validate(bad, context=context)
    assert JourneyMap.model_validate(data, context=context).indicators[0] == "nps"


def test_shares_are_stored_per_day_as_history(tmp_path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    catalogue = metric_catalogue()
    emailed = _changed(catalogue, "regulatory_compliance_rating", collection="automated_channel")
    for day, used in ((date(2026, 5, 1), catalogue), (date(2026, 5, 2), emailed),
                      (date(2026, 5, 2), emailed)):  # the second day rerun: same rows
        with engine.begin() as conn:
            publish_collection_shares(conn, collection_shares_of(
                journey_map(catalogue=used), used, ["metals"]), day)
    with engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(select(collection_shares)).mappings().all())
    history = rows[rows["segment"] == "metals"].set_index("as_of")["automated_share"]
    assert history.to_dict() == {date(2026, 5, 1): pytest.approx(32 / 34),
                                 date(2026, 5, 2): pytest.approx(33 / 34)}
    assert len(rows) == 4  # all and metals, two days
    latest = latest_collection_shares(engine)
    assert latest[["segment", "from_automated_channels"]].values.tolist() == [
        ["all", 17], ["metals", 17]]


def test_cx_journey_prints_the_map_and_the_shares() -> None:
    result = CliRunner().invoke(app, ["journey"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "evaluation_and_deal" in result.output and "regulatory_compliance_rating" in (
        result.output)
    assert "34 indicators: 16 from systems (47.1%)" in result.output
    assert "94.1%" in result.output
