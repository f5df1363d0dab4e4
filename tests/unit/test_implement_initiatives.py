"""The initiatives register: proposals from the Pareto (one open per class and segment,
evidence and links), approval and rejection with cool-down, milestones, the decisions file."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from fixtures.implement_world import AS_OF, complaint, pareto, seed_world
from sqlalchemy import select

from cx_tasks.feedback.rules import owners
from cx_tasks.implement.decisions import apply_file
from cx_tasks.implement.initiatives import (
    MilestoneRefused,
    decide,
    get_initiative,
    propose,
    reach,
)
from cx_tasks.implement.rules import implement_rules
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import (
    initiative_history,
    initiative_links,
    initiative_milestones,
    pareto_causes,
    quarantine,
)

RULES = implement_rules().initiatives
OWNERS = owners()
INIT = "init:metals:documents:2026-11-01"


def _world(url: str) -> None:
    seed_world(url)
    for i, (client, contact) in enumerate([("K1", "C1"), ("K1", "C2"), ("K1", "C1")]):
        complaint(url, f"claim:D{i}", client, contact, "Нет сертификатов", "documents",
                  datetime(2026, 10, 20 + i, 9))
    complaint(url, "claim:OLD", "K1", "C1", "old", "documents", datetime(2026, 9, 1))
    pareto(url, "metals", "documents", 3, revenue=2500.0)
    pareto(url, "metals", "pricing", 2)               # below min_complaints (3)
    pareto(url, "chemicals", "payments", 9, vital_few=False)


def test_proposals_from_the_vital_few_with_evidence_and_links(warehouse_url: str) -> None:
    _world(warehouse_url)
    assert propose(warehouse_url, AS_OF, rules=RULES, owners=OWNERS) == [INIT]
    # the same day again, and the next day: the open proposal blocks a second one
    assert propose(warehouse_url, AS_OF, rules=RULES, owners=OWNERS) == []
    assert propose(warehouse_url, AS_OF + timedelta(days=1), rules=RULES, owners=OWNERS) == []
    with engine_for(warehouse_url).connect() as conn:
        row = get_initiative(conn, INIT)
        links = sorted((r.kind, r.ref_id, r.client_id) for r in conn.execute(
            select(initiative_links)))
        milestones = [(r.milestone_id, r.planned_on, r.client_visible) for r in conn.execute(
            select(initiative_milestones).order_by(initiative_milestones.c.position))]
    assert row is not None
    assert (row["status"], row["owner"], row["owner_person"]) == (
        "proposed", "documents_desk", "Anna Sokolova")
    assert json.loads(row["evidence"]) == {
        "complaints": 3, "revenue": 2500.0, "share": 0.5, "clients": ["K1"],
        "drilldown_metrics": [], "window": ["2026-10-02", "2026-11-01"]}
    # the three complaints in the window, not the one of September
    assert links == [("feedback", "claim:D0", "K1"), ("feedback", "claim:D1", "K1"),
                     ("feedback", "claim:D2", "K1")]
    assert milestones == [("root_cause", None, False), ("fix_in_place", None, True),
                          ("verified", None, True)]


def test_approval_plans_milestones_and_milestones_advance(warehouse_url: str) -> None:
    _world(warehouse_url)
    propose(warehouse_url, AS_OF, rules=RULES, owners=OWNERS)
    at = datetime(2026, 11, 3, 10)
    with engine_for(warehouse_url).begin() as conn:
        with pytest.raises(MilestoneRefused):  # not approved yet
            reach(conn, INIT, "root_cause", on=date(2026, 11, 3), actor="a", channel="cli",
                  now=at)
        assert decide(conn, INIT, "approve", actor="cx lead", channel="cli", now=at,
                      sponsor="COO", rules=RULES)
        assert not decide(conn, INIT, "approve", actor="cx lead", channel="cli", now=at,
                          rules=RULES)
        # approved 2026-11-03: + 7, + 30, + 90 days
        planned = [r.planned_on for r in conn.execute(
            select(initiative_milestones).order_by(initiative_milestones.c.position))]
        assert planned == [date(2026, 11, 10), date(2026, 12, 3), date(2027, 2, 1)]
        with pytest.raises(MilestoneRefused) as refused:
            reach(conn, INIT, "root_cause", on=date(2026, 11, 9), actor="x", channel="link",
                  now=at, owner="quality")
        assert refused.value.reason == "foreign"
        for day, milestone in ((9, "root_cause"), (20, "fix_in_place"), (28, "verified")):
            assert reach(conn, INIT, milestone, on=date(2026, 11, day), actor="anna",
                         channel="cli", now=datetime(2026, 11, day, 12))
        status = get_initiative(conn, INIT)["status"]  # type: ignore[index]
        history = [r.status for r in conn.execute(
            select(initiative_history).order_by(initiative_history.c.changed_at,
                                                initiative_history.c.status))]
    assert status == "done"
    assert history == ["proposed", "approved", "in_progress", "milestone:root_cause",
                       "milestone:fix_in_place", "done", "milestone:verified"]


def test_rejection_needs_a_reason_and_cools_down(warehouse_url: str) -> None:
    _world(warehouse_url)
    propose(warehouse_url, AS_OF, rules=RULES, owners=OWNERS)
    with engine_for(warehouse_url).begin() as conn:
        with pytest.raises(MilestoneRefused):
            decide(conn, INIT, "reject", actor="lead", channel="cli",
                   now=datetime(2026, 11, 2), rules=RULES)
        decide(conn, INIT, "reject", actor="lead", channel="cli", now=datetime(2026, 11, 2),
               reason="already covered by the ERP upgrade", rules=RULES)
    # rejected 2026-11-02 with a 60-day cool-down: blocked on 2027-01-01 (60 days later,
    # not after it), proposed again on 2027-01-02
    assert propose(warehouse_url, date(2027, 1, 1), rules=RULES, owners=OWNERS) == []
    assert propose(warehouse_url, date(2027, 1, 2), rules=RULES, owners=OWNERS) == []  # no data
    pareto_day = date(2027, 1, 2)
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(pareto_causes.update().values(period_start=date(2026, 12, 3),
                                                   period_end=pareto_day))
    assert propose(warehouse_url, pareto_day, rules=RULES, owners=OWNERS) == [
        "init:metals:documents:2027-01-02"]


@pytest.mark.parametrize("suffix", ["yaml", "csv"])
def test_decisions_file(warehouse_url: str, tmp_path: Path, suffix: str) -> None:
    _world(warehouse_url)
    propose(warehouse_url, AS_OF, rules=RULES, owners=OWNERS)
    if suffix == "yaml":
        text = (f"- {{initiative: '{INIT}', decision: approve, by: Tatiana}}\n"
                f"- {{initiative: '{INIT}', decision: reach, milestone: root_cause, "
                f"reached_on: 2026-11-09, by: Anna}}\n"
                "- {initiative: 'init:nope', decision: approve}\n"
                f"- {{initiative: '{INIT}', decision: maybe}}\n")
    else:
        text = ("initiative,decision,by,reason,sponsor,milestone,reached_on\n"
                f"{INIT},approve,Tatiana,,,,\n{INIT},reach,Anna,,,root_cause,2026-11-09\n"
                "init:nope,approve,,,,,\n"
                f"{INIT},maybe,,,,,\n")
    (tmp_path / f"initiative_decisions.{suffix}").write_text(text, encoding="utf-8")
    now = datetime(2026, 11, 10, 8, 30)
    assert apply_file(warehouse_url, tmp_path, now=now, rules=RULES) == {
        "applied": 2, "quarantined": 2}
    # a rerun: nothing new, the same two rows quarantined (once)
    assert apply_file(warehouse_url, tmp_path, now=now, rules=RULES) == {
        "unchanged": 2, "quarantined": 2}
    with engine_for(warehouse_url).connect() as conn:
        rules = sorted(r.rule for r in conn.execute(select(quarantine)))
        status = get_initiative(conn, INIT)["status"]  # type: ignore[index]
    assert rules == ["foreign", "unknown_decision"]
    assert status == "in_progress"
