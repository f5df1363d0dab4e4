"""Classification in the warehouse (SQLite and PostgreSQL): context read from staging and
events, the stored classes, the review queue, a review overriding the classifier, and a
rerun for the same day leaving every table as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pytest
from fixtures.feedback_world import stage
from sqlalchemy import select, text

from cx_tasks.analyze.classification import (
    classify_feedback,
    record_no_complaint,
    record_review,
    refit_confidence,
    review_queue,
)
from cx_tasks.analyze.classify import ClassifierRules, build_classifier
from cx_tasks.analyze.context import read_context
from cx_tasks.analyze.lexicon import LexiconFile
from cx_tasks.analyze.pareto import classified_items, complaints_only
from cx_tasks.warehouse import db
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import events, feedback, feedback_classes, schema_version

AS_OF = date(2026, 11, 10)
NIGHT = datetime(2026, 11, 10, 2, 0)
CLASSIFIER = build_classifier(
    LexiconFile.model_validate({
        "negators": {"ru": ["не"]},
        "causes": {
            "late_delivery": {"group": "delivery_discipline",
                              "process_class": "delivery_planning", "description": "late",
                              "terms": {"ru": ["опоздание", "задержка"], "en": ["late"]}},
            "damaged_goods": {"group": "quality", "process_class": "order_fulfilment",
                              "description": "damaged", "terms": {"en": ["damaged"]}},
            "price_dispute": {"group": "service", "process_class": "pricing",
                              "description": "price", "terms": {"ru": ["цена"]}},
        },
        "worsening": {"en": ["getting worse"]},
        "no_complaint": {"ru": [{"все отлично": 2}]},
    }),
    ClassifierRules.model_validate({
        "threshold": 0.6, "smoothing": 0.5,
        "context": {"otif_miss": {"late_delivery": 0.5},
                    "packaging_incident": {"damaged": {"damaged_goods": 1.5}}}}),
    "test-store")


def _feedback(fid: str, source: str, text: str | None, day: int, ref: str | None = None) -> dict:
    return {"feedback_id": fid, "source": source, "channel": "service_desk", "client_id": "K1",
            "contact_id": None, "role": None, "text": text, "scores": None, "ref_id": ref,
            "occurred_at": datetime(2026, 11, day, 9), "recorded_at": datetime(2026, 11, day, 10)}


def seed(url: str) -> None:
    """Four claims, a survey answer without text and a claim after the day (by hand):

    - CL1 "Опоздание, задержка": late_delivery 2 + OTIF miss 0.5 = 2.5 -> 2.5 / 3 = 0.83;
    - CL2 "Проблема с грузом" on a shipment with a damaged-packaging incident: context only,
      damaged_goods 1.5 -> 1.5 / 2 = 0.75 (quality / order_fulfilment);
    - CL3 "Задержка, цена": late 1 vs price 1 -> 0 -> review;
    - CL4 "Всё отлично": praise 2 -> 2 / 2.5 = 0.8 -> no_complaint;
    - CL5 occurred on 11 November, after the day: not read.
    """
    stage(url, "sd_claims", [
        {"claim_id": cid, "client_id": "K1", "order_id": order, "shipment_id": shipment,
         "opened_at": datetime(2026, 11, day, 9), "text": text,
         "updated_at": datetime(2026, 11, day, 9)}
        for cid, order, shipment, day, text in [
            ("CL1", "O1", "S1", 3, "Опоздание, задержка"),
            ("CL2", "O2", "S2", 4, "Проблема с грузом"),
            ("CL3", None, None, 5, "Задержка, цена"),
            ("CL4", None, None, 6, "Всё отлично"),
            ("CL5", "O1", "S1", 11, "Опоздание")]], loaded=NIGHT)
    stage(url, "wms_packaging_incidents", [
        {"incident_id": "PI1", "shipment_id": "S2", "incident_type": "damaged",
         "reported_at": datetime(2026, 11, 4, 8), "updated_at": datetime(2026, 11, 4, 8)},
        {"incident_id": "PI2", "shipment_id": "S1", "incident_type": "damaged",
         "reported_at": datetime(2026, 11, 12, 8), "updated_at": datetime(2026, 11, 12, 8)},
    ], loaded=NIGHT)
    with engine_for(url).begin() as conn:
        conn.execute(events.insert(), [
            {"event_id": "otif_miss:O1", "event_type": "otif_miss", "client_id": "K1",
             "order_id": "O1", "ref_id": "O1", "occurred_at": datetime(2026, 11, 2, 23, 59),
             "interval_start": NIGHT, "payload": "{}"}])
        conn.execute(feedback.insert(), [
            _feedback("claim:CL1", "claim", "Опоздание, задержка", 3, "CL1"),
            _feedback("claim:CL2", "claim", "Проблема с грузом", 4, "CL2"),
            _feedback("claim:CL3", "claim", "Задержка, цена", 5, "CL3"),
            _feedback("claim:CL4", "claim", "Всё отлично", 6, "CL4"),
            _feedback("claim:CL5", "claim", "Опоздание", 11, "CL5"),
            _feedback("survey:X", "survey", None, 6),
        ])


def stored(url: str) -> dict[str, dict]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(select(feedback_classes)).mappings().all()
    return {r["feedback_id"]: dict(r) for r in rows}


def test_context_is_read_from_the_links_events_and_incidents(warehouse_url: str) -> None:
    seed(warehouse_url)
    with engine_for(warehouse_url).connect() as conn:
        context = read_context(conn, AS_OF).set_index("feedback_id")
    assert list(context.index) == ["claim:CL1", "claim:CL2", "claim:CL3", "claim:CL4"]
    assert context.loc["claim:CL1", ["otif_miss", "packaging_incident"]].tolist() == [True, None]
    # S1's incident was reported on 12 November, after the day: unknown on 10 November
    assert context.loc["claim:CL2", ["otif_miss", "packaging_incident"]].tolist() == [
        False, "damaged"]
    assert not context.loc["claim:CL3", "otif_miss"]


def test_classify_store_review_and_rerun(warehouse_url: str,
                                         warehouse_checksum: Callable[[str], dict]) -> None:
    seed(warehouse_url)
    engine = engine_for(warehouse_url)
    summary = classify_feedback(engine, AS_OF, CLASSIFIER)
    assert summary.items == 4
    assert dict(summary.by_status) == {"classified": 2, "review": 1, "no_complaint": 1}
    assert summary.review_share == 0.25
    rows = stored(warehouse_url)
    assert set(rows) == {"claim:CL1", "claim:CL2", "claim:CL3", "claim:CL4"}
    first = rows["claim:CL1"]
    assert (first["status"], first["dissatisfaction_group"], first["process_class"],
            first["cause"]) == ("classified", "delivery_discipline", "delivery_planning",
                                "late_delivery")
    assert first["confidence"] == pytest.approx(2.5 / 3, abs=1e-4)
    assert "order O1 missed OTIF 0.5" in first["evidence"]
    assert (first["classifier_version"], first["classified_on"]) == ("test-store", AS_OF)
    assert rows["claim:CL2"]["dissatisfaction_group"] == "quality"
    assert rows["claim:CL2"]["confidence"] == pytest.approx(0.75)
    assert (rows["claim:CL3"]["status"], rows["claim:CL3"]["dissatisfaction_group"]) == (
        "review", None)
    assert rows["claim:CL4"]["status"] == "no_complaint"
    # polarity and the recurring flag (migration 8): complaints (even the one waiting for
    # review, and the one the context decided) are negative, praise positive with no group;
    # CL1 is K1's first late delivery: not recurring
    assert {f: (r["polarity"], r["recurring"]) for f, r in rows.items()} == {
        "claim:CL1": ("negative", False), "claim:CL2": ("negative", False),
        "claim:CL3": ("negative", False), "claim:CL4": ("positive", False)}
    assert rows["claim:CL4"]["dissatisfaction_group"] is None
    assert dict(summary.by_polarity) == {"negative": 3, "positive": 1}

    before = warehouse_checksum(warehouse_url)
    classify_feedback(engine, AS_OF, CLASSIFIER)
    assert warehouse_checksum(warehouse_url) == before

    with engine.begin() as conn:
        queue = review_queue(conn)
        assert queue["feedback_id"].tolist() == ["claim:CL3"]
        assert queue.loc[0, "text"] == "Задержка, цена"
        with pytest.raises(ValueError, match="process class"):
            record_review(conn, "claim:CL3", "service", "invoicing", "anna",
                          datetime(2026, 11, 10, 12))
        with pytest.raises(ValueError, match="no feedback"):
            record_review(conn, "claim:CL9", "service", "pricing", "anna",
                          datetime(2026, 11, 10, 12))
        record_review(conn, "claim:CL3", "service", "pricing", "anna",
                      datetime(2026, 11, 10, 12))
        assert review_queue(conn).empty

    summary = classify_feedback(engine, AS_OF, CLASSIFIER)
    assert dict(summary.by_status) == {"classified": 2, "reviewed": 1, "no_complaint": 1}
    reviewed = stored(warehouse_url)["claim:CL3"]
    assert (reviewed["status"], reviewed["dissatisfaction_group"], reviewed["process_class"],
            reviewed["confidence"], reviewed["cause"], reviewed["polarity"]) == (
        "reviewed", "service", "pricing", 1.0, None, "negative")
    assert reviewed["evidence"].startswith("reviewed by anna on 2026-11-10 (classifier said "
                                           "review None/None)")

    # a review made after the day is not applied to that day's run
    with engine.begin() as conn:
        record_review(conn, "claim:CL1", "quality", "specification", "boris",
                      datetime(2026, 11, 11, 9))
    classify_feedback(engine, AS_OF, CLASSIFIER)
    assert stored(warehouse_url)["claim:CL1"]["status"] == "classified"


def test_a_person_says_no_complaint(warehouse_url: str) -> None:
    seed(warehouse_url)
    engine = engine_for(warehouse_url)
    classify_feedback(engine, AS_OF, CLASSIFIER)
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="polarity 'negative' is not one of positive, "
                                             "neutral"):
            record_no_complaint(conn, "claim:CL3", "negative", None, "anna", NIGHT)
        with pytest.raises(ValueError, match="process class 'invoicing'"):
            record_no_complaint(conn, "claim:CL3", "neutral", "invoicing", "anna", NIGHT)
        with pytest.raises(ValueError, match="no feedback"):
            record_no_complaint(conn, "claim:CL9", "neutral", None, "anna", NIGHT)
        # CL3 "Задержка, цена" waited in the queue (a tie): a question about the price;
        # CL2, which the context decided (quality / order_fulfilment, cause damaged_goods),
        # is praise in the person's eyes, its process class kept
        record_no_complaint(conn, "claim:CL3", "neutral", "pricing", "anna",
                            datetime(2026, 11, 10, 12))
        record_no_complaint(conn, "claim:CL2", "positive", None, "boris",
                            datetime(2026, 11, 10, 13))
        assert review_queue(conn).empty
    summary = classify_feedback(engine, AS_OF, CLASSIFIER)
    assert dict(summary.by_status) == {"classified": 1, "no_complaint": 3}
    assert dict(summary.by_polarity) == {"negative": 1, "positive": 2, "neutral": 1}
    assert dict(summary.by_group) == {"delivery_discipline": 1}
    rows = stored(warehouse_url)
    columns = ("status", "dissatisfaction_group", "process_class", "cause", "confidence",
               "deterioration", "polarity", "recurring")
    assert tuple(rows["claim:CL3"][c] for c in columns) == (
        "no_complaint", None, "pricing", None, 1.0, None, "neutral", False)
    assert tuple(rows["claim:CL2"][c] for c in columns) == (
        "no_complaint", None, "order_fulfilment", None, 1.0, None, "positive", False)
    assert rows["claim:CL3"]["evidence"].startswith(
        "reviewed by anna on 2026-11-10 as no complaint (neutral) (classifier said review "
        "None/None); ")
    # downstream: the Pareto's complaints are CL1 alone, nothing waits for review
    with engine.connect() as conn:
        complaints, waiting = complaints_only(classified_items(conn, date(2026, 11, 1), AS_OF))
    assert (complaints["feedback_id"].tolist(), waiting) == (["claim:CL1"], 0)
    # a later complaint label replaces the "no complaint"
    with engine.begin() as conn:
        record_review(conn, "claim:CL3", "service", "pricing", "anna",
                      datetime(2026, 11, 10, 14))
    classify_feedback(engine, AS_OF, CLASSIFIER)
    assert (stored(warehouse_url)["claim:CL3"]["status"],
            stored(warehouse_url)["claim:CL3"]["polarity"]) == ("reviewed", "negative")


def test_migration_12_keeps_earlier_reviews_as_complaints(warehouse_url: str) -> None:
    seed(warehouse_url)
    engine = engine_for(warehouse_url)
    with engine.begin() as conn:  # feedback_reviews as migration 5 shipped it, one review
        conn.execute(text("DROP TABLE feedback_reviews"))
        conn.execute(text(
            "CREATE TABLE feedback_reviews (feedback_id VARCHAR(240) PRIMARY KEY, "
            "dissatisfaction_group VARCHAR(32) NOT NULL, process_class VARCHAR(32) NOT NULL, "
            "reviewer VARCHAR(120) NOT NULL, reviewed_at TIMESTAMP NOT NULL)"))
        conn.execute(text("INSERT INTO feedback_reviews VALUES ('claim:CL3', 'service', "
                          "'pricing', 'anna', '2026-11-10 12:00:00')"))
        conn.execute(schema_version.delete().where(schema_version.c.version == 12))
    assert migrate(engine) == max(v for v, _, _ in db.MIGRATIONS)  # 12 and any later
    with engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(text(
            "SELECT feedback_id, dissatisfaction_group, process_class, reviewer, polarity "
            "FROM feedback_reviews"))] == [("claim:CL3", "service", "pricing", "anna",
                                            "negative")]
        record_no_complaint(conn, "claim:CL4", "positive", None, "boris", NIGHT)
    summary = classify_feedback(engine, AS_OF, CLASSIFIER)
    assert dict(summary.by_status) == {"classified": 2, "reviewed": 1, "no_complaint": 1}


def test_refit_confidence_from_the_people_s_reviews(warehouse_url: str) -> None:
    seed(warehouse_url)
    engine = engine_for(warehouse_url)
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="no reviewed feedback"):
            refit_confidence(conn, AS_OF, CLASSIFIER)
        # CL1: raw rules late_delivery, margin 2.5 / 3 = 0.8333, the reviewer agrees;
        # CL3: late 1 vs price 1, a tie (margin 0) whose first label late_delivery the
        # reviewer corrects to service / pricing. A review after the day does not count.
        record_review(conn, "claim:CL1", "delivery_discipline", "delivery_planning", "anna",
                      datetime(2026, 11, 10, 12))
        record_review(conn, "claim:CL3", "service", "pricing", "anna",
                      datetime(2026, 11, 10, 12))
        record_review(conn, "claim:CL2", "service", "documents", "boris",
                      datetime(2026, 11, 11, 9))
        fitted = refit_confidence(conn, AS_OF, CLASSIFIER)
    # isotonic: margin 0 -> 0 of 1 right, 0.8333 -> 1 of 1; Laplace (0 + 1) / 3 = 0.333 and
    # (1 + 1) / 3 = 0.667; breakpoints cut below each block's margin: 0.0 and 0.833
    assert (fitted.margin, fitted.probability, fitted.items) == ((0.0, 0.833), (0.333, 0.667), 2)
    assert fitted.fitted_on == "2 reviewed items by 2026-11-10, fitted 2026-11-10"
