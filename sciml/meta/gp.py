r"""A Gaussian-process head on learned features, meta-learned across tasks (deep-kernel transfer).

The Bayesian view of few-shot learning (Patacchiola et al. 2020, "Bayesian Meta-Learning for
the Few-Shot Setting via Deep Kernels"; Chen et al. 2023, ADKF-IFT): each task is a Gaussian
process over a shared feature map :math:`\phi`, with an RBF kernel

.. math:: k(a, b) = s^2 \exp\left(-\frac{\lVert \phi(a) - \phi(b) \rVert^2}{2 \ell^2}\right),

constant mean :math:`m` and noise variance :math:`\sigma^2`. Calibrating to a support set is
exact GP conditioning (no gradient steps); the predictive mean and variance at a query point are

.. math:: \mu = m + k_*^\top (K + \sigma^2 I)^{-1} (t - m), \qquad
          v = s^2 - k_*^\top (K + \sigma^2 I)^{-1} k_*.

For binary labels the targets are :math:`t = 2y - 1` and the class probability is the probit of
the predictive distribution, :math:`p(y = 1) = \Phi(\beta \mu / \sqrt{1 + \beta^2 v})`, with a
learned scale :math:`\beta`: uncertain points are pulled towards 0.5. For real targets the
prediction is Gaussian with variance :math:`v + \sigma^2`.

What is meta-learned (outer loop, across training tasks): the feature map's weights and
:math:`\ell, s, \sigma, m, \beta`, by the predictive log-likelihood of each task's query set
given its support set, so the probabilities are trained to be calibrated on tasks like the
training tasks. The Cholesky factorization is batched over tasks by ``vmap`` like every other
learner's inner loop.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from sciml.meta.adapted import Adapted, no_input_checks
from sciml.meta.learner import Learner
from sciml.tasks import Task, TensorData

_PREFIX = "gp:"
HYPERPARAMETERS = ("log_lengthscale", "log_outputscale", "log_noise", "mean", "log_probit_scale")
"""Meta-learned kernel and likelihood parameters (scalars), by name."""
JITTER = 1e-5
"""Added to the kernel diagonal (besides the noise) so the Cholesky factorization never fails."""


def rbf_kernel(a: Tensor, b: Tensor, lengthscale: Tensor, outputscale: Tensor) -> Tensor:
    """RBF kernel matrix ``[n, m]`` between features ``a`` ``[n, d]`` and ``b`` ``[m, d]``."""
    sq = (a * a).sum(-1)[:, None] + (b * b).sum(-1)[None, :] - 2.0 * a @ b.T
    return outputscale * torch.exp(-0.5 * sq.clamp_min(0.0) / lengthscale**2)


def gp_posterior(support: Tensor, targets: Tensor, query: Tensor, hyper: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Predictive mean and latent variance of a GP conditioned on a support set.

    Args:
        support: Support features ``[n, d]``.
        targets: Support targets ``[n]``.
        query: Query features ``[m, d]``.
        hyper: :data:`HYPERPARAMETERS` (scalar tensors, log-scale where named so).

    Returns:
        ``(mean [m], variance [m])`` of the latent function (add ``exp(2 log_noise)`` for the
        variance of a new noisy observation), in ``query``'s dtype. The conditioning runs in
        float64: far from the support the kernel is tiny, and in float32 ``mean + k^T alpha``
        rounds to ``mean``, so distant queries would tie.
    """
    dtype = query.dtype
    support, targets, query = support.double(), targets.double(), query.double()
    hyper = {k: v.double() for k, v in hyper.items()}
    ls, os_ = hyper["log_lengthscale"].exp(), hyper["log_outputscale"].exp() ** 2
    noise = hyper["log_noise"].exp() ** 2
    n = support.shape[0]
    eye = torch.eye(n, dtype=support.dtype, device=support.device)
    chol = torch.linalg.cholesky(rbf_kernel(support, support, ls, os_) + (noise + JITTER) * eye)
    alpha = torch.cholesky_solve((targets - hyper["mean"]).unsqueeze(-1), chol)
    cross = rbf_kernel(query, support, ls, os_)
    mean = hyper["mean"] + (cross @ alpha).squeeze(-1)
    v = torch.linalg.solve_triangular(chol, cross.T, upper=False)
    return mean.to(dtype), (os_ - (v * v).sum(0)).clamp_min(1e-10).to(dtype)


def probit_logit(mean: Tensor, variance: Tensor, scale: Tensor) -> Tensor:
    r"""Logit of :math:`\Phi(\beta \mu / \sqrt{1 + \beta^2 v})`, computed in log space."""
    z = (scale * mean.double() / torch.sqrt(1.0 + scale.double() ** 2 * variance.double()))
    with warnings.catch_warnings():  # under vmap log_ndtr runs per task (no batching rule): correct, a little slower
        warnings.filterwarnings("ignore", message=".*special_log_ndtr.*")
        return (torch.special.log_ndtr(z) - torch.special.log_ndtr(-z)).to(mean.dtype)


class DeepKernelGP(Learner):
    """Gaussian-process head on a meta-learned feature map (see the module docstring).

    Args:
        model: Feature map ``[n, ...] -> [n, d]`` (e.g. an MLP on frozen molecule embeddings,
            or ``nn.Identity()`` to learn only the kernel).
        task: ``"classification"`` (binary 0/1 labels; ``predict`` returns logits ``[n, 1]``
            of calibrated probabilities) or ``"regression"`` (real targets; ``predict`` returns
            the predictive mean ``[n, 1]``, :meth:`predictive` mean and variance).
        lengthscale, outputscale, noise: Initial kernel lengthscale (in feature units), output
            standard deviation and noise standard deviation (in target units).
        outer_lr, meta_batch_size: As for :class:`~sciml.meta.Learner`.
    """

    name = "DeepKernelGP"

    def __init__(self, model: nn.Module, *, task: str = "classification", lengthscale: float = 1.0, outputscale: float = 1.0,
                 noise: float = 0.3, outer_lr: float = 1e-3, meta_batch_size: int = 4, **kwargs: Any) -> None:
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")
        for label, value in (("lengthscale", lengthscale), ("outputscale", outputscale), ("noise", noise)):
            if not value > 0:
                raise ValueError(f"{label} must be > 0, got {value}.")
        kwargs.setdefault("inner_steps", 0)
        kwargs.pop("loss", None)
        super().__init__(model, loss="bce" if task == "classification" else "mse", outer_lr=outer_lr,
                         meta_batch_size=meta_batch_size, **kwargs)
        self.task, self.init_scales = task, (float(lengthscale), float(outputscale), float(noise))
        start = {"log_lengthscale": math.log(lengthscale), "log_outputscale": math.log(outputscale), "log_noise": math.log(noise),
                 "mean": 0.0, "log_probit_scale": 0.0}
        self.hyper = nn.ParameterDict({k: nn.Parameter(torch.tensor(v, dtype=self._dtype)) for k, v in start.items()})

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("loss")
        ls, os_, noise = self.init_scales
        return {**cfg, "task": self.task, "lengthscale": ls, "outputscale": os_, "noise": noise}

    def extra_meta_parameters(self) -> dict[str, nn.Parameter]:
        hyper = getattr(self, "hyper", None)  # None while __init__ builds it
        return {_PREFIX + k: p for k, p in hyper.items()} if hyper is not None else {}

    def hyperparameters(self) -> dict[str, float]:
        """The meta-learned kernel: ``lengthscale``, ``outputscale`` and ``noise`` (standard
        deviations), ``mean`` and ``probit_scale``."""
        h = {k: float(p.detach()) for k, p in self.hyper.items()}
        return {"lengthscale": math.exp(h["log_lengthscale"]), "outputscale": math.exp(h["log_outputscale"]),
                "noise": math.exp(h["log_noise"]), "mean": h["mean"], "probit_scale": math.exp(h["log_probit_scale"])}

    def _check_against_output(self, y: Tensor, out_shape: tuple[int, ...], task: str) -> None:
        if self.task == "classification":
            if y.ndim != 1 or (len(y) and not bool(((y == 0) | (y == 1)).all())):
                raise ValueError(f"Task {task!r}: a GP classifier needs labels 0/1 of shape [n]; got {y.dtype} {list(y.shape)}.")
        elif torch.is_floating_point(y) is False or not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
            raise ValueError(f"Task {task!r}: GP regression needs real targets of shape [n] or [n, 1]; got {y.dtype} {list(y.shape)}.")

    def _targets(self, y: Tensor, dtype: torch.dtype) -> Tensor:
        y = y.reshape(-1).to(dtype)
        return 2.0 * y - 1.0 if self.task == "classification" else y

    def task_loss(self, meta: Mapping[str, Tensor], sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
        """Negative predictive log-likelihood of the query labels given the support set."""
        params, buffers = self._model_params(meta), self._buffers()
        zs = functional_call(self.model, (params, buffers), (sx,))
        zq = functional_call(self.model, (params, buffers), (qx,))
        hyper = {k: meta[_PREFIX + k] for k in HYPERPARAMETERS}
        mean, var = gp_posterior(zs, self._targets(sy, zs.dtype), zq, hyper)
        if self.task == "classification":
            logit = probit_logit(mean, var, hyper["log_probit_scale"].exp())
            return nn.functional.binary_cross_entropy_with_logits(logit, qy.reshape(-1).to(logit.dtype))
        total = var + hyper["log_noise"].exp() ** 2
        return 0.5 * (torch.log(2 * math.pi * total) + (qy.reshape(-1).to(mean.dtype) - mean) ** 2 / total).mean()

    def adapt_many(self, supports: Sequence[TensorData | Task], steps: Sequence[int]) -> list[list[Adapted]]:
        """Condition on each support set (exact; ``steps`` only label the results)."""
        meta = self._meta()
        module = _GPPredictor(self.model, self.task)
        out = []
        for i, s in enumerate(supports):
            x, y = self._support_tensors(s, f"support {i}")
            if self.task == "classification" and len(set(y.tolist())) < 2:
                raise ValueError(f"Support {i}: a GP classifier needs both labels (0 and 1) in the support set.")
            params = {**{f"features.{k}": v for k, v in self._model_params(meta).items()},
                      **{f"hyper.{k}": meta[_PREFIX + k] for k in HYPERPARAMETERS},
                      "support_x": x, "support_t": self._targets(y, self._dtype)}
            buffers = {f"features.{k}": v for k, v in self._buffers().items()}
            out.append([Adapted(module, params, buffers, learner=self.name, steps=int(n)) for n in steps])
        return out

    def predictive(self, adapted: Adapted, x: Tensor) -> tuple[Tensor, Tensor]:
        """Predictive mean ``[n]`` and variance ``[n]`` of an adapted GP at inputs ``x``: the
        latent function for classification (in units of the +-1 targets), a new noisy
        observation for regression (target units squared)."""
        with torch.no_grad(), no_input_checks():
            mean, var = functional_call(adapted.model, ({**adapted.params}, {**adapted.buffers}), (x,),
                                        kwargs={"moments": True})
        if self.task == "regression":
            var = var + adapted.params["hyper.log_noise"].exp() ** 2
        return mean, var


class _GPPredictor(nn.Module):
    """Feature map + hyperparameters + one support set as a module, so ``Adapted.predict``
    returns logits (classification) or predictive means (regression) ``[n, 1]``."""

    def __init__(self, features: nn.Module, task: str) -> None:
        super().__init__()
        self.features, self.task = features, task
        self.hyper = nn.ParameterDict({k: nn.Parameter(torch.zeros(()), requires_grad=False) for k in HYPERPARAMETERS})
        self.support_x = nn.Parameter(torch.zeros(1, 1), requires_grad=False)
        self.support_t = nn.Parameter(torch.zeros(1), requires_grad=False)

    def forward(self, x: Tensor, moments: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        hyper = dict(self.hyper.items())
        mean, var = gp_posterior(self.features(self.support_x), self.support_t, self.features(x), hyper)
        if moments:
            return mean, var
        if self.task == "classification":
            return probit_logit(mean, var, hyper["log_probit_scale"].exp()).unsqueeze(-1)
        return mean.unsqueeze(-1)
