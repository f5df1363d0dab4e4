"""The simulated employee-experience layer: departures replace managers and touch their
clients, overtime follows load, the same seed gives the same history."""

from __future__ import annotations

import pandas as pd
import pytest

from cx_tasks.simulate.staff import staff_history, staff_rules


@pytest.fixture(scope="module")
def history():
    return staff_history(clients=800, seed=4)


def test_a_leaver_is_replaced_by_a_new_hire_who_takes_the_portfolio(history):
    managers, clients = history.managers, history.clients
    leavers = managers[managers["left"] & (managers["month"] < managers["month"].max())]
    assert len(leavers) >= 1  # the seed plants departures
    left = leavers.iloc[0]
    slot, hire = left["manager_id"].split("-")
    successor = f"{slot}-{int(hire) + 1}"
    after = managers[(managers["month"] == left["month"] + 1)
                     & managers["manager_id"].str.startswith(slot + "-")]
    assert after["manager_id"].tolist() == [successor]
    assert after["tenure_months"].iloc[0] == 0
    portfolio = set(clients[(clients["month"] == left["month"])
                            & (clients["manager_id"] == left["manager_id"])]["client_id"])
    taken = set(clients[(clients["month"] == left["month"] + 1)
                        & (clients["manager_id"] == successor)]["client_id"])
    assert portfolio == taken


def test_overtime_rises_with_load_and_the_pulse_is_quarterly(history):
    managers = history.managers
    busy = managers["load"] > managers["load"].median()
    assert managers.loc[busy, "overtime"].mean() > managers.loc[~busy, "overtime"].mean()
    asked = managers[managers["pulse"].notna()]
    assert set(asked["month"] % 3) == {2}
    assert asked["pulse"].between(1, 5).all()


def test_every_month_has_every_client_and_the_same_seed_the_same_history(history):
    rules = staff_rules()
    assert len(history.clients) == 800 * rules.months
    again = staff_history(clients=800, seed=4)
    pd.testing.assert_frame_equal(again.clients, history.clients)
    pd.testing.assert_frame_equal(again.managers, history.managers)
