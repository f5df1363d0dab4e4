"""The predicted satisfaction model run against the warehouse: factor scores, calibration per
segment and the predicted index per client, role and account for one ``as_of``.

Windows start like the metrics' (``as_of - days``): computable metrics are read for
``window_days`` ending at ``as_of``; a role's factor ratings are its answers from
``as_of - window_days``, its reported satisfaction (the CSI of its relationship-survey factor
ratings, ``target`` in ``model.yaml``), and whether it answered at all, come from its answers
from ``as_of - signal_window_days``; answers count up
to ``answers_until`` (default: ``as_of``, midnight), so a run later on the day of the
metrics also uses the answers given since (the DAG passes its run's time, which a rerun of
the run keeps). A rerun for the same ``as_of`` and ``answers_until`` replaces that day's
rows with the same values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, select

from cx_tasks.analyze.calibration import CalibrationRound, Observations, best_round, calibrate
from cx_tasks.analyze.factors import FactorLayout, factor_scores
from cx_tasks.analyze.model import (
    PREDICTION_COLUMNS,
    SatisfactionRules,
    Weights,
    account_rows,
    factor_table,
    predict_roles,
    reported_satisfaction,
    role_scores,
    satisfaction_rules,
    seed_weights,
    with_reported,
)
from cx_tasks.collect.contract import ROLES
from cx_tasks.surveys.catalogue import SurveyCatalogue, survey_catalogue
from cx_tasks.warehouse import schema
from cx_tasks.warehouse.db import began, upsert
from cx_tasks.warehouse.schema import (
    STAGING,
    metric_values,
    model_versions,
    predicted_index,
    survey_answers,
    survey_responses,
)
from cx_tasks.warehouse.times import midnight

ANSWER_COLUMNS = ["client_id", "role", "survey_id", "question_id", "score", "answered_at"]


def _until(end: date | datetime) -> datetime:
    """A window's exclusive end: the time itself, or a day's midnight."""
    return end if isinstance(end, datetime) else midnight(end)


def read_segments(conn: Connection) -> dict[str, str]:
    """Each client's segment (``stg_erp_clients``; clients without one left out)."""
    clients = STAGING["erp_clients"]
    return {c: s for c, s in conn.execute(select(clients.c.client_id, clients.c.segment))
            if s is not None}


def read_metric_values(conn: Connection, as_of: date, window_days: int) -> pd.DataFrame:
    """client_id, metric, value of every metric value of ``as_of`` over ``window_days``."""
    rows = conn.execute(select(metric_values.c.client_id, metric_values.c.metric,
                               metric_values.c.value)
                        .where(metric_values.c.as_of == as_of,
                               metric_values.c.window_days == window_days)).all()
    frame = pd.DataFrame(rows, columns=["client_id", "metric", "value"])
    return frame.astype({"value": "float64"})


def read_answers(conn: Connection, start: date, end: date | datetime,
                 catalogue: SurveyCatalogue | None = None) -> pd.DataFrame:
    """client_id, role, survey_id, question_id, score, answered_at of every survey answer
    given in ``[start, end)`` (a day ``end`` means its midnight); an answer stored under a
    legacy question id carries the current one (``catalogue``, default the rule table's)."""
    joined = survey_answers.join(survey_responses,
                                 survey_answers.c.invitation_id == survey_responses.c.invitation_id)
    rows = conn.execute(
        select(survey_responses.c.client_id, survey_responses.c.role,
               survey_responses.c.survey_id, survey_answers.c.question_id, survey_answers.c.score,
               survey_answers.c.answered_at)
        .select_from(joined)
        .where(survey_answers.c.answered_at >= midnight(start),
               survey_answers.c.answered_at < _until(end))).all()
    frame = pd.DataFrame(rows, columns=ANSWER_COLUMNS)
    current = (catalogue or survey_catalogue()).current_question
    return frame.astype({"score": "float64", "answered_at": "datetime64[us]"}).assign(
        question_id=frame["question_id"].map(current))


def _since(answers: pd.DataFrame, as_of: date, days: int) -> pd.DataFrame:
    """The answers given in ``[as_of - days, as_of)``."""
    return answers[answers["answered_at"] >= pd.Timestamp(midnight(as_of - timedelta(days)))]


def observations(table: pd.DataFrame, reported: pd.DataFrame, clients: set[str]
                 ) -> Observations:
    """The client-roles of ``clients`` with a reported satisfaction: their factor scores (from
    ``factor_table``) and reported satisfaction, per role."""
    mine = reported[reported["client_id"].isin(clients)]
    scores, values = {}, {}
    for role in ROLES:
        rows = mine[mine["role"] == role]
        scores[role] = role_scores(table, pd.Index(rows["client_id"]), role)
        values[role] = rows["reported"].to_numpy(dtype=np.float64)
    return Observations(scores, values, int(mine["client_id"].nunique()))


def calibrate_segments(frame: pd.DataFrame, reported: pd.DataFrame, segments: Mapping[str, str],
                       rules: SatisfactionRules) -> dict[str, list[CalibrationRound]]:
    """Per segment of ``importance.yaml``: its model versions, from the interview seeds
    calibrated against the reported satisfaction of its clients."""
    layout = rules.factors.layout()
    table = factor_table(frame, layout)
    return {segment: calibrate(observations(table, reported,
                                            {c for c, s in segments.items() if s == segment}),
                               seed_weights(importance, layout), layout,
                               rules.model.calibration)
            for segment, importance in rules.importance.segments.items()}


def predictions(frame: pd.DataFrame, reported: pd.DataFrame, segments: Mapping[str, str],
                weights: Mapping[str, Weights], layout: FactorLayout,
                rules: SatisfactionRules) -> pd.DataFrame:
    """Role rows (with reported satisfaction) and account rows for every client of a segment
    with weights: client_id, role, segment, status, predicted, reported, blocks."""
    roles = with_reported(predict_roles(frame, segments, weights, layout,
                                        rules.model.table_stakes), reported)
    if roles.empty:
        return roles
    return pd.concat([roles, account_rows(roles, rules.model)], ignore_index=True)


def model_inputs(conn: Connection, as_of: date, window_days: int, rules: SatisfactionRules,
                 answers_until: datetime | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The factor scores over ``window_days``, the reported satisfaction (the CSI of
    ``target`` in ``model.yaml``) over the signal window (answers until ``answers_until``,
    default ``as_of``), and the clients' segments."""
    signal = rules.model.signal_window_days
    answers = read_answers(conn, as_of - timedelta(max(window_days, signal)),
                           answers_until or as_of)
    kinds = answers["question_id"].map(rules.question_kinds)
    frame = factor_scores(read_metric_values(conn, as_of, window_days),
                          _since(answers[kinds == "factor"], as_of, window_days), rules.factors)
    segments = read_segments(conn)
    return frame, reported_satisfaction(_since(answers, as_of, signal), segments, rules), segments


def version_id(as_of: date, round_number: int) -> str:
    """A model version's id: the as_of day and the calibration round (``2026-11-01.r2``)."""
    return f"{as_of.isoformat()}.r{round_number}"


def score_and_predict(warehouse: Engine | Connection, as_of: date, window_days: int = 30,
                      rules: SatisfactionRules | None = None,
                      answers_until: datetime | None = None) -> dict[str, Any]:
    """Write ``factor_scores``, ``model_versions`` (every calibration round per segment) and
    ``predicted_index`` (each role and the account, with the segment's best version) for
    ``as_of`` from metrics over ``window_days`` and the answers given until
    ``answers_until`` (default ``as_of``); return a summary."""
    rules = rules or satisfaction_rules()
    layout = rules.factors.layout()
    with began(warehouse) as conn:
        frame, reported, segments = model_inputs(conn, as_of, window_days, rules, answers_until)
        versions = calibrate_segments(frame, reported, segments, rules)
        chosen = {s: best_round(rounds) for s, rounds in versions.items()}
        predicted = predictions(frame, reported, segments,
                                {s: r.weights for s, r in chosen.items()}, layout, rules)
        predicted["model_version"] = predicted["segment"].map(
            {s: version_id(as_of, r.round) for s, r in chosen.items()})
        for table, column in ((schema.factor_scores, "as_of"), (predicted_index, "as_of"),
                              (model_versions, "created_on")):
            conn.execute(delete(table).where(table.c[column] == as_of))
        upsert(conn, schema.factor_scores, _factor_rows(frame, as_of))
        upsert(conn, model_versions, _version_rows(versions, as_of))
        upsert(conn, predicted_index, _prediction_rows(predicted, as_of))
    return _summary(as_of, window_days, frame, versions, chosen, predicted)


def stored_weights(conn: Connection, as_of: date) -> dict[str, Weights]:
    """Per segment, the weights of the model version ``score_and_predict`` chose for ``as_of``
    (the best of that day's rounds)."""
    rounds: dict[str, list[CalibrationRound]] = {}
    for row in conn.execute(select(model_versions).where(model_versions.c.created_on == as_of)):
        stored = json.loads(row.weights)
        rounds.setdefault(row.segment, []).append(CalibrationRound(
            row.round, stored["weights"], row.clients, stored["answers"], row.mae_before,
            row.mae_after, row.r2_before, row.r2_after, stored["note"]))
    return {segment: best_round(r).weights for segment, r in rounds.items()}


def predict_window(warehouse: Engine | Connection, as_of: date, window_days: int,
                   rules: SatisfactionRules | None = None,
                   answers_until: datetime | None = None) -> pd.DataFrame:
    """The predicted index from metrics over ``window_days`` with the weights chosen for
    ``as_of`` (run ``score_and_predict`` first), written nowhere: e.g. the 365-day baseline
    to compare with the stored 30-day index. Columns as ``predictions``."""
    rules = rules or satisfaction_rules()
    with began(warehouse) as conn:
        frame, reported, segments = model_inputs(conn, as_of, window_days, rules, answers_until)
        weights = stored_weights(conn, as_of)
    return predictions(frame, reported, segments, weights, rules.factors.layout(), rules)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _rounded(value: Any) -> Any:
    """Floats rounded to six decimals, nested; NaN as None."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, 6)
    return value


def _factor_rows(frame: pd.DataFrame, as_of: date) -> list[dict[str, Any]]:
    return [{"client_id": c, "role": r, "factor": f, "as_of": as_of, "score": float(s),
             "metrics": _json(_rounded(m))}
            for c, r, f, s, m in frame[["client_id", "role", "factor", "score", "metrics"]]
            .itertuples(index=False)]


def _version_rows(versions: Mapping[str, list[CalibrationRound]], as_of: date
                  ) -> list[dict[str, Any]]:
    return [{"version": version_id(as_of, r.round), "segment": segment, "round": r.round,
             "created_on": as_of,
             "weights": _json({"weights": _rounded(r.weights), "answers": dict(r.answers),
                               "note": r.note}),
             "clients": r.clients, "mae_before": r.mae_before, "mae_after": r.mae_after,
             "r2_before": r.r2_before, "r2_after": r.r2_after}
            for segment, rounds in versions.items() for r in rounds]


def _prediction_rows(predicted: pd.DataFrame, as_of: date) -> list[dict[str, Any]]:
    def number(value: Any) -> float | None:
        return None if value is None or pd.isna(value) else float(value)

    return [{"client_id": row.client_id, "role": row.role, "as_of": as_of,
             "model_version": row.model_version, "status": row.status,
             "predicted": number(row.predicted), "reported": number(row.reported),
             "blocks": _json(_rounded(row.blocks))}
            for row in predicted[[*PREDICTION_COLUMNS, "model_version"]]
            .itertuples(index=False)]


def _summary(as_of: date, window_days: int, frame: pd.DataFrame,
             versions: Mapping[str, list[CalibrationRound]],
             chosen: Mapping[str, CalibrationRound], predicted: pd.DataFrame) -> dict[str, Any]:
    accounts = predicted[predicted["role"] == "account"]["status"].value_counts()
    return {
        "as_of": as_of.isoformat(), "window_days": window_days,
        "factor_scores": len(frame),
        "clients": int(predicted["client_id"].nunique()) if len(predicted) else 0,
        "accounts": {str(k): int(v) for k, v in accounts.items()},
        "segments": {s: {"version": version_id(as_of, chosen[s].round),
                         "rounds": len(rounds) - 1, "answers": dict(rounds[0].answers),
                         "mae_seeds": rounds[0].mae_after, "mae": chosen[s].mae_after,
                         "r2": chosen[s].r2_after}
                     for s, rounds in versions.items()},
    }
