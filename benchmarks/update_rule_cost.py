"""Cost of a learned update rule: one meta-gradient and one calibration of LearnedOptimizer
against MAML (plain gradient steps) and MetaSGD at the same inner step count, side by side in one
run.

Measured on

- the sinusoid: Finn et al.'s MLP 1-40-40-1 (1,761 adapted parameters), a meta-batch of 25 tasks
  of K = 10 points, 1 and 5 inner gradient steps, second order;
- the synthetic alloys: the JMAK-Arrhenius law (3 adapted parameters), a meta-batch of 32
  isotherms of k = 5 points, 5 inner steps on gradient and on damped Gauss-Newton directions, second order.

Models are freshly initialized with one seed (the cost does not depend on the weights); each
call is timed ``--repeats`` times after warm-up calls and the median reported. Usage:
``python benchmarks/update_rule_cost.py [--repeats 20]``. The last line is
``sinusoid_learned_vs_maml=<x> jmak_learned_vs_maml=<x>``: how many times longer one
meta-gradient of LearnedOptimizer takes than MAML's at 5 inner steps (sinusoid: gradient steps;
JMAK: Gauss-Newton directions).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch
from timing import median_ms


def _compare(title: str, make: Callable[[type, int], Any], batch: list[Any], steps: int, repeats: int) -> dict[str, float]:
    from sciml.meta import MAML, LearnedOptimizer, MetaSGD

    out = {}
    for cls in (MAML, MetaSGD, LearnedOptimizer):
        learner = make(cls, steps)
        gradient = median_ms(lambda learner=learner: learner.meta_gradient(batch), repeats, warmup=2)
        calibration = median_ms(lambda learner=learner: learner.adapt_many([batch[0].support], [steps]), repeats, warmup=2)
        out[cls.__name__] = gradient
        print(f"{title:>34} {cls.__name__:>16}: {gradient:8.2f} ms per meta-gradient, {calibration:7.2f} ms per calibration")
    print(f"{'':>34} LearnedOptimizer / MAML: {out['LearnedOptimizer'] / out['MAML']:.2f}x per meta-gradient")
    return out


def sinusoid(repeats: int) -> float:
    from sciml.data.sinusoid import SinusoidTasks
    from sciml.models import MLP

    batch = SinusoidTasks(shots=10, query=10).sample_batch(25, torch.Generator().manual_seed(0))

    def make(cls: type, steps: int) -> Any:
        torch.manual_seed(0)
        return cls(MLP(1, (40, 40), 1), inner_lr=0.01, inner_steps=steps)

    _compare("sinusoid MLP, 1 gradient step", make, batch, 1, repeats)
    five = _compare("sinusoid MLP, 5 gradient steps", make, batch, 5, repeats)
    return five["LearnedOptimizer"] / five["MAML"]


def jmak(repeats: int) -> float:
    from sciml.materials import SyntheticAlloyFamily

    family = SyntheticAlloyFamily("W_recrystallization")
    g = torch.Generator().manual_seed(0)
    batch = [t.resample(5, g) for t in list(family.tasks(11, seed=0, dtype=torch.float64))[:32]]  # 5 support, 5 query points

    def sgd(cls: type, steps: int) -> Any:
        return cls(family.nominal_law(), inner_lr=1.0, inner_steps=steps)

    def gauss_newton(cls: type, steps: int) -> Any:
        return cls(family.nominal_law(), inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=steps, inner_damping=0.01)

    _compare("JMAK law, 5 gradient steps", sgd, batch, 5, repeats)
    gn = _compare("JMAK law, 5 Gauss-Newton steps", gauss_newton, batch, 5, repeats)
    return gn["LearnedOptimizer"] / gn["MAML"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    sinusoid_ratio = sinusoid(args.repeats)
    jmak_ratio = jmak(args.repeats)
    print(f"sinusoid_learned_vs_maml={sinusoid_ratio:.2f} jmak_learned_vs_maml={jmak_ratio:.2f}")


if __name__ == "__main__":
    main()
