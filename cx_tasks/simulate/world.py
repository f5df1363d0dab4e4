"""The simulated supplier's world: clients, contacts, products and its process problems.

Times are whole seconds since the simulation's start (``start`` 00:00); negative times
lie before the simulated period (master data created years ago).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from cx_tasks.collect.contract import ROLES, SIZE_CLASSES
from cx_tasks.simulate.names import catalogue, companies, person
from cx_tasks.simulate.parameters import Problem, SimulationRules

DAY = 86_400
MONTH = 30 * DAY


def rng_for(seed: int, stage: str) -> np.random.Generator:
    """An independent random stream per stage, so changing one stage never shifts another."""
    return np.random.default_rng([seed, zlib.crc32(stage.encode())])


def office_hours(rng: np.random.Generator, size: int) -> np.ndarray:
    """Random seconds within a working day, 08:00 to 18:00."""
    return rng.integers(8 * 3600, 18 * 3600, size)


def pick(rng: np.random.Generator, weights: dict | list | np.ndarray, size: int) -> np.ndarray:
    """Indices drawn from (unnormalised) ``weights``."""
    w = np.asarray(list(weights.values()) if isinstance(weights, dict) else weights, float)
    return rng.choice(len(w), size=size, p=w / w.sum())


@dataclass(frozen=True)
class Clock:
    """The simulated period ``[start, end)``; "now" is ``end`` 00:00."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def now(self) -> int:
        """The end of the period in seconds since the start."""
        return self.days * DAY


def clock(end: date, days: int) -> Clock:
    """The period of ``days`` days ending (exclusively) on ``end``."""
    return Clock(end - timedelta(days=days), end)


@dataclass(frozen=True)
class ActiveProblem:
    """A process problem resolved against the world: what it hits and from when."""

    spec: Problem
    target: int
    region: int
    start: int | None

    def rate(self, at: np.ndarray) -> np.ndarray:
        """The extra rate the problem adds at times ``at`` (seconds), before the region mask."""
        if self.start is None:
            return np.full(at.shape, self.spec.rate)
        elapsed = np.maximum(at - self.start, 0) / MONTH
        return np.where(
            at >= self.start, self.spec.rate + self.spec.slope_per_30_days * elapsed, 0.0
        )

    def hits(self, client_region: np.ndarray) -> np.ndarray:
        """Which rows (by their client's region) the problem can affect."""
        return (
            np.ones(client_region.shape, bool) if self.region < 0 else client_region == self.region
        )


@dataclass(frozen=True)
class World:
    """Clients, contacts, products, the logistics network and the active problems."""

    clock: Clock
    segments: list[str]
    regions: list[str]
    warehouses: list[str]
    carriers: list[str]
    managers: list[str]
    clients: pd.DataFrame
    contacts: pd.DataFrame
    products: pd.DataFrame
    favourites: np.ndarray
    problems: list[ActiveProblem]


def unresponsive_managers_clients(world: World) -> np.ndarray:
    """Per client: is its account manager the target of an unresponsive-manager problem?"""
    targets = [p.target for p in world.problems if p.spec.kind == "manager_unresponsive"]
    return np.isin(world.clients["manager"].to_numpy(), targets)


def build_world(rules: SimulationRules, n_clients: int, period: Clock, seed: int) -> World:
    """The world of ``n_clients`` clients over ``period``, drawn from ``seed``."""
    segments, regions = list(rules.segments), list(rules.regions)
    warehouses, carriers = list(rules.warehouses), list(rules.carriers)
    products = _products(rules, segments, period, rng_for(seed, "products"))
    clients, managers = _clients(
        rules, n_clients, period, segments, regions, warehouses, carriers, rng_for(seed, "clients")
    )
    return World(
        clock=period,
        segments=segments,
        regions=regions,
        warehouses=warehouses,
        carriers=carriers,
        managers=managers,
        clients=clients,
        contacts=_contacts(rules, clients, period, rng_for(seed, "contacts")),
        products=products,
        favourites=_favourites(rules, clients, products, rng_for(seed, "favourites")),
        problems=[
            _activate(p, rules, period, regions, warehouses, carriers) for p in rules.problems
        ],
    )


def _activate(
    problem: Problem,
    rules: SimulationRules,
    period: Clock,
    regions: list[str],
    warehouses: list[str],
    carriers: list[str],
) -> ActiveProblem:
    names = {
        "warehouse_short": warehouses,
        "warehouse_packaging": warehouses,
        "carrier_late": carriers,
        "document_delay": list(rules.documents.median_hours),
    }.get(problem.kind)
    target = names.index(problem.target) if names is not None else int(problem.target) - 1
    start = (
        None
        if problem.start_days_before_end is None
        else period.now - problem.start_days_before_end * DAY
    )
    region = regions.index(problem.region) if problem.region is not None else -1
    return ActiveProblem(problem, target, region, start)


def _clients(
    rules: SimulationRules,
    n: int,
    period: Clock,
    segments: list[str],
    regions: list[str],
    warehouses: list[str],
    carriers: list[str],
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, list[str]]:
    segment = pick(rng, {s: v.share for s, v in rules.segments.items()}, n)
    volume = rng.pareto(rules.pareto_alpha, n) + 1.0
    rank = np.argsort(np.argsort(-volume, kind="stable"), kind="stable") / max(n, 1)
    bounds = np.cumsum([rules.size_classes[c].client_share for c in SIZE_CLASSES])
    size_class = np.minimum(np.searchsorted(bounds, rank, side="right"), len(SIZE_CLASSES) - 1)
    cadence = np.array([rules.size_classes[c].cadence_days for c in SIZE_CLASSES])[size_class]
    region = pick(rng, rules.regions, n)
    home_of_region = [
        warehouses.index(w) for reg in regions for w, r in rules.warehouses.items() if r == reg
    ]
    home = np.array(home_of_region)[region]
    carrier = np.array([_carrier_for(rules, regions[r], carriers, rng) for r in region.tolist()])
    new = rng.random(n) < rules.new_client_share
    contract_day = np.where(
        new, rng.integers(0, max(1, int(period.days * 0.8)), n), -rng.integers(120, 8 * 365, n)
    )
    managers = [_manager(rng) for _ in range(max(4, n // 40))]
    english = rng.random(n) < rules.english_client_share
    firms = companies([segments[s] for s in segment.tolist()], english, rng)
    specs = [rules.segments[s] for s in segments]
    lead = rng.integers(
        np.array([p.lead_days[0] for p in specs])[segment],
        np.array([p.lead_days[1] for p in specs])[segment] + 1,
    )
    industry_no = rng.integers(0, np.array([len(p.industries) for p in specs])[segment])
    industry = [
        specs[s].industries[i] for s, i in zip(segment.tolist(), industry_no.tolist(), strict=True)
    ]
    terms = np.array(list(rules.payments.terms_days))[pick(rng, rules.payments.terms_days, n)]
    created = contract_day * DAY + office_hours(rng, n)
    key_account = np.isin(size_class, [SIZE_CLASSES.index(c) for c in rules.key_account_classes])
    promoted = (size_class == SIZE_CLASSES.index("B")) & (rng.random(n) < 0.08)
    promoted_at = np.maximum(created, rng.integers(0, period.now, n))
    reassigned = rng.random(n) < 0.03
    reassigned_at = np.maximum(created, rng.integers(0, period.now, n))
    manager = rng.integers(0, len(managers), n)
    frame = pd.DataFrame(
        {
            "client": np.arange(n),
            "segment": segment,
            "industry": industry,
            "volume": volume,
            "size_class": size_class,
            "quantity_scale": np.clip((volume / np.median(volume)) ** 0.35, 0.4, 6.0),
            "cadence": cadence * rng.lognormal(0.0, 0.2, n),
            "irregular": rng.random(n) < rules.irregular_share,
            "region": region,
            "home_warehouse": home,
            "carrier": carrier,
            "manager": np.where(reassigned, (manager + 1) % len(managers), manager),
            "english": english,
            "name": [f.name for f in firms],
            "domain": [f.domain for f in firms],
            "contract_day": contract_day,
            "created": created,
            "updated": np.where(reassigned, reassigned_at, created),
            "lead_days": lead,
            "terms_days": terms,
            "payer": pick(rng, {k: v.share for k, v in rules.payments.payers.items()}, n),
            "key_account": key_account | promoted,
            "account_updated": np.where(promoted, promoted_at, created),
            "price_score": np.clip(rng.normal(65, 15, n), 0, 100),
            "range_score": np.clip(rng.normal(72, 12, n), 0, 100),
        }
    )
    return frame, managers


def _carrier_for(
    rules: SimulationRules, region: str, carriers: list[str], rng: np.random.Generator
) -> int:
    serving = [i for i, c in enumerate(carriers) if region in rules.carriers[c].regions]
    return serving[rng.integers(len(serving))]


def _manager(rng: np.random.Generator) -> str:
    surname, first, patronymic = person("ru", rng).full_name.split()
    return f"{surname} {first[0]}.{patronymic[0]}."


def _contacts(
    rules: SimulationRules, clients: pd.DataFrame, period: Clock, rng: np.random.Generator
) -> pd.DataFrame:
    n = len(clients)
    present = rng.random((n, len(ROLES))) >= rules.role_missing_share
    nobody = ~present.any(axis=1)
    present[nobody, rng.integers(0, len(ROLES), int(nobody.sum()))] = True
    client, role = np.nonzero(present)
    english = clients["english"].to_numpy()[client]
    language = np.where(english, rng.random(len(client)) < 0.85, rng.random(len(client)) < 0.03)
    domains = clients["domain"].to_numpy()
    names, emails = [], []
    used: set[str] = set()
    for c, is_en in zip(client.tolist(), language.tolist(), strict=True):
        who = person("en" if is_en else "ru", rng)
        mailbox, k = who.mailbox, 1
        while f"{mailbox}@{domains[c]}" in used:
            k += 1
            mailbox = f"{who.mailbox}{k}"
        used.add(f"{mailbox}@{domains[c]}")
        names.append(who.full_name)
        emails.append(f"{mailbox}@{domains[c]}")
    created = clients["created"].to_numpy()[client] + rng.integers(0, 30 * DAY, len(client))
    created = np.minimum(created, period.now - 1)
    opted_out = rng.random(len(client)) < rules.opted_out_share
    opted_at = np.maximum(created, rng.integers(0, period.now, len(client)))
    return pd.DataFrame(
        {
            "contact": np.arange(len(client)),
            "client": client,
            "role": role,
            "full_name": names,
            "email": emails,
            "language": np.where(language, "en", "ru"),
            "opted_out": opted_out,
            "created": created,
            "updated": np.where(opted_out, opted_at, created),
        }
    )


def _products(
    rules: SimulationRules, segments: list[str], period: Clock, rng: np.random.Generator
) -> pd.DataFrame:
    rows = [
        (s, p)
        for s, segment in enumerate(segments)
        for p in catalogue(segment, rules.products_per_segment)
    ]
    n = len(rows)
    created = -rng.integers(400, 6 * 365, n) * DAY + office_hours(rng, n)
    changed = rng.random(n) < 0.03
    return pd.DataFrame(
        {
            "product": np.arange(n),
            "segment": [s for s, _ in rows],
            "name": [p.ru for _, p in rows],
            "name_en": [p.en for _, p in rows],
            "category": [p.category for _, p in rows],
            "unit": [p.unit for _, p in rows],
            "unit_cost": np.array([p.unit_cost for _, p in rows]) * rng.lognormal(0, 0.15, n),
            "created": created,
            "updated": np.where(changed, rng.integers(0, period.now, n), created),
        }
    )


def _favourites(
    rules: SimulationRules, clients: pd.DataFrame, products: pd.DataFrame, rng: np.random.Generator
) -> np.ndarray:
    """Per client, the product indices it usually buys (first = most often)."""
    per_segment = rules.products_per_segment
    k = min(rules.favourite_products, per_segment)
    keys = rng.random((len(clients), per_segment))
    chosen = np.argsort(keys, axis=1, kind="stable")[:, :k]
    return clients["segment"].to_numpy()[:, None] * per_segment + chosen
