"""The adjust stage against the warehouse, one function per task of ``dags/cx_adjust.py``.

Each takes the run's day (``as_of``) and replaces what it wrote for it, so a rerun leaves the
same state. Rounds judge only whole months before ``as_of``'s month (a month still running
has not given all its answers).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from cx_tasks.adjust.effect import Initiative, corrections, initiative_effects
from cx_tasks.adjust.inputs import headline_answers, round_answers
from cx_tasks.adjust.rounds import run_rounds
from cx_tasks.adjust.rules import AdjustRules, adjust_rules
from cx_tasks.adjust.store import write_effects, write_rounds
from cx_tasks.analyze.model import SatisfactionRules, satisfaction_rules, seed_weights
from cx_tasks.warehouse.db import began


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def model_rounds(
    warehouse: Engine | Connection,
    as_of: date,
    rules: AdjustRules | None = None,
    satisfaction: SatisfactionRules | None = None,
) -> dict[str, Any]:
    """Run the model's rounds over every whole month of answers before ``as_of``'s month,
    from the interview seeds, and store each round; return how many were promoted."""
    rules = rules or adjust_rules()
    satisfaction = satisfaction or satisfaction_rules()
    layout = satisfaction.factors.layout()
    seeds = {s: seed_weights(i, layout) for s, i in satisfaction.importance.segments.items()}
    with began(warehouse) as conn:
        answers = round_answers(conn, month_start(as_of), satisfaction)
        result = run_rounds(answers, seeds, layout, satisfaction.model.calibration,
                            rules.rounds.alignment, rules.rounds.shrinkage,
                            rules.rounds.first_round_after)
        write_rounds(conn, result.rounds)
    return {"as_of": as_of.isoformat(), "answers": len(answers), "rounds": len(result.rounds),
            "promoted": sum(r.promoted for r in result.rounds),
            "in_force": {s: v for s, (v, _) in result.in_force.items()}}


def outcome_panel(conn: Connection, until: date, satisfaction: SatisfactionRules
                  ) -> pd.DataFrame:
    """Per client and whole month before ``until``: NPS of its answers (the mean of +100 per
    promoter, -100 per detractor, 0 per passive) and its reported satisfaction 0-100."""
    answers = headline_answers(conn, until, satisfaction)
    nps = answers["kind"] == "nps"
    score = answers["score"].astype(float)
    answers = answers.assign(
        nps=(100.0 * (score >= 9) - 100.0 * (score <= 6)).where(nps))
    panel = (answers.groupby(["client_id", "segment", "period_start"], as_index=False)
             .agg(nps=("nps", "mean"), reported=("reported", "mean")))
    return panel.assign(period_end=panel["period_start"] + pd.offsets.MonthBegin(1))


def measure_effects(
    warehouse: Engine | Connection,
    as_of: date,
    initiatives: Sequence[Initiative],
    panel: pd.DataFrame | None = None,
    rules: AdjustRules | None = None,
) -> dict[str, Any]:
    """Measure every initiative's effect (``effect.py``) on the panel (default: the
    warehouse's ``outcome_panel`` before ``as_of``'s month), flag those due for correction,
    and store both for ``as_of``."""
    rules = rules or adjust_rules()
    with began(warehouse) as conn:
        if panel is None:
            panel = outcome_panel(conn, month_start(as_of), satisfaction_rules())
        effects = initiative_effects(initiatives, panel, rules.effects)
        due = corrections(initiatives, effects, as_of, rules.effects)
        write_effects(conn, as_of, effects, due)
    return {"as_of": as_of.isoformat(), "initiatives": len(initiatives),
            "effects": len(effects), "measurable": sum(e.measurable for e in effects),
            "corrections": [{"initiative": c.initiative_id, "owner": c.owner} for c in due]}
