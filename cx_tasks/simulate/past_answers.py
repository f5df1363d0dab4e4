"""The simulated supplier's past survey answers: 18 months exported from its previous tool.

Written in the import layout of ``cx_tasks.monitor.past_answers`` (one scored question per
row). Scores follow the simulated truth: a contact's felt satisfaction is its role's true
satisfaction at the client (``role_truth``), shifted by a per-client drift over the months
before the end (so a client improves or worsens along the history), plus answer noise;
a factor question follows the simulated factors behind it (``respondents.yaml`` ``factors``).

- relationship: each contact is asked every six months and answers with ``relationship_rate``;
  the questions of its role's relationship survey (NPS and factors);
- transactional: per client and month, a Poisson number of answers (``transactional_per_month``)
  from its operators and technical buyers: CSAT, CES and one delivery factor.

Deterministic for a seed. A few rows are wrong as exports from other tools are (an e-mail
the CRM does not know, a score off its scale): the import quarantines them.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from cx_tasks.monitor.past_answers import COLUMNS
from cx_tasks.simulate.world import rng_for
from cx_tasks.surveys.catalogue import SurveyCatalogue, survey_catalogue
from cx_tasks.warehouse.db import engine_for

MONTH_DAYS = 30.4375
TRANSACTIONAL_QUESTIONS = ("csat", "ces", "availability")
COMMENTS = {
    "unhappy": ("Поставка опять опоздала.", "Documents arrive late, every time.",
                "Качество партии ниже спецификации.", "Hard to reach anyone about claims."),
    "happy": ("Всё вовремя, спасибо.", "Good cooperation, keep it up."),
}


def _felt(base: np.ndarray, drift: np.ndarray, months_before: np.ndarray, noise: float,
          rng: np.random.Generator) -> np.ndarray:
    """Felt satisfaction 0-100: the true score minus drift per month before the end, noise."""
    return np.clip(base - drift * months_before + rng.normal(0, noise, len(base)), 0, 100)


def _on_scale(felt: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    """Felt satisfaction (0-100) as the nearest step of a scale."""
    low, high = scale
    return np.rint(low + (high - low) * felt / 100).astype(int)


def _truth(ground_truth_path: Path, factor_map: dict[str, tuple[str, ...]]
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per client and role its true satisfaction; per client each survey factor's true score
    (the mean of the simulated factors behind it)."""
    with sqlite3.connect(ground_truth_path) as truth:
        roles = pd.read_sql("SELECT client_id, role, satisfaction FROM role_truth", truth)
        scores = pd.read_sql("SELECT client_id, factor, score FROM factor_scores", truth)
    wide = scores.pivot(index="client_id", columns="factor", values="score")
    factors = pd.DataFrame({q: wide[list(sim)].mean(axis=1) for q, sim in factor_map.items()
                            if set(sim) <= set(wide.columns)})
    return roles, factors


def _responses(contacts: pd.DataFrame, end: date, months: int, relationship_rate: float,
               transactional_per_month: float, rng: np.random.Generator) -> pd.DataFrame:
    """One row per response: contact, client, role, survey kind and the moment answered."""
    span = months * MONTH_DAYS
    waves = int(np.ceil(months / 6))
    rel = contacts.loc[contacts.index.repeat(waves)].reset_index(drop=True)
    wave = np.tile(np.arange(waves), len(contacts))
    rel["days_before"] = np.minimum(wave * 182.6 + rng.uniform(0, 182.6, len(rel)), span - 1)
    rel = rel[rng.random(len(rel)) < relationship_rate].assign(survey_kind="relationship")
    asked = contacts[contacts["role"].isin(("operator", "technical_buyer"))]
    per_client = asked.groupby("client_id").size()
    count = rng.poisson(transactional_per_month * months, len(per_client))
    client = np.repeat(per_client.index.to_numpy(), count)
    pick = rng.random(len(client))
    members = asked.groupby("client_id").indices
    rows = np.array([members[c][int(p * len(members[c]))] for c, p in zip(client, pick,
                                                                             strict=True)],
                    dtype=int)
    tx = asked.iloc[rows].reset_index(drop=True)
    tx = tx.assign(days_before=rng.uniform(0, span, len(tx)), survey_kind="transactional")
    both = pd.concat([rel, tx], ignore_index=True)
    seconds = rng.integers(8 * 3600, 18 * 3600, len(both))
    start = datetime.combine(end, time())
    both["answered_at"] = [start - timedelta(days=float(d)) + timedelta(seconds=int(s))
                           - timedelta(days=1) for d, s in zip(both["days_before"], seconds,
                                                               strict=True)]
    both["answered_at"] = pd.to_datetime(both["answered_at"]).dt.floor("s")
    return both


def past_answers(contacts: pd.DataFrame, roles: pd.DataFrame, factors: pd.DataFrame,
                 catalogue: SurveyCatalogue, *, end: date, months: int = 18, seed: int = 7,
                 relationship_rate: float = 0.6, transactional_per_month: float = 0.35,
                 noise: float = 8.0, drift_sd: float = 0.8, bad_share: float = 0.002
                 ) -> pd.DataFrame:
    """The past answers of ``contacts`` (contact_id, client_id, role, email) in the import
    layout, ending the day before ``end``, from the true satisfaction per role and factor."""
    rng = rng_for(seed, "past_answers")
    clients = np.sort(contacts["client_id"].unique())
    drift = pd.Series(rng.normal(0, drift_sd, len(clients)), index=clients)
    responses = _responses(contacts, end, months, relationship_rate, transactional_per_month,
                           rng)
    responses["response"] = np.arange(len(responses))
    satisfaction = roles.set_index(["client_id", "role"])["satisfaction"]
    base = satisfaction.reindex(pd.MultiIndex.from_frame(
        responses[["client_id", "role"]])).fillna(50.0).to_numpy()
    months_before = responses["days_before"].to_numpy() / MONTH_DAYS
    client_drift = drift.reindex(responses["client_id"]).to_numpy()
    rows = []
    for mask, role, questions in _questions(catalogue, responses):
        part = responses[mask]
        for question in questions:
            scope = part if role is None else part[part["role"] == role]
            if scope.empty:
                continue
            idx = scope.index.to_numpy()
            q = catalogue.questions[question]
            truth = base[idx]
            if q.factor is not None and q.factor in factors.columns:
                truth = factors[q.factor].reindex(scope["client_id"]).fillna(50.0).to_numpy()
            felt = _felt(truth, client_drift[idx], months_before[idx], noise, rng)
            rows.append(scope[["response", "contact_id", "email", "client_id", "role",
                               "survey_kind", "answered_at"]].assign(
                question=question, score=_on_scale(felt, q.scale or (0, 10)), felt=felt))
    answers = pd.concat(rows, ignore_index=True).sort_values(["answered_at", "response"],
                                                             kind="stable")
    return _layout(answers, rng, bad_share)


def _questions(catalogue: SurveyCatalogue, responses: pd.DataFrame
               ) -> list[tuple[np.ndarray, str | None, tuple[str, ...]]]:
    """(response mask, role or None, the scored questions asked): each role's relationship
    survey, and CSAT, CES and one delivery factor for a transactional answer."""
    relationship = (responses["survey_kind"] == "relationship").to_numpy()
    asked: list[tuple[np.ndarray, str | None, tuple[str, ...]]] = [
        (relationship, role, tuple(q for q in survey.questions
                                   if catalogue.questions[q].scale is not None))
        for survey in catalogue.surveys if survey.kind == "relationship"
        for role in survey.roles]
    asked.append((~relationship, None, TRANSACTIONAL_QUESTIONS))
    return asked


def _layout(answers: pd.DataFrame, rng: np.random.Generator, bad_share: float) -> pd.DataFrame:
    """The rows as the import layout: contact by id or by e-mail (half each), a comment on a
    response's first row now and then, and a few wrong rows."""
    by_email = (rng.random(len(answers)) < 0.5) & answers["email"].notna().to_numpy()
    contact = np.where(by_email, answers["email"], answers["contact_id"])
    first = ~answers["response"].duplicated().to_numpy()
    unhappy = answers["felt"].to_numpy() < 60
    says = first & (rng.random(len(answers)) < np.where(unhappy, 0.3, 0.05))
    comment = np.full(len(answers), None, dtype=object)
    for mood, mask in (("unhappy", says & unhappy), ("happy", says & ~unhappy)):
        texts = COMMENTS[mood]
        comment[mask] = [texts[i] for i in rng.integers(len(texts), size=int(mask.sum()))]
    out = pd.DataFrame({
        "contact": contact, "client": answers["client_id"].to_numpy(), "role": "",
        "survey_kind": answers["survey_kind"].to_numpy(),
        "question": answers["question"].to_numpy(), "score": answers["score"].to_numpy(),
        "comment": comment, "answered_at": answers["answered_at"].dt.strftime(
            "%Y-%m-%dT%H:%M:%S").to_numpy()})
    bad = np.flatnonzero(rng.random(len(out)) < bad_share)
    half = len(bad) // 2
    out.loc[bad[:half], "contact"] = [f"left.company.{i}@example.com" for i in range(half)]
    out.loc[bad[half:], "score"] = 99
    return out[list(COLUMNS)]


def crm_contacts(source_url: str) -> pd.DataFrame:
    """The simulated CRM's contacts: contact_id, client_id, role, email."""
    with engine_for(source_url).connect() as conn:
        return pd.read_sql(text("SELECT contact_id, client_id, role, email FROM crm_contacts "
                                "ORDER BY contact_id"), conn)


def write_past_answers(source_url: str, ground_truth_path: Path, path: Path, *, end: date,
                       months: int = 18, seed: int = 7) -> int:
    """Write the simulated supplier's past answers to ``path`` (CSV, or XLSX by the suffix);
    return the rows written."""
    from cx_tasks.demo.respondents import respondent_rules

    roles, factors = _truth(Path(ground_truth_path), dict(respondent_rules().factors))
    frame = past_answers(crm_contacts(source_url), roles, factors, survey_catalogue(),
                         end=end, months=months, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return len(frame)

