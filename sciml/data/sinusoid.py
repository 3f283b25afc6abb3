"""The sinusoid regression family of Finn et al. (2017)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sciml.tasks import Task, TaskSet, TensorData


@dataclass(frozen=True)
class SinusoidTasks:
    """Tasks ``y = A sin(x - phi)``, ``A ~ U[0.1, 5]``, ``phi ~ U[0, pi]``, ``x ~ U[-5, 5]``.

    Args:
        shots: Support points per task ``K``.
        query: Query points per task.
        amplitude: Range of ``A``.
        phase: Range of ``phi``.
        x_range: Range of ``x``.

    Shapes:
        - support/query ``x`` and ``y``: ``[K, 1]`` / ``[query, 1]``
    """

    shots: int = 10
    query: int = 10
    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, math.pi)
    x_range: tuple[float, float] = (-5.0, 5.0)

    def _task(self, g: torch.Generator, name: str) -> Task:
        a = self.amplitude[0] + (self.amplitude[1] - self.amplitude[0]) * float(torch.rand((), generator=g))
        p = self.phase[0] + (self.phase[1] - self.phase[0]) * float(torch.rand((), generator=g))
        n = self.shots + self.query
        x = self.x_range[0] + (self.x_range[1] - self.x_range[0]) * torch.rand(n, 1, generator=g)
        y = a * torch.sin(x - p)
        return Task(
            TensorData(x[: self.shots], y[: self.shots]),
            TensorData(x[self.shots :], y[self.shots :]),
            name=name,
            metadata={"amplitude": a, "phase": p, "units": {"x": "1", "y": "1"}},
        )

    def sample_batch(self, n: int, generator: torch.Generator, **_: object) -> list[Task]:
        """``n`` fresh tasks (an endless source for ``Learner.fit``)."""
        return [self._task(generator, f"sin{i}") for i in range(n)]

    def fixed_tasks(self, n: int, seed: int) -> TaskSet:
        """``n`` reproducible tasks (e.g. the meta-test set)."""
        g = torch.Generator().manual_seed(seed)
        return TaskSet(self._task(g, f"sin-{seed}-{i:04d}") for i in range(n))


PUBLISHED_MSE = {
    ("MAML", 5): 1.13, ("MAML", 10): 0.77, ("MAML", 20): 0.48,
    ("MetaSGD", 5): 0.90, ("MetaSGD", 10): 0.53, ("MetaSGD", 20): 0.31,
}
"""Query MSE after one inner step, ``(learner, K) -> MSE``, as Li et al. (2017, Meta-SGD,
Table 1) are recalled; not re-checked against the paper, so reports print them as
"recalled, unverified" (a public re-implementation reports 10-shot MAML 0.67 and Meta-SGD 0.31)."""
