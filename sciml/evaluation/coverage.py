"""Coverage of predictive bands (the share of held-out measurements inside them) and the
log-likelihood of Gaussian predictive distributions."""

from __future__ import annotations

import math
from statistics import NormalDist
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


def gaussian_predictive_metrics(learner: Any, level: float = 0.9) -> dict[str, Any]:
    """Few-shot metrics of a learner whose adapted predictors have a Gaussian predictive
    distribution, read through ``learner.predictive(adapted, x) -> (mean, variance)``
    (:class:`~sciml.meta.ConditionalNeuralProcess`, :class:`~sciml.meta.DeepKernelGP` for
    regression).

    Returns:
        ``{"nll": ..., f"coverage{100 * level:g}": ...}``: the mean negative log-density of a
        task's query targets (nats per value) and the share of them inside the central
        ``level`` band ``mean +- z * sd``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}.")
    z = NormalDist().inv_cdf(0.5 + level / 2)

    def moments(adapted: Any, task: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, var = learner.predictive(adapted, task.query.x)
        y = task.query.y.to(mean.dtype).reshape(mean.shape)
        return mean.double(), var.double(), y.double()

    def nll(adapted: Any, task: Any) -> float:
        mean, var, y = moments(adapted, task)
        return float((0.5 * torch.log(2 * math.pi * var) + 0.5 * (y - mean) ** 2 / var).mean())

    def coverage(adapted: Any, task: Any) -> float:
        mean, var, y = moments(adapted, task)
        return float(((y - mean).abs() <= z * var.sqrt()).double().mean())

    return {"nll": nll, f"coverage{100 * level:g}": coverage}


def predictive_metrics_of(learner: Any, level: float = 0.9) -> dict[str, Any]:
    """:func:`gaussian_predictive_metrics` for a learner with a predictive distribution
    (``learner.predictive``), else ``{}``: the ``learner_metrics`` of
    :func:`~sciml.evaluation.benchmark.fit_and_evaluate` for a table of mixed learners."""
    return gaussian_predictive_metrics(learner, level) if callable(getattr(learner, "predictive", None)) else {}
