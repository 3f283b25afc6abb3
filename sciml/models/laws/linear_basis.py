"""Linear regression on a fixed basis: its meta-learned initialization is a regression prior."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sciml.models.laws.base import PhysicalLaw, Quantity, as_column


class LinearBasis(PhysicalLaw):
    r"""Polynomial regression ``y = sum_j w_j (x / s)^j``.

    .. math::
        y(x) = \sum_{j=0}^{d} w_j \left(\frac{x}{s}\right)^j

    Meta-learning the initialization of ``w`` across tasks learns a prior mean; Meta-SGD's
    per-coefficient learning rates act like a prior's per-coefficient scale.

    Args:
        degree: Polynomial degree ``d``.
        x_scale: Scale ``s`` of the input (in the input's unit), so features stay O(1).
        weights: Initial coefficients (length ``d + 1``); zeros by default.
        x_unit: Unit of ``x``; ``y_unit``: unit of ``y`` (reported by ``physical_params``).

    Shapes:
        - input: ``[n]`` or ``[n, 1]``
        - output: ``[n]``
    """

    def __init__(
        self,
        degree: int = 1,
        x_scale: float = 1.0,
        weights: Sequence[float] | None = None,
        x_unit: str = "1",
        y_unit: str = "1",
    ) -> None:
        super().__init__()
        if degree < 0:
            raise ValueError(f"LinearBasis: degree must be >= 0, got {degree}.")
        if not x_scale > 0:
            raise ValueError(f"LinearBasis: x_scale must be positive, got {x_scale}.")
        w = torch.zeros(degree + 1) if weights is None else torch.tensor([float(v) for v in weights])
        if w.numel() != degree + 1:
            raise ValueError(f"LinearBasis: {w.numel()} weights given for degree {degree} (need {degree + 1}).")
        self.remember(degree=degree, x_scale=x_scale, weights=None if weights is None else list(weights), x_unit=x_unit, y_unit=y_unit)
        self.degree, self.x_scale, self.x_unit, self.y_unit = degree, float(x_scale), x_unit, y_unit
        self.weight = nn.Parameter(w)

    def features(self, x: Tensor) -> Tensor:
        """Basis functions, shape ``[n, d + 1]``."""
        z = as_column(x, "LinearBasis", "x") / self.x_scale
        return torch.stack([z**j for j in range(self.degree + 1)], dim=-1)

    def evaluate(self, x: Tensor) -> Tensor:
        return self.features(x) @ self.weight

    def initial_guess(self, x: Tensor, y: Tensor) -> dict[str, Any]:
        """The least-squares weights (the model is linear in them), as a list under ``weight``."""
        feats = self.features(x.to(self.weight.dtype))
        sol = torch.linalg.lstsq(feats, y.to(feats.dtype).reshape(-1, 1)).solution.reshape(-1)
        return {"weight": [float(v) for v in sol]}

    def physical_params(self, params: Mapping[str, Tensor] | None = None) -> dict[str, Quantity]:
        w = self._get(params, "weight")
        return {
            f"w{j}": Quantity(w[..., j], f"{self.y_unit} per ({self.x_unit}/{self.x_scale:g})^{j}", f"coefficient of degree {j}")
            for j in range(self.degree + 1)
        }
