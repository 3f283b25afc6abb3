"""Composition-only baselines fitted on the support set alone (no structure, no transfer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sciml.meta.contract import FewShotLearner


@dataclass
class _Linear:
    mean: float
    weights: np.ndarray
    x_mean: np.ndarray
    alpha: float

    def predict(self, batch: Any) -> Tensor:
        """Predictions ``[n, 1]`` from element fractions ``batch.comp`` ``[n, Z]``."""
        x = batch.comp.numpy().astype(float)
        return torch.as_tensor(self.mean + (x - self.x_mean) @ self.weights, dtype=torch.float32)[:, None]


@dataclass
class CompositionRidge(FewShotLearner):
    """Ridge regression on element fractions, with the penalty chosen by exact leave-one-out
    error on the support set (kernel form, so k below the 100 features is fine). With
    ``features=False`` it predicts the support mean.

    Args:
        alphas: Candidate penalties.
        features: Use the element fractions (``False``: intercept only).
    """

    alphas: Sequence[float] = tuple(np.logspace(-4, 2, 13))
    features: bool = True
    name: str = "ridge (composition)"
    inner_steps: int = 0

    def fit(self, *args: Any, **kwargs: Any) -> CompositionRidge:
        """Nothing to learn across tasks. Returns ``self``."""
        return self

    def _fit_one(self, x: np.ndarray, y: np.ndarray) -> _Linear:
        mean, x_mean = float(y.mean()), x.mean(0)
        if not self.features or len(y) < 3:
            return _Linear(mean, np.zeros(x.shape[1]), x_mean, float("inf"))
        xc, yc = x - x_mean, y - mean
        gram = xc @ xc.T
        best = (np.inf, None, None)
        for a in self.alphas:
            inv = np.linalg.inv(gram + a * np.eye(len(y)))
            hat = gram @ inv
            loo = (yc - hat @ yc) / np.clip(1 - np.diag(hat) - 1 / len(y), 1e-9, None)
            err = float(np.mean(loo**2))
            if err < best[0]:
                best = (err, a, xc.T @ (inv @ yc))
        return _Linear(mean, best[2], x_mean, float(best[1]))

    def adapt_many(self, supports: Sequence[Any], steps: Sequence[int]) -> list[list[_Linear]]:
        """One fitted model per support set (the same for every step count)."""
        out = []
        for s in supports:
            data = getattr(s, "support", s)
            x = torch.cat([g.comp for g in data.graphs]).numpy().astype(float)
            y = data.y.reshape(len(data), -1)[:, 0].numpy().astype(float)
            model = self._fit_one(x, y)
            out.append([model for _ in steps])
        return out
