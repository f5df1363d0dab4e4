"""The supplier's operations: orders, lines, shipments, incidents, documents, billing.

All arrays are vectorised over rows; times are seconds since the period's start and
``NO_TIME`` marks an event that has not happened by "now" (the end of the period).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cx_tasks.simulate.parameters import SimulationRules
from cx_tasks.simulate.world import DAY, World, office_hours, pick

NO_TIME = np.iinfo(np.int64).min
UNITS = ("t", "kg", "m", "pcs")
UNIT_STEP = np.array([0.001, 1.0, 0.1, 1.0])
UNIT_TYPICAL = np.array([6.0, 400.0, 250.0, 150.0])
SPLIT_MIN_STEPS = 40
HOUR = 3600


@dataclass(frozen=True)
class Operations:
    """Everything the supplier did in the period, as later stages read it."""

    orders: pd.DataFrame
    lines: pd.DataFrame
    shipments: pd.DataFrame
    per_line: pd.DataFrame
    outcomes: pd.DataFrame
    incidents: pd.DataFrame
    documents: pd.DataFrame
    invoices: pd.DataFrame
    payments: pd.DataFrame


def rounded(values: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Quantities rounded to their unit's resolution (1 kg, 1 pcs, 0.1 m, 0.001 t)."""
    step = UNIT_STEP[unit]
    return np.round(np.round(values / step) * step, 3)


def extra_rate(
    world: World, kind: str, target: np.ndarray, at: np.ndarray, client: np.ndarray
) -> np.ndarray:
    """What the active problems of ``kind`` add to a rate for rows hitting ``target`` at ``at``."""
    region = world.clients["region"].to_numpy()[client]
    out = np.zeros(len(at))
    for problem in world.problems:
        if problem.spec.kind == kind:
            hit = (target == problem.target) & problem.hits(region)
            out += np.where(hit, problem.rate(at), 0.0)
    return out


def place_orders(world: World, rules: SimulationRules, rng: np.random.Generator) -> pd.DataFrame:
    """Order headers: each client orders at its own cadence (gamma gaps; exponential if
    irregular), a share of weekend orders moved to Monday."""
    clients, days = world.clients, world.clock.days
    first_day = np.maximum(clients["contract_day"].to_numpy(), 0)
    cadence = clients["cadence"].to_numpy()
    draws = np.ceil((days - first_day) / cadence * 1.6 + 8).astype(np.int64)
    client = np.repeat(np.arange(len(clients)), draws)
    steady = rng.gamma(6.0, 1 / 6.0, len(client))
    gaps = (
        np.where(
            np.repeat(clients["irregular"].to_numpy(), draws),
            rng.exponential(1.0, len(client)),
            steady,
        )
        * cadence[client]
    )
    heads = np.cumsum(draws) - draws
    gaps[heads] = rng.random(len(heads)) * cadence
    since = np.cumsum(gaps)
    since -= np.repeat(since[heads] - gaps[heads], draws)
    day = (first_day[client] + since).astype(np.int64)
    weekday = (world.clock.start.weekday() + day) % 7
    moved = (weekday >= 5) & (rng.random(len(day)) < rules.weekend_moved_share)
    day = np.where(moved, day + 7 - weekday, day)
    kept = day < days
    client, day = client[kept], day[kept]
    time = day * DAY + office_hours(rng, len(day))
    order = np.lexsort((client, time))
    return pd.DataFrame(
        {"client": client[order].astype(np.int32), "day": day[order], "time": time[order]}
    )


def order_lines(
    world: World, orders: pd.DataFrame, rules: SimulationRules, rng: np.random.Generator
) -> pd.DataFrame:
    """Order lines: products from the client's favourites, quantities by unit and client size."""
    clients, products = world.clients, world.products
    count = pick(rng, rules.lines_per_order, len(orders)) + 1
    order = np.repeat(np.arange(len(orders)), count)
    n = len(order)
    line_no = np.arange(n) - np.repeat(np.cumsum(count) - count, count) + 1
    client = orders["client"].to_numpy()[order]
    favourites = world.favourites
    rank = pick(rng, 1.0 / np.arange(1, favourites.shape[1] + 1), n)
    anywhere = clients["segment"].to_numpy()[client] * rules.products_per_segment + rng.integers(
        0, rules.products_per_segment, n
    )
    product = np.where(rng.random(n) < 0.95, favourites[client, rank], anywhere)
    unit = pd.Categorical(products["unit"], categories=UNITS).codes[product].astype(np.int64)
    scale = clients["quantity_scale"].to_numpy()[client]
    quantity = np.maximum(
        rounded(UNIT_TYPICAL[unit] * scale * rng.lognormal(0, 0.6, n), unit), UNIT_STEP[unit]
    )
    quantity = np.where(rng.random(n) < rules.zero_quantity_share, 0.0, quantity)
    transit = np.array([c.transit_days for c in rules.carriers.values()])
    order_day = orders["day"].to_numpy()[order]
    lead = np.maximum(
        clients["lead_days"].to_numpy()[client] + rng.integers(0, 4, n),
        transit[clients["carrier"].to_numpy()[client]] + 2,
    )
    created = orders["time"].to_numpy()[order]
    cancel_at = created + rng.integers(HOUR, 48 * HOUR, n)
    cancelled = (rng.random(n) < rules.cancelled_share) & (cancel_at < world.clock.now)
    return pd.DataFrame(
        {
            "order": order,
            "line_no": line_no,
            "client": client,
            "product": product,
            "unit": unit,
            "quantity": quantity,
            "promised_day": order_day + lead,
            "order_day": order_day,
            "cancelled": cancelled,
            "created": created,
            "updated": np.where(cancelled, cancel_at, created),
        }
    )


def ship_lines(
    world: World, lines: pd.DataFrame, rules: SimulationRules, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shipments of every open line (1-3 partial ones), and per line its warehouse and shortfall.

    The last shipment is planned to arrive a few days before the promised date and earlier
    partial ones a few days before it; warehouses delay some, back-orders delay later
    partials, carriers deliver late at their (problem-driven) rate; short lines ship 50-95%
    of the quantity. Shipments that leave after "now" do not exist yet.
    """
    clients, now = world.clients, world.clock.now
    open_ = np.flatnonzero(~lines["cancelled"].to_numpy() & (lines["quantity"].to_numpy() > 0))
    n = len(open_)
    client = lines["client"].to_numpy()[open_]
    unit = lines["unit"].to_numpy()[open_]
    home = clients["home_warehouse"].to_numpy()[client]
    other = (home + rng.integers(1, len(world.warehouses), n)) % len(world.warehouses)
    warehouse = np.where(rng.random(n) < rules.own_warehouse_share, home, other)
    created = lines["created"].to_numpy()[open_]
    p_short = rules.short_probability + extra_rate(
        world, "warehouse_short", warehouse, created, client
    )
    short = rng.random(n) < p_short
    quantity = lines["quantity"].to_numpy()[open_]
    total = np.where(
        short,
        np.maximum(rounded(quantity * rng.uniform(0.5, 0.95, n), unit), UNIT_STEP[unit]),
        quantity,
    )
    parts = pick(rng, rules.shipments_per_line, n) + 1
    parts = np.where(total >= SPLIT_MIN_STEPS * UNIT_STEP[unit], parts, 1)
    weights = [rng.uniform(0.2, 1.0, n) * (2.0 if j == 0 else 1.0) * (parts > j) for j in range(3)]
    weight_sum = weights[0] + weights[1] + weights[2]
    usual = clients["carrier"].to_numpy()[client]
    transit_days = np.array([c.transit_days for c in rules.carriers.values()])
    promised = lines["promised_day"].to_numpy()[open_]
    gap = rng.integers(1, 4, n)
    buffer = rng.integers(0, 3, n)
    delay = np.where(rng.random(n) < 0.03, rng.integers(1, 4, n), 0)
    backorder = np.where(rng.random(n) < 0.1, rng.integers(2, 8, n), 0)
    earliest = lines["order_day"].to_numpy()[open_] + 1
    sent_so_far = np.zeros(n)
    previous_day = np.zeros(n, np.int64)
    slots = []
    for j in range(3):
        last = parts == j + 1
        share = rounded(total * weights[j] / weight_sum, unit)
        qty = np.where(last, np.round(total - sent_so_far, 3), share)
        sent_so_far += share
        carrier = np.where(
            rng.random(n) < rules.own_carrier_share, usual, rng.integers(0, len(world.carriers), n)
        )
        transit = transit_days[carrier]
        planned = promised - transit - buffer - (parts - 1 - j) * gap
        if j == 0:
            day = np.maximum(planned, earliest) + delay
        else:
            day = np.maximum(planned + backorder, previous_day + 1)
        previous_day = day
        shipped_at = day * DAY + rng.integers(7 * HOUR, 20 * HOUR, n)
        p_late = rules.late_probability + extra_rate(
            world, "carrier_late", carrier, shipped_at, client
        )
        late = rng.random(n) < p_late
        early = rng.random(n) < 0.15
        travel = np.maximum(
            transit + np.where(late, rng.integers(1, 6, n), -early.astype(np.int64)), 1
        )
        arrives_at = (day + travel) * DAY + rng.integers(9 * HOUR, 18 * HOUR, n)
        keep = np.flatnonzero((parts > j) & (shipped_at < now))
        slots.append(
            pd.DataFrame(
                {
                    "line": open_[keep],
                    "client": client[keep],
                    "warehouse": warehouse[keep],
                    "carrier": carrier[keep],
                    "unit": unit[keep],
                    "shipped_qty": qty[keep],
                    "shipped_at": shipped_at[keep],
                    "arrives_at": arrives_at[keep],
                }
            )
        )
    shipments = pd.concat(slots, ignore_index=True)
    del slots
    order = np.lexsort((shipments["line"].to_numpy(), shipments["shipped_at"].to_numpy()))
    shipments = shipments.iloc[order].reset_index(drop=True)
    arrives_at = shipments.pop("arrives_at").to_numpy()
    arrived = arrives_at < now
    shipments["delivered_at"] = np.where(arrived, arrives_at, NO_TIME)
    shipments["delivered_qty"] = np.where(arrived, shipments["shipped_qty"].to_numpy(), np.nan)
    per_line = pd.DataFrame(
        {
            "line": open_,
            "warehouse": warehouse,
            "short": short,
            "planned_total": total,
            "parts": parts,
        }
    )
    return shipments, per_line


def packaging_incidents(
    world: World, shipments: pd.DataFrame, rules: SimulationRules, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Incidents on delivered shipments at the warehouse's (problem-driven) rate; damage cuts qty.

    Returns the incidents and the shipments with ``delivered_qty`` reduced where goods were
    damaged (most damaged-packaging incidents, and a little transit damage without one).
    """
    delivered = shipments["delivered_at"].to_numpy() != NO_TIME
    n = len(shipments)
    at = shipments["shipped_at"].to_numpy()
    warehouse = shipments["warehouse"].to_numpy()
    client = shipments["client"].to_numpy()
    p = rules.packaging_probability + extra_rate(
        world, "warehouse_packaging", warehouse, at, client
    )
    happened = delivered & (rng.random(n) < p)
    kind = pick(rng, rules.packaging_types, n)
    reported = shipments["delivered_at"].to_numpy() + rng.integers(HOUR, 36 * HOUR, n)
    recorded = happened & (reported < world.clock.now)
    damaged_kind = list(rules.packaging_types).index("damaged")
    damaged = (happened & (kind == damaged_kind) & (rng.random(n) < 0.6)) | (
        delivered & (rng.random(n) < rules.damage_probability)
    )
    loss = rng.uniform(0.8, 0.98, n)
    unit = shipments["unit"].to_numpy()
    qty = shipments["shipped_qty"].to_numpy()
    out = shipments.copy()
    out["delivered_qty"] = np.where(
        damaged, np.minimum(rounded(qty * loss, unit), qty), out["delivered_qty"].to_numpy()
    )
    rows = np.flatnonzero(recorded)
    rows = rows[np.argsort(reported[rows], kind="stable")]
    incidents = pd.DataFrame(
        {
            "shipment": rows,
            "client": client[rows],
            "incident_type": kind[rows],
            "reported_at": reported[rows],
        }
    )
    return incidents, out


def first_shipment(
    orders: pd.DataFrame, lines: pd.DataFrame, shipments: pd.DataFrame
) -> np.ndarray:
    """Per order, the time its first shipment left (``NO_TIME`` if nothing shipped yet)."""
    order_of = lines["order"].to_numpy()[shipments["line"].to_numpy()]
    first = np.full(len(orders), np.iinfo(np.int64).max)
    np.minimum.at(first, order_of, shipments["shipped_at"].to_numpy())
    return np.where(first == np.iinfo(np.int64).max, NO_TIME, first)


def request_documents(
    world: World,
    orders: pd.DataFrame,
    first_ship: np.ndarray,
    rules: SimulationRules,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Documents per order (certificate, invoice, waybill with the first shipment; specification
    with the order) plus a few requests without an order; sent after a log-normal turnaround
    slowed by document-delay problems."""
    docs = rules.documents
    clients = world.clients
    types = list(docs.median_hours)
    segment = clients["segment"].to_numpy()[orders["client"].to_numpy()]
    certificate = np.array([rules.segments[s].certificate_share for s in world.segments])[segment]
    frames = []
    for t, doc_type in enumerate(types):
        share = certificate if doc_type == "quality_certificate" else docs.request_share[doc_type]
        asked = rng.random(len(orders)) < share
        with_order = doc_type == "specification"
        base = orders["time"].to_numpy() if with_order else first_ship
        at = base + rng.integers(10 * 60, 4 * HOUR, len(orders))
        asked &= (base != NO_TIME) & (at < world.clock.now)
        rows = np.flatnonzero(asked)
        frames.append(
            pd.DataFrame(
                {
                    "client": orders["client"].to_numpy()[rows],
                    "order": rows,
                    "doc_type": t,
                    "requested_at": at[rows],
                }
            )
        )
    linked = pd.concat(frames, ignore_index=True)
    extra = rng.binomial(len(linked), docs.unlinked_share) if len(linked) else 0
    who = rng.integers(0, len(clients), extra)
    since = np.maximum(clients["contract_day"].to_numpy()[who], 0) * DAY
    unlinked = pd.DataFrame(
        {
            "client": who.astype(np.int32),
            "order": -1,
            "doc_type": rng.choice(
                [types.index("specification"), types.index("quality_certificate")], extra
            ),
            "requested_at": since
            + (rng.random(extra) * (world.clock.now - since)).astype(np.int64),
        }
    )
    documents = pd.concat([linked, unlinked], ignore_index=True)
    doc_type = documents["doc_type"].to_numpy()
    at = documents["requested_at"].to_numpy()
    client = documents["client"].to_numpy()
    slowdown = 1.0 + extra_rate(world, "document_delay", doc_type, at, client)
    median = np.array([docs.median_hours[t] for t in types])[doc_type]
    hours = median * slowdown * rng.lognormal(0.0, docs.spread, len(documents))
    sent = at + (hours * HOUR).astype(np.int64)
    documents["sent_at"] = np.where(sent < world.clock.now, sent, NO_TIME)
    documents["hours"] = hours
    order = np.lexsort((documents["client"].to_numpy(), at))
    return documents.iloc[order].reset_index(drop=True)


def price_lines(
    world: World,
    lines: pd.DataFrame,
    margin: np.ndarray,
    rules: SimulationRules,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Unit cost (product cost with a little noise) and price = cost / (1 - the client's margin)."""
    n = len(lines)
    cost = np.round(
        world.products["unit_cost"].to_numpy()[lines["product"].to_numpy()]
        * rng.lognormal(0.0, 0.03, n),
        2,
    )
    low, high = rules.margin_bounds
    rate = np.clip(
        margin[lines["client"].to_numpy()] + rng.normal(0, rules.line_margin_noise, n), low, high
    )
    out = lines.copy()
    out["cost"] = cost
    out["price"] = np.round(cost / (1.0 - rate), 2)
    return out


def issue_invoices(
    world: World, orders: pd.DataFrame, lines: pd.DataFrame, first_ship: np.ndarray
) -> pd.DataFrame:
    """One invoice per order, issued an hour after its first shipment, due after the client's
    terms (the amount follows once lines are priced, see ``invoice_amounts``)."""
    open_ = ~lines["cancelled"].to_numpy() & (lines["quantity"].to_numpy() > 0)
    billable = np.bincount(lines["order"].to_numpy()[open_], minlength=len(orders)) > 0
    rows = np.flatnonzero((first_ship != NO_TIME) & billable)
    rows = rows[np.argsort(first_ship[rows], kind="stable")]
    client = orders["client"].to_numpy()[rows]
    issued_day = first_ship[rows] // DAY
    return pd.DataFrame(
        {
            "order": rows,
            "client": client,
            "issued_day": issued_day,
            "due_day": issued_day + world.clients["terms_days"].to_numpy()[client],
            "created": first_ship[rows] + HOUR,
        }
    )


def invoice_amounts(
    invoices: pd.DataFrame, orders: pd.DataFrame, lines: pd.DataFrame
) -> pd.DataFrame:
    """Invoices with their amount: price x quantity summed over the order's live lines."""
    live = ~lines["cancelled"].to_numpy()
    value = np.bincount(
        lines["order"].to_numpy()[live],
        weights=(lines["price"].to_numpy() * lines["quantity"].to_numpy())[live],
        minlength=len(orders),
    )
    out = invoices.copy()
    out["amount"] = np.round(value[invoices["order"].to_numpy()], 2)
    return out


def collect_payments(
    world: World, invoices: pd.DataFrame, rules: SimulationRules, rng: np.random.Generator
) -> pd.DataFrame:
    """Payments received by "now": due date plus the client's payer delay (never before the
    invoice), a few invoices paid in two instalments."""
    clients, days = world.clients, world.clock.days
    payers = list(rules.payments.payers.values())
    kind = clients["payer"].to_numpy()[invoices["client"].to_numpy()]
    mean = np.array([p.delay_mean_days for p in payers])[kind]
    sd = np.array([p.delay_sd_days for p in payers])[kind]
    n = len(invoices)
    issued_day = invoices["issued_day"].to_numpy()
    paid_day = np.maximum(
        invoices["due_day"].to_numpy() + np.round(rng.normal(mean, sd)).astype(np.int64), issued_day
    )
    split = rng.random(n) < rules.payments.split_share
    early_day = np.maximum(paid_day - rng.integers(5, 21, n), issued_day)
    amount = invoices["amount"].to_numpy()
    first_part = np.round(amount / 2, 2)
    payments = pd.concat(
        [
            pd.DataFrame(
                {
                    "invoice": np.arange(n)[split],
                    "day": early_day[split],
                    "amount": first_part[split],
                }
            ),
            pd.DataFrame(
                {
                    "invoice": np.arange(n),
                    "day": paid_day,
                    "amount": np.round(amount - np.where(split, first_part, 0.0), 2),
                }
            ),
        ],
        ignore_index=True,
    )
    payments = payments[payments["day"].to_numpy() < days].reset_index(drop=True)
    payments["time"] = np.maximum(
        payments["day"].to_numpy() * DAY + office_hours(rng, len(payments)),
        invoices["created"].to_numpy()[payments["invoice"].to_numpy()] + HOUR,
    )
    order = np.lexsort((payments["invoice"].to_numpy(), payments["time"].to_numpy()))
    return payments.iloc[order].reset_index(drop=True)


def days_late(lines: pd.DataFrame, shipments: pd.DataFrame) -> np.ndarray:
    """Per shipment, days its delivery came after its line's promised day (<= 0: on time or
    not delivered yet)."""
    delivered_at = shipments["delivered_at"].to_numpy()
    promised = lines["promised_day"].to_numpy()[shipments["line"].to_numpy()]
    return np.where(delivered_at != NO_TIME, delivered_at // DAY - promised, 0)


def line_outcomes(
    lines: pd.DataFrame, shipments: pd.DataFrame, per_line: pd.DataFrame, days: int
) -> pd.DataFrame:
    """Per line: delivered quantity, last delivery, complete, due, on time, in full (no tolerance).

    A line is complete when all its planned shipments arrived; on time when complete by the
    end of its promised day; in full when complete with delivered >= ordered; due when open
    (not cancelled, quantity > 0) and its promised day lies before the end of the period.
    """
    n = len(lines)
    line = shipments["line"].to_numpy()
    arrived = shipments["delivered_at"].to_numpy() != NO_TIME
    count = np.bincount(line[arrived], minlength=n)
    delivered = np.bincount(
        line[arrived], weights=shipments["delivered_qty"].to_numpy()[arrived], minlength=n
    )
    last = np.full(n, NO_TIME)
    np.maximum.at(last, line[arrived], shipments["delivered_at"].to_numpy()[arrived])
    parts = np.zeros(n, np.int64)
    parts[per_line["line"].to_numpy()] = per_line["parts"].to_numpy()
    complete = (parts > 0) & (count == parts)
    promised = lines["promised_day"].to_numpy()
    quantity = lines["quantity"].to_numpy()
    open_ = ~lines["cancelled"].to_numpy() & (quantity > 0)
    on_time = complete & (last // DAY <= promised)
    return pd.DataFrame(
        {
            "delivered": np.round(delivered, 3),
            "last_delivery": last,
            "complete": complete,
            "due": open_ & (promised < days),
            "on_time": on_time,
            "in_full": complete & (delivered >= quantity - 1e-9),
        }
    )
