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
from sqlalchemy import Connection, Engine

from cx_tasks.adjust.at_risk import listed
from cx_tasks.adjust.effect import Initiative, corrections, initiative_effects
from cx_tasks.adjust.inputs import response_csi, round_answers, survey_answers_before
from cx_tasks.adjust.packs import build_pack, meetings_due, render_pack, send_pack
from cx_tasks.adjust.panels import client_panel, manager_portfolios
from cx_tasks.adjust.printing import print_pdfs
from cx_tasks.adjust.pulse import send_pulse
from cx_tasks.adjust.register import complaint_panel, register_initiatives
from cx_tasks.adjust.risk import (
    FOLDS,
    HORIZON,
    STAFF_FEATURES,
    STAFF_TARGETS,
    WAREHOUSE_CLIENT_FEATURES,
    RiskModel,
    fit,
    manager_features,
    predict,
    reported_targets,
    staff_targets,
    warehouse_client_features,
)
from cx_tasks.adjust.rounds import run_rounds
from cx_tasks.adjust.rules import AdjustRules, adjust_rules
from cx_tasks.adjust.staff import staff_panel
from cx_tasks.adjust.store import (
    read_at_risk,
    read_effects,
    write_at_risk,
    write_effects,
    write_rounds,
)
from cx_tasks.analyze.model import SatisfactionRules, satisfaction_rules, seed_weights
from cx_tasks.feedback.rules import owners
from cx_tasks.warehouse.db import began
from cx_tasks.warehouse.frames import read_staging
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
        packs = []
        for meeting in due:
            for client in keys:
                pack = build_pack(conn, client, meeting, as_of, initiatives, effects,
                                  dict(satisfaction.question_kinds), rules.packs.history_days,
                                  risks=risks)
                mail = render_pack(pack)
                base = packs_dir / f"{client}-{meeting.isoformat()}"
                base.with_suffix(".html").parent.mkdir(parents=True, exist_ok=True)
                base.with_suffix(".html").write_text(mail.html or "", encoding="utf-8")
                packs.append((pack, mail, base.with_suffix(".pdf")))
        print_pdfs([(mail.html or "", pdf) for _, mail, pdf in packs])
        for pack, mail, pdf in packs:
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


def _client_and_staff_panels(conn: Connection, as_of: date
                              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The warehouse's client panel (``panels.client_panel``) and managers panel
    (``staff.staff_panel``) before ``as_of``'s month."""
    outcomes = outcome_panel(conn, month_start(as_of), satisfaction_rules())
    return client_panel(conn, as_of, outcomes), staff_panel(conn, as_of)


CLIENT_WARM_UP = 2
"""Months of a client's history before its first origin (the demo's supplier has six months
of orders: origins need their 90 days over as well)."""


def _origins(panel: pd.DataFrame, warm_up: int) -> range:
    """The origins whose next quarter is over before the panel's last month ends, after
    ``warm_up`` months of history."""
    if panel.empty:
        return range(0)
    return range(int(panel["month"].min()) + warm_up, int(panel["month"].max()) - HORIZON + 1)


def _fitted(samples: pd.DataFrame, features: Sequence[str], target: str, kind: str
            ) -> RiskModel | None:
    """``risk.fit`` on ``samples``, or None with too few outcomes of either kind
    (``risk.FOLDS``)."""
    counts = samples[target].value_counts() if not samples.empty else pd.Series(dtype=int)
    if len(counts) < 2 or counts.min() < FOLDS:
        return None
    return fit(samples, features, target, kind)  # type: ignore[arg-type]


def staff_predictions(warehouse: Engine | Connection, as_of: date,
                      rules: AdjustRules | None = None) -> dict[str, Any]:
    """Per account manager in post in the last whole month before ``as_of`` and target
    (``leaves``, ``overloaded`` next quarter): the calibrated probability from a model fitted
    on every earlier month whose next quarter is over (``risk.py``; the client signals of
    the manager's portfolio from the warehouse's client panel), its top reasons and the
    portfolio at risk (``panels.manager_portfolios``: clients, their revenue of the last 12
    months, probability x revenue); replaces ``as_of``'s ``at_risk`` rows of the target's
    kind, the manager named as ``erp_clients.account_manager`` names them. A target with too
    few outcomes of either kind to fit is left out and named."""
    rules = rules or adjust_rules()
    with began(warehouse) as conn:
        clients, panel = _client_and_staff_panels(conn, as_of)
        if panel.empty:
            for target in STAFF_TARGETS:
                write_at_risk(conn, as_of, target, pd.DataFrame())
            return {"as_of": as_of.isoformat(), "managers": 0, "stored": 0, "skipped": []}
        last = int(panel["month"].max())
        frames = [manager_features(panel, clients, o).join(
            staff_targets(panel, o, rules.risk.overloaded_hours))
            for o in _origins(panel, 5)]
        samples = (pd.concat(frames) if frames
                   else pd.DataFrame(columns=[*STAFF_FEATURES, *STAFF_TARGETS]))
        gone = panel.loc[(panel["month"] == last) & panel["left"], "manager_id"]
        now = manager_features(panel, clients, last).drop(index=gone)
        names = read_staging(conn, "hr_staff", ["staff_id", "full_name"]).set_index(
            "staff_id")["full_name"]
        portfolios = manager_portfolios(conn, as_of)
        stored, skipped = 0, []
        for target in STAFF_TARGETS:
            model = _fitted(samples, STAFF_FEATURES, target, rules.risk.staff_model)
            if model is None:
                skipped.append(target)
                write_at_risk(conn, as_of, target, pd.DataFrame())
                continue
            predicted = predict(model, now, rules.risk.reasons)
            predicted.index = predicted.index.map(names)
            scored = predicted.join(portfolios, how="left").fillna(
                {"clients": 0, "revenue": 0.0})
            scored["clients"] = scored["clients"].astype(int)
            scored["revenue_at_risk"] = scored["probability"] * scored["revenue"]
            stored += write_at_risk(conn, as_of, target, scored)
    return {"as_of": as_of.isoformat(), "managers": len(now), "stored": stored,
            "skipped": skipped}


def client_risk(warehouse: Engine | Connection, as_of: date,
                rules: AdjustRules | None = None) -> dict[str, Any]:
    """Per account with an order in the six months before ``as_of``'s month: the calibrated
    probability of a satisfaction drop or a fall in orders in the next 90 days
    (``risk.reported_targets``) from a model fitted on every earlier month whose 90 days are
    over (rolling origin: a sample sees its own month and before), its top reasons and its
    account manager; replaces ``as_of``'s ``at_risk`` rows of kind ``client``. Too few
    outcomes of either kind to fit: nothing stored, ``skipped``."""
    rules = rules or adjust_rules()
    with began(warehouse) as conn:
        clients, managers = _client_and_staff_panels(conn, as_of)
        frames = [warehouse_client_features(clients, managers, o).join(
            reported_targets(clients, o).rename("at_risk")).dropna(subset=["at_risk"])
            for o in _origins(clients, CLIENT_WARM_UP)]
        samples = (pd.concat(frames) if frames
                   else pd.DataFrame(columns=[*WAREHOUSE_CLIENT_FEATURES, "at_risk"]))
        model = _fitted(samples, WAREHOUSE_CLIENT_FEATURES, "at_risk",
                        rules.risk.client_model)
        if model is None or clients.empty:
            write_at_risk(conn, as_of, "client", pd.DataFrame())
            return {"as_of": as_of.isoformat(), "samples": len(samples), "stored": 0,
                    "skipped": True}
        now = warehouse_client_features(clients, managers, int(clients["month"].max()))
        scored = predict(model, now, rules.risk.reasons)
        names = read_staging(conn, "erp_clients", ["client_id", "account_manager"]).set_index(
            "client_id")["account_manager"]
        scored["manager"] = names.reindex(scored.index).to_numpy()
        stored = write_at_risk(conn, as_of, "client", scored)
    return {"as_of": as_of.isoformat(), "samples": len(samples),
            "positives": int(samples["at_risk"].sum()), "stored": stored, "skipped": False}
