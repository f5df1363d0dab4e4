"""The at-risk lists: the stored level-5 predictions (``store.read_at_risk``) that the daily
and weekly digests and the working-group packs show, each kind from ``adjust.yaml``
``at_risk.listed_from`` on and at most ``listed_at_most`` of it, highest probability first.
"""

from __future__ import annotations

import pandas as pd

from cx_tasks.adjust.rules import AtRiskRules

WHAT = {
    "client": "satisfaction drop or fall in orders in the next 90 days",
    "leaves": "account manager leaving next quarter",
    "overloaded": "account manager overloaded next quarter",
}
"""What each kind of prediction foresees, as the lists say it."""


def listed(risks: pd.DataFrame, rules: AtRiskRules) -> pd.DataFrame:
    """The rows of ``risks`` (``read_at_risk``) that make the lists (module doc)."""
    if risks.empty:
        return risks
    high = risks[risks["probability"] >= rules.listed_from]
    high = high.sort_values(["kind", "probability", "subject_id"],
                            ascending=[True, False, True], kind="stable")
    return high.groupby("kind", sort=True).head(rules.listed_at_most).reset_index(drop=True)


def account_risks(risks: pd.DataFrame, client_id: str, manager: str | None
                  ) -> list[dict[str, object]]:
    """The listed predictions that concern one account: its own, and its account manager's
    (leaving, overloaded), each with what it foresees, probability and reasons."""
    if risks.empty:
        return []
    mine = risks[((risks["kind"] == "client") & (risks["subject_id"] == client_id))
                 | (risks["kind"].isin(("leaves", "overloaded"))
                    & (risks["subject_id"] == manager))]
    return [{"kind": r.kind, "what": WHAT[r.kind], "subject": r.subject_id,
             "probability": float(r.probability), "reasons": r.reasons}
            for r in mine.itertuples()]
