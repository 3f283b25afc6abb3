"""Model evidence (log marginal likelihood) of a calibration under a learner's Gaussian prior.

For a least-squares calibration with Gaussian noise of standard deviation ``sigma`` and a
Gaussian prior ``N(m, Lambda^-1)`` over the adapted (unconstrained) parameters, the Laplace
approximation around the MAP estimate ``theta`` gives

.. math::
    \\ln p(y) \\approx -\\frac{n}{2}\\ln(2\\pi\\sigma^2) - \\frac{\\lVert r \\rVert^2}{2\\sigma^2}
    - \\frac{1}{2}(\\theta - m)^\\top \\Lambda (\\theta - m)
    + \\frac{1}{2}\\ln\\det\\Lambda - \\frac{1}{2}\\ln\\det H

with ``r`` the residuals at ``theta`` and ``H = J^T J / sigma^2 + Lambda`` the posterior
precision (``J``: Jacobian of the predictions). It is exact for a law linear in its parameters.
Comparing the evidence of the same measurements under different hypotheses (a time unit, a
model) weighs how well each fits against how far it must pull the parameters from the prior.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call, jacrev

from sciml import settings
from sciml.meta.adapted import Adapted
from sciml.meta.functional import flatten_params, unflatten_params
from sciml.tasks import Task, TensorData


def _prior(learner: Any, noise_sd: float) -> tuple[tuple[str, ...], Tensor, Tensor]:
    """Adapted names, prior mean ``[P]`` and prior precision ``[P, P]`` (1 / parameter^2)."""
    names = tuple(learner._adapt_names)
    params = dict(learner.model.named_parameters())
    mean = flatten_params(params, names).detach().double()
    precision = torch.as_tensor(learner.prior_precision_matrix(), dtype=torch.float64) / noise_sd**2
    precision = precision * torch.eye(mean.numel(), dtype=torch.float64) if precision.ndim == 0 else precision
    precision = (precision + precision.T) / 2
    if not bool((torch.linalg.eigvalsh(precision) > 0).all()):
        raise ValueError(
            f"{type(learner).__name__} has an improper prior (prior precision not positive definite): the evidence is "
            "undefined. Use a learner with a proper Gaussian prior, e.g. PriorMAP after fit(), or set inner_prior_precision > 0."
        )
    return names, mean, precision


def _check(support: TensorData | Task, noise_sd: float) -> TensorData:
    data = support.support if isinstance(support, Task) else support
    if not noise_sd > 0 or not math.isfinite(noise_sd):
        raise ValueError(f"noise_sd must be a positive finite number, got {noise_sd}.")
    if not len(data):
        raise ValueError("The evidence needs at least one measurement; the support is empty.")
    return data


def map_estimate(learner: Any, support: TensorData | Task, noise_sd: float, spreads: tuple[float, ...] = (2.0, 4.0)) -> Adapted:
    """The posterior mode under ``learner``'s Gaussian prior, from several starts.

    A calibration started at the prior mean can stall where the law saturates (every
    prediction at its plateau, zero gradient), e.g. when a hypothesis moves the data many
    prior standard deviations away. Besides ``learner.adapt``, a trust-region least-squares fit
    (``scipy.optimize.least_squares`` on the residuals stacked with the prior's whitened
    distance) starts at the prior mean and at ``mean +- s * sd_i * v_i`` along each principal
    axis ``v_i`` of the prior (``sd_i``: its standard deviation, ``s`` in ``spreads``); the
    highest posterior density wins.

    Args:
        learner, support, noise_sd: As :func:`log_evidence`.
        spreads: Distances of the extra starts, in prior standard deviations.

    Returns:
        The mode as an :class:`~sciml.meta.adapted.Adapted` of ``learner.model``.
    """
    from scipy.optimize import least_squares

    data = _check(support, noise_sd)
    names, mean, precision = _prior(learner, noise_sd)
    whiten = torch.linalg.cholesky(precision).T  # whiten.T @ whiten = precision
    base = {k: v.detach().double() for k, v in learner.model.named_parameters()}
    buffers = {k: v.double() if torch.is_floating_point(v) else v for k, v in learner.model.named_buffers()}
    model = copy.deepcopy(learner.model).double()
    x = data.x.double() if torch.is_floating_point(data.x) else data.x
    y = data.y.double().reshape(-1)

    def residuals(vec: Tensor) -> Tensor:
        with settings.validate_inputs(False):
            pred = functional_call(model, (unflatten_params(vec, base, names), buffers), (x,)).reshape(-1)
        return torch.cat([(pred - y) / noise_sd, whiten @ (vec - mean)])

    def fun(v: np.ndarray) -> np.ndarray:
        return residuals(torch.from_numpy(v)).detach().numpy()

    def jac(v: np.ndarray) -> np.ndarray:
        return jacrev(residuals)(torch.from_numpy(v)).detach().numpy()

    adapted = learner.adapt(data)
    candidates = [flatten_params(dict(adapted.params), names).detach().double()]
    cov = torch.linalg.inv(precision)
    values, vectors = torch.linalg.eigh((cov + cov.T) / 2)
    starts = [mean] + [mean + sign * s * values[i].clamp_min(0).sqrt() * vectors[:, i]
                       for i in range(mean.numel()) for s in spreads for sign in (-1.0, 1.0)]
    for start in starts:
        with np.errstate(all="ignore"):
            if not np.all(np.isfinite(fun(start.numpy()))):
                continue  # a start where the law is not finite (far outside any physical range)
            try:
                fit = least_squares(fun, start.numpy(), jac=jac, method="trf", x_scale="jac")
            except ValueError:  # the path left the law's finite range
                continue
        if np.all(np.isfinite(fit.x)):
            candidates.append(torch.from_numpy(fit.x))
    costs = [float((residuals(c) ** 2).sum()) for c in candidates]
    best = candidates[min(range(len(costs)), key=lambda i: costs[i] if math.isfinite(costs[i]) else math.inf)]
    like = {k: v.detach() for k, v in learner.model.named_parameters()}
    params = unflatten_params(best.to(like[names[0]].dtype), like, names)
    return Adapted(learner.model, params, dict(learner.model.named_buffers()), learner=getattr(learner, "name", ""), steps=adapted.steps)


def log_evidence(learner: Any, support: TensorData | Task, noise_sd: float, adapted: Adapted | None = None) -> float:
    """Laplace log marginal likelihood of ``support`` under ``learner``'s prior.

    Args:
        learner: A learner whose calibration is a MAP fit under a proper Gaussian prior: its
            ``prior_precision_matrix()`` (in units of summed squared residuals) must be positive
            definite, e.g. :class:`~sciml.meta.PriorMAP` after ``fit``, or a Gauss-Newton learner
            with ``inner_prior_precision > 0``. The prior mean is its current parameters.
        support: The measurements ``x [n, ...]``, ``y [n]`` (or a task: its support).
        noise_sd: Measurement noise standard deviation, in the unit of the targets.
        adapted: The posterior mode if already computed (default: :func:`map_estimate`).

    Returns:
        ``ln p(y | x)`` in nats (the density of the targets, so in units of ``1 / y^n``: only
        differences between hypotheses about the same targets are meaningful).

    Raises:
        ValueError: for a non-positive noise level, an empty support, or an improper prior.
    """
    data = _check(support, noise_sd)
    names, mean, precision = _prior(learner, noise_sd)
    adapted = adapted if adapted is not None else map_estimate(learner, data, noise_sd)
    posterior = learner.posterior(adapted, data, noise_sd)
    theta = flatten_params(dict(adapted.params), names).double()
    x = data.x.double() if torch.is_floating_point(data.x) else data.x
    residuals = adapted.predict(x).double().reshape(-1) - data.y.double().reshape(-1)
    n = residuals.numel()
    d = theta - mean
    _, logdet_prior = torch.linalg.slogdet(precision)
    _, logdet_cov = torch.linalg.slogdet(posterior.cov)
    return (-0.5 * n * math.log(2 * math.pi * noise_sd**2) - float(residuals @ residuals) / (2 * noise_sd**2)
            - 0.5 * float(d @ precision @ d) + 0.5 * float(logdet_prior) + 0.5 * float(logdet_cov))
