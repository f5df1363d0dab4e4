"""The register's initiatives measured by the adjust stage: which initiatives, their clients,
start and target metric; the complaint panel; effects and corrections stored and shown in
the implementation report, by hand (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from fixtures.feedback_world import stage_clients
from sqlalchemy import select

from cx_tasks.adjust.register import complaint_panel, register_initiatives
from cx_tasks.adjust.stage import register_effects
from cx_tasks.feedback.rules import owners
from cx_tasks.implement.report import initiative_rows, render_report
from cx_tasks.implement.rules import implement_rules
from cx_tasks.warehouse.db import engine_for, upsert
from cx_tasks.warehouse.schema import (
    feedback,
    feedback_classes,
    initiative_corrections,
    initiative_effects,
    initiative_links,
    initiative_milestones,
    initiatives,
)

APPROVED = datetime(2026, 4, 1, 10)
MONTHS = [date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1),
          date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)]
# packaging complaints per client and month, November to June; the initiative starts on
# 2026-04-01: Nov-Dec match the controls, Jan-Mar are before, Apr-Jun after
COMPLAINTS = {
    "A1": [2, 2, 2, 2, 2, 0, 0, 0],
    "A2": [2, 2, 2, 2, 2, 1, 0, 0],
    "B1": [1, 1, 1, 1, 1, 1, 1, 1],
    **{c: [1] * 8 for c in ("C1", "C2", "C3", "C4")},
}


def _initiative(initiative_id: str, process_class: str, status: str, owner: str | None,
                person: str | None) -> dict[str, object]:
    return {"initiative_id": initiative_id, "title": initiative_id,
            "process_class": process_class, "segment": "metals", "owner": owner,
            "owner_person": person, "sponsor": None, "status": status,
            "proposed_on": date(2026, 3, 30),
            "decided_at": None if status == "proposed" else APPROVED, "decided_by": "lead",
            "reason": None, "evidence": "{}",
            "expected_effect": json.dumps({"metric": f"complaints:{process_class}"})}


@pytest.fixture()
def register(warehouse_url: str) -> str:
    stage_clients(warehouse_url, {c: "metals" for c in COMPLAINTS})
    said, classes = [], []
    for client, counts in COMPLAINTS.items():
        for month, count in zip(MONTHS, counts, strict=True):
            for k in range(count):
                key = f"fb:{client}:{month}:{k}"
                said.append({"feedback_id": key, "source": "survey", "channel": "email",
                             "client_id": client, "occurred_at": datetime.combine(
                                 month, datetime.min.time()).replace(day=10 + k),
                             "recorded_at": datetime(2026, 7, 1)})
                classes.append({"feedback_id": key, "client_id": client,
                                "status": "classified", "process_class": "packaging",
                                "confidence": 0.9, "evidence": "", "classifier_version": "v",
                                "classified_on": date(2026, 7, 1)})
    with engine_for(warehouse_url).begin() as conn:
        upsert(conn, feedback, said)
        upsert(conn, feedback_classes, classes)
        upsert(conn, initiatives, [
            _initiative("INIT-A", "packaging", "in_progress", "logistics", "Orlova O.O."),
            _initiative("INIT-B", "packaging", "done", "warehouse", None),
            _initiative("INIT-P", "packaging", "proposed", None, None)])
        # INIT-A answers feedback of A1 (twice) and A2 and a finding of A1; INIT-B of B1
        upsert(conn, initiative_links, [
            {"initiative_id": "INIT-A", "kind": "feedback", "ref_id": "fb:A1:2026-03-01:0",
             "client_id": "A1"},
            {"initiative_id": "INIT-A", "kind": "feedback", "ref_id": "fb:A1:2026-03-01:1",
             "client_id": "A1"},
            {"initiative_id": "INIT-A", "kind": "feedback", "ref_id": "fb:A2:2026-03-01:0",
             "client_id": "A2"},
            {"initiative_id": "INIT-A", "kind": "finding", "ref_id": "f1", "client_id": "A1"},
            {"initiative_id": "INIT-B", "kind": "feedback", "ref_id": "fb:B1:2026-03-01:0",
             "client_id": "B1"},
            {"initiative_id": "INIT-P", "kind": "feedback", "ref_id": "fb:C1:2026-03-01:0",
             "client_id": "C1"}])
        upsert(conn, initiative_milestones, [
            {"initiative_id": i, "milestone_id": m, "position": p, "title_en": m,
             "title_ru": m, "planned_on": None, "reached_on": reached,
             "client_visible": False}
            for i, m, p, reached in (("INIT-A", "fix", 0, date(2026, 4, 20)),
                                     ("INIT-A", "check", 1, None),
                                     ("INIT-B", "fix", 0, None))])
    return warehouse_url


def test_the_register_initiatives_in_progress_or_done(register: str):
    with engine_for(register).connect() as conn:
        by_approval = register_initiatives(conn, "approval")
        by_milestone = register_initiatives(conn, "first_milestone")
    # the proposal is not measured; clients are the distinct clients of the links
    assert [(i.id, i.owner, sorted(i.clients), i.start, i.target_metric)
            for i in by_approval] == [
        ("INIT-A", "Orlova O.O.", ["A1", "A2"], date(2026, 4, 1), "complaints:packaging"),
        ("INIT-B", "warehouse", ["B1"], date(2026, 4, 1), "complaints:packaging")]
    # from the first milestone reached: INIT-B has reached none, so it has not started
    assert [(i.id, i.start) for i in by_milestone] == [("INIT-A", date(2026, 4, 20))]


def test_complaints_per_client_and_month_zero_without_any(register: str):
    with engine_for(register).connect() as conn:
        panel = complaint_panel(conn, date(2026, 6, 15),
                                ["complaints:packaging", "complaints:documents", "nps"])
    # months from the first feedback (November) to May, the last whole month before June 15
    a2 = panel[panel["client_id"] == "A2"].sort_values("period_start")
    assert a2["complaints:packaging"].tolist() == [2, 2, 2, 2, 2, 1, 0]
    assert a2["complaints:documents"].tolist() == [0] * 7
    assert str(a2["period_end"].iloc[-1].date()) == "2026-06-01"
    assert len(panel) == 7 * 7  # 7 clients x 7 months


def test_register_effects_stored_flagged_and_reported(register: str):
    summary = register_effects(engine_for(register), date(2026, 7, 6))
    with engine_for(register).connect() as conn:
        effects = {r.initiative_id: r for r in conn.execute(select(initiative_effects))}
        flagged = conn.execute(select(initiative_corrections)).all()
        rows = {r.initiative_id: r for r in initiative_rows(conn, date(2026, 7, 6))}
        html = render_report(conn, implement_rules().cases.clocks, datetime(2026, 7, 6, 9),
                             owners()).html
    # INIT-A: affected A1, A2 (level 2 in Nov-Dec), each matched with the 3 controls of
    # nearest level (all at 1; ties by id: C1, C2, C3; C4 unused, B1 is another initiative's)
    # affected after - before: (1/6 - 2); controls: 1 - 1 = 0 -> -11/6
    a = effects["INIT-A"]
    assert (a.metric, a.estimate) == ("complaints:packaging", pytest.approx(-11 / 6))
    # rows: 2 affected x 6 months + 2 x 3 picked controls x 6 months; accounts A1 A2 C1-C3
    assert (a.n, a.clusters, a.affected, a.controls) == (48, 5, 2, 3)
    assert a.low < a.estimate < a.high < 0
    # INIT-B: B1 as flat as its controls: 0, no measurable improvement 96 days after its
    # approval (adjust.yaml: correct after 90 days) -> flagged, with its owner
    assert effects["INIT-B"].estimate == pytest.approx(0.0)
    assert [(f.initiative_id, f.owner, f.metric, f.days_running) for f in flagged] == [
        ("INIT-B", "warehouse", "complaints:packaging", 96)]
    assert summary["corrections"] == [{"initiative": "INIT-B", "owner": "warehouse"}]
    assert [e.metric for e in rows["INIT-A"].effects] == ["complaints:packaging"]
    assert rows["INIT-A"].correction is None and rows["INIT-B"].correction is not None
    assert rows["INIT-P"].effects == ()
    assert (f"complaints:packaging -1.83 (95% interval {a.low:+.3g} to {a.high:+.3g}, n 48)"
            in (html or ""))
    assert f"for correction: {flagged[0].reason}" in (html or "")
    assert flagged[0].reason.startswith("complaints:packaging changed by ")
    # a rerun of the day leaves the same rows
    register_effects(engine_for(register), date(2026, 7, 6))
    with engine_for(register).connect() as conn:
        assert len(conn.execute(select(initiative_effects)).all()) == len(effects)
