"""Laplace posteriors of adapted physical laws: credible bands, intervals, next experiment.

Around the adapted (MAP) parameters ``theta`` of a least-squares calibration with a Gaussian
prior of precision ``Lambda`` and measurement noise ``sigma``, the posterior is approximated by

.. math::
    p(\\theta \\mid D) \\approx \\mathcal{N}\\!\\left(\\hat\\theta,\\;
    \\left(J^\\top J / \\sigma^2 + \\Lambda\\right)^{-1}\\right)

with ``J`` the Jacobian of the predictions at the support points. Bands and intervals of any
function of the parameters use the delta method; predictive bands add the noise variance.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor
from torch.func import functional_call, jacrev

from sciml import settings
from sciml.meta.functional import flatten_params, unflatten_params
from sciml.tasks import TensorData

ParamFn = Callable[[Mapping[str, Tensor]], Tensor]


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}.")
    return float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + level / 2)))


def _log_interval(log_value: float, var: float, level: float) -> tuple[float, float, float]:
    """``(value, lower, upper)`` of a positive quantity from the mean and variance of its log."""
    half = _z(level) * math.sqrt(var)
    return math.exp(log_value), math.exp(log_value - half), math.exp(log_value + half)


def _linear_interval(value: float, var: float, level: float) -> tuple[float, float, float]:
    """``(value, lower, upper)``: a symmetric interval from the mean and variance."""
    half = _z(level) * math.sqrt(var)
    return value, value - half, value + half


def _log_where(values: Tensor, positive: Tensor) -> Tensor:
    """``log`` of the entries flagged ``positive``, the others as they are."""
    return torch.where(positive, values.clamp_min(torch.finfo(values.dtype).tiny).log(), values)


@dataclass(frozen=True)
class LaplacePosterior:
    """Gaussian approximation of the posterior over the adapted parameters.

    Attributes:
        model: The law (evaluated functionally).
        params: All parameters at the posterior mode (adapted and fixed).
        names: Adapted parameter names, in the order of ``cov``.
        cov: Posterior covariance of the adapted parameters (unconstrained), ``[P, P]``.
        noise_sd: Measurement noise standard deviation, in the unit of the targets.
    """

    model: torch.nn.Module
    params: Mapping[str, Tensor]
    names: tuple[str, ...]
    cov: Tensor
    noise_sd: float

    def _vector(self) -> Tensor:
        return flatten_params(self.params, self.names)

    def _unflatten(self, vec: Tensor) -> dict[str, Tensor]:
        return unflatten_params(vec, self.params, self.names)

    def _vector_jacobian(self, fn: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
        """Value ``[...]`` and Jacobian ``[..., P]`` (detached) of ``fn(theta)`` at the mode."""
        vec = self._vector().detach()
        with settings.validate_inputs(False):
            with torch.no_grad():
                value = fn(vec)
            jac = jacrev(fn)(vec)
        return value, jac.reshape(*value.shape, vec.numel()).detach()

    def jacobian(self, fn: Callable[[dict[str, Tensor]], Tensor]) -> tuple[Tensor, Tensor]:
        """Value of ``fn(params)`` at the mode and its Jacobian with respect to the adapted
        (unconstrained) parameters, in the order of ``cov``.

        Args:
            fn: Any function of the parameters, output shape ``[...]``.

        Returns:
            ``(value [...], jacobian [..., P])``, both detached.
        """
        return self._vector_jacobian(lambda v: fn(self._unflatten(v)))

    def _delta(self, fn: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
        """Value and variance of ``fn(theta)`` (any output shape ``[...]``)."""
        value, jac = self._vector_jacobian(fn)
        jac = jac.reshape(-1, jac.shape[-1])
        var = torch.einsum("ip,pq,iq->i", jac, self.cov, jac).reshape(value.shape)
        return value, var.clamp_min(0.0)

    def predict(self, x: Tensor, level: float = 0.9, include_noise: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """Mean prediction and a ``level`` band at inputs ``x``.

        Args:
            x: Inputs, ``[n, ...]``.
            level: Probability mass inside the band.
            include_noise: Predictive band for a new measurement (adds ``noise_sd^2``);
                ``False`` gives the credible band of the curve itself.

        Returns:
            ``(mean, lower, upper)``, each ``[n]``.
        """
        with settings.validate_inputs(False):
            mean, var = self._delta(lambda v: functional_call(self.model, self._unflatten(v), (x,)))
        if include_noise:
            var = var + self.noise_sd**2
        half = _z(level) * var.sqrt()
        return mean, mean - half, mean + half

    def interval(self, fn: ParamFn, level: float = 0.9, log_scale: bool = True) -> tuple[float, float, float]:
        """Value and ``level`` interval of a scalar function of the parameters.

        Args:
            fn: ``fn(params) -> scalar`` (e.g. ``lambda p: law.t50(1500.0, p)``).
            level: Probability mass inside the interval.
            log_scale: Build the interval for ``log fn`` (positive quantities such as t50,
                n, Q: asymmetric, never negative).
        """
        if log_scale:
            value, var = self._delta(lambda v: fn(self._unflatten(v)).log())
            return _log_interval(float(value), float(var), level)
        value, var = self._delta(lambda v: fn(self._unflatten(v)))
        return _linear_interval(float(value), float(var), level)

    def physical_intervals(self, level: float = 0.9) -> pd.DataFrame:
        """Every named physical parameter of the law with its ``level`` interval: on the log
        scale for parameters positive at the mode (asymmetric, never negative), symmetric for
        the others (e.g. a negative slope)."""
        quantities = {k: q for k, q in self.model.physical_params(dict(self.params)).items() if q.value.numel() == 1}
        names = list(quantities)
        positive = torch.tensor([bool(quantities[k].value.reshape(()) > 0) for k in names])
        # One Jacobian for all of them (one reverse pass per parameter, batched), not one each.
        values, var = self._delta(lambda v: _log_where(torch.stack(
            [self.model.physical_params(self._unflatten(v))[k].value.reshape(()) for k in names]), positive))
        rows = []
        for i, k in enumerate(names):
            interval = (_log_interval if positive[i] else _linear_interval)(float(values[i]), float(var[i]), level)
            rows.append(dict(zip(("parameter", "value", "lower", "upper", "unit", "level"), (k, *interval, quantities[k].unit, level))))
        return pd.DataFrame(rows, columns=["parameter", "value", "lower", "upper", "unit", "level"])

    def variance(self, fn: ParamFn) -> float:
        """Posterior variance of ``log fn(params)``."""
        return float(self._delta(lambda v: fn(self._unflatten(v)).log())[1])

    def condition_on_inputs(self, x: Tensor) -> LaplacePosterior:
        """The posterior after measuring at inputs ``x`` ``[m, ...]``.

        Under the linearized model the covariance after a measurement does not depend on the
        value measured, ``(P + J_x^T J_x / sigma^2)^-1``, so this is what a planned experiment
        would leave; the mode is unchanged.
        """
        vec = self._vector().detach()
        with settings.validate_inputs(False):
            jac = jacrev(lambda v: functional_call(self.model, self._unflatten(v), (x,)).reshape(-1))(vec)
        cov = torch.linalg.inv(torch.linalg.inv(self.cov) + jac.T @ jac / self.noise_sd**2)
        return LaplacePosterior(self.model, self.params, self.names, (cov + cov.T) / 2, self.noise_sd)

    def suggest_next(self, candidates: Tensor, target: ParamFn) -> pd.DataFrame:
        """Rank candidate measurements by how much each would shrink the variance of a target.

        For candidate input ``x_c`` with prediction Jacobian ``j_c``, the posterior precision
        after measuring there is ``P + j_c^T j_c / sigma^2`` (its value is not needed), so the
        expected variance of ``g = log target(theta)`` afterwards is ``grad_g^T (P + ...)^-1
        grad_g``.

        Args:
            candidates: Candidate inputs, ``[m, ...]`` (e.g. ``[m, 2]`` times [s] and
                temperatures [K]).
            target: Scalar function of the parameters whose uncertainty matters (e.g. t50).

        Returns:
            One row per candidate, best first: ``index``, ``variance_before``,
            ``variance_after``, ``reduction`` (of the variance of ``log target``).
        """
        vec = self._vector().detach()
        grad_g = jacrev(lambda v: target(self._unflatten(v)).log())(vec).reshape(-1)
        with settings.validate_inputs(False):
            jac = jacrev(lambda v: functional_call(self.model, self._unflatten(v), (candidates,)).reshape(-1))(vec)
        precision = torch.linalg.inv(self.cov)
        before = float(grad_g @ self.cov @ grad_g)
        rows = []
        for i in range(candidates.shape[0]):
            j = jac[i : i + 1]
            cov_after = torch.linalg.inv(precision + j.T @ j / self.noise_sd**2)
            after = float(grad_g @ cov_after @ grad_g)
            rows.append({"index": i, "variance_before": before, "variance_after": after, "reduction": before - after})
        return pd.DataFrame(rows).sort_values("reduction", ascending=False, kind="stable").reset_index(drop=True)


def laplace_posterior(
    model: torch.nn.Module,
    params: Mapping[str, Tensor],
    support: TensorData,
    *,
    noise_sd: float,
    prior_precision: Tensor | float,
    names: tuple[str, ...] | None = None,
) -> LaplacePosterior:
    """Laplace posterior at ``params`` for a least-squares calibration on ``support``.

    Args:
        model: The law.
        params: Posterior mode (e.g. ``Adapted.params``).
        support: The measurements the calibration used.
        noise_sd: Measurement noise standard deviation (target units).
        prior_precision: Prior precision of the adapted (unconstrained) parameters: a scalar
            (isotropic) or a ``[P, P]`` matrix, in units of 1 / parameter^2.
        names: Adapted parameter names (default: all of ``params``).

    Returns:
        The :class:`LaplacePosterior`.
    """
    if not noise_sd > 0:
        raise ValueError(f"noise_sd must be positive, got {noise_sd}.")
    names = tuple(names or params)
    base = {k: v.detach().double() for k, v in params.items()}
    x = support.x.double() if torch.is_floating_point(support.x) else support.x
    model64 = copy.deepcopy(model).double()  # never changes the caller's model
    vec = flatten_params(base, names)

    def predictions(v: Tensor) -> Tensor:
        return functional_call(model64, unflatten_params(v, base, names), (x,)).reshape(-1)

    with settings.validate_inputs(False):
        jac = jacrev(predictions)(vec)
    size = vec.numel()
    prior = torch.as_tensor(prior_precision, dtype=torch.float64)
    prior = prior * torch.eye(size, dtype=torch.float64) if prior.ndim == 0 else prior
    precision = jac.T @ jac / noise_sd**2 + prior + 1e-10 * torch.eye(size, dtype=torch.float64)
    cov = torch.linalg.inv(precision)
    cov = (cov + cov.T) / 2
    return LaplacePosterior(model64, base, names, cov, float(noise_sd))
