"""Claims and tickets: what clients write after what operations did to them (ru/en texts).

Most feedback is caused by an operational event and linked to it (a late or short order,
a packaging incident, an off-spec batch, a late document, an invoice); service complaints
come without a link. Clients hit again by a problem that is getting worse write "again,
worse" texts labelled *deterioration*. The true label of every text goes to ground truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cx_tasks.collect.contract import ROLES
from cx_tasks.simulate import keys
from cx_tasks.simulate.operations import HOUR, NO_TIME, UNITS, Operations, days_late
from cx_tasks.simulate.parameters import SimulationRules
from cx_tasks.simulate.phrases import (
    CAUSES,
    CLOSINGS,
    DOCS,
    MIXED,
    OPENINGS,
    TEMPLATES,
)
from cx_tasks.simulate.phrases import UNITS as UNIT_WORDS
from cx_tasks.simulate.world import DAY, MONTH, World, unresponsive_managers_clients

SLOT_DEFAULTS = {
    "order": -1,
    "shipment": -1,
    "product": -1,
    "qty": np.nan,
    "unit": 0,
    "days": 0,
    "doc_type": -1,
    "repeat": 1,
}
KEY_SPACE = 2**40


@dataclass(frozen=True)
class Feedback:
    """Claims and tickets (with their causes) written by clients before "now"."""

    claims: pd.DataFrame
    tickets: pd.DataFrame


def _events(
    cause: str | np.ndarray, client: np.ndarray, at: np.ndarray, **slots: np.ndarray
) -> pd.DataFrame:
    frame = pd.DataFrame({"cause": cause, "client": client, "at": at})
    for name, default in SLOT_DEFAULTS.items():
        frame[name] = slots.get(name, default)
    return frame


def _chance(rng: np.random.Generator, n: int, p: float | np.ndarray) -> np.ndarray:
    return rng.random(n) < p


def _late_orders(
    world: World, ops: Operations, rules: SimulationRules, rng: np.random.Generator
) -> pd.DataFrame:
    """For the first late delivery of an order: a status ticket while the client waited past
    the promised date, and a claim once it arrived, naming the days it was late."""
    s, lines = ops.shipments, ops.lines
    line = s["line"].to_numpy()
    delivered_at = s["delivered_at"].to_numpy()
    promised = lines["promised_day"].to_numpy()[line]
    late_days = days_late(lines, s)
    late = np.flatnonzero(late_days > 0)
    order = lines["order"].to_numpy()[line[late]]
    first = late[np.unique(order, return_index=True)[1]]
    asked = (promised[first] + 1) * DAY + rng.integers(8 * HOUR, 30 * HOUR, len(first))
    keep = (asked < delivered_at[first]) & _chance(
        rng, len(first), rules.feedback.ticket_delivery_status
    )
    waited = first[keep]
    claimed = first[_chance(rng, len(first), rules.feedback.claim_late_order)]
    rows = np.concatenate([waited, claimed])
    at = np.concatenate(
        [asked[keep], delivered_at[claimed] + rng.integers(2 * HOUR, 72 * HOUR, len(claimed))]
    )
    cause = np.array(["delivery_status"] * len(waited) + ["late_delivery"] * len(claimed))
    return _events(
        cause,
        s["client"].to_numpy()[rows],
        at,
        order=lines["order"].to_numpy()[line[rows]],
        shipment=rows,
        product=lines["product"].to_numpy()[line[rows]],
        qty=lines["quantity"].to_numpy()[line[rows]],
        unit=s["unit"].to_numpy()[rows],
        days=late_days[rows],
    )


def _short_lines(ops: Operations, rules: SimulationRules, rng: np.random.Generator) -> pd.DataFrame:
    """A claim for a complete line that shipped short, naming the missing quantity."""
    lines, per_line, out = ops.lines, ops.per_line, ops.outcomes
    short = per_line["line"].to_numpy()[per_line["short"].to_numpy()]
    short = short[out["complete"].to_numpy()[short]]
    short = short[_chance(rng, len(short), rules.feedback.claim_short_line)]
    s = ops.shipments
    last_shipment = pd.Series(np.arange(len(s))).groupby(s["line"].to_numpy()).max()
    missing = lines["quantity"].to_numpy()[short] - out["delivered"].to_numpy()[short]
    at = out["last_delivery"].to_numpy()[short] + rng.integers(2 * HOUR, 48 * HOUR, len(short))
    return _events(
        "short_shipment",
        lines["client"].to_numpy()[short],
        at,
        order=lines["order"].to_numpy()[short],
        shipment=last_shipment.reindex(short).to_numpy(),
        product=lines["product"].to_numpy()[short],
        qty=np.round(missing, 3),
        unit=lines["unit"].to_numpy()[short],
    )


def _packaging(ops: Operations, rules: SimulationRules, rng: np.random.Generator) -> pd.DataFrame:
    """A claim for a packaging incident (damaged goods, wrong labelling, wrong packaging)."""
    inc, s, lines = ops.incidents, ops.shipments, ops.lines
    kinds = list(rules.packaging_types)
    p = np.array([rules.feedback.claim_packaging[k] for k in kinds])[
        inc["incident_type"].to_numpy()
    ]
    rows = np.flatnonzero(_chance(rng, len(inc), p))
    shipment = inc["shipment"].to_numpy()[rows]
    line = s["line"].to_numpy()[shipment]
    cause = np.array(["damaged_goods" if k == "damaged" else k for k in kinds])[
        inc["incident_type"].to_numpy()[rows]
    ]
    at = inc["reported_at"].to_numpy()[rows] + rng.integers(HOUR, 24 * HOUR, len(rows))
    return _events(
        cause,
        inc["client"].to_numpy()[rows],
        at,
        order=lines["order"].to_numpy()[line],
        shipment=shipment,
        product=lines["product"].to_numpy()[line],
        qty=s["delivered_qty"].to_numpy()[shipment],
        unit=s["unit"].to_numpy()[shipment],
    )


def _off_spec(ops: Operations, rules: SimulationRules, rng: np.random.Generator) -> pd.DataFrame:
    """A quality claim on a small share of delivered shipments (a batch out of specification)."""
    s, lines = ops.shipments, ops.lines
    rows = np.flatnonzero(
        (s["delivered_at"].to_numpy() != NO_TIME)
        & _chance(rng, len(s), rules.feedback.quality_issue_per_shipment)
    )
    line = s["line"].to_numpy()[rows]
    at = s["delivered_at"].to_numpy()[rows] + rng.integers(DAY, 10 * DAY, len(rows))
    return _events(
        "off_spec_quality",
        s["client"].to_numpy()[rows],
        at,
        order=lines["order"].to_numpy()[line],
        shipment=rows,
        product=lines["product"].to_numpy()[line],
        qty=s["shipped_qty"].to_numpy()[rows],
        unit=s["unit"].to_numpy()[rows],
    )


def _late_documents(
    ops: Operations, rules: SimulationRules, rng: np.random.Generator
) -> pd.DataFrame:
    """A ticket while waiting for a document past its SLA."""
    d = ops.documents
    sla = rules.documents.sla_hours
    over = d["hours"].to_numpy() - sla
    rows = np.flatnonzero((over > 0) & _chance(rng, len(d), rules.feedback.ticket_late_document))
    wait = sla + rng.random(len(rows)) * np.minimum(over[rows], 48.0)
    at = d["requested_at"].to_numpy()[rows] + (wait * HOUR).astype(np.int64)
    return _events(
        "late_document",
        d["client"].to_numpy()[rows],
        at,
        order=d["order"].to_numpy()[rows],
        doc_type=d["doc_type"].to_numpy()[rows],
        days=np.ceil(wait / 24).astype(np.int64),
    )


def _invoices(ops: Operations, rules: SimulationRules, rng: np.random.Generator) -> pd.DataFrame:
    """A ticket about an invoice error."""
    inv = ops.invoices
    rows = np.flatnonzero(_chance(rng, len(inv), rules.feedback.ticket_invoice_issue))
    at = inv["created"].to_numpy()[rows] + rng.integers(DAY, 10 * DAY, len(rows))
    order = inv["order"].to_numpy()[rows]
    return _events(
        "invoice_error",
        inv["client"].to_numpy()[rows],
        at,
        order=order,
        product=_first_product(ops, order),
    )


def _prices(ops: Operations, rules: SimulationRules, rng: np.random.Generator) -> pd.DataFrame:
    """A ticket disputing the price of an order's product."""
    orders = ops.orders
    rows = np.flatnonzero(_chance(rng, len(orders), rules.feedback.ticket_price_question))
    at = orders["time"].to_numpy()[rows] + rng.integers(HOUR, 72 * HOUR, len(rows))
    return _events(
        "price_dispute",
        orders["client"].to_numpy()[rows],
        at,
        order=rows,
        product=_first_product(ops, rows),
    )


def _first_product(ops: Operations, order: np.ndarray) -> np.ndarray:
    first_line = np.searchsorted(ops.lines["order"].to_numpy(), order)
    return ops.lines["product"].to_numpy()[first_line]


def _service(world: World, rules: SimulationRules, rng: np.random.Generator) -> pd.DataFrame:
    """Unlinked service complaints at a monthly rate per client, higher for the unresponsive
    manager's clients."""
    clients, now = world.clients, world.clock.now
    since = np.maximum(clients["contract_day"].to_numpy(), 0) * DAY
    rate = rules.feedback.service_complaints_per_client_month * (now - since) / MONTH
    rate = rate * np.where(
        unresponsive_managers_clients(world), rules.feedback.unresponsive_multiplier, 1.0
    )
    count = rng.poisson(rate)
    client = np.repeat(np.arange(len(clients)), count)
    at = since[client] + (rng.random(len(client)) * (now - since[client])).astype(np.int64)
    return _events("slow_response", client, at)


def _worsening(
    world: World,
    ops: Operations,
    events: pd.DataFrame,
    rules: SimulationRules,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Relabel events of a worsening problem as deterioration when the client was hit by the
    same problem within the window before (and then usually writes "again, worse")."""
    s, lines, inc = ops.shipments, ops.lines, ops.incidents
    window = rules.feedback.deterioration_window_days * DAY
    region = world.clients["region"].to_numpy()
    out = events.copy()
    for problem in world.problems:
        if problem.spec.slope_per_30_days <= 0 or problem.start is None:
            continue
        if problem.spec.kind == "carrier_late":
            late = (days_late(lines, s) > 0) & (s["carrier"].to_numpy() == problem.target)
            hit = np.flatnonzero(late)
            when, whose = s["delivered_at"].to_numpy()[hit], s["client"].to_numpy()[hit]
            causes, renamed = ["late_delivery"], "worsening_lateness"
            own = out["shipment"].to_numpy()
            own_when = np.where(own >= 0, s["delivered_at"].to_numpy()[np.maximum(own, 0)], NO_TIME)
            own_hit = (own >= 0) & late[np.maximum(own, 0)]
        elif problem.spec.kind == "warehouse_packaging":
            at_target = s["warehouse"].to_numpy()[inc["shipment"].to_numpy()] == problem.target
            when = inc["reported_at"].to_numpy()[at_target]
            whose = inc["client"].to_numpy()[at_target]
            causes, renamed = (
                ["damaged_goods", "wrong_labelling", "wrong_packaging"],
                "worsening_packaging",
            )
            own = out["shipment"].to_numpy()
            incident_at = np.full(len(s), NO_TIME)
            incident_at[inc["shipment"].to_numpy()[at_target]] = when
            own_when = np.where(own >= 0, incident_at[np.maximum(own, 0)], NO_TIME)
            own_hit = own_when != NO_TIME
        else:
            continue
        mask = problem.hits(region[whose]) & (when >= problem.start)
        occurrences = np.sort(whose[mask].astype(np.int64) * KEY_SPACE + when[mask])
        client = out["client"].to_numpy().astype(np.int64)
        candidate = (
            out["cause"].isin(causes).to_numpy()
            & own_hit
            & problem.hits(region[client])
            & (own_when >= problem.start)
        )
        key = client * KEY_SPACE + own_when
        before = np.searchsorted(occurrences, key, "left") - np.searchsorted(
            occurrences, key - window, "left"
        )
        worse = (
            candidate & (before >= 1) & _chance(rng, len(out), rules.feedback.deterioration_share)
        )
        out.loc[worse, "cause"] = renamed
        out.loc[worse, "repeat"] = before[worse] + 1
    return out


def collect_feedback(
    world: World, ops: Operations, rules: SimulationRules, rng: np.random.Generator
) -> Feedback:
    """All claims and tickets opened before "now", with contact, text and closure time."""
    events = pd.concat(
        [
            _late_orders(world, ops, rules, rng),
            _short_lines(ops, rules, rng),
            _packaging(ops, rules, rng),
            _off_spec(ops, rules, rng),
            _late_documents(ops, rules, rng),
            _invoices(ops, rules, rng),
            _prices(ops, rules, rng),
            _service(world, rules, rng),
        ],
        ignore_index=True,
    )
    events = events[events["at"].to_numpy() < world.clock.now]
    events = _worsening(world, ops, events.reset_index(drop=True), rules, rng)
    events = events.iloc[np.lexsort((events["client"].to_numpy(), events["at"].to_numpy()))]
    events = events.reset_index(drop=True)
    table = events["cause"].map({c: v.table for c, v in CAUSES.items()}).to_numpy(object)
    formal = (events["cause"].to_numpy() == "slow_response") & (rng.random(len(events)) < 0.35)
    table[formal] = "sd_claims"
    events["table"] = table
    events["contact"] = _contacts(world, events, rules, rng)
    events["language"] = _languages(world, events)
    events["text"] = _texts(world, events, rules, rng)
    events["closed_at"] = _closures(world, events, rules, rng)
    claims = events[events["table"] == "sd_claims"].reset_index(drop=True)
    tickets = events[events["table"] == "sd_tickets"].reset_index(drop=True)
    return Feedback(claims, tickets)


def _contacts(
    world: World, events: pd.DataFrame, rules: SimulationRules, rng: np.random.Generator
) -> np.ndarray:
    contacts = world.contacts
    n_clients = len(world.clients)
    by_role = np.full((n_clients, len(ROLES)), -1)
    by_role[contacts["client"].to_numpy(), contacts["role"].to_numpy()] = contacts[
        "contact"
    ].to_numpy()
    anyone = np.full(n_clients, -1)
    anyone[contacts["client"].to_numpy()[::-1]] = contacts["contact"].to_numpy()[::-1]
    client = events["client"].to_numpy()
    role = events["cause"].map({c: ROLES.index(v.role) for c, v in CAUSES.items()}).to_numpy(int)
    chosen = by_role[client, role]
    chosen = np.where(chosen >= 0, chosen, anyone[client])
    return np.where(rng.random(len(events)) < rules.feedback.no_contact_share, -1, chosen)


def _languages(world: World, events: pd.DataFrame) -> np.ndarray:
    contact = events["contact"].to_numpy()
    own = world.contacts["language"].to_numpy()[np.maximum(contact, 0)]
    usual = np.where(world.clients["english"].to_numpy()[events["client"].to_numpy()], "en", "ru")
    return np.where(contact >= 0, own, usual)


def _closures(
    world: World, events: pd.DataFrame, rules: SimulationRules, rng: np.random.Generator
) -> np.ndarray:
    """When each claim closes (days) or ticket resolves (hours); slower for the unresponsive
    manager's clients; ``NO_TIME`` while still open at "now"."""
    fb = rules.feedback
    n = len(events)
    claim = events["table"].to_numpy() == "sd_claims"
    slow = np.where(
        unresponsive_managers_clients(world)[events["client"].to_numpy()],
        fb.unresponsive_multiplier,
        1.0,
    )
    median = np.where(
        claim, fb.claim_close_days_median * DAY, fb.ticket_resolve_hours_median * HOUR
    )
    closed = events["at"].to_numpy() + (median * slow * rng.lognormal(0, 0.7, n)).astype(np.int64)
    return np.where(closed < world.clock.now, closed, NO_TIME)


def _texts(
    world: World, events: pd.DataFrame, rules: SimulationRules, rng: np.random.Generator
) -> list[str]:
    """Free text per event: opening + paraphrase of its cause + closing, with slots filled,
    sometimes a typo or a phrase in the other language."""
    n = len(events)
    fb = rules.feedback
    names = {"ru": world.products["name"].tolist(), "en": world.products["name_en"].tolist()}
    managers = np.array(world.managers, dtype=object)[world.clients["manager"].to_numpy()].tolist()
    doc_types = list(rules.documents.median_hours)
    draws = rng.random((n, 6)).tolist()
    typo = (rng.random(n) < fb.typo_share).tolist()
    mixed = (rng.random(n) < fb.mixed_language_share).tolist()
    columns = zip(
        *(
            events[c].tolist()
            for c in (
                "cause",
                "language",
                "client",
                "order",
                "product",
                "qty",
                "unit",
                "days",
                "doc_type",
                "repeat",
            )
        ),
        strict=True,
    )
    out = []
    for i, (cause, lang, client, order, product, qty, unit, days, doc, repeat) in enumerate(
        columns
    ):
        d = draws[i]
        templates = TEMPLATES[cause][lang] if order >= 0 else _ORDERLESS[cause][lang]
        body = templates[int(d[0] * len(templates))]
        opening = OPENINGS[lang][int(d[1] * len(OPENINGS[lang]))]
        closing = CLOSINGS[lang][int(d[2] * len(CLOSINGS[lang]))]
        if order < 0:
            opening = opening if "{order}" not in opening else OPENINGS[lang][0]
        text = (opening + body + closing).format(
            order=keys.ORDER % (order + 1) if order >= 0 else "",
            product=names[lang][product] if product >= 0 else "",
            qty=_quantity(qty, lang),
            unit=UNIT_WORDS[lang][UNITS[unit]],
            days=max(int(days), 1),
            doc=DOCS[lang][doc_types[doc]] if doc >= 0 else DOCS[lang]["quality_certificate"],
            n=int(repeat),
            manager=managers[client],
        )
        if mixed[i]:
            text += MIXED[lang][int(d[3] * len(MIXED[lang]))]
        if typo[i]:
            text = _typo(text, d[4], d[5])
        out.append(_tidy(text))
    return out


_ORDERLESS = {
    cause: {
        lang: tuple(t for t in texts if "{order}" not in t) or texts
        for lang, texts in by_lang.items()
    }
    for cause, by_lang in TEMPLATES.items()
}


_SPACES = re.compile(r" *\n *| {2,}")


def _tidy(text: str) -> str:
    """Single spaces, no spaces around line breaks, none at the ends."""
    return _SPACES.sub(lambda m: "\n" if "\n" in m.group() else " ", text).strip()


def _quantity(qty: float, lang: str) -> str:
    if qty != qty:  # NaN: no quantity in this event
        return ""
    text = f"{qty:g}"
    return text.replace(".", ",") if lang == "ru" else text


def _typo(text: str, where: float, how: float) -> str:
    """The text with one typo in a longer word: two letters swapped, one dropped or doubled."""
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_words:
        return text
    i = long_words[int(where * len(long_words))]
    w = words[i]
    k = 1 + int(how * (len(w) - 3))
    if how < 0.5:
        words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
    elif how < 0.8:
        words[i] = w[:k] + w[k + 1 :]
    else:
        words[i] = w[:k] + w[k] + w[k:]
    return " ".join(words)


def feedback_labels(feedback: Feedback) -> pd.DataFrame:
    """The true label of each claim and ticket: group, process class and cause."""
    frames = []
    for table, frame, pattern in (
        ("sd_claims", feedback.claims, keys.CLAIM),
        ("sd_tickets", feedback.tickets, keys.TICKET),
    ):
        causes = frame["cause"].tolist()
        frames.append(
            pd.DataFrame(
                {
                    "source_table": table,
                    "ref_id": [pattern % (i + 1) for i in range(len(frame))],
                    "group": [CAUSES[c].group for c in causes],
                    "process_class": [CAUSES[c].process_class for c in causes],
                    "cause": causes,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
