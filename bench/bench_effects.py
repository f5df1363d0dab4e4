"""Benchmark of the initiative effect estimate against the simulator's planted initiatives.

    .venv/bin/python bench/bench_effects.py --seeds 20

Per seed, the simulator plants the initiatives of ``rules/simulated_initiatives.yaml`` (a
real one cutting packaging incidents, placebos changing nothing) and knows what each changed
in every metric; the adjust stage estimates each effect by difference-in-differences. Prints
how often the 95% interval holds the planted effect (target at least 90%) and how often a
placebo shows an effect (target at most 5%). Asserts nothing: the figures are read by people.
"""

from __future__ import annotations

import argparse
import time

from cx_tasks.adjust.effect import Initiative, initiative_effects
from cx_tasks.adjust.rules import adjust_rules
from cx_tasks.simulate.initiatives import planted_history, true_effect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--days", type=int, default=360)
    args = parser.parse_args()
    rules = adjust_rules().effects
    started = time.perf_counter()
    real: dict[str, list[bool]] = {}
    placebo: dict[str, list[bool]] = {}
    for seed in range(1, args.seeds + 1):
        history = planted_history(args.clients, args.days, seed)
        planted = {p.spec.id: p for p in history.initiatives}
        initiatives = [
            Initiative(p.spec.id, p.spec.owner, p.clients, p.start, "packaging_rate")
            for p in history.initiatives
        ]
        for effect in initiative_effects(initiatives, history.panel, rules):
            spec = planted[effect.initiative_id].spec
            truth = true_effect(
                history.panel, planted[effect.initiative_id], effect.metric, rules.after_days
            )
            if spec.packaging_cut > 0:
                real.setdefault(effect.metric, []).append(effect.low <= truth <= effect.high)
                print(
                    f"seed {seed:3d} {effect.initiative_id} {effect.metric:15s} "
                    f"planted {truth:+9.4f} estimate {effect.estimate:+9.4f} "
                    f"[{effect.low:+9.4f}, {effect.high:+9.4f}] n={effect.n} "
                    f"clusters={effect.clusters}"
                )
            else:
                placebo.setdefault(effect.metric, []).append(effect.measurable)
    print(f"\n{args.seeds} seeds, {args.clients} clients, {args.days} days, "
          f"{time.perf_counter() - started:.1f} s")
    print(f"{'metric':15s} {'coverage of planted effects':>30s} {'placebo false positives':>26s}")
    for metric in sorted(set(real) | set(placebo)):
        held, shown = real.get(metric, []), placebo.get(metric, [])
        print(f"{metric:15s} {_share(held):>30s} {_share(shown):>26s}")
    every_real = [x for v in real.values() for x in v]
    every_placebo = [x for v in placebo.values() for x in v]
    print(f"{'all':15s} {_share(every_real):>30s} {_share(every_placebo):>26s}")


def _share(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)} = {sum(flags) / len(flags):.1%}" if flags else "-"


if __name__ == "__main__":
    main()
