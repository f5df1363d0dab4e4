"""The layer cake, the satisfaction-margin link, role gaps and "satisfaction up, payments not"."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from cx_tasks.monitor.finance import (
    link_changes,
    link_findings,
    link_statistics,
    money_link,
    satisfaction_up_payments_not,
)
from cx_tasks.monitor.layers import role_gap_findings, role_gaps, transactional_layer
from cx_tasks.monitor.rules import LinkRules, RoleGapRules

LINK = LinkRules(min_clients=4, alpha=0.05, owner="customer_experience")
GAP = RoleGapRules(satisfied_at=80, unsatisfied_below=60, min_answers=3, window_days=180,
                   owner="key_accounts")
SCALES = {"csat": (1, 5), "nps": (0, 10)}


def test_link_statistics_by_hand() -> None:
    # x 1 2 3 4 (mean 2.5), y 2 4 5 8 (mean 4.75): Sxy = 4.125 + 0.375 + 0.125 + 4.875 = 9.5,
    # Sxx = 5, Syy = 18.75: slope 9.5 / 5 = 1.9; r = 9.5 / sqrt(5 * 18.75) = 0.981156,
    # R^2 = 90.25 / 93.75 = 0.962667; standardised 1.9 * sqrt(5/3) / sqrt(18.75/3) = 0.981156 (= r);
    # se = sqrt((Syy - slope * Sxy) / (n - 2) / Sxx) = sqrt(0.7 / 2 / 5) = 0.264575;
    # t = 1.9 / 0.264575 = 7.181, df 2: p = 0.018844; ranks agree: Spearman 1
    figures = link_statistics(pd.Series([1, 2, 3, 4.0]).to_numpy(),
                              pd.Series([2, 4, 5, 8.0]).to_numpy())
    assert figures == pytest.approx({"slope": 1.9, "slope_se": 0.264575,
                                     "standardised": 0.981156, "r2": 0.962667,
                                     "p_value": 0.018844, "spearman_rho": 1.0}, abs=1e-5)


def _cake(month: date, csi: list[float], margin: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"client_id": [f"K{i}" for i in range(len(csi))], "month": month,
                         "segment": "metals", "csi": csi, "csi_n": 1,
                         "gross_margin_pct": margin})


def test_the_link_uses_three_months_of_csi_and_a_sign_change_is_a_finding() -> None:
    may = _cake(date(2026, 5, 1), [10, 20, 30, 40], [10, 20, 30, 41])
    june = _cake(date(2026, 6, 1), [10, 20, 30, 40], [40, 30, 20, 11])
    # June's CSI: May's and June's responses together (the same values): slope flips
    link = money_link(pd.concat([may, june]), LINK)
    by_month = link.set_index("month")
    assert by_month.loc[date(2026, 5, 1), "slope"] == pytest.approx(1.03)
    # May: Sxy = (-15)(-15.25) + (-5)(-5.25) + 5(4.75) + 15(15.75) = 515, Sxx = 500 -> 1.03
    assert by_month.loc[date(2026, 6, 1), "slope"] == pytest.approx(-0.97)
    # June: Sxy = (-15)(14.75) + (-5)(4.75) + 5(-5.25) + 15(-14.25) = -485 -> -0.97
    changes = link_changes(link, LINK)
    assert changes[["segment", "month", "change"]].values.tolist() == [
        ["metals", date(2026, 6, 1), "sign_changed"]]
    finding = link_findings(changes, LINK, date(2026, 7, 1))[0]
    assert finding["finding_id"] == "money_link:metals:2026-06-01"
    assert finding["owner"] == "customer_experience"
    assert "changed sign" in finding["summary"]


def test_too_few_clients_give_no_link() -> None:
    link = money_link(_cake(date(2026, 5, 1), [10, 20, 30], [1, 2, 3]), LINK)
    assert link["clients"].tolist() == [3] and link["slope"].isna().all()


def _answers(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["client_id", "role", "question", "score",
                                       "answered_at"]).assign(segment="metals",
                                                              account_manager="Ivanova")


def test_a_role_gap_names_both_roles() -> None:
    day = datetime(2026, 9, 1)
    answers = _answers(
        [("K1", "technical_buyer", "csat", 5, day)] * 3          # 100, 100, 100
        + [("K1", "operator", "csat", s, day) for s in (1, 2, 1)]  # 0, 25, 0: mean 8.3
        + [("K2", "technical_buyer", "nps", 10, day)] * 3          # one role only: no gap
        + [("K3", "operator", "nps", 10, day)] * 3
        + [("K3", "economic_buyer", "nps", 5, day)] * 2)           # 2 answers < min 3
    gaps = role_gaps(answers, SCALES, date(2026, 10, 1), 180, GAP)
    assert gaps[["client_id", "satisfied_role", "unsatisfied_role"]].values.tolist() == [
        ["K1", "technical_buyer", "operator"]]
    assert gaps.loc[0, "unsatisfied_score"] == pytest.approx(25 / 3)
    finding = role_gap_findings(gaps, GAP, date(2026, 10, 1))[0]
    assert finding["finding_id"] == "role_gap:K1:technical_buyer:operator"
    assert finding["owner_person"] == "Ivanova"
    assert finding["summary"] == ("Client K1: the technical buyer is satisfied (100/100 on 3 "
                                  "answers), the operator is not (8/100 on 3 answers)")


def test_satisfaction_up_payments_not() -> None:
    csi = pd.DataFrame({"client_id": "K1", "segment": "metals",
                        "answered_at": [datetime(2026, 6, 1), datetime(2026, 6, 2),
                                        datetime(2026, 9, 1), datetime(2026, 9, 2)],
                        "y": [40.0, 50.0, 90.0, 95.0]})
    invoices = pd.DataFrame({"invoice_id": ["I1", "I2"], "client_id": "K1",
                             "amount": [100.0, 100.0],
                             "due_date": pd.to_datetime(["2026-06-10", "2026-09-10"])})
    payments = pd.DataFrame({"invoice_id": ["I1", "I2"], "amount": [100.0, 100.0],
                             "paid_date": pd.to_datetime(["2026-06-09", "2026-09-20"])})
    # windows of 90 days before 2026-10-01: [07-03, 10-01) and [04-04, 07-03)
    # CSI 92.5 vs 45: Welch t = 8.497, one-sided p = 0.0158 < 0.05
    # paid on time: I1 yes (before), I2 late (now): 100% -> 0%, not improved
    flagged = satisfaction_up_payments_not(csi, invoices, payments, date(2026, 10, 1), 90, 0.05)
    assert flagged[["client_id", "csi", "previous_csi", "payment_on_time",
                    "previous_payment_on_time"]].values.tolist() == [["K1", 92.5, 45.0, 0.0,
                                                                        100.0]]
    assert flagged.loc[0, "p_value"] == pytest.approx(0.015828, abs=1e-5)
    paid_in_time = payments.assign(paid_date=pd.to_datetime(["2026-06-09", "2026-09-09"]))
    # 100% -> 100%: not improved either (no rise), still flagged; a late payer turned
    # punctual is not
    late_then = payments.assign(paid_date=pd.to_datetime(["2026-06-20", "2026-09-09"]))
    assert len(satisfaction_up_payments_not(csi, invoices, paid_in_time, date(2026, 10, 1),
                                            90, 0.05)) == 1
    assert satisfaction_up_payments_not(csi, invoices, late_then, date(2026, 10, 1), 90,
                                        0.05).empty


def test_transactional_layer_by_hand() -> None:
    frames = {
        "erp_orders": pd.DataFrame({"order_id": ["O1", "O2"], "client_id": ["K1", "K1"],
                                    "order_date": pd.to_datetime(["2026-05-03", "2026-05-20"])}),
        "erp_order_lines": pd.DataFrame({"order_id": ["O1", "O2", "O2"],
                                         "price": [10.0, 20.0, 50.0], "cost": [8.0, 15.0, 1.0],
                                         "quantity": [10.0, 5.0, 1.0],
                                         "cancelled": [False, False, True]}),
        "bill_invoices": pd.DataFrame({"invoice_id": ["I1", "I2"], "client_id": "K1",
                                       "amount": [100.0, 100.0],
                                       "due_date": pd.to_datetime(["2026-05-30",
                                                                   "2026-05-31"])}),
        "bill_payments": pd.DataFrame({"invoice_id": ["I1", "I2", "I2"],
                                       "amount": [100.0, 60.0, 40.0],
                                       "paid_date": pd.to_datetime(["2026-05-29", "2026-05-30",
                                                                    "2026-06-02"])}),
    }
    row = transactional_layer(frames).iloc[0]
    # revenue 10 * 10 + 20 * 5 = 200 (O2's cancelled line left out); margin 2 * 10 + 5 * 5
    # = 45: 22.5%; invoices due in May 2: I1 paid in time, I2 only 60 by its due date: 50%
    assert (row["client_id"], row["month"], row["orders"]) == ("K1", date(2026, 5, 1), 2)
    assert (row["revenue"], row["gross_margin_pct"]) == (200.0, 22.5)
    assert (row["invoices_due"], row["payment_on_time"]) == (2, 50.0)
