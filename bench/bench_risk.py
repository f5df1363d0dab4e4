"""Backtest of the level-5 predictions on the simulated staff and client history.

    .venv/bin/python bench/bench_risk.py --seeds 3 --clients 2000

Per seed the simulator plants departures of account managers (driven by load, overtime,
stress, pulse and tenure) and clients that start leaving or lose satisfaction (after their
manager left, in operational trouble); the models see only observable columns. Rolling
origin every quarter: a model fitted on the samples whose outcome was known by the origin
predicts the origin's samples (no look-ahead). Prints AUC, precision in the top decile (with
the base rate), Brier score and the pooled reliability table per target. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import time

# the gradient-boosted trees' OpenMP threads spin against each other on a shared 2-core
# machine (a 3-seed run took over 13 minutes instead of about 2): one thread
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd

from cx_tasks.adjust.risk import (
    CLIENT_FEATURES,
    HORIZON,
    STAFF_FEATURES,
    backtest,
    client_features,
    client_targets,
    manager_features,
    scores,
    staff_targets,
)
from cx_tasks.adjust.rules import adjust_rules
from cx_tasks.simulate.staff import staff_history, staff_rules


def samples(seed: int, clients: int) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    rules = staff_rules()
    overloaded = adjust_rules().risk.overloaded_hours
    history = staff_history(clients, seed, rules)
    origins = list(range(5, rules.months - HORIZON, 3))
    staff, accounts = [], []
    for origin in origins:
        features = manager_features(history.managers, history.clients, origin)
        staff.append(features.join(staff_targets(history.managers, origin,
                                                 overloaded)).assign(origin=origin))
        mine = client_features(history.clients, history.managers, origin)
        target = client_targets(history.clients, origin).reindex(mine.index)
        accounts.append(mine.assign(at_risk=target.to_numpy(), origin=origin))
    return pd.concat(staff), pd.concat(accounts), origins


def report(name: str, frames: list[pd.DataFrame], target: str) -> None:
    pooled = pd.concat(frames)
    per_seed = [scores(f[target].to_numpy(), f["probability"].to_numpy()) for f in frames
                if f[target].nunique() == 2]
    result = scores(pooled[target].to_numpy(), pooled["probability"].to_numpy())
    print(f"\n{name}: {result.n} predictions, {result.positives} positives "
          f"(base rate {result.base_rate:.1%})")
    print(f"  AUC {result.auc:.3f} (per seed {', '.join(f'{s.auc:.3f}' for s in per_seed)})")
    print(f"  precision in the top decile {result.precision_top_decile:.1%} "
          f"({result.precision_top_decile / result.base_rate:.1f}x the base rate)")
    print(f"  Brier score {result.brier:.4f} (always predicting the base rate: "
          f"{result.base_rate * (1 - result.base_rate):.4f})")
    print("  reliability (deciles of predicted probability):")
    print("  " + result.reliability.to_string(index=False, float_format=lambda v: f"{v:.3f}")
          .replace("\n", "\n  "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2000)
    args = parser.parse_args()
    kinds = adjust_rules().risk
    started = time.perf_counter()
    leaves, overloaded, accounts = [], [], []
    for seed in range(1, args.seeds + 1):
        staff, clients, origins = samples(seed, args.clients)
        leaves.append(backtest(staff, STAFF_FEATURES, "leaves", origins, kinds.staff_model))
        overloaded.append(backtest(staff, STAFF_FEATURES, "overloaded", origins,
                                   kinds.staff_model))
        accounts.append(backtest(clients, CLIENT_FEATURES, "at_risk", origins,
                                 kinds.client_model))
        print(f"seed {seed} done, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"{args.seeds} seeds, {args.clients} clients, {time.perf_counter() - started:.1f} s")
    report("account manager leaves next quarter", leaves, "leaves")
    report("account manager overloaded next quarter", overloaded, "overloaded")
    report("client: satisfaction drop or fall in orders in 90 days", accounts, "at_risk")


if __name__ == "__main__":
    main()
