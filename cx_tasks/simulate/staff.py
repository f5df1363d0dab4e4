"""The employee-experience layer, simulated month by month with the clients it serves.

Account managers carry portfolios of clients; their load (the portfolio's orders against
their capacity) drives overtime, a quarterly pulse survey and the chance they leave. A
leaver is replaced at once, and each of their clients loses satisfaction and grows more
likely to start leaving. Clients also go through operational trouble (more incidents at once,
lower satisfaction from the month after: the operations warn before the client feels it),
answer a relationship NPS survey through their own bias, and a client
that starts leaving orders less each month. Every hazard is in ``rules/simulated_staff.yaml``;
the predictions see only the observable columns (the ones marked truth below are not).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cx_tasks.config import load_rules
from cx_tasks.simulate import keys
from cx_tasks.simulate.names import person
from cx_tasks.simulate.parameters import simulation_rules
from cx_tasks.simulate.rows import SourceRows, Texts
from cx_tasks.simulate.world import World, build_world, clock, rng_for

DEFAULT_END = date(2026, 11, 1)
"""The day after the history the bench and the tests simulate (any day works)."""

ORDER_VALUE = 1_000.0
"""Revenue of one order in the staff history (currency units)."""


class StaffRules(BaseModel):
    """The staff layer's parameters (``rules/simulated_staff.yaml`` explains each)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    months: int = Field(ge=6)
    clients_per_manager: int = Field(ge=1)
    capacity_spread: float = Field(ge=0)
    overtime_per_load: float
    overtime_per_stress: float
    overtime_noise: float = Field(ge=0)
    pulse_per_load: float
    pulse_per_stress: float
    pulse_per_overtime: float
    pulse_noise: float = Field(ge=0)
    pulse_answer_share: float = Field(ge=0, le=1)
    leave_base: float
    leave_per_load: float
    leave_per_overtime: float
    leave_per_stress: float
    leave_per_pulse: float
    leave_per_tenure_year: float
    satisfaction_memory: float = Field(ge=0, lt=1)
    satisfaction_noise: float = Field(ge=0)
    departure_shock: float
    trouble_shock: float
    trouble_share: float = Field(ge=0, le=1)
    trouble_months: int = Field(ge=1)
    trouble_incidents: float = Field(ge=1)
    churn_base: float
    churn_per_point: float
    churn_after_departure: float
    churn_in_trouble: float
    churn_decay: float = Field(gt=0, le=1)
    nps_answer_share: float = Field(ge=0, le=1)
    nps_bias_sd: float = Field(ge=0)
    nps_noise: float = Field(ge=0)
    pulse_opt_out_share: float = Field(ge=0, le=1)


def staff_rules(rules_dir: Path | None = None) -> StaffRules:
    """The staff layer's rules: the user's file if present, else the default."""
    return load_rules("simulated_staff", StaffRules, rules_dir)


@dataclass(frozen=True)
class StaffHistory:
    """Month by month: ``clients`` (client_id, segment, month, manager_id, orders, revenue,
    incidents, claims, nps: mean NPS points of the month's answers or NaN; truth:
    satisfaction, trouble, leaving) and ``managers`` (manager_id, month, clients, orders,
    load, overtime, pulse: 1-5 or NaN, tenure_months, left: leaves at the month's end;
    truth: stress)."""

    clients: pd.DataFrame
    managers: pd.DataFrame
    end: date = DEFAULT_END

    def month_start(self, month: int) -> date:
        """The first day of month ``month`` (0: ``months`` whole months before ``end``'s)."""
        first = self.end.year * 12 + self.end.month - 1 - int(self.managers["month"].max()) - 1
        index = first + month
        return date(index // 12, index % 12 + 1, 1)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def staff_history(clients: int = 2000, seed: int = 7, rules: StaffRules | None = None,
                  end: date = DEFAULT_END, world: World | None = None) -> StaffHistory:
    """The simulated staff and client history of ``clients`` clients over ``rules.months``
    whole months before ``end``'s month (month 0 the earliest, ``month_start`` its day), for
    the clients and managers of ``world`` (default: one drawn for the history)."""
    rules = rules if rules is not None else staff_rules()
    world = world if world is not None else build_world(
        simulation_rules(), clients, clock(end, rules.months * 30), seed)
    rng = rng_for(seed, "staff history")
    n, months = clients, rules.months
    slots = max(4, n // rules.clients_per_manager)
    slot = rng.integers(0, slots, n)
    rate = np.clip(30.0 / world.clients["cadence"].to_numpy(), 0.2, 30.0)
    capacity = rate.sum() / slots * rng.lognormal(0, rules.capacity_spread, slots)
    stress = rng.normal(0, 1, slots)
    tenure = rng.integers(3, 120, slots).astype(float)
    hire = np.ones(slots, int)
    base = np.clip(rng.normal(72, 9, n), 20, 98)
    incident_rate = 0.05 * rate * rng.gamma(2.0, 0.5, n)
    bias = rng.normal(0, rules.nps_bias_sd, n)
    deviation = np.zeros(n)
    trouble_left = np.zeros(n, int)
    leaving = np.zeros(n, bool)
    volume = np.ones(n)
    since_departure = np.full(n, 99)
    felt_trouble = np.zeros(n, bool)
    hires = rng_for(seed, "staff names")
    names = list(world.managers[:slots]) + [
        _person(hires) for _ in range(slots - len(world.managers))]
    client_rows, manager_rows = [], []
    for month in range(months):
        starts = (trouble_left == 0) & (rng.random(n) < rules.trouble_share)
        trouble_left[starts] = rules.trouble_months
        trouble = trouble_left > 0
        orders = rng.poisson(rate * volume)
        incidents = rng.poisson(incident_rate * np.where(trouble, rules.trouble_incidents, 1.0))
        claims = rng.poisson(0.05 + 0.5 * incidents)
        shock = rules.trouble_shock * felt_trouble + rules.departure_shock * (since_departure == 0)
        deviation = (rules.satisfaction_memory * deviation
                     + rng.normal(0, rules.satisfaction_noise, n) - shock)
        satisfaction = np.clip(base + deviation, 0, 100)
        answered = rng.random(n) < rules.nps_answer_share
        felt = np.clip(satisfaction + bias + rng.normal(0, rules.nps_noise, n), 0, 100)
        score = np.floor(felt / 10 + 0.5)
        points = np.where(score >= 9, 100.0, np.where(score <= 6, -100.0, 0.0))
        start_leaving = ~leaving & (rng.random(n) < _logistic(
            rules.churn_base - rules.churn_per_point * (satisfaction - 70)
            + rules.churn_after_departure * (since_departure < 4)
            + rules.churn_in_trouble * trouble))
        leaving |= start_leaving
        load = np.bincount(slot, weights=orders, minlength=slots) / capacity
        overtime = np.maximum(0.0, rules.overtime_per_load * (load - 1)
                              + rules.overtime_per_stress * stress
                              + rng.normal(0, rules.overtime_noise, slots))
        pulse_month = month % 3 == 2
        pulse = np.clip(np.round(3.6 - rules.pulse_per_load * (load - 1)
                                 - rules.pulse_per_stress * stress
                                 - rules.pulse_per_overtime * overtime
                                 + rng.normal(0, rules.pulse_noise, slots)), 1, 5)
        pulse_seen = pulse_month & (rng.random(slots) < rules.pulse_answer_share)
        leaves = rng.random(slots) < _logistic(
            rules.leave_base + rules.leave_per_load * (load - 1)
            + rules.leave_per_overtime * overtime + rules.leave_per_stress * stress
            - rules.leave_per_pulse * (pulse - 3.5)
            - rules.leave_per_tenure_year * np.minimum(tenure / 12, 5))
        ids = np.array([f"AM{k + 1:03d}-{h}" for k, h in enumerate(hire.tolist())])
        client_rows.append(pd.DataFrame({
            "client_id": [keys.CLIENT % (i + 1) for i in range(n)],
            "segment": np.array(world.segments)[world.clients["segment"].to_numpy()],
            "month": month, "manager_id": ids[slot], "orders": orders,
            "revenue": orders * ORDER_VALUE, "incidents": incidents, "claims": claims,
            "nps": np.where(answered, points, np.nan), "satisfaction": satisfaction,
            "trouble": trouble, "leaving": leaving.copy()}))
        manager_rows.append(pd.DataFrame({
            "manager_id": ids, "month": month, "clients": np.bincount(slot, minlength=slots),
            "orders": np.bincount(slot, weights=orders, minlength=slots), "load": load,
            "overtime": overtime, "pulse": np.where(pulse_seen, pulse, np.nan),
            "tenure_months": tenure.copy(), "left": leaves, "capacity": capacity,
            "full_name": list(names), "stress": stress.copy()}))
        trouble_left = np.maximum(trouble_left - 1, 0)
        felt_trouble = trouble
        volume = np.where(leaving, volume * rules.churn_decay, volume)
        since_departure = np.where(leaves[slot], 0, since_departure + 1)
        tenure = np.where(leaves, 0.0, tenure + 1)
        stress = np.where(leaves, rng.normal(0, 1, slots), stress)
        hire = hire + leaves
        names = [_person(hires) if gone else name
                 for name, gone in zip(names, leaves.tolist(), strict=True)]
    return StaffHistory(pd.concat(client_rows, ignore_index=True),
                        pd.concat(manager_rows, ignore_index=True), end)


def _person(rng: np.random.Generator) -> str:
    """A new hire's name as the ERP writes a manager's (``Иванов И.И.``)."""
    surname, first, patronymic = person("ru", rng).full_name.split()
    return f"{surname} {first[0]}.{patronymic[0]}."


def staff_source_rows(history: StaffHistory, rules: StaffRules | None = None
                      ) -> list[SourceRows]:
    """The HR system's tables of the history (observable columns only): ``hr_staff``, one
    row per manager ever in post (hired ``tenure`` months before they are first seen, or on
    the first day after their predecessor left; ``left_on`` the last day of the month they
    left), and ``hr_workload``, one row per manager and month, changed on the month's last
    evening. ``rules.pulse_opt_out_share`` of managers opted out of the pulse survey."""
    rules = rules if rules is not None else staff_rules()
    managers = history.managers
    first = managers.sort_values("month").drop_duplicates("manager_id")
    last = managers[managers["left"]].set_index("manager_id")["month"]
    starts = {m: history.month_start(m) for m in range(int(managers["month"].max()) + 2)}
    hired = [_months_before(starts[m], int(t)) for m, t in
             zip(first["month"].tolist(), first["tenure_months"].tolist(), strict=True)]
    left = [starts[int(last[m]) + 1] - timedelta(days=1) if m in last.index else None
            for m in first["manager_id"]]
    changed = [f"{(gone or came).isoformat()} {'18:00:00' if gone else '09:00:00'}"
               for came, gone in zip(hired, left, strict=True)]
    opted = rng_for(0, "pulse opt-out").random(len(first)) < rules.pulse_opt_out_share
    ids = first["manager_id"].tolist()
    evening = [f"{(starts[m + 1] - timedelta(days=1)).isoformat()} 20:00:00"
               for m in managers["month"].tolist()]
    return [
        SourceRows("hr_staff", len(first), {
            "staff_id": Texts(ids),
            "full_name": Texts(first["full_name"].tolist()),
            "email": Texts([f"{i.lower()}@staff.supplier.example" for i in ids]),
            "language": Texts(["ru"] * len(ids)),
            "position": Texts(["account_manager"] * len(ids)),
            "process": Texts([None] * len(ids)),
            "hired_on": Texts([d.isoformat() for d in hired]),
            "left_on": Texts([d.isoformat() if d else None for d in left]),
            "capacity_orders": Texts(first["capacity"].round(2).tolist()),
            "pulse_opted_out": Texts(opted.tolist()),
            "updated_at": Texts(changed),
        }),
        SourceRows("hr_workload", len(managers), {
            "workload_id": Texts([f"{i}:{starts[m]:%Y-%m}" for i, m in
                                  zip(managers["manager_id"], managers["month"], strict=True)]),
            "staff_id": Texts(managers["manager_id"].tolist()),
            "month": Texts([starts[m].isoformat() for m in managers["month"].tolist()]),
            "clients": Texts(managers["clients"].astype(int).tolist()),
            "orders": Texts(managers["orders"].astype(int).tolist()),
            "overtime_hours": Texts(managers["overtime"].round(2).tolist()),
            "updated_at": Texts(evening),
        }),
    ]


def pulse_answers(history: StaffHistory) -> pd.DataFrame:
    """The pulse answers the history's managers gave: staff_id, score 1-5, answered_at (the
    15th of the month they answered in, 10:00)."""
    asked = history.managers[history.managers["pulse"].notna()]
    return pd.DataFrame({
        "staff_id": asked["manager_id"].to_numpy(),
        "score": asked["pulse"].astype(int).to_numpy(),
        "answered_at": [datetime.combine(history.month_start(m).replace(day=15), time(10))
                        for m in asked["month"].astype(int).tolist()],
    })


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)
