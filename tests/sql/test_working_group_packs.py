"""Working-group packs for key accounts: contents by hand, client text escaped, the PDF
printed by Chromium, sent once through the outbox (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from cx_tasks.adjust.effect import Effect, Initiative
from cx_tasks.adjust.packs import build_pack, meetings_due, render_pack
from cx_tasks.adjust.rules import adjust_rules
from cx_tasks.adjust.stage import working_group_packs
from cx_tasks.analyze.model import satisfaction_rules
from cx_tasks.warehouse.db import engine_for, upsert
from cx_tasks.warehouse.schema import (
    STAGING,
    initiative_effects,
    outbox,
    survey_answers,
    survey_responses,
)

AS_OF = date(2026, 6, 10)
MEETING = date(2026, 6, 15)
STAMP = {"interval_start": datetime(2026, 1, 1), "updated_at": datetime(2026, 1, 1)}
# invitation, contact, role, comment, NPS score, answered at
ANSWERS = [
    ("I1", "c1", "economic_buyer", "Prices <b>too</b> high", 9, datetime(2026, 3, 1)),
    ("I2", "c2", "economic_buyer", None, 5, datetime(2026, 4, 1)),
    ("I3", "c3", "operator", "<script>alert(1)</script>", 10, datetime(2026, 5, 1)),
    ("I4", "c3", "operator", None, 8, datetime(2026, 6, 10)),  # on as_of: not yet known
]
INITIATIVE = Initiative("INI-7", "Logistics lead", frozenset({"K1"}), date(2026, 2, 1),
                        "packaging_rate")


@pytest.fixture()
def warehouse(warehouse_url: str) -> str:
    with engine_for(warehouse_url).begin() as conn:
        conn.execute(STAGING["erp_clients"].insert(), [
            dict(client_id="K1", name="Kappa & <Sons>", segment="metals", size_class="A",
                 account_manager="Sidorova A.A.", contract_start=date(2020, 1, 1), **STAMP),
            dict(client_id="N1", name="Nu", segment="metals", size_class="C",
                 account_manager=None, contract_start=date(2020, 1, 1), **STAMP)])
        conn.execute(STAGING["crm_accounts"].insert(), [
            dict(client_id="K1", key_account=True, **STAMP),
            dict(client_id="N1", key_account=False, **STAMP)])
        conn.execute(STAGING["sd_claims"].insert(), [
            dict(claim_id="CL1", client_id="K1", opened_at=datetime(2026, 4, 1, 9),
                 closed_at=datetime(2026, 4, 3, 21), text="damaged drums", **STAMP),
            dict(claim_id="CL2", client_id="K1", opened_at=datetime(2026, 6, 1, 9),
                 closed_at=None, text="late certificate", **STAMP)])
        upsert(conn, survey_responses, [
            {"invitation_id": i, "survey_id": "rel", "client_id": "K1", "contact_id": c,
             "role": r, "comment": comment, "first_answered_at": at, "updated_at": at,
             "submitted": True} for i, c, r, comment, _, at in ANSWERS])
        upsert(conn, survey_answers, [
            {"invitation_id": i, "question_id": "nps", "score": s, "answered_at": at}
            for i, _, _, _, s, at in ANSWERS])
        upsert(conn, initiative_effects, [
            {"initiative_id": "INI-7", "metric": "packaging_rate", "as_of": date(2026, 6, 1),
             "estimate": -0.02, "low": -0.03, "high": -0.01, "n": 400, "clusters": 60,
             "affected": 15, "controls": 45}])
    return warehouse_url


def test_meetings_due_within_the_days_before():
    meetings = (date(2026, 6, 15), date(2026, 9, 14))
    assert meetings_due(meetings, date(2026, 6, 8), 7) == [date(2026, 6, 15)]
    assert meetings_due(meetings, date(2026, 6, 7), 7) == []
    assert meetings_due(meetings, date(2026, 6, 16), 7) == []


def test_the_pack_by_hand_and_client_text_escaped(warehouse: str):
    effect = Effect("INI-7", "packaging_rate", -0.02, -0.03, -0.01, 400, 60, 15, 45)
    with engine_for(warehouse).connect() as conn:
        pack = build_pack(conn, "K1", MEETING, AS_OF, [INITIATIVE], [effect],
                          dict(satisfaction_rules().question_kinds))
    # NPS answers known by as_of: 9 (promoter), 5 (detractor), 10 (promoter): (2 - 1) / 3
    assert pack.nps["value"] == pytest.approx(100 / 3) and pack.nps["answers"] == 3
    buyers, _, operators = pack.roles
    assert (buyers["answers"], buyers["nps"]["value"]) == (2, 0.0)  # +100 - 100
    assert operators["comments"] == ["<script>alert(1)</script>"]
    # CL1 closed after 2.5 days; CL2 open
    assert [(c["claim_id"], c["closed"], c["days"]) for c in pack.claims] == [
        ("CL1", date(2026, 4, 3), 2.5), ("CL2", None, None)]
    assert pack.initiatives[0]["effect"] is effect
    assert pack.open_questions == ["Claim CL2 opened 2026-06-01 is still open"]
    html = render_pack(pack).html or ""
    assert "Kappa &amp; &lt;Sons&gt;" in html and "&lt;script&gt;" in html
    assert "<script>" not in html
    assert "-0.02 (95% interval -0.03 to -0.01; 60 accounts)" in html


def test_the_pack_shows_the_at_risk_lists_rows_about_the_account_and_its_manager(
        warehouse: str):
    import pandas as pd

    risks = pd.DataFrame({
        "kind": ["client", "client", "leaves"], "subject_id": ["K1", "N1", "Sidorova A.A."],
        "probability": [0.42, 0.9, 0.35], "reasons": ["incident_surge +0.80", "x",
                                                      "overtime_3m +0.50"]})
    with engine_for(warehouse).connect() as conn:
        pack = build_pack(conn, "K1", MEETING, AS_OF, [], [],
                          dict(satisfaction_rules().question_kinds), risks=risks)
    assert [(r["subject"], r["probability"]) for r in pack.risks] == [
        ("K1", 0.42), ("Sidorova A.A.", 0.35)]
    assert pack.open_questions[-2:] == [
        "At risk: satisfaction drop or fall in orders in the next 90 days (42%)",
        "At risk: account manager leaving next quarter (35%)"]
    html = render_pack(pack).html or ""
    assert html.count('<tr class="risk">') == 2 and "incident_surge +0.80" in html


@pytest.mark.skipif(shutil.which("chromium") is None and os.environ.get("CI") != "true",
                    reason="Debian's chromium is not installed")
def test_packs_are_printed_and_sent_once(warehouse: str, tmp_path: Path):
    summary = working_group_packs(engine_for(warehouse), AS_OF, tmp_path, [INITIATIVE],
                                  adjust_rules())
    pdf = tmp_path / "K1-2026-06-15.pdf"
    assert summary["packs"] == 1 and summary["sent"] == 1  # N1 is no key account
    assert pdf.read_bytes().startswith(b"%PDF")
    assert (tmp_path / "K1-2026-06-15.html").read_text(encoding="utf-8").startswith(
        "<!DOCTYPE html>")
    again = working_group_packs(engine_for(warehouse), AS_OF, tmp_path, [INITIATIVE],
                                adjust_rules())
    assert again["sent"] == 0
    with engine_for(warehouse).connect() as conn:
        rows = conn.execute(select(outbox.c.idempotency_key, outbox.c.recipient,
                                   outbox.c.subject)).all()
    assert rows == [("pack:K1:2026-06-15", "accounts@example.com",
                     "Working group 2026-06-15: Kappa & <Sons> (K1)")]
