"""Cost of one calibration: a conditional neural process (one encoder pass) against MAML
(inner gradient steps), side by side in one run.

A calibration is what a user pays for one new task: ``learner.adapt(support)`` followed by
``predict`` on the task's query inputs. Measured on

- the sinusoid (K = 10 support points, 100 query points): MAML on Finn et al.'s MLP 1-40-40-1
  with 1 and with 10 plain gradient steps, against the CNP of the sinusoid study (width 128);
- the synthetic alloys (k = 5 points of an isotherm, 5 query points): MAML on the
  JMAK-Arrhenius law with the study's 10 damped Gauss-Newton steps, against the study's CNP.

The networks are freshly initialized (the cost of a calibration does not depend on the values of
the weights). Each calibration is timed ``--repeats`` times after warm-up calls; the median is
reported, and the same numbers for a batch of ``--batch`` tasks through ``adapt_many`` (per
task). Usage: ``python benchmarks/calibration_cost.py [--repeats 50] [--batch 100]``. The last
line is ``sinusoid_maml10_vs_cnp=<x> jmak_maml_vs_cnp=<x>``: how many times longer one MAML
calibration takes than one CNP calibration.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch
from timing import median_ms


def _calibrate(learner: Any, task: Any, steps: int) -> Any:
    adapted = learner.adapt_many([task.support], [steps])[0][0]
    return adapted.predict(task.query.x)


def _calibrate_many(learner: Any, tasks: Sequence[Any], steps: int) -> Any:
    fits = learner.adapt_many([t.support for t in tasks], [steps])
    return [row[0].predict(t.query.x) for row, t in zip(fits, tasks)]


def _row(name: str, learner: Any, tasks: Sequence[Any], steps: int, repeats: int) -> float:
    one = median_ms(lambda: _calibrate(learner, tasks[0], steps), repeats)
    many = median_ms(lambda: _calibrate_many(learner, tasks, steps), max(3, repeats // 10), warmup=1) / len(tasks)
    print(f"{name:>34}: {one:8.3f} ms per calibration, {many:8.3f} ms per task in a batch of {len(tasks)}")
    return one


def sinusoid(repeats: int, batch: int) -> float:
    from sciml.data.sinusoid import SinusoidTasks
    from sciml.meta import MAML, ConditionalNeuralProcess
    from sciml.models import MLP, ConditionalNeuralProcessNet

    tasks = list(SinusoidTasks(shots=10, query=100).fixed_tasks(batch, seed=0))
    torch.manual_seed(0)
    maml = MAML(MLP(1, (40, 40), 1), inner_lr=0.01, inner_steps=1)
    cnp = ConditionalNeuralProcess(ConditionalNeuralProcessNet(1, 1))
    print("sinusoid, K = 10, 100 query points")
    maml1 = _row("MAML, 1 step", maml, tasks, 1, repeats)
    maml10 = _row("MAML, 10 steps", maml, tasks, 10, repeats)
    one = _row("CNP (one encoder pass)", cnp, tasks, 0, repeats)
    print(f"{'':>34}  MAML/CNP: {maml1 / one:.2f}x (1 step), {maml10 / one:.2f}x (10 steps)")
    return maml10 / one


GAUSS_NEWTON = {"inner_optimizer": "gauss_newton", "inner_lr": 1.0, "inner_steps": 10, "inner_damping": 0.01,
                "inner_prior_precision": 0.003}
"""The inner loop of the jmak-synthetic study's meta-learners."""


def jmak(repeats: int, batch: int) -> float:
    from sciml.materials import SyntheticAlloyFamily
    from sciml.meta import MAML, ConditionalNeuralProcess
    from sciml.study.kinds.jmak_synthetic import neural_process_for

    family = SyntheticAlloyFamily("W_recrystallization")
    pool = family.tasks(max(8, batch // 3 + 1), seed=0)
    g = torch.Generator().manual_seed(0)
    tasks = [t.resample(5, g) for t in list(pool)[:batch]]
    torch.manual_seed(0)
    maml = MAML(family.nominal_law(), **GAUSS_NEWTON)
    cnp = ConditionalNeuralProcess(neural_process_for(pool))
    print(f"synthetic alloys, k = 5, {len(tasks[0].query)} query points")
    law = _row(f"MAML, {GAUSS_NEWTON['inner_steps']} Gauss-Newton steps", maml, tasks, GAUSS_NEWTON["inner_steps"], repeats)
    one = _row("CNP (one encoder pass)", cnp, tasks, 0, repeats)
    print(f"{'':>34}  MAML/CNP: {law / one:.2f}x")
    return law / one


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    sin = sinusoid(args.repeats, args.batch)
    law = jmak(args.repeats, args.batch)
    print(f"sinusoid_maml10_vs_cnp={sin:.2f} jmak_maml_vs_cnp={law:.2f}")


if __name__ == "__main__":
    main()
