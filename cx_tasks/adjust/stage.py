"""The adjust stage against the warehouse, one function per task of ``dags/cx_adjust.py``.

Each takes the run's day (``as_of``) and replaces what it wrote for it, so a rerun leaves the
same state. Rounds judge only whole months before ``as_of``'s month (a month still running
has not given all its answers).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete

from cx_tasks.adjust.at_risk import listed
from cx_tasks.adjust.effect import Initiative, corrections, initiative_effects
from cx_tasks.adjust.inputs import response_csi, round_answers, survey_answers_before
from cx_tasks.adjust.packs import build_pack, meetings_due, print_pdf, render_pack, send_pack
from cx_tasks.adjust.pulse import send_pulse
from cx_tasks.adjust.register import complaint_panel, register_initiatives
from cx_tasks.adjust.risk import (
    FOLDS,
    HORIZON,
    STAFF_FEATURES,
    STAFF_TARGETS,
    fit,
    manager_features,
    predict,
    staff_targets,
)
from cx_tasks.adjust.rounds import run_rounds
from cx_tasks.adjust.rules import AdjustRules, adjust_rules
from cx_tasks.adjust.staff import staff_panel
from cx_tasks.adjust.store import read_at_risk, read_effects, write_effects, write_rounds
from cx_tasks.analyze.model import SatisfactionRules, satisfaction_rules, seed_weights
from cx_tasks.feedback.rules import owners
from cx_tasks.warehouse.db import began, upsert
from cx_tasks.warehouse.frames import read_staging
from cx_tasks.warehouse.schema import staff_risk
from cx_tasks.warehouse.times import midnight


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
    promoter, -100 per detractor, 0 per passive) and CSI (the mean of its responses' CSI,
    ``inputs.response_csi``); NaN where the month has none."""
    answers = survey_answers_before(conn, until).dropna(subset=["segment"])
    nps = answers[answers["question_id"].map(satisfaction.question_kinds) == "nps"]
    nps = nps.assign(nps=100.0 * (nps["score"] >= 9) - 100.0 * (nps["score"] <= 6))
    csi = response_csi(answers, satisfaction).rename(columns={"y": "csi"})
    keys = ["client_id", "segment", "period_start"]
    per = [frame.assign(period_start=pd.to_datetime(frame["answered_at"])
                        .astype("datetime64[us]").dt.to_period("M").dt.start_time)
           .groupby(keys)[metric].mean() for frame, metric in ((nps, "nps"), (csi, "csi"))]
    panel = pd.concat(per, axis=1).reset_index()
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


def effects_panel(conn: Connection, until: date, initiatives: Sequence[Initiative],
                  satisfaction: SatisfactionRules) -> pd.DataFrame:
    """``outcome_panel`` with the complaint metrics the initiatives target
    (``register.complaint_panel``): every client-month of either."""
    outcomes = outcome_panel(conn, until, satisfaction)
    complaints = complaint_panel(conn, until, [i.target_metric for i in initiatives])
    if complaints.empty or outcomes.empty:
        return outcomes if complaints.empty else complaints
    keys = ["client_id", "segment", "period_start", "period_end"]
    for frame in (outcomes, complaints):
        frame["period_start"] = frame["period_start"].astype("datetime64[us]")
        frame["period_end"] = frame["period_end"].astype("datetime64[us]")
    return outcomes.merge(complaints, on=keys, how="outer")


def register_effects(warehouse: Engine | Connection, as_of: date,
                     rules: AdjustRules | None = None) -> dict[str, Any]:
    """``measure_effects`` of the register's initiatives in progress or done
    (``register.register_initiatives``) on ``effects_panel`` before ``as_of``'s month."""
    rules = rules or adjust_rules()
    with began(warehouse) as conn:
        initiatives = register_initiatives(conn, rules.effects.start)
        panel = effects_panel(conn, month_start(as_of), initiatives, satisfaction_rules())
        return measure_effects(conn, as_of, initiatives, panel, rules)


def working_group_packs(
    warehouse: Engine | Connection,
    as_of: date,
    packs_dir: Path,
    initiatives: Sequence[Initiative] | None = None,
    rules: AdjustRules | None = None,
    satisfaction: SatisfactionRules | None = None,
    meetings: Sequence[date] | None = None,
) -> dict[str, Any]:
    """For every meeting due (``packs.days_before``; of ``meetings``, by default the rules')
    and key account: the pack as HTML and PDF under ``packs_dir`` and, once, an e-mail to the
    key account team. The initiatives are the register's (``register_initiatives``) unless
    given."""
    rules = rules or adjust_rules()
    satisfaction = satisfaction or satisfaction_rules()
    team = owners()
    made, sent = [], 0
    with began(warehouse) as conn:
        accounts = read_staging(conn, "crm_accounts", ["client_id", "key_account"])
        keys = sorted(accounts.loc[accounts["key_account"].fillna(False).astype(bool),
                                   "client_id"])
        if initiatives is None:
            initiatives = register_initiatives(conn, rules.effects.start)
        effects = read_effects(conn, as_of)
        risks = listed(read_at_risk(conn, as_of), rules.at_risk)
        due = meetings_due(rules.packs.meetings if meetings is None else meetings, as_of,
                           rules.packs.days_before)
        for meeting in due:
            for client in keys:
                pack = build_pack(conn, client, meeting, as_of, initiatives, effects,
                                  dict(satisfaction.question_kinds), rules.packs.history_days,
                                  risks=risks)
                mail = render_pack(pack)
                base = packs_dir / f"{client}-{meeting.isoformat()}"
                base.with_suffix(".html").parent.mkdir(parents=True, exist_ok=True)
                base.with_suffix(".html").write_text(mail.html or "", encoding="utf-8")
                pdf = print_pdf(mail.html or "", base.with_suffix(".pdf"))
                sent += send_pack(conn, pack, mail, pdf, team, midnight(as_of))
                made.append(str(pdf))
    return {"as_of": as_of.isoformat(), "packs": len(made), "sent": sent, "files": made}


def staff_pulse(warehouse: Engine | Connection, as_of: date, base_url: str, secret: bytes,
                rules: AdjustRules | None = None) -> dict[str, Any]:
    """In a run of ``staff.pulse_months``: the quarterly pulse e-mail to the staff in post
    on ``as_of`` (``pulse.send_pulse``, once per person and quarter); otherwise nothing."""
    rules = rules or adjust_rules()
    if as_of.month not in rules.staff.pulse_months:
        return {"as_of": as_of.isoformat(), "pulse": "not a pulse month"}
    with began(warehouse) as conn:
        return {"as_of": as_of.isoformat(),
                **send_pulse(conn, as_of, base_url, secret, rules.staff.pulse_link_days)}


def staff_predictions(warehouse: Engine | Connection, as_of: date,
                      rules: AdjustRules | None = None) -> dict[str, Any]:
    """Per account manager in post in the last whole month before ``as_of`` and target
    (``leaves``, ``overloaded`` next quarter): the calibrated probability from a model fitted
    on every earlier month whose next quarter is over (``risk.py``), its top reasons and the
    manager's clients; replaces the rows of ``as_of`` in ``staff_risk``. A target with too
    few outcomes of either kind to fit (``risk.FOLDS``) is left out and named. The client
    signals of a manager's portfolio (``clients_nps``, ``clients_claims``) read 0 until the
    client panel comes from the warehouse too."""
    rules = rules or adjust_rules()
    with began(warehouse) as conn:
        panel = staff_panel(conn, as_of)
        conn.execute(delete(staff_risk).where(staff_risk.c.as_of == as_of))
        if panel.empty:
            return {"as_of": as_of.isoformat(), "managers": 0, "stored": 0, "skipped": []}
        clients = pd.DataFrame(columns=["client_id", "month", "manager_id", "nps", "claims"])
        last = int(panel["month"].max())
        origins = range(int(panel["month"].min()) + 5, last - HORIZON + 1)
        frames = [manager_features(panel, clients, o).join(
            staff_targets(panel, o, rules.risk.overloaded_hours)) for o in origins]
        samples = (pd.concat(frames) if frames
                   else pd.DataFrame(columns=[*STAFF_FEATURES, *STAFF_TARGETS]))
        gone = panel.loc[(panel["month"] == last) & panel["left"], "manager_id"]
        now = manager_features(panel, clients, last).drop(index=gone)
        rows, skipped = [], []
        for target in STAFF_TARGETS:
            counts = samples[target].value_counts()
            if len(counts) < 2 or counts.min() < FOLDS:
                skipped.append(target)
                continue
            model = fit(samples, STAFF_FEATURES, target, rules.risk.staff_model)
            predicted = predict(model, now, rules.risk.reasons)
            rows += [{"as_of": as_of, "staff_id": staff, "target": target,
                      "probability": float(p), "reasons": reasons,
                      "clients": int(now.loc[staff, "clients"])}
                     for staff, p, reasons in predicted.itertuples()]
        upsert(conn, staff_risk, rows)
    return {"as_of": as_of.isoformat(), "managers": len(now), "stored": len(rows),
            "skipped": skipped}
