"""Fixed feature standardization as a module, so it travels with a model's weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sciml.models.config import Configurable


class Standardize(Configurable, nn.Module):
    """``(x - mean) / std`` with fixed statistics (buffers, saved in the state dict).

    Args:
        features: Feature count ``d``.

    Shapes:
        - input and output: ``[n, d]``
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.remember(features=features)
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    @classmethod
    def fitted(cls, x: Tensor, min_std: float = 1e-6) -> Standardize:
        """A standardization with the mean and standard deviation of ``x`` ``[n, d]`` (use the
        training data only)."""
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"Standardize.fitted needs [n >= 2, d] features, got shape {tuple(x.shape)}.")
        module = cls(x.shape[1])
        module.mean.copy_(x.mean(0))
        module.std.copy_(x.std(0).clamp_min(min_std))
        return module

    def forward(self, x: Tensor) -> Tensor:
        """Standardized features ``[n, d]``."""
        if x.ndim != 2 or x.shape[1] != self.mean.numel():
            raise ValueError(f"Standardize expects [n, {self.mean.numel()}] features, got shape {tuple(x.shape)}.")
        return (x - self.mean) / self.std
