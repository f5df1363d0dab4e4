"""Benchmark of the model rounds over real periods against the simulator's true weights.

    .venv/bin/python bench/bench_rounds.py --seeds 5

Per seed, the simulator's contacts answer a relationship survey (CSI 0-100) each period
through their own planted bias; the model starts from equal interview seeds and runs a round
per period: fitted on the answers known by the period, judged on its answers, promoted when
better. Prints, over the judged answers, the out-of-sample MAE and R^2 of the version in
force against the reported answers, with and without aligning individual scales, and the R^2
the true weights reach on the same answers (the bar: the model reaches at least 80% of it);
MAE+bias: the error in predicting what a respondent answers when their estimated bias is
added back; corr: how well the estimated biases find the planted ones. Asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cx_tasks.adjust.rounds import run_rounds
from cx_tasks.adjust.rules import adjust_rules
from cx_tasks.analyze.calibration import mean_absolute_error, r_squared
from cx_tasks.analyze.model import satisfaction_rules
from cx_tasks.simulate.initiatives import factor_layout, planted_history, true_weights
from cx_tasks.simulate.parameters import FACTORS, simulation_rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--days", type=int, default=360)
    args = parser.parse_args()
    rules = adjust_rules().rounds
    calibration = satisfaction_rules().model.calibration
    layout = factor_layout()
    truth = true_weights(simulation_rules())
    equal = {s: {r: {f: 1 / len(FACTORS) for f in FACTORS} for r in w} for s, w in truth.items()}
    started = time.perf_counter()
    print(f"{'seed':>4s} {'alignment':>9s} {'promoted':>8s} {'MAE':>5s} {'MAE+bias':>8s} "
          f"{'R2 model':>8s} {'R2 true':>7s} {'ratio':>6s} {'R2 model aligned':>16s} "
          f"{'R2 true aligned':>15s} {'corr(bias, planted)':>19s}")
    ratios: dict[str, list[float]] = {}
    for seed in range(1, args.seeds + 1):
        history = planted_history(args.clients, args.days, seed)
        answers = history.answers.rename(
            columns={"contact_id": "respondent_id", "csi": "reported", "bias": "planted_bias"})
        for alignment in ("none", "residual"):
            result = run_rounds(answers, equal, layout, calibration, alignment,
                                rules.shrinkage, rules.first_round_after)
            judged = result.judged
            reported = judged["reported"].to_numpy()
            aligned = reported - judged["bias"].to_numpy()
            model = judged["current"].to_numpy()
            oracle = np.concatenate([
                _true_prediction(judged[judged["segment"] == s], w, layout)
                for s, w in truth.items()])
            order = np.concatenate([np.flatnonzero(judged["segment"] == s) for s in truth])
            best = np.empty(len(judged))
            best[order] = oracle
            r2, r2_true = r_squared(model, reported), r_squared(best, reported)
            ratios.setdefault(alignment, []).append(r2 / r2_true)
            bias = judged["bias"].to_numpy()
            found = np.corrcoef(bias, judged["planted_bias"])[0, 1] if bias.any() else np.nan
            print(f"{seed:4d} {alignment:>9s} {sum(r.promoted for r in result.rounds):8d} "
                  f"{mean_absolute_error(model, reported):5.2f} "
                  f"{mean_absolute_error(model + bias, reported):8.2f} {r2:8.3f} {r2_true:7.3f} "
                  f"{r2 / r2_true:6.1%} {r_squared(model, aligned):16.3f} "
                  f"{r_squared(best, aligned):15.3f} {found:19.3f}")
    print(f"\n{args.seeds} seeds, {time.perf_counter() - started:.1f} s")
    for alignment, values in ratios.items():
        print(f"alignment {alignment:9s}: R2 of the version in force / R2 of the true weights "
              f"= {np.mean(values):.1%} on average (min {np.min(values):.1%})")


def _true_prediction(answers, weights, layout):
    from cx_tasks.adjust.rounds import predict

    return predict(answers, weights, layout)


if __name__ == "__main__":
    main()
