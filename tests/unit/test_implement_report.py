"""The implementation report's figures, computed by hand: cases per owner (department and
person; open, overdue, medians, share closed within the clock, escalations) and initiatives'
overdue milestones."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fixtures.implement_world import AS_OF, complaint, pareto, seed_world

from cx_tasks.feedback.rules import owners
from cx_tasks.implement.initiatives import decide, propose
from cx_tasks.implement.report import cases_by_owner, initiative_rows, render_report
from cx_tasks.implement.rules import implement_rules
from cx_tasks.warehouse.db import engine_for
from cx_tasks.warehouse.schema import case_escalations, cases

RULES = implement_rules()
T0 = datetime(2026, 11, 2, 8)


def _case(case_id: str, status: str, ack: float | None, closed: float | None,
          person: str | None = None, email: str = "q@example.com") -> dict:
    return {"case_id": case_id, "feedback_id": case_id[5:], "client_id": "K1",
            "contact_id": "C1", "trigger": "detractor", "owner": "quality",
            "owner_person": person, "owner_email": email, "status": status,
            "opened_at": T0,
            "acknowledged_at": T0 + timedelta(hours=ack) if ack is not None else None,
            "closed_at": T0 + timedelta(hours=closed) if closed is not None else None,
            "note": "done" if closed is not None else None}


def test_case_figures_per_owner(warehouse_url: str) -> None:
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(cases.insert(), [
            _case("case:a", "closed", 2, 30),     # within 24 h / 48 h
            _case("case:b", "closed", 30, 60),    # both clocks missed
            _case("case:c", "open", None, None),  # 50 h later: both clocks ran out
            _case("case:d", "acknowledged", 1, None),  # 50 h later: close clock ran out
            # the same department, its specification process's person: a row of her own
            _case("case:e", "closed", 3, 10, "Elena Kuznetsova", "e.kuznetsova@example.com"),
        ])
        conn.execute(case_escalations.insert(), [
            {"case_id": "case:c", "clock": "acknowledge", "step": "reminder",
             "due_at": T0 + timedelta(hours=12), "recipient": "q@example.com",
             "escalated_at": T0 + timedelta(hours=12)}])
        row, elena = cases_by_owner(conn, RULES.cases.clocks, T0 + timedelta(hours=50))
        html = render_report(conn, RULES.cases.clocks, T0 + timedelta(hours=50),
                             owners()).html
    assert (row.owner, row.person, row.email, row.total, row.open, row.overdue, row.closed,
            row.escalations) == ("quality", None, "q@example.com", 4, 2, 2, 2, 1)
    assert (elena.owner, elena.person, elena.email, elena.total, elena.closed,
            elena.escalations) == ("quality", "Elena Kuznetsova", "e.kuznetsova@example.com",
                                   1, 1, 0)
    # the department by its name in owners.yaml, then the person and her address
    assert html is not None and html.count("<td>Quality department<br>") == 2
    assert ('<td>Elena Kuznetsova<br><a href="mailto:e.kuznetsova@example.com">'
            'e.kuznetsova@example.com</a></td>') in html
    assert '<span class="muted">the team</span><br><a href="mailto:q@example.com">' in html
    # acknowledged after 2, 30 and 1 hours: median 2; closed after 30 and 60: median 45
    assert (row.median_acknowledge, row.median_close) == (2.0, 45.0)
    assert row.share_within_clock == 0.5  # 30 h <= 48 h; 60 h > 48 h
    assert html is not None and "45.0 h" in html and "50%" in html
    assert "nan" not in html.lower()


def test_initiative_rows_mark_overdue_milestones(warehouse_url: str) -> None:
    seed_world(warehouse_url)
    for n in range(3):
        complaint(warehouse_url, f"claim:D{n}", "K1", "C1", "x", "documents",
                  datetime(2026, 10, 20 + n))
    pareto(warehouse_url, "metals", "documents", 3)
    propose(warehouse_url, AS_OF, rules=RULES.initiatives, owners=owners())
    with engine_for(warehouse_url).begin() as conn:
        decide(conn, "init:metals:documents:2026-11-01", "approve", actor="lead",
               channel="cli", now=datetime(2026, 11, 2), rules=RULES.initiatives)
        # approved 2026-11-02: root cause planned 2026-11-09, fix 2026-12-02
        (row,) = initiative_rows(conn, date(2026, 11, 10))
    assert [(m.milestone_id, m.overdue) for m in row.milestones] == [
        ("root_cause", True), ("fix_in_place", False), ("verified", False)]
    assert (row.complaints, row.clients, row.progress_emails, row.overdue) == (3, 1, 0, 1)
