"""Poison events (issue 14, section 1): one pushed event never stops dispatch for the others.

A pushed event whose time is absurd (the year 1 or 9999, 2300, before the client's
contract), whose ``extra`` is oversized, or whose fields are malformed is quarantined with
its rule; every good event of the same batch is stored and planned, and no run raises.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fixtures.dispatch_world import GOOD, NOW, run, seed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cx_tasks.surveys.catalogue import EVENT_TYPES
from cx_tasks.surveys.dispatch import ingest_external_events
from cx_tasks.warehouse.db import engine_for, migrate
from cx_tasks.warehouse.schema import (
    events,
    quarantine,
    survey_invitations,
    survey_skips,
)


def planned_events(url: str) -> set[str]:
    with engine_for(url).connect() as conn:
        return {e for t in (survey_invitations, survey_skips)
                for e in conn.scalars(select(t.c.event_id))}


def quarantined(url: str) -> list[tuple[str, str]]:
    with engine_for(url).connect() as conn:
        return sorted(conn.execute(select(quarantine.c.row_key, quarantine.c.rule)).all())


@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:00:00", "2300-01-01T00:00:00"])
def test_an_event_far_in_the_future_is_quarantined_and_the_good_one_planned(
        warehouse_url, tmp_path, occurred_at) -> None:
    seed(warehouse_url)
    far = {**GOOD, "ref_id": "K2", "occurred_at": occurred_at}
    result = ingest_external_events(warehouse_url, [far, GOOD], NOW)
    # default window: at most 30 days after the run (2026-07-01 12:00)
    assert [q["rule"] for q in result["quarantined"]] == [
        "occurred_at: more than 30 days after the run's time"]
    run(warehouse_url, tmp_path)
    assert planned_events(warehouse_url) == {"claim_closed:K1"}


def test_an_event_before_the_year_one_in_utc_is_quarantined_and_the_good_one_stored(
        warehouse_url) -> None:
    seed(warehouse_url)
    # 0001-01-01T00:00+01:00 is 0000-12-31T23:00 UTC: no such datetime in Python
    early = {**GOOD, "ref_id": "K3", "occurred_at": "0001-01-01T00:00:00+01:00"}
    result = ingest_external_events(warehouse_url, [early, GOOD], NOW)
    assert (result["valid"], result["new"]) == (1, 1)
    assert [q["rule"] for q in result["quarantined"]] == [
        "occurred_at: an ISO 8601 date and time"]


def test_an_event_before_the_client_existed_is_quarantined(warehouse_url) -> None:
    seed(warehouse_url)
    old = {**GOOD, "ref_id": "K4", "occurred_at": "2019-12-31T23:59:59"}
    result = ingest_external_events(warehouse_url, [old], NOW)
    assert [q["rule"] for q in result["quarantined"]] == [
        "occurred_at: before the client's contract start 2020-01-01"]


def test_an_oversized_extra_is_quarantined(warehouse_url) -> None:
    seed(warehouse_url)
    # default limit 16384 bytes of compact JSON; the padding alone is 16400 characters
    big = {**GOOD, "ref_id": "K5", "note": "x" * 16_400}
    result = ingest_external_events(warehouse_url, [big, GOOD], NOW)
    assert [q["rule"] for q in result["quarantined"]] == [
        "extra: larger than 16384 bytes"]
    assert result["new"] == 1
    with engine_for(warehouse_url).connect() as conn:
        kept = conn.scalar(select(quarantine.c.payload))
    assert len(kept) <= 16_384 + 100


def test_a_stored_poison_event_is_set_aside_at_planning_and_the_rest_planned(
        warehouse_url, tmp_path) -> None:
    """An event stored before the window existed (or by another path) must not stop
    planning: it is quarantined with the rule and not tried again."""
    seed(warehouse_url)
    ingest_external_events(warehouse_url, [GOOD], NOW)
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(events.insert().values(
            event_id="claim_closed:K9", event_type="claim_closed", client_id="A",
            contact_id="tb1", order_id=None, ref_id="K9",
            occurred_at=datetime(9999, 12, 31, 23), interval_start=NOW, payload="{}"))
    summary = run(warehouse_url, tmp_path)
    assert planned_events(warehouse_url) == {"claim_closed:K1"}
    assert quarantined(warehouse_url) == [("claim_closed:K9", "dispatch.event_window")]
    assert summary["set_aside"] == {"dispatch.event_window": 1}
    assert run(warehouse_url, tmp_path)["set_aside"] == {"dispatch.event_window": 1}
    assert json.loads(json.dumps(summary))  # the summary stays plain data (XCom)


# --- a fuzzed batch: extreme, malformed and oversized events among good ones ----------------

BAD_TIMES = ["9999-12-31T23:00:00", "0001-01-01T00:00:00+01:00", "2300-01-01T00:00:00",
             "2019-12-31T23:59:59", "1970-01-01T00:00:00Z", "yesterday", "",
             "2026-06-01T10:00:00\x00", "2026-13-01T00:00:00", "+275760-09-13T00:00:00"]
"""Each breaks the window (after 2026-07-01 12:00 or before 2020-01-01), or is no time."""

bad_field = st.one_of(
    st.sampled_from(BAD_TIMES).map(lambda t: {"occurred_at": t}),
    st.tuples(st.sampled_from(["event_type", "client_id", "ref_id", "occurred_at"]),
              st.sampled_from([None, 17, 1e308, [], {}, True])).map(lambda kv: dict([kv])),
    st.tuples(st.sampled_from(["contact_id", "order_id"]),
              st.sampled_from([17, 1e308, [], {}, True, "c" * 65])).map(lambda kv: dict([kv])),
    st.sampled_from(["party", "Claim_Closed", "claim_closed\x00"]).map(
        lambda t: {"event_type": t}),
    st.sampled_from(["Z", "A\x00", "a" * 65]).map(lambda c: {"client_id": c}),
    st.sampled_from(["x" * 65, "K\x00", "K\n1", "\ud800"]).map(lambda r: {"ref_id": r}),
    st.integers(16_400, 40_000).map(lambda n: {"blob": "é" * n}),
)
bad_event = st.one_of(bad_field.map(lambda change: {**GOOD, "ref_id": "BAD", **change}),
                      st.sampled_from([None, [], "claim_closed", 17]))
good_event = st.builds(
    lambda minutes, kind, contact: {
        **GOOD, "event_type": kind, "contact_id": contact,
        "occurred_at": (datetime(2026, 5, 2) + timedelta(minutes=minutes)).isoformat()},
    # 2026-05-02 .. 2026-07-01 12:00: from 30 days before the run to 30 days after
    st.integers(0, 60 * 24 * 60 + 12 * 60),
    st.sampled_from(EVENT_TYPES), st.sampled_from([None, "tb1", "nobody"]))


@pytest.fixture(scope="module")
def empty_warehouse(tmp_path_factory) -> Path:
    """A migrated SQLite warehouse holding ``seed``, copied for each example."""
    path = tmp_path_factory.mktemp("template") / "warehouse.db"
    url = f"sqlite:///{path}"
    migrate(engine_for(url))
    seed(url)
    engine_for(url).dispose()
    return path


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(goods=st.lists(good_event, max_size=6), bads=st.lists(bad_event, min_size=1, max_size=6),
       order=st.randoms(use_true_random=False))
def test_a_fuzzed_batch_plans_every_good_event_and_quarantines_every_bad_one(
        tmp_path_factory, empty_warehouse, goods, bads, order) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "warehouse.db"
    shutil.copy(empty_warehouse, path)
    url = f"sqlite:///{path}"
    goods = [{**g, "ref_id": f"G{i}"} for i, g in enumerate(goods)]
    batch = goods + bads
    order.shuffle(batch)
    result = ingest_external_events(url, batch, NOW)
    assert (result["valid"], len(result["quarantined"])) == (len(goods), len(bads))
    assert all(q["rule"] for q in result["quarantined"])
    summary = run(url, tmp_path_factory.mktemp("settings"))
    assert planned_events(url) == {f"{g['event_type']}:{g['ref_id']}" for g in goods}
    assert summary["set_aside"] == {}
    with engine_for(url).connect() as conn:
        rules = conn.scalars(select(quarantine.c.detail)).all()
    assert len(rules) == len({json.dumps(b, sort_keys=True, default=str) for b in bads})
    engine_for(url).dispose()


def test_control_characters_and_overlong_ids_are_quarantined_on_every_warehouse(
        warehouse_url) -> None:
    """PostgreSQL refuses NUL in text and ids longer than their column: such an event must
    be quarantined, not fail the batch's insert (and lose the good event with it)."""
    seed(warehouse_url)
    nul = {**GOOD, "ref_id": "K\x001"}
    long = {**GOOD, "ref_id": "K" * 65}
    result = ingest_external_events(warehouse_url, [nul, long, GOOD], NOW)
    assert result["new"] == 1
    assert [q["rule"] for q in result["quarantined"]] == [
        "ref_id: at most 64 printable characters"] * 2
