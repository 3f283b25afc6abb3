"""Split-conformal prediction bands for few-shot regression.

Calibrate a learner on the support of each validation task (tasks drawn from the training
groups, never the test groups), collect the absolute errors on their query points, and take
the ``level`` quantile with the finite-sample correction ``ceil((m + 1) level) / m``. For a new
task exchangeable with the validation tasks, ``prediction +- halfwidth`` then covers about
``level`` of its values. Errors are pooled over tasks, so the guarantee is for a random point of
a random task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sciml.evaluation.protocol import split_generator


def conformal_quantile(errors: np.ndarray, level: float) -> float:
    """The split-conformal quantile of absolute errors ``[m]`` at ``level``.

    Raises:
        ValueError: for fewer errors than the level needs (``ceil((m + 1) level) > m``).
    """
    errors = np.sort(np.abs(np.asarray(errors, dtype=np.float64).reshape(-1)))
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}.")
    m = len(errors)
    rank = math.ceil((m + 1) * level)
    if rank > m:
        raise ValueError(f"{m} errors are too few for a {level:.0%} conformal band; need at least {math.ceil(level / (1 - level))}.")
    return float(errors[rank - 1])


def conformal_halfwidths(learner: Any, tasks: Sequence[Any], shots: Sequence[int], level: float = 0.9, seeds: Sequence[int] = (0, 1, 2)) -> dict[int, float]:
    """Half-widths of ``level`` bands, per support size, from calibrations on ``tasks``.

    Args:
        learner: Anything with ``adapt(support)`` returning an object with ``predict(x)``.
        tasks: Validation tasks (never test tasks), each with more than ``max(shots)`` points.
        shots: Support sizes.
        level: Coverage level.
        seeds: Support draws per task (seeded like the few-shot protocol).

    Returns:
        ``{shots: halfwidth}`` in the units of the targets.
    """
    out = {}
    for k in shots:
        errors = []
        for seed in seeds:
            for task in tasks:
                split = task.resample(k, split_generator(seed, task.name, k))
                pred = learner.adapt(split.support).predict(split.query.x).reshape(-1)
                errors.append((pred.double() - split.query.y.reshape(-1).double()).abs().numpy())
        out[int(k)] = conformal_quantile(np.concatenate(errors), level)
    return out


def band_coverage(halfwidth: float) -> Any:
    """A few-shot metric: share of query targets inside ``prediction +- halfwidth``."""

    def coverage(adapted: Any, task: Any) -> float:
        with torch.no_grad():
            pred = adapted.predict(task.query.x).reshape(-1).double()
        y = task.query.y.reshape(-1).double()
        return float(((y - pred).abs() <= halfwidth).double().mean())

    return coverage
