"""Bounded least-squares fitting of a physical law from scratch, one task at a time."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call, jacrev

from sciml.meta.adapted import Adapted, no_input_checks
from sciml.meta.functional import unflatten_params
from sciml.meta.learner import Learner
from sciml.models.laws.base import PhysicalLaw
from sciml.tasks import Task, TensorData


class CurveFit(Learner):
    """``scipy.optimize.curve_fit`` (trust-region reflective, box bounds) on the law's
    unconstrained parameters, from the law's :meth:`~PhysicalLaw.initial_guess`.

    Nothing is meta-learned: this is what a scientist does without a prior. When the fit
    fails (too few points, no convergence), the result is the initial guess and
    ``adapted.extras["converged"]`` is ``False``; the failure is never hidden.

    Args:
        model: A :class:`~sciml.models.laws.PhysicalLaw`.
        max_nfev: Function evaluations allowed per fit.
        start: Unconstrained starting values that replace those of the law's initial guess
            (e.g. ``{"log_n": 0.0}`` to start every fit at n = 1).
    """

    name = "curve_fit"
    needs_outer_gradient = False

    def __init__(self, model: PhysicalLaw, *, max_nfev: int = 2000, start: Mapping[str, float] | None = None) -> None:
        if not isinstance(model, PhysicalLaw):
            raise TypeError("CurveFit fits physical laws (sciml.models.laws); got " + type(model).__name__)
        super().__init__(model, inner_steps=0)
        self.max_nfev = int(max_nfev)
        self.start = dict(start or {})

    def get_config(self) -> dict[str, Any]:
        return {"max_nfev": self.max_nfev, "start": self.start}

    def fit(self, train_tasks: Any = None, val_tasks: Any = None, **kwargs: Any) -> CurveFit:
        """No meta-training. Returns ``self``."""
        self.history_ = []
        return self

    def _fit_one(self, x: Tensor, y: Tensor) -> tuple[dict[str, Tensor], bool, str]:
        from scipy.optimize import curve_fit

        law = self.model
        names = [n for n, _ in law.named_parameters()]
        bounds = law.bounds
        lo = np.array([bounds[n][0] for n in names], dtype=float)
        hi = np.array([bounds[n][1] for n in names], dtype=float)
        guess = {**law.initial_guess(x, y), **self.start}
        p0 = np.clip(np.array([guess[n] for n in names], dtype=float), lo + 1e-9, hi - 1e-9)
        xd, yd = x.detach().double(), y.detach().double()
        template = {n: p.detach().double() for n, p in law.named_parameters()}

        def as_params(theta: Tensor) -> dict[str, Tensor]:
            return unflatten_params(theta, template, names)

        def predict(theta: Tensor) -> Tensor:
            return functional_call(law, as_params(theta), (xd,)).reshape(-1)

        def f(_: Any, *theta: float) -> np.ndarray:
            return predict(torch.tensor(theta, dtype=torch.float64)).numpy()

        def jac(_: Any, *theta: float) -> np.ndarray:
            return jacrev(predict)(torch.tensor(theta, dtype=torch.float64)).numpy()

        converged, message = True, "ok"
        try:
            with warnings.catch_warnings(), no_input_checks():
                warnings.simplefilter("ignore")
                popt, _ = curve_fit(
                    f, None, yd.reshape(-1).numpy(), p0=p0, bounds=(lo, hi), jac=jac, method="trf", max_nfev=self.max_nfev
                )
        except (RuntimeError, ValueError, TypeError) as err:
            popt, converged, message = p0, False, f"{type(err).__name__}: {err}"
        if not np.all(np.isfinite(popt)):
            popt, converged, message = p0, False, "non-finite optimum"
        theta = torch.tensor(popt, dtype=torch.float64)
        dtype = self._dtype
        return {n: v.to(dtype) for n, v in as_params(theta).items()}, converged, message

    def adapt_many(self, supports: Sequence[TensorData | Task], steps: Sequence[int]) -> list[list[Adapted]]:
        out = []
        for i, s in enumerate(supports):
            x, y = self._support_tensors(s, f"support {i}")
            params, ok, msg = self._fit_one(x, y)
            out.append(
                [Adapted(self.model, params, self._buffers(), learner=self.name, steps=int(k), extras={"converged": ok, "message": msg}) for k in steps]
            )
        return out


