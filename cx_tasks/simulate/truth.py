"""Ground truth: each client's latent satisfaction, what drove it, and the margin it earns.

Satisfaction is the importance-weighted mean of factor scores (0-100) per role, plus
noise; the factor scores come from what the client actually experienced (on-time and
in-full deliveries, packaging incidents, document turnaround, quality claims, answers)
and a few latent opinions (price, range). The client's gross margin rate is then set so
that regressing standardised margin on standardised satisfaction gives the slope b.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from cx_tasks.collect.contract import ROLES, SIZE_CLASSES
from cx_tasks.simulate import keys
from cx_tasks.simulate.feedback import Feedback, feedback_labels
from cx_tasks.simulate.operations import NO_TIME, Operations
from cx_tasks.simulate.parameters import FACTORS, SimulationRules
from cx_tasks.simulate.phrases import CAUSES
from cx_tasks.simulate.world import DAY, World, rng_for, unresponsive_managers_clients

NEUTRAL_SCORE = 80.0


def _share_score(share: np.ndarray, floor: float) -> np.ndarray:
    """A share mapped to 0-100: ``floor`` or less scores 0, a share of 1 scores 100."""
    return 100.0 * np.clip((share - floor) / (1.0 - floor), 0.0, 1.0)


def packaging_score(rate: np.ndarray) -> np.ndarray:
    """Packaging incidents per delivered shipment mapped to 0-100: 100 * (1 - 8 * rate)."""
    return 100.0 * np.clip(1.0 - 8.0 * rate, 0.0, 1.0)


def _per_client(n: int, client: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(client, weights=values, minlength=n)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full(len(num), np.nan), where=den > 0)


def experience(
    world: World, ops: Operations, feedback: Feedback, rules: SimulationRules
) -> pd.DataFrame:
    """Per client, what it experienced: OTIF, on-time and in-full shares of due lines,
    packaging incidents per delivered shipment, share of documents within SLA, quality
    claims per delivered shipment, mean days to close its claims."""
    n = len(world.clients)
    lines, out = ops.lines, ops.outcomes
    due = out["due"].to_numpy()
    client = lines["client"].to_numpy()[due]
    due_count = _per_client(n, client)
    complete = out["complete"].to_numpy()[due]
    s = ops.shipments
    delivered = s["delivered_at"].to_numpy() != NO_TIME
    shipments = _per_client(n, s["client"].to_numpy()[delivered])
    docs = ops.documents
    groups = feedback.claims["cause"].map({c: v.group for c, v in CAUSES.items()})
    quality = feedback.claims[groups.to_numpy() == "quality"]
    closed = feedback.claims[feedback.claims["closed_at"].to_numpy() != NO_TIME]
    close_days = (closed["closed_at"].to_numpy() - closed["at"].to_numpy()) / DAY
    return pd.DataFrame(
        {
            "otif": _ratio(
                _per_client(n, client, (out["on_time"] & out["in_full"]).to_numpy()[due]), due_count
            ),
            "on_time": _ratio(_per_client(n, client, out["on_time"].to_numpy()[due]), due_count),
            "in_full": _ratio(
                _per_client(n, client[complete], out["in_full"].to_numpy()[due][complete]),
                _per_client(n, client[complete]),
            ),
            "packaging_rate": _ratio(_per_client(n, ops.incidents["client"].to_numpy()), shipments),
            "document_sla_share": _ratio(
                _per_client(
                    n,
                    docs["client"].to_numpy(),
                    (docs["hours"].to_numpy() <= rules.documents.sla_hours).astype(float),
                ),
                _per_client(n, docs["client"].to_numpy()),
            ),
            "quality_rate": _ratio(_per_client(n, quality["client"].to_numpy()), shipments),
            "claim_close_days": _ratio(
                _per_client(n, closed["client"].to_numpy(), close_days),
                _per_client(n, closed["client"].to_numpy()),
            ),
        }
    )


def factor_scores(world: World, lived: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Per client a 0-100 score per factor (``NEUTRAL_SCORE`` where it experienced nothing).

    On-time share 0.6 -> 0 .. 1 -> 100; in-full share 0.7 -> 0 .. 1 -> 100; documents within
    SLA 0.3 -> 0 .. 1 -> 100; packaging 100 * (1 - 8 * incidents per shipment); quality
    100 * (1 - 15 * quality claims per shipment); claims handling 100 * (1 - days to close
    / 40); responsiveness 85 (55 with the unresponsive manager) +- 5; payment terms 25 +
    days; price and product range are the client's latent opinions.
    """
    clients = world.clients
    n = len(clients)
    unresponsive = unresponsive_managers_clients(world)
    scores = pd.DataFrame(
        {
            "on_time_delivery": _share_score(lived["on_time"].to_numpy(), 0.6),
            "in_full_delivery": _share_score(lived["in_full"].to_numpy(), 0.7),
            "packaging": packaging_score(lived["packaging_rate"].to_numpy()),
            "documents": _share_score(lived["document_sla_share"].to_numpy(), 0.3),
            "quality": 100.0 * np.clip(1.0 - 15.0 * lived["quality_rate"].to_numpy(), 0.0, 1.0),
            "responsiveness": np.clip(
                np.where(unresponsive, 55.0, 85.0) + rng.normal(0, 5, n), 0, 100
            ),
            "claims_handling": 100.0
            * np.clip(1.0 - lived["claim_close_days"].to_numpy() / 40.0, 0, 1),
            "price": clients["price_score"].to_numpy(),
            "payment_terms": np.clip(25.0 + clients["terms_days"].to_numpy(), 0, 100).astype(float),
            "product_range": clients["range_score"].to_numpy(),
        }
    )[list(FACTORS)]
    return scores.fillna(NEUTRAL_SCORE)


def importance_table(rules: SimulationRules) -> pd.DataFrame:
    """Factor importance per segment and role (the weights satisfaction is built with)."""
    return pd.DataFrame(
        [
            (segment, role, factor, spec.importance[factor][role])
            for segment, spec in rules.segments.items()
            for role in ROLES
            for factor in FACTORS
        ],
        columns=["segment", "role", "factor", "importance"],
    )


def role_satisfaction(
    world: World, scores: pd.DataFrame, rules: SimulationRules, rng: np.random.Generator
) -> np.ndarray:
    """Per client and role (n x 3): importance-weighted mean of factor scores plus noise, 0-100."""
    weights = np.array(
        [
            [[rules.segments[s].importance[f][r] for f in FACTORS] for r in ROLES]
            for s in world.segments
        ]
    )
    w = weights[world.clients["segment"].to_numpy()]
    mean = (w * scores.to_numpy()[:, None, :]).sum(axis=2) / w.sum(axis=2)
    return np.clip(mean + rng.normal(0, rules.satisfaction_noise, mean.shape), 0.0, 100.0)


def margin_targets(
    world: World, satisfaction: np.ndarray, rules: SimulationRules, rng: np.random.Generator
) -> np.ndarray:
    """Per client gross margin rate: segment mean + sd * (b' * z + sqrt(1 - b'^2) * e), z the
    standardised satisfaction, b' = b * sqrt(1 + var(segment means) / sd^2) so that, across
    segments, regressing standardised margin on z gives the slope b."""
    segment = world.clients["segment"].to_numpy()
    spread = satisfaction.std()
    z = (satisfaction - satisfaction.mean()) / spread if spread > 0 else np.zeros(len(satisfaction))
    mean = np.array([rules.segments[s].margin_mean for s in world.segments])[segment]
    sd = np.array([rules.segments[s].margin_sd for s in world.segments])[segment]
    within = float(np.mean(sd**2))
    b = min(rules.margin_satisfaction_coefficient * np.sqrt(1 + mean.var() / within), 0.99)
    return mean + sd * (b * z + np.sqrt(1 - b * b) * rng.standard_normal(len(z)))


def realised_margin(world: World, lines: pd.DataFrame) -> np.ndarray:
    """Per client gross margin rate of its live lines: sum((price-cost)*qty) / sum(price*qty)."""
    n = len(world.clients)
    live = ~lines["cancelled"].to_numpy() & (lines["quantity"].to_numpy() > 0)
    client = lines["client"].to_numpy()[live]
    qty = lines["quantity"].to_numpy()[live]
    revenue = _per_client(n, client, lines["price"].to_numpy()[live] * qty)
    cost = _per_client(n, client, lines["cost"].to_numpy()[live] * qty)
    return _ratio(revenue - cost, revenue)


def problem_clients(world: World, ops: Operations, rules: SimulationRules) -> pd.DataFrame:
    """Which clients each problem can hit: home warehouse, usual carrier, manager, or having
    requested the delayed document type (within the problem's region)."""
    clients = world.clients
    region = clients["region"].to_numpy()
    doc_types = list(rules.documents.median_hours)
    rows = []
    for problem in world.problems:
        kind = problem.spec.kind
        if kind.startswith("warehouse"):
            exposed = clients["home_warehouse"].to_numpy() == problem.target
        elif kind == "carrier_late":
            exposed = clients["carrier"].to_numpy() == problem.target
        elif kind == "manager_unresponsive":
            exposed = clients["manager"].to_numpy() == problem.target
        else:
            docs = ops.documents
            asked = docs["client"].to_numpy()[
                docs["doc_type"].to_numpy() == doc_types.index(problem.spec.target)
            ]
            exposed = np.isin(np.arange(len(clients)), asked)
        for c in np.flatnonzero(exposed & problem.hits(region)).tolist():
            rows.append((problem.spec.name, keys.CLIENT % (c + 1)))
    return pd.DataFrame(rows, columns=["problem", "client_id"])


def problem_table(world: World, exposed: pd.DataFrame) -> pd.DataFrame:
    """Each process problem: kind, target, region, rate, start date, slope, clients exposed."""
    counts = exposed["problem"].value_counts()
    names = {
        "warehouse_short": world.warehouses,
        "warehouse_packaging": world.warehouses,
        "carrier_late": world.carriers,
        "manager_unresponsive": world.managers,
    }
    rows = []
    for p in world.problems:
        target = names[p.spec.kind][p.target] if p.spec.kind in names else p.spec.target
        start = (
            None
            if p.start is None
            else (world.clock.start + timedelta(seconds=p.start)).isoformat()
        )
        rows.append(
            (
                p.spec.name,
                p.spec.kind,
                target,
                p.spec.region,
                p.spec.rate,
                start,
                p.spec.slope_per_30_days,
                int(counts.get(p.spec.name, 0)),
                p.spec.description,
            )
        )
    return pd.DataFrame(
        rows,
        columns=[
            "problem",
            "kind",
            "target",
            "region",
            "rate",
            "start_date",
            "slope_per_30_days",
            "affected_clients",
            "description",
        ],
    )


def client_table(
    world: World, ops: Operations, latent: Latent, rules: SimulationRules
) -> pd.DataFrame:
    """One row per client: who it is, how it behaves, what it experienced, how satisfied it is."""
    c = world.clients
    n = len(c)
    return pd.DataFrame(
        {
            "client_id": [keys.CLIENT % (i + 1) for i in range(n)],
            "segment": np.array(world.segments, dtype=object)[c["segment"].to_numpy()],
            "size_class": np.array(SIZE_CLASSES, dtype=object)[c["size_class"].to_numpy()],
            "volume": c["volume"].round(4),
            "region": np.array(world.regions, dtype=object)[c["region"].to_numpy()],
            "home_warehouse": np.array(world.warehouses, dtype=object)[
                c["home_warehouse"].to_numpy()
            ],
            "carrier": np.array(world.carriers, dtype=object)[c["carrier"].to_numpy()],
            "account_manager": np.array(world.managers, dtype=object)[c["manager"].to_numpy()],
            "language": np.where(c["english"].to_numpy(), "en", "ru"),
            "cadence_days": c["cadence"].round(3),
            "irregular": c["irregular"].astype(int),
            "payer": np.array(list(rules.payments.payers), dtype=object)[c["payer"].to_numpy()],
            "terms_days": c["terms_days"],
            "orders": np.bincount(ops.orders["client"].to_numpy(), minlength=n),
            "lines": np.bincount(ops.lines["client"].to_numpy(), minlength=n),
            **{k: latent.lived[k].round(6) for k in latent.lived.columns},
            "satisfaction": np.round(latent.satisfaction, 4),
            "margin_target": np.round(latent.margin, 6),
            "margin": np.round(realised_margin(world, ops.lines), 6),
        }
    )


@dataclass(frozen=True)
class Latent:
    """The hidden state behind each client: what it lived, its factor scores, satisfaction
    per role and overall, and the gross margin rate it is priced at."""

    lived: pd.DataFrame
    scores: pd.DataFrame
    by_role: np.ndarray
    satisfaction: np.ndarray
    margin: np.ndarray


def latent_state(
    world: World, ops: Operations, feedback: Feedback, rules: SimulationRules, seed: int
) -> Latent:
    """Each client's experience, factor scores, satisfaction and margin target."""
    lived = experience(world, ops, feedback, rules)
    scores = factor_scores(world, lived, rng_for(seed, "scores"))
    by_role = role_satisfaction(world, scores, rules, rng_for(seed, "satisfaction"))
    satisfaction = by_role.mean(axis=1)
    margin = margin_targets(world, satisfaction, rules, rng_for(seed, "margin"))
    return Latent(lived, scores, by_role, satisfaction, margin)


def ground_truth_tables(
    world: World,
    ops: Operations,
    feedback: Feedback,
    rules: SimulationRules,
    latent: Latent,
    defects: pd.DataFrame,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """The answer-key tables: parameters, clients, roles, factors, problems, labels, defects."""
    client_ids = [keys.CLIENT % (i + 1) for i in range(len(world.clients))]
    exposed = problem_clients(world, ops, rules)
    return {
        "parameters": pd.DataFrame(
            {
                "name": [
                    "clients",
                    "days",
                    "seed",
                    "start",
                    "end",
                    "defect_share",
                    "margin_satisfaction_coefficient",
                ],
                "value": [
                    str(len(world.clients)),
                    str(world.clock.days),
                    str(seed),
                    world.clock.start.isoformat(),
                    world.clock.end.isoformat(),
                    str(rules.defect_share),
                    str(rules.margin_satisfaction_coefficient),
                ],
            }
        ),
        "client_truth": client_table(world, ops, latent, rules),
        "role_truth": pd.DataFrame(
            {
                "client_id": [c for c in client_ids for _ in ROLES],
                "role": list(ROLES) * len(client_ids),
                "satisfaction": latent.by_role.round(4).ravel(),
            }
        ),
        "factor_scores": pd.DataFrame(
            {
                "client_id": [c for c in client_ids for _ in FACTORS],
                "factor": list(FACTORS) * len(client_ids),
                "score": latent.scores.to_numpy().round(4).ravel(),
            }
        ),
        "factor_importance": importance_table(rules),
        "process_problems": problem_table(world, exposed),
        "problem_clients": exposed,
        "feedback_labels": feedback_labels(feedback),
        "defects": defects,
    }
