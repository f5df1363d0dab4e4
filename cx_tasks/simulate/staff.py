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
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cx_tasks.config import load_rules
from cx_tasks.simulate import keys
from cx_tasks.simulate.parameters import simulation_rules
from cx_tasks.simulate.world import build_world, clock, rng_for

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
    overloaded_hours: float
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


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def staff_history(clients: int = 2000, seed: int = 7, rules: StaffRules | None = None
                  ) -> StaffHistory:
    """The simulated staff and client history of ``clients`` clients over ``rules.months``."""
    rules = rules if rules is not None else staff_rules()
    world = build_world(simulation_rules(), clients, clock(pd.Timestamp("2026-11-01").date(),
                                                           rules.months * 30), seed)
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
            "tenure_months": tenure.copy(), "left": leaves, "stress": stress.copy()}))
        trouble_left = np.maximum(trouble_left - 1, 0)
        felt_trouble = trouble
        volume = np.where(leaving, volume * rules.churn_decay, volume)
        since_departure = np.where(leaves[slot], 0, since_departure + 1)
        tenure = np.where(leaves, 0.0, tenure + 1)
        stress = np.where(leaves, rng.normal(0, 1, slots), stress)
        hire = hire + leaves
    return StaffHistory(pd.concat(client_rows, ignore_index=True),
                        pd.concat(manager_rows, ignore_index=True))
