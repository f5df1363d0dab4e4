"""NPS, CSAT, CES and CSI, each defined once, with n and a 95% interval, per group and period.

Definitions (DOMAIN.md), on the answers of the period:

- ``nps``: % promoters (9-10) minus % detractors (0-6) of the 0-10 answers, in [-100, 100];
  interval: adjusted Wald (add 3 to n and 3/4 to promoters and detractors, then
  Var = [p + d - (p - d)^2] / n);
- ``csat``: share of 4 and 5 among the 1-5 answers, in percent; interval: Wilson;
- ``ces``: mean of the 1-7 answers; interval: t; ``ces_easy``: share of 5-7, Wilson;
- ``csi``: per response, the importance-weighted mean of its factor ratings mapped 1-5 ->
  0-100 (importance of the client's segment and the respondent's role, ``importance.yaml``);
  the KPI is the mean over responses, interval: t.

Groups (levels): ``all``, ``segment``, ``account_manager``, ``role`` and, per client account,
``account`` (every role of the account together) and ``account_role``. Periods: ``month``,
``quarter`` and ``t90`` (the trailing ``trailing_days`` before ``as_of``). A figure on fewer
than ``min_n`` answers has no value (shown as "n < 10").

Clustering: the several respondents (and answers) of an account are not independent. For
the levels above the account, the variance of the mean is the cluster-robust (CR1) one,
G/(G-1) * sum_g (S_g - n_g * mean)^2 / n^2 over the G accounts; the shares' intervals use
it as a design effect (deff = cluster variance / iid variance, at least 1): the adjusted
Wald variance is multiplied by deff, Wilson is computed on n / deff, and the t intervals of
the means take the cluster variance with G - 1 degrees of freedom. Within one account the
answers are taken as independent.

A change against the previous period (the month, quarter or window before) is ``up`` or
``down`` only when |difference| / sqrt(se^2 + se_previous^2) exceeds the normal quantile
of the confidence; otherwise it is not marked.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from cx_tasks.monitor.rules import KpiRules

KPIS = ("nps", "csat", "ces", "ces_easy", "csi")
LEVELS: dict[str, tuple[str, ...]] = {
    "all": (),
    "segment": ("segment",),
    "account_manager": ("account_manager",),
    "role": ("role",),
    "account": ("client_id",),
    "account_role": ("client_id", "role"),
}
"""Level -> the answer columns that name its group."""
ACCOUNT_LEVELS = ("account", "account_role")
PERIODS = ("month", "quarter", "t90")
SHARE_KPIS = ("nps", "csat", "ces_easy")


# --- the definitions ----------------------------------------------------------------------------

def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def nps_interval(promoters: np.ndarray, detractors: np.ndarray, n: np.ndarray,
                 deff: np.ndarray | float = 1.0, confidence: float = 0.95
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NPS = 100 * (promoters - detractors) / n, with its adjusted-Wald interval: n' = n + 3,
    p' = (promoters + 3/4) / n', d' = (detractors + 3/4) / n', Var = [p' + d' - (p' - d')^2]
    / n' (times the design effect), interval 100 * (p' - d' +- z * sqrt(Var)) within
    [-100, 100]. Returns value, low, high and the standard error (points)."""
    n = np.asarray(n, float)
    value = 100 * (np.asarray(promoters) - np.asarray(detractors)) / np.where(n > 0, n, np.nan)
    n3 = n + 3
    p = (np.asarray(promoters) + 0.75) / n3
    d = (np.asarray(detractors) + 0.75) / n3
    se = np.sqrt((p + d - (p - d) ** 2) / n3 * deff)
    z = _z(confidence)
    low = np.clip(100 * (p - d - z * se), -100, 100)
    high = np.clip(100 * (p - d + z * se), -100, 100)
    return value, low, high, 100 * se


def share_interval(count: np.ndarray, n: np.ndarray, deff: np.ndarray | float = 1.0,
                   confidence: float = 0.95
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A share in percent (CSAT: 4-5 of 1-5; CES easy: 5-7 of 1-7) with its Wilson interval
    on the effective n = n / deff. Returns value, low, high and the standard error (points)."""
    n = np.asarray(n, float)
    share = np.asarray(count, float) / np.where(n > 0, n, np.nan)
    n_eff = n / deff
    low, high = proportion_confint(share * n_eff, n_eff, alpha=1 - confidence, method="wilson")
    se = np.sqrt(share * (1 - share) / n_eff)
    return 100 * share, 100 * np.asarray(low), 100 * np.asarray(high), 100 * se


def mean_interval(mean: np.ndarray, var_of_mean: np.ndarray, df: np.ndarray,
                  confidence: float = 0.95
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A mean (CES, CSI) with its t interval: mean +- t(df) * sqrt(variance of the mean).
    Returns value, low, high and the standard error."""
    se = np.sqrt(np.asarray(var_of_mean, float))
    with np.errstate(invalid="ignore"):
        t = stats.t.ppf(0.5 + confidence / 2, np.where(np.asarray(df) >= 1, df, np.nan))
    return np.asarray(mean, float), mean - t * se, mean + t * se, se


def csi_of_responses(factor_answers: pd.DataFrame, importance: pd.DataFrame) -> pd.DataFrame:
    """CSI per response: sum(importance * (rating - 1) * 25) / sum(importance) over its factor
    ratings (1-5 -> 0-100); ``importance`` has segment, role, factor, weight (a segment it
    does not list takes the role's mean weight over the segments). Responses whose factors all
    weigh 0 are left out."""
    by_role = importance.groupby(["role", "factor"], as_index=False)["weight"].mean()
    rated = factor_answers.merge(importance, on=["segment", "role", "factor"], how="left")
    fallback = rated[["role", "factor"]].merge(by_role, on=["role", "factor"], how="left")
    weight = rated["weight"].fillna(pd.Series(fallback["weight"].to_numpy(), rated.index))
    rated = rated.assign(w=weight.fillna(0.0),
                         wy=weight.fillna(0.0) * (rated["score"] - 1) * 25.0)
    keys = [c for c in rated.columns if c not in ("factor", "score", "weight", "w", "wy")]
    summed = rated.groupby(keys, as_index=False, dropna=False)[["w", "wy"]].sum()
    summed = summed[summed["w"] > 0]
    return summed.assign(y=summed["wy"] / summed["w"]).drop(columns=["w", "wy"])


# --- observations ---------------------------------------------------------------------------

def observations(answers: pd.DataFrame, question_kinds: Mapping[str, str],
                 question_factors: Mapping[str, str], importance: pd.DataFrame) -> pd.DataFrame:
    """One row per KPI observation: kpi, y (the value averaged: +1/0/-1 for NPS, 0/1 for the
    shares, the score for CES, the response's CSI), client_id, role, segment,
    account_manager, answered_at. ``answers``: one row per scored question answered, with
    response, client_id, role, segment, account_manager, question, score, answered_at."""
    kind = answers["question"].map(question_kinds)
    base = ["client_id", "role", "segment", "account_manager", "answered_at"]
    parts = []
    nps = answers[kind == "nps"]
    s = nps["score"].to_numpy()
    parts.append(nps[base].assign(kpi="nps", y=np.where(s >= 9, 1.0, np.where(s <= 6, -1.0, 0))))
    csat = answers[kind == "csat"]
    parts.append(csat[base].assign(kpi="csat", y=(csat["score"].to_numpy() >= 4) * 1.0))
    ces = answers[kind == "ces"]
    parts.append(ces[base].assign(kpi="ces", y=ces["score"].to_numpy() * 1.0))
    parts.append(ces[base].assign(kpi="ces_easy", y=(ces["score"].to_numpy() >= 5) * 1.0))
    factors = answers[kind == "factor"]
    rated = factors[["response", *base, "score"]].assign(
        factor=factors["question"].map(question_factors))
    csi = csi_of_responses(rated, importance)
    parts.append(csi[base].assign(kpi="csi", y=csi["y"].to_numpy()))
    return pd.concat(parts, ignore_index=True)


# --- aggregation ----------------------------------------------------------------------------

def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a column and its distinct values (missing as the text "unknown")."""
    codes, uniques = pd.factorize(values.fillna("unknown").astype(str), sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _period_codes(obs: pd.DataFrame, period: str, as_of: date, trailing_days: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per observation its period's code (-1: in none), and per code the period's start and
    end. Months and quarters by the calendar; ``t90``: 1 the trailing window before ``as_of``,
    0 the window before it (kept only to mark a change)."""
    moment = obs["answered_at"]
    if period == "t90":
        end = pd.Timestamp(as_of)
        days = pd.Timedelta(days=trailing_days)
        code = np.where(moment >= end - days, 1, np.where(moment >= end - 2 * days, 0, -1))
        starts = np.array([(end - 2 * days).date(), (end - days).date()], dtype=object)
        ends = np.array([(end - days).date(), as_of], dtype=object)
        return code, starts, ends
    months = (moment.dt.year * 12 + moment.dt.month - 1).to_numpy(np.int64)
    width = 1 if period == "month" else 3
    index = months // width
    first = int(index.min()) if len(index) else 0
    count = int(index.max()) - first + 1 if len(index) else 0
    starts = np.array([date(int(i * width // 12), int(i * width % 12) + 1, 1)
                       for i in range(first, first + count)], dtype=object)
    ends = np.array([date(int((i + 1) * width // 12), int((i + 1) * width % 12) + 1, 1)
                     for i in range(first, first + count)], dtype=object)
    return index - first, starts, ends


def _sums(cell: np.ndarray, client: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Per cell (kpi, period, group) the sums the estimates need: n, clusters, sum of y and
    of y^2, positives, negatives, and over its clusters sum S_g^2, sum S_g n_g, sum n_g^2."""
    clients = int(client.max()) + 1 if len(client) else 1
    cluster_cells, inverse = np.unique(cell * clients + client, return_inverse=True)
    per = {"n": np.bincount(inverse), "s": np.bincount(inverse, y),
           "q": np.bincount(inverse, y * y), "pos": np.bincount(inverse, y > 0),
           "neg": np.bincount(inverse, y < 0)}
    cells, owner = np.unique(cluster_cells // clients, return_inverse=True)
    out = {name: np.bincount(owner, values) for name, values in per.items()}
    out["clusters"] = np.bincount(owner)
    out["ss"] = np.bincount(owner, per["s"] ** 2)
    out["sn"] = np.bincount(owner, per["s"] * per["n"])
    out["nn"] = np.bincount(owner, per["n"].astype(float) ** 2)
    out["cell"] = cells
    return out


def variances(sums: Mapping[str, np.ndarray], clustered: bool
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mean of y, the variance of the mean (cluster-robust CR1 when ``clustered`` and
    there are at least two clusters, else iid), its degrees of freedom (G - 1 or n - 1) and
    the design effect (cluster variance / iid variance, at least 1; 1 when not clustered)."""
    n = sums["n"].astype(float)
    G = sums["clusters"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums["s"] / n
        iid = np.maximum(sums["q"] - n * mean**2, 0) / (n - 1) / n
        robust = G / (G - 1) * np.maximum(
            sums["ss"] - 2 * mean * sums["sn"] + mean**2 * sums["nn"], 0) / n**2
        use = clustered & (G >= 2)
        deff = np.where(use & (iid > 0), np.maximum(robust / iid, 1.0), 1.0)
    return mean, np.where(use, robust, iid), np.where(use, G - 1, n - 1), deff


def estimates(kpi: str, sums: Mapping[str, np.ndarray], clustered: bool,
              rules: KpiRules) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Value, low, high and standard error of one KPI's cells by its definition; empty
    (NaN) below ``min_n``."""
    mean, var, df, deff = variances(sums, clustered)
    n, c = sums["n"], rules.confidence
    if kpi == "nps":
        figures = nps_interval(sums["pos"], sums["neg"], n, deff, c)
    elif kpi in SHARE_KPIS:
        figures = share_interval(sums["pos"], n, deff, c)
    else:
        figures = mean_interval(mean, var, df, c)
    small = n < rules.min_n
    return tuple(np.where(small, np.nan, f) for f in figures)  # type: ignore[return-value]


def _group_codes(codes: Mapping[str, np.ndarray], uniques: Mapping[str, np.ndarray],
                 level: str) -> tuple[np.ndarray, np.ndarray]:
    """Per observation its group's code at ``level`` and per code the group key (the
    level's values joined by ``|``; ``all`` for the level all)."""
    columns = LEVELS[level]
    if not columns:
        return np.zeros(len(codes["client_id"]), np.int64), np.array(["all"], dtype=object)
    code = codes[columns[0]]
    keys = uniques[columns[0]]
    for column in columns[1:]:
        width = len(uniques[column])
        code = code * width + codes[column]
        keys = np.array([f"{a}|{b}" for a in keys for b in uniques[column]], dtype=object)
    return code, keys


def changes(figures: pd.DataFrame, confidence: float) -> pd.Series:
    """``up``/``down`` where a figure differs significantly from its group's previous period
    (the period whose end is this one's start), else None."""
    keys = ["kpi", "level", "group_key", "period"]
    previous = figures[[*keys, "period_end", "value", "se"]].rename(
        columns={"period_end": "period_start", "value": "prev", "se": "prev_se"})
    joined = figures[[*keys, "period_start", "value", "se"]].merge(
        previous, on=[*keys, "period_start"], how="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (joined["value"] - joined["prev"]) / np.sqrt(joined["se"] ** 2
                                                         + joined["prev_se"] ** 2)
    limit = _z(confidence)
    mark = np.where(z > limit, "up", np.where(z < -limit, "down", None))
    return pd.Series(mark, index=figures.index, dtype=object)


def kpi_figures(obs: pd.DataFrame, as_of: date, rules: KpiRules,
                levels: tuple[str, ...] = tuple(LEVELS)) -> pd.DataFrame:
    """Every KPI figure with its interval and marked change: kpi, level, group_key, period,
    period_start, period_end, n, clusters, value, low, high, se, change (module docstring).
    Uses the observations before ``as_of``; months and quarters up to the one holding the
    day before ``as_of``."""
    obs = obs[obs["answered_at"] < pd.Timestamp(as_of)]
    names = ("client_id", "role", "segment", "account_manager")
    coded = {c: _codes(obs[c]) for c in names}
    codes = {c: coded[c][0] for c in names}
    uniques = {c: coded[c][1] for c in names}
    y = obs["y"].to_numpy(float)
    kpi_of = obs["kpi"].to_numpy()
    frames = []
    for period in PERIODS:
        period_code, starts, ends = _period_codes(obs, period, as_of, rules.trailing_days)
        inside = period_code >= 0
        for level in levels:
            group, keys = _group_codes(codes, uniques, level)
            clustered = level not in ACCOUNT_LEVELS
            for kpi in KPIS:
                mask = inside & (kpi_of == kpi)
                if not mask.any():
                    continue
                cell = period_code[mask] * len(keys) + group[mask]
                sums = _sums(cell, codes["client_id"][mask], y[mask])
                value, low, high, se = estimates(kpi, sums, clustered, rules)
                p, g = np.divmod(sums["cell"], len(keys))
                frames.append(pd.DataFrame({
                    "kpi": kpi, "level": level, "group_key": keys[g], "period": period,
                    "period_start": starts[p], "period_end": ends[p],
                    "n": sums["n"].astype(int), "clusters": sums["clusters"].astype(int),
                    "value": value, "low": low, "high": high, "se": se}))
    figures = pd.concat(frames, ignore_index=True)
    figures["change"] = changes(figures, rules.confidence)
    t90_previous = (figures["period"] == "t90") & (figures["period_end"] != as_of)
    return figures[~t90_previous].drop(columns="se").reset_index(drop=True)


# --- versions -------------------------------------------------------------------------------

def definition_hash(rules: KpiRules, importance: pd.DataFrame,
                    question_kinds: Mapping[str, str]) -> str:
    """12 hex of the SHA-256 of this module's code, the KPI rules, the importance table and
    the question kinds: changes when any definition or parameter does."""
    import sys

    digest = hashlib.sha256(inspect.getsource(sys.modules[__name__]).encode())
    digest.update(rules.model_dump_json().encode())
    digest.update(importance.sort_values(list(importance.columns)).to_csv(index=False).encode())
    digest.update(json.dumps(dict(question_kinds), sort_keys=True).encode())
    return digest.hexdigest()[:12]


def inputs_fingerprint(answers: pd.DataFrame) -> str:
    """12 hex of the SHA-256 of the answers (in a fixed order, every column)."""
    ordered = answers.sort_values(list(answers.columns), kind="stable").reset_index(drop=True)
    hashed = pd.util.hash_pandas_object(ordered.astype(str), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:12]


@dataclass(frozen=True)
class KpiVersion:
    """What a recalculation was made of: its day, definitions and inputs."""

    as_of: date
    definition_hash: str
    inputs_fingerprint: str

    @property
    def version(self) -> str:
        return f"{self.as_of.isoformat()}:{self.definition_hash}:{self.inputs_fingerprint}"
