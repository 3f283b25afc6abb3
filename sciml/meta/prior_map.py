"""Empirical hierarchical Bayes: a Gaussian prior estimated from full fits of training tasks."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from sciml.meta.curve_fit import CurveFit
from sciml.meta.functional import flatten_params, unflatten_params
from sciml.meta.learner import Learner
from sciml.models.laws.base import PhysicalLaw
from sciml.tasks import Task


class PriorMAP(Learner):
    """Pooled-prior MAP: fit every training task with all its points (bounded ``curve_fit``),
    take the mean and covariance of the fitted unconstrained parameters as a Gaussian prior,
    and calibrate a new task by the MAP estimate under that prior (Gauss-Newton to
    convergence). No meta-learning: the prior is estimated, not optimized for few-shot loss.

    Args:
        model: A physical law (its parameters become the prior mean in ``fit``).
        inner_steps: Gauss-Newton iterations of the MAP fit.
        shrinkage: Weight of the diagonal in the covariance estimate (few training tasks give
            a rank-deficient sample covariance).
        min_sd: Floor of each prior standard deviation (unconstrained units).

    Learned state (after ``fit``): ``prior_mean_``, ``prior_cov_``, ``noise_sd_`` (RMS residual
    of the training fits) and ``fits_`` (per-task fitted parameters: a float per scalar
    parameter, a list per vector parameter).
    """

    name = "pooled-prior MAP"
    needs_outer_gradient = False

    def __init__(self, model: PhysicalLaw, *, inner_steps: int = 30, shrinkage: float = 0.2, min_sd: float = 0.05, **kwargs: Any) -> None:
        if not isinstance(model, PhysicalLaw):
            raise TypeError("PriorMAP needs a physical law (sciml.models.laws).")
        kwargs.setdefault("inner_damping", 1e-3)
        super().__init__(model, inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=inner_steps, **kwargs)
        self.shrinkage, self.min_sd = float(shrinkage), float(min_sd)
        self.prior_mean_: Tensor | None = None
        self.prior_cov_: Tensor | None = None
        self.noise_sd_: float | None = None
        self.fits_: list[dict[str, Any]] = []

    def get_config(self) -> dict[str, Any]:
        cfg = {k: v for k, v in super().get_config().items() if k in ("inner_steps", "inner_damping")}
        return {**cfg, "shrinkage": self.shrinkage, "min_sd": self.min_sd}

    def fit(self, train_tasks: Sequence[Task], val_tasks: Any = None, **_: Any) -> PriorMAP:
        """Estimate the prior from full fits of ``train_tasks``. Returns ``self``."""
        tasks = list(train_tasks)
        if len(tasks) < 2:
            raise ValueError("PriorMAP needs at least two training tasks to estimate a prior.")
        fitter = CurveFit(copy.deepcopy(self.model).double())
        names = self._adapt_names
        thetas, sq, count = [], 0.0, 0
        self.fits_ = []
        for task in tasks:
            ad = fitter.adapt(task.data)
            vec = flatten_params(ad.params, names).double()
            thetas.append(vec)
            self.fits_.append({"task": task.name, **{n: ad.params[n].item() if ad.params[n].numel() == 1 else ad.params[n].tolist()
                                                      for n in names}})
            x, y = fitter._tensors(task.data)
            r = ad.predict(x).reshape(-1) - y.reshape(-1)
            sq, count = sq + float((r**2).sum()), count + r.numel()
        self._set_prior(torch.stack(thetas), (sq / max(count, 1)) ** 0.5)
        self.history_ = []
        return self

    def fit_samples(self, samples: Tensor, noise_sd: float) -> PriorMAP:
        """Estimate the prior from parameter sets instead of data, e.g. a literature table of
        fitted constants (one row per material). Returns ``self``.

        Args:
            samples: Unconstrained parameter vectors ``[m, P]`` (``m >= 2``) in the order of the
                adapted parameters (``learner._adapt_names``; e.g. ``log_n`` for ``n``).
            noise_sd: Measurement noise of the data the prior will calibrate, in target units
                (parameter tables carry no residuals: state it).

        Raises:
            ValueError: for fewer than two sets, a wrong width, non-finite values or a
                non-positive noise level.
        """
        samples = torch.as_tensor(samples, dtype=torch.float64)
        size = sum(dict(self.model.named_parameters())[n].numel() for n in self._adapt_names)
        if samples.ndim != 2 or samples.shape[0] < 2 or samples.shape[1] != size:
            raise ValueError(f"samples must have shape [m >= 2, {size}] (parameters {list(self._adapt_names)}); got {tuple(samples.shape)}.")
        if not torch.isfinite(samples).all():
            raise ValueError("samples contain NaN or infinite values; drop those parameter sets.")
        if not noise_sd > 0:
            raise ValueError(f"noise_sd must be positive, got {noise_sd}.")
        self.fits_ = []
        self._set_prior(samples, float(noise_sd))
        self.history_ = []
        return self

    def _set_prior(self, theta: Tensor, noise_sd: float) -> None:
        """Prior mean and shrunk covariance of the parameter sets ``theta [m, P]``; the model's
        parameters move to the mean."""
        names = self._adapt_names
        mean = theta.mean(0)
        cov = torch.cov(theta.T).reshape(len(mean), len(mean)) if len(theta) > 1 else torch.zeros(len(mean), len(mean))
        cov = (1 - self.shrinkage) * cov + self.shrinkage * torch.diag(torch.diag(cov))
        cov = cov + torch.diag((self.min_sd**2 - torch.diag(cov)).clamp_min(0.0))
        self.prior_mean_, self.prior_cov_ = mean, cov
        self.noise_sd_ = noise_sd
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for n, value in unflatten_params(mean, params, names).items():
                if n in names:
                    params[n].copy_(value.to(params[n].dtype))

    def prior_precision_matrix(self) -> Tensor:
        """``noise_sd^2 * inv(prior_cov)``: the prior in units of summed squared residuals."""
        if self.prior_cov_ is None or self.noise_sd_ is None:
            raise RuntimeError("PriorMAP has no prior yet: call fit(train_tasks) first.")
        return self.noise_sd_**2 * torch.linalg.inv(self.prior_cov_).to(self._dtype)

    def state_dict(self) -> dict[str, Tensor]:
        state = super().state_dict()
        if self.prior_cov_ is not None:
            state["prior.mean"], state["prior.cov"] = self.prior_mean_, self.prior_cov_
            state["prior.noise_sd"] = torch.tensor(self.noise_sd_)
        return state

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        super().load_state_dict({k: v for k, v in state.items() if not k.startswith("prior.")})
        if "prior.cov" in state:
            self.prior_mean_, self.prior_cov_ = state["prior.mean"], state["prior.cov"]
            self.noise_sd_ = float(state["prior.noise_sd"])
