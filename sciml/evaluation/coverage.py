"""Coverage of Laplace predictive bands: the share of held-out measurements inside them."""

from __future__ import annotations

from typing import Any

import torch


def posterior_band_coverage(learner: Any, noise_sd: float, level: float = 0.9) -> Any:
    """A few-shot metric: the share of a task's query targets inside the ``level`` predictive
    band of the learner's Laplace posterior (:meth:`~sciml.meta.Learner.posterior`) around the
    calibration on its support; NaN when the calibration has non-finite parameters.

    Args:
        learner: A learner with ``posterior(adapted, support, noise_sd)`` (laws).
        noise_sd: Measurement noise standard deviation (from training tasks only).
        level: Band level.
    """

    def coverage(adapted: Any, task: Any) -> float:
        if any(not torch.isfinite(v).all() for v in adapted.params.values()):
            return float("nan")
        post = learner.posterior(adapted, task.support, noise_sd)
        _, lo, hi = post.predict(task.query.x.double(), level=level)
        y = task.query.y.double()
        return float(((y >= lo) & (y <= hi)).double().mean())

    return coverage
