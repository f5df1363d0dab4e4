"""Satisfaction and money: the satisfaction-margin link per segment and month, and clients
whose satisfaction rose while their payments did not.

The link (DOMAIN.md: about 0.7 between satisfaction and gross margin per client, re-checked
regularly per segment): across a segment's clients with a gross margin % in the month and a
CSI over the three months ending with it (a client answers a few times a year: one month's
CSI is one or two responses), from the layer cake, the least-squares slope of margin on
CSI (margin points per CSI point) with its standard error, the standardised coefficient
slope * sd(CSI) / sd(margin), R^2, the slope's two-sided p-value and Spearman's rho. Not
computed below ``min_clients``.

A finding for the CX lead (``link.owner``) when, against the segment's previous month,
the link **weakened significantly** (slope lower, |difference| / sqrt(se^2 + se_prev^2)
beyond the two-sided ``alpha`` quantile) or **changed sign** (a link significant at
``alpha`` the month before has a slope of the opposite sign now).

"Satisfaction up, payments not": a client whose CSI responses over the trailing window are
significantly higher than over the window before (Welch's t-test, one-sided at ``alpha``,
at least two responses each) while its share of invoices paid by their due date did not
rise: the problem lies elsewhere (the article), a finding for the CX lead.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import stats

from cx_tasks.monitor.rules import LinkRules

LINK_COLUMNS = ("segment", "month", "clients", "slope", "slope_se", "standardised", "r2",
                "p_value", "spearman_rho")


def link_statistics(satisfaction: np.ndarray, margin: np.ndarray) -> dict[str, float]:
    """slope, slope_se, standardised, r2, p_value and spearman_rho of margin on
    satisfaction (module doc); NaN where the data cannot define them."""
    nan = {k: float("nan") for k in LINK_COLUMNS[3:]}
    if len(satisfaction) < 3 or np.ptp(satisfaction) == 0 or np.ptp(margin) == 0:
        return nan
    fit = stats.linregress(satisfaction, margin)
    rho = stats.spearmanr(satisfaction, margin).statistic
    return {"slope": float(fit.slope), "slope_se": float(fit.stderr),
            "standardised": float(fit.slope * np.std(satisfaction, ddof=1)
                                  / np.std(margin, ddof=1)),
            "r2": float(fit.rvalue ** 2), "p_value": float(fit.pvalue),
            "spearman_rho": float(rho)}


def trailing_csi(cake: pd.DataFrame, months: int = 3) -> pd.DataFrame:
    """Per client and month, the CSI of its responses in the ``months`` months ending with
    it: the layer cake's monthly CSI weighted by its n (client_id, month, csi)."""
    rated = cake.loc[cake["csi_n"] > 0, ["client_id", "month", "csi", "csi_n"]]
    spread = pd.concat([rated.assign(month=(pd.to_datetime(rated["month"])
                                            + pd.offsets.MonthBegin(k)).dt.date
                                     if k else rated["month"]) for k in range(months)])
    spread = spread.assign(weighted=spread["csi"] * spread["csi_n"])
    summed = spread.groupby(["client_id", "month"])[["weighted", "csi_n"]].sum()
    return (summed["weighted"] / summed["csi_n"]).rename("csi").reset_index()


def money_link(cake: pd.DataFrame, rules: LinkRules) -> pd.DataFrame:
    """The link per segment and month from the layer cake (``LINK_COLUMNS``)."""
    both = cake.drop(columns="csi").merge(trailing_csi(cake), on=["client_id", "month"])
    both = both.dropna(subset=["csi", "gross_margin_pct", "segment"])
    rows = []
    for (segment, month), part in both.groupby(["segment", "month"], sort=True):
        figures = (link_statistics(part["csi"].to_numpy(float),
                                   part["gross_margin_pct"].to_numpy(float))
                   if len(part) >= rules.min_clients
                   else {k: float("nan") for k in LINK_COLUMNS[3:]})
        rows.append({"segment": segment, "month": month, "clients": len(part), **figures})
    return pd.DataFrame(rows, columns=list(LINK_COLUMNS))


def link_changes(link: pd.DataFrame, rules: LinkRules) -> pd.DataFrame:
    """Segment-months whose link weakened significantly or changed sign against the month
    before: segment, month, change (``weakened`` | ``sign_changed``), slope, previous_slope,
    p_value, previous_p_value."""
    ordered = link.dropna(subset=["slope"]).sort_values(["segment", "month"])
    previous = ordered.groupby("segment")[["month", "slope", "slope_se", "p_value"]].shift()
    z_limit = stats.norm.ppf(1 - rules.alpha / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (ordered["slope"] - previous["slope"]) / np.sqrt(ordered["slope_se"] ** 2
                                                              + previous["slope_se"] ** 2)
    consecutive = (pd.to_datetime(ordered["month"])
                   == pd.to_datetime(previous["month"]) + pd.offsets.MonthBegin(1))
    flipped = ((previous["p_value"] < rules.alpha)
               & (np.sign(ordered["slope"]) != np.sign(previous["slope"])))
    weakened = z < -z_limit
    change = np.where(flipped, "sign_changed", np.where(weakened, "weakened", None))
    out = ordered.assign(change=change, previous_slope=previous["slope"],
                         previous_p_value=previous["p_value"])
    out = out[consecutive & pd.notna(out["change"])]
    return out[["segment", "month", "change", "slope", "previous_slope", "p_value",
                "previous_p_value"]].reset_index(drop=True)


def link_findings(changes: pd.DataFrame, rules: LinkRules, found_on: date
                  ) -> list[dict[str, object]]:
    """A finding for the CX lead per weakened or sign-changed link (``findings`` columns)."""
    words = {"weakened": "weakened significantly", "sign_changed": "changed sign"}
    return [{
        "finding_id": f"money_link:{c.segment}:{c.month.isoformat()}", "kind": "money_link",
        "client_id": None, "segment": c.segment, "process_class": None, "factor": None,
        "metric": "gross_margin_pct",
        "summary": (f"Satisfaction-margin link in {c.segment} {words[c.change]} in "
                    f"{c.month:%Y-%m}: {c.slope:+.2f} margin points per CSI point "
                    f"(p = {c.p_value:.3f}), {c.previous_slope:+.2f} the month before"),
        "owner": rules.owner, "owner_person": None, "found_on": found_on,
        "due_on": found_on + timedelta(days=rules.due_days)} for c in changes.itertuples()]


def payment_on_time_share(invoices: pd.DataFrame, payments: pd.DataFrame, start: date,
                          end: date) -> pd.Series:
    """Per client, the share of its invoices due in ``[start, end)`` paid in full by the
    due date (percent)."""
    due = invoices[(invoices["due_date"] >= pd.Timestamp(start))
                   & (invoices["due_date"] < pd.Timestamp(end))]
    paid = payments.merge(due[["invoice_id", "due_date"]], on="invoice_id")
    in_time = paid[paid["paid_date"] <= paid["due_date"]].groupby("invoice_id")["amount"].sum()
    on_time = pd.to_numeric(due["invoice_id"].map(in_time)).fillna(0) >= due["amount"] - 0.005
    return 100 * on_time.groupby(due["client_id"]).mean()


def satisfaction_up_payments_not(csi: pd.DataFrame, invoices: pd.DataFrame,
                                 payments: pd.DataFrame, as_of: date, window_days: int,
                                 alpha: float) -> pd.DataFrame:
    """Clients whose CSI rose significantly over the trailing window while payment
    discipline did not (module doc): client_id, segment, csi, previous_csi, p_value,
    payment_on_time, previous_payment_on_time. ``csi``: one row per response with
    client_id, segment, answered_at and y (its CSI)."""
    end = pd.Timestamp(as_of)
    span = pd.Timedelta(days=window_days)
    current = csi[(csi["answered_at"] >= end - span) & (csi["answered_at"] < end)]
    before = csi[(csi["answered_at"] >= end - 2 * span) & (csi["answered_at"] < end - span)]
    now_pay = payment_on_time_share(invoices, payments, (end - span).date(), as_of)
    then_pay = payment_on_time_share(invoices, payments, (end - 2 * span).date(),
                                     (end - span).date())
    rows = []
    earlier = dict(tuple(before.groupby("client_id")["y"]))
    for client, values in current.groupby("client_id")["y"]:
        old = earlier.get(client)
        if old is None or len(values) < 2 or len(old) < 2:
            continue
        test = stats.ttest_ind(values, old, equal_var=False, alternative="greater")
        paid_now, paid_then = now_pay.get(client), then_pay.get(client)
        if (test.pvalue < alpha and paid_now is not None and paid_then is not None
                and paid_now <= paid_then):
            rows.append({"client_id": client,
                         "segment": current.loc[values.index[0], "segment"],
                         "csi": float(values.mean()), "previous_csi": float(old.mean()),
                         "p_value": float(test.pvalue), "payment_on_time": float(paid_now),
                         "previous_payment_on_time": float(paid_then)})
    return pd.DataFrame(rows, columns=["client_id", "segment", "csi", "previous_csi",
                                       "p_value", "payment_on_time",
                                       "previous_payment_on_time"])


def payments_not_findings(flagged: pd.DataFrame, rules: LinkRules, as_of: date,
                          window_days: int) -> list[dict[str, object]]:
    """A finding per client of ``satisfaction_up_payments_not`` (``findings`` columns)."""
    start = as_of - timedelta(days=window_days)
    return [{
        "finding_id": f"satisfaction_up_payments_not:{f.client_id}:{start.isoformat()}",
        "kind": "satisfaction_up_payments_not", "client_id": f.client_id,
        "segment": f.segment, "process_class": None, "factor": None,
        "metric": "payment_on_time",
        "summary": (f"Client {f.client_id}: satisfaction rose (CSI {f.previous_csi:.0f} -> "
                    f"{f.csi:.0f}, p = {f.p_value:.3f}) but payments did not (paid on time "
                    f"{f.previous_payment_on_time:.0f}% -> {f.payment_on_time:.0f}%): the "
                    "problem lies elsewhere"),
        "owner": rules.owner, "owner_person": None, "found_on": as_of,
        "due_on": as_of + timedelta(days=rules.due_days)} for f in flagged.itertuples()]
