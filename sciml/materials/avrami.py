"""The linearized Avrami plot: the classical hand calibration of JMAK kinetics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from sciml.meta.adapted import Adapted
from sciml.meta.learner import Learner
from sciml.models.laws import GAS_CONSTANT, JMAK, JMAKArrhenius
from sciml.tasks import Task, TensorData

USABLE_X = (0.02, 0.98)


def _line(x: Tensor, y: Tensor) -> tuple[float, float]:
    xm, ym = x.mean(), y.mean()
    slope = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
    return slope, float(ym - slope * xm)


class AvramiPlot(Learner):
    r"""Fit ``ln(-ln(1 - X)) = n ln t + n ln k`` by least squares per isotherm (points with
    0.02 < X < 0.98 only), average ``n`` over isotherms, and, for :class:`JMAKArrhenius`,
    regress ``ln k`` on ``1/T`` for ``Q`` (an Arrhenius plot).

    It needs two usable points on an isotherm, and two isotherms for ``Q``; otherwise (or for
    a non-physical ``n <= 0`` or ``Q <= 0``) the calibration fails: its parameters are NaN and
    ``extras["converged"]`` is ``False``, so metrics count it as diverged.

    Args:
        model: :class:`JMAK` (input: time [s]) or :class:`JMAKArrhenius` (time, temperature).
    """

    name = "Avrami plot"
    needs_outer_gradient = False

    def __init__(self, model: JMAK | JMAKArrhenius) -> None:
        if not isinstance(model, (JMAK, JMAKArrhenius)) or (isinstance(model, JMAK) and model.incubation):
            raise TypeError("AvramiPlot fits JMAK (without incubation) or JMAKArrhenius laws.")
        super().__init__(model, inner_steps=0)

    def get_config(self) -> dict[str, Any]:
        return {}

    def fit(self, train_tasks: Any = None, val_tasks: Any = None, **_: Any) -> AvramiPlot:
        """Nothing to learn. Returns ``self``."""
        self.history_ = []
        return self

    def _fit_one(self, x: Tensor, y: Tensor) -> tuple[dict[str, float], str]:
        arrhenius = isinstance(self.model, JMAKArrhenius)
        t = x[:, 0].double() if arrhenius else x.reshape(-1).double()
        temps = x[:, 1].double() if arrhenius else torch.zeros_like(t)
        y = y.double()
        ns, lnks, inv_t, weights = [], [], [], []
        for temp in torch.unique(temps):
            keep = (temps == temp) & (y > USABLE_X[0]) & (y < USABLE_X[1]) & (t > 0)
            if int(keep.sum()) < 2 or torch.unique(t[keep]).numel() < 2:
                continue
            n, b = _line(t[keep].log(), torch.log(-torch.log1p(-y[keep])))
            if n <= 0:
                return {}, f"non-physical slope n = {n:.3g} at T = {float(temp):g}"
            ns.append(n)
            lnks.append(b / n)
            inv_t.append(1.0 / float(temp) if arrhenius else 0.0)
            weights.append(int(keep.sum()))
        if not ns:
            return {}, "no isotherm has two points with 0.02 < X < 0.98"
        n = sum(w * v for w, v in zip(weights, ns)) / sum(weights)
        if not arrhenius:
            return {"log_k": lnks[0], "log_n": math.log(n)}, "ok"
        if len(set(inv_t)) < 2:
            return {}, "Q needs usable points at two temperatures"
        slope, intercept = _line(torch.tensor(inv_t, dtype=torch.float64), torch.tensor(lnks, dtype=torch.float64))
        q = -slope * GAS_CONSTANT / 1e3
        if q <= 0:
            return {}, f"non-physical activation energy Q = {q:.3g} kJ/mol"
        ln_k_ref = intercept + slope / self.model.T_ref
        return {"log_k_ref": ln_k_ref, "log_Q": math.log(q), "log_n": math.log(n)}, "ok"

    def adapt_many(self, supports: Sequence[TensorData | Task], steps: Sequence[int]) -> list[list[Adapted]]:
        out = []
        for i, s in enumerate(supports):
            x, y = self._support_tensors(s, f"support {i}")
            values, msg = self._fit_one(x, y)
            params = {
                n: torch.tensor(values.get(n, float("nan")), dtype=self._dtype).reshape(p.shape)
                for n, p in self.model.named_parameters()
            }
            ad = Adapted(self.model, params, self._buffers(), learner=self.name, extras={"converged": msg == "ok", "message": msg})
            out.append([ad for _ in steps])
        return out
