"""Planted initiatives and a periodic relationship survey: the answer key of the adjust stage.

``planted_history`` runs the simulated supplier's operations, prevents a share of the
packaging incidents of each planted initiative's clients from its start day on (a placebo
prevents none), lets each client's satisfaction follow its packaging score through the
true importance weights period by period, and lets contacts answer a relationship survey
(CSI 0-100 and NPS 0-10) through their own planted bias. Every answer is drawn twice with the
same noise: as it was, and as it would have been without the initiatives, so the true
effect of each initiative on each metric is known exactly for the rows an estimate uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cx_tasks.analyze.factors import FactorLayout
from cx_tasks.analyze.model import Weights
from cx_tasks.collect.contract import ROLES
from cx_tasks.config import load_rules
from cx_tasks.simulate import keys, operations, truth
from cx_tasks.simulate.feedback import collect_feedback
from cx_tasks.simulate.parameters import FACTORS, SimulationRules, simulation_rules
from cx_tasks.simulate.world import DAY, World, build_world, clock, rng_for

PACKAGING = FACTORS.index("packaging")
FACTOR_BLOCKS = {
    "on_time_delivery": "ease_of_doing_business",
    "in_full_delivery": "ease_of_doing_business",
    "packaging": "ease_of_doing_business",
    "documents": "ease_of_doing_business",
    "quality": "functional",
    "responsiveness": "ease_of_doing_business",
    "claims_handling": "ease_of_doing_business",
    "price": "table_stakes",
    "payment_terms": "table_stakes",
    "product_range": "ease_of_doing_business",
}
"""The block of the value pyramid each simulated factor belongs to."""


class PlantedSpec(BaseModel):
    """One planted initiative (see ``rules/simulated_initiatives.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    owner: str
    region: str | None = None
    share: float = Field(gt=0, le=1)
    start_day: int = Field(ge=1)
    packaging_cut: float = Field(ge=0, le=1)


class PlantedRules(BaseModel):
    """The periodic survey and the planted initiatives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period_days: int = Field(ge=1)
    answer_share: float = Field(gt=0, le=1)
    respondent_bias_sd: float = Field(ge=0)
    answer_noise: float = Field(ge=0)
    initiatives: tuple[PlantedSpec, ...]


def planted_rules(rules_dir: Path | None = None) -> PlantedRules:
    """The planted initiatives' rules: the user's file if present, else the default."""
    return load_rules("simulated_initiatives", PlantedRules, rules_dir)


@dataclass(frozen=True)
class PlantedInitiative:
    """A planted initiative resolved against the world: its clients (``C00001``...) and start."""

    spec: PlantedSpec
    clients: frozenset[str]
    start: date


@dataclass(frozen=True)
class PlantedHistory:
    """What the adjust stage is benchmarked on.

    ``panel``: one row per client and period (``client_id``, ``segment``, ``period_start``,
    ``period_end``, ``packaging_rate``, ``csi``, ``nps``) and, per metric, ``<metric>_effect``:
    what the initiatives changed in that row (as it was minus as it would have been).
    ``answers``: one row per survey answer (``contact_id``, ``client_id``, ``segment``, ``role``,
    ``period``, ``period_start``, ``csi``, ``nps_score``, ``nps``, the contact's planted
    ``bias``, its role's ``satisfaction`` and the factor scores it was built from, one column
    per factor: every factor's score over the whole history, packaging's of the period).
    """

    panel: pd.DataFrame
    answers: pd.DataFrame
    initiatives: tuple[PlantedInitiative, ...]


def choose_clients(
    world: World, specs: tuple[PlantedSpec, ...], rng: np.random.Generator
) -> list[np.ndarray]:
    """Per spec, the client indices it affects, never one an earlier spec took."""
    region = world.clients["region"].to_numpy()
    free = np.ones(len(region), bool)
    chosen = []
    for spec in specs:
        eligible = free & (
            region == world.regions.index(spec.region) if spec.region is not None else free
        )
        candidates = np.flatnonzero(eligible)
        take = candidates[rng.random(len(candidates)) < spec.share]
        free[take] = False
        chosen.append(take)
    return chosen


def prevented(
    incidents: pd.DataFrame,
    shipments: pd.DataFrame,
    chosen: list[np.ndarray],
    specs: tuple[PlantedSpec, ...],
    rng: np.random.Generator,
) -> np.ndarray:
    """Per incident: did a planted initiative prevent it (its client affected, its shipment
    shipped on or after the start, and a draw under the cut)?"""
    client = incidents["client"].to_numpy()
    shipped = shipments["shipped_at"].to_numpy()[incidents["shipment"].to_numpy()]
    draw = rng.random(len(incidents))
    out = np.zeros(len(incidents), bool)
    for clients, spec in zip(chosen, specs, strict=True):
        out |= np.isin(client, clients) & (shipped >= spec.start_day * DAY) & (
            draw < spec.packaging_cut
        )
    return out


def packaging_rates(
    world: World, shipments: pd.DataFrame, incidents: pd.DataFrame, period_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per client and period (n x periods): delivered shipments and packaging incidents,
    both by the period the shipment left in."""
    n, periods = len(world.clients), world.clock.days // period_days
    delivered = shipments["delivered_at"].to_numpy() != operations.NO_TIME
    period = shipments["shipped_at"].to_numpy() // (period_days * DAY)
    inside = delivered & (period >= 0) & (period < periods)
    cell = shipments["client"].to_numpy() * periods + period
    sent = np.bincount(cell[inside], minlength=n * periods).reshape(n, periods)
    hit = incidents["shipment"].to_numpy()
    hit = hit[inside[hit]]
    had = np.bincount(cell[hit], minlength=n * periods).reshape(n, periods)
    return sent, had


def packaging_weights(world: World, rules: SimulationRules) -> np.ndarray:
    """Per client and role (n x 3): the packaging factor's share of the importance weights."""
    w = np.array(
        [
            [[rules.segments[s].importance[f][r] for f in FACTORS] for r in ROLES]
            for s in world.segments
        ]
    )
    share = w[:, :, PACKAGING] / w.sum(axis=2)
    return share[world.clients["segment"].to_numpy()]


def factor_layout() -> FactorLayout:
    """The simulated factors as the factor model lays them out."""
    return FactorLayout(FACTORS, tuple(FACTOR_BLOCKS[f] for f in FACTORS))


def true_weights(rules: SimulationRules) -> dict[str, Weights]:
    """Per segment and role, the weights satisfaction is built with (importance / its sum)."""
    out: dict[str, Weights] = {}
    for segment, spec in rules.segments.items():
        out[segment] = {}
        for role in ROLES:
            total = sum(spec.importance[f][role] for f in FACTORS)
            out[segment][role] = {f: spec.importance[f][role] / total for f in FACTORS}
    return out


def _nps_points(felt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An NPS answer 0-10 for a felt satisfaction 0-100 (nearest step, halves up) and its
    contribution to NPS: +100 for a promoter (9-10), -100 for a detractor (0-6), else 0."""
    score = np.floor(np.clip(felt, 0, 100) / 10 + 0.5).astype(int)
    return score, 100 * (score >= 9).astype(int) - 100 * (score <= 6).astype(int)


def planted_history(
    clients: int = 300,
    days: int = 360,
    seed: int = 7,
    end: date = date(2026, 11, 1),
    rules: SimulationRules | None = None,
    planted: PlantedRules | None = None,
) -> PlantedHistory:
    """The simulated supplier's history with the planted initiatives, as an outcome panel."""
    rules = rules if rules is not None else simulation_rules()
    planted = planted if planted is not None else planted_rules()
    world = build_world(rules, clients, clock(end, days), seed)
    orders = operations.place_orders(world, rules, rng_for(seed, "orders"))
    lines = operations.order_lines(world, orders, rules, rng_for(seed, "lines"))
    shipments, per_line = operations.ship_lines(world, lines, rules, rng_for(seed, "shipments"))
    incidents, shipments = operations.packaging_incidents(
        world, shipments, rules, rng_for(seed, "incidents")
    )
    chosen = choose_clients(world, planted.initiatives, rng_for(seed, "planted clients"))
    stopped = prevented(
        incidents, shipments, chosen, planted.initiatives, rng_for(seed, "planted cut")
    )
    first_ship = operations.first_shipment(orders, lines, shipments)
    ops = operations.Operations(
        orders=orders,
        lines=lines,
        shipments=shipments,
        per_line=per_line,
        outcomes=operations.line_outcomes(lines, shipments, per_line, world.clock.days),
        incidents=incidents[~stopped].reset_index(drop=True),
        documents=operations.request_documents(
            world, orders, first_ship, rules, rng_for(seed, "documents")
        ),
        invoices=operations.issue_invoices(world, orders, lines, first_ship),
        payments=pd.DataFrame(),
    )
    feedback = collect_feedback(world, ops, rules, rng_for(seed, "feedback"))
    latent = truth.latent_state(world, ops, feedback, rules, seed)
    sent, had_before = packaging_rates(world, shipments, incidents, planted.period_days)
    _, had = packaging_rates(world, shipments, ops.incidents, planted.period_days)
    rate = np.divide(had, sent, out=np.full(sent.shape, np.nan), where=sent > 0)
    rate_before = np.divide(had_before, sent, out=np.full(sent.shape, np.nan), where=sent > 0)
    static = latent.scores["packaging"].to_numpy()[:, None]
    weight = packaging_weights(world, rules)[:, :, None]

    def packaging(r: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(r), static, truth.packaging_score(np.nan_to_num(r)))

    def satisfaction(r: np.ndarray) -> np.ndarray:
        moved = latent.by_role[:, :, None] + weight * (packaging(r) - static)[:, None, :]
        return np.clip(moved, 0.0, 100.0)

    scores = np.repeat(latent.scores.to_numpy()[:, None, :], rate.shape[1], axis=1)
    scores[:, :, PACKAGING] = packaging(rate)
    answers = _answers(world, satisfaction(rate), satisfaction(rate_before), planted, seed)
    answers = pd.concat(
        [answers, pd.DataFrame(scores[answers.pop("client"), answers["period"]], columns=FACTORS)],
        axis=1,
    )
    ids = np.array([keys.CLIENT % (i + 1) for i in range(len(world.clients))])
    initiatives = tuple(
        PlantedInitiative(
            spec, frozenset(ids[c].tolist()), world.clock.start + timedelta(days=spec.start_day)
        )
        for spec, c in zip(planted.initiatives, chosen, strict=True)
    )
    return PlantedHistory(
        _panel(world, ids, rate, rate - rate_before, answers, planted.period_days),
        answers.drop(columns=["csi_effect", "nps_effect"]),
        initiatives,
    )


def _answers(
    world: World,
    felt_now: np.ndarray,
    felt_without: np.ndarray,
    planted: PlantedRules,
    seed: int,
) -> pd.DataFrame:
    """Each contact answers in each period after its client's contract with the answer share;
    the answer is satisfaction + the contact's bias + noise, the same draw in both worlds."""
    contacts = world.contacts
    periods = felt_now.shape[2]
    rng = rng_for(seed, "relationship survey")
    bias = rng.normal(0, planted.respondent_bias_sd, len(contacts))
    answered = rng.random((len(contacts), periods)) < planted.answer_share
    noise = rng.normal(0, planted.answer_noise, (len(contacts), periods))
    client = contacts["client"].to_numpy()
    begins = np.arange(periods) * planted.period_days
    signed = world.clients["contract_day"].to_numpy()[client][:, None] <= begins[None, :]
    who, period = np.nonzero(answered & signed)
    c, r = client[who], contacts["role"].to_numpy()[who]
    now = felt_now[c, r, period] + bias[who] + noise[who, period]
    without = felt_without[c, r, period] + bias[who] + noise[who, period]
    score, points = _nps_points(now)
    _, points_without = _nps_points(without)
    return pd.DataFrame(
        {
            "client": c,
            "contact_id": [keys.CONTACT % (k + 1) for k in who.tolist()],
            "client_id": [keys.CLIENT % (k + 1) for k in c.tolist()],
            "segment": np.array(world.segments)[world.clients["segment"].to_numpy()[c]],
            "role": np.array(ROLES)[r],
            "period": period,
            "period_start": pd.to_datetime(world.clock.start)
            + pd.to_timedelta(begins[period], unit="D"),
            "csi": np.clip(now, 0, 100),
            "nps_score": score,
            "nps": points,
            "bias": bias[who],
            "satisfaction": felt_now[c, r, period],
            "csi_effect": np.clip(now, 0, 100) - np.clip(without, 0, 100),
            "nps_effect": points - points_without,
        }
    )


def _panel(
    world: World,
    ids: np.ndarray,
    rate: np.ndarray,
    rate_effect: np.ndarray,
    answers: pd.DataFrame,
    period_days: int,
) -> pd.DataFrame:
    n, periods = rate.shape
    start = pd.to_datetime(world.clock.start) + pd.to_timedelta(
        np.arange(periods) * period_days, unit="D"
    )
    panel = pd.DataFrame(
        {
            "client_id": np.repeat(ids, periods),
            "segment": np.repeat(np.array(world.segments)[world.clients["segment"]], periods),
            "period": np.tile(np.arange(periods), n),
            "period_start": np.tile(start, n),
            "period_end": np.tile(start + pd.Timedelta(days=period_days), n),
            "packaging_rate": rate.ravel(),
            "packaging_rate_effect": rate_effect.ravel(),
        }
    )
    survey = answers.groupby(["client_id", "period"])[
        ["csi", "nps", "csi_effect", "nps_effect"]
    ].mean()
    return panel.join(survey, on=["client_id", "period"]).drop(columns="period")


def true_effect(
    panel: pd.DataFrame, initiative: PlantedInitiative, metric: str, after_days: int
) -> float:
    """What ``initiative`` changed in ``metric``, on average over its clients' rows with a value
    in the periods starting within ``after_days`` from its start (the estimate's after rows)."""
    begin = pd.Timestamp(initiative.start)
    rows = panel[
        panel["client_id"].isin(initiative.clients)
        & (panel["period_start"] >= begin)
        & (panel["period_start"] < begin + pd.Timedelta(days=after_days))
        & panel[metric].notna()
    ]
    return float(rows[f"{metric}_effect"].mean())
