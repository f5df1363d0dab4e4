"""The adjust stage in the digests: the initiatives' effects and corrections (weekly), the
at-risk lists (daily and weekly) chosen by ``adjust.yaml`` ``at_risk``, by hand."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import pandas as pd

from cx_tasks.adjust.at_risk import account_risks, listed
from cx_tasks.adjust.effect import Correction, Effect
from cx_tasks.adjust.rules import AtRiskRules, adjust_rules
from cx_tasks.monitor.digests import (
    SECTIONS,
    DigestData,
    DigestScope,
    clients_at_risk,
    initiative_effects_section,
    render_digest,
    staff_at_risk,
)

WEEKLY = DigestScope("weekly", "cx_team", "weekly", ("cx@example.com",))
# kind, subject, probability, reasons, manager, clients, revenue, revenue at risk
RISKS = pd.DataFrame([
    ("client", "C3", 0.35, "incident_surge +0.90", "Sidorova A.A.", None, None, None),
    ("client", "C1", 0.80, "orders_trend +1.20; nps_last +0.40", "Ivanov I.I.", None, None,
     None),
    ("client", "C2", 0.29, "claims_3m +0.30", "Ivanov I.I.", None, None, None),
    ("client", "C4", 0.35, "<b>x</b>", None, None, None, None),
    ("leaves", "Ivanov I.I.", 0.50, "overtime_3m +0.70", None, 12, 240_000.0, 120_000.0),
    ("overloaded", "Sidorova A.A.", 0.10, "load_3m +0.20", None, 9, 90_000.0, 9_000.0),
], columns=["kind", "subject_id", "probability", "reasons", "manager", "clients", "revenue",
            "revenue_at_risk"])


def _data(**frames: pd.DataFrame) -> DigestData:
    return DigestData(start=datetime(2026, 12, 1), end=datetime(2026, 12, 8), **frames)


def test_the_lists_take_from_the_threshold_at_most_so_many_of_each_kind():
    shown = listed(RISKS, AtRiskRules(listed_from=0.3, listed_at_most=2))
    # clients from 0.3: C1 0.80, then C3 and C4 tied at 0.35 (by id) -> at most 2: C1, C3;
    # C2 (0.29) is below; the manager leaving at 0.5 is listed, the overloaded one not
    assert list(zip(shown["kind"], shown["subject_id"], strict=True)) == [
        ("client", "C1"), ("client", "C3"), ("leaves", "Ivanov I.I.")]
    assert adjust_rules().at_risk == AtRiskRules(listed_from=0.3, listed_at_most=10)


def test_an_account_sees_its_own_prediction_and_its_managers():
    shown = listed(RISKS, AtRiskRules(listed_from=0.3, listed_at_most=10))
    mine = account_risks(shown, "C1", "Ivanov I.I.")
    assert [(r["kind"], r["subject"], r["probability"]) for r in mine] == [
        ("client", "C1", 0.80), ("leaves", "Ivanov I.I.", 0.50)]
    assert account_risks(shown, "C9", "Petrov P.P.") == []


def test_daily_and_weekly_digests_carry_the_at_risk_lists():
    data = _data(at_risk=listed(RISKS, AtRiskRules(listed_from=0.3, listed_at_most=10)))
    clients = clients_at_risk(data, WEEKLY)
    assert clients is not None and clients.table is not None
    assert clients.table.rows == (
        ("C1", "80%", "Ivanov I.I.", "orders_trend +1.20; nps_last +0.40"),
        ("C3", "35%", "Sidorova A.A.", "incident_surge +0.90"),
        ("C4", "35%", "—", "<b>x</b>"))
    staff = staff_at_risk(data, WEEKLY)
    assert staff is not None and staff.table is not None
    assert staff.table.rows == (("Ivanov I.I.", "leaves", "50%", "12", "120,000",
                                 "overtime_3m +0.70"),)
    for kind in ("daily", "weekly"):
        assert clients_at_risk in SECTIONS[kind] and staff_at_risk in SECTIONS[kind]
    html = render_digest(data, WEEKLY, [clients]).html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert clients_at_risk(_data(), WEEKLY) is None and staff_at_risk(_data(), WEEKLY) is None


def test_the_weekly_digest_shows_each_effect_with_its_interval_and_n_and_corrections():
    effects = pd.DataFrame([asdict(e) for e in (
        Effect("INIT-A", "complaints:packaging", -1.8333, -3.21, -0.456, 48, 5, 2, 3),
        Effect("INIT-A", "nps", 12.0, -4.0, 28.0, 30, 5, 2, 3))])
    due = pd.DataFrame([asdict(Correction("INIT-B", "Orlova O.O.", "complaints:packaging", 96,
                                          "no estimate"))])
    section = initiative_effects_section(_data(effects=effects, corrections=due), WEEKLY)
    assert section is not None and section.table is not None
    assert section.table.rows == (
        ("INIT-A", "complaints:packaging", "-1.83", "-3.21 to -0.456", "48", "5"),
        ("INIT-A", "nps", "+12", "-4 to +28", "30", "5"))
    assert section.lines == ("For correction: INIT-B (Orlova O.O.), 96 days running: "
                             "no estimate.",)
    assert initiative_effects_section in SECTIONS["weekly"]
    assert initiative_effects_section(_data(), WEEKLY) is None
