"""Normalization layers selectable by name, shared by the graph encoders."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

NORMS = ("batch", "frozen_batch", "layer", "none")
"""``"batch"``: BatchNorm1d (couples the examples of a batch); ``"frozen_batch"``: BatchNorm
with fixed statistics (:class:`FrozenBatchNorm`, each example on its own); ``"layer"``:
LayerNorm per node (each example on its own); ``"none"``: identity."""


class FrozenBatchNorm(nn.Module):
    """BatchNorm whose statistics are fixed buffers: ``(x - mean) / sqrt(var + eps) * w + b``.

    The statistics are not updated and do not depend on the batch, so an example's output
    depends on that example alone, in training and at prediction alike. Load them from a
    trained ``nn.BatchNorm1d`` (its ``state_dict`` loads directly; ``num_batches_tracked`` is
    ignored); the affine ``weight`` and ``bias`` stay trainable. Fresh, the layer is the
    identity.

    Args:
        width: Features ``C``.
        eps: Added to the variance.

    Shapes:
        - input and output: ``[N, C]``
    """

    def __init__(self, width: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))
        self.register_buffer("running_mean", torch.zeros(width))
        self.register_buffer("running_var", torch.ones(width))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.running_mean) * torch.rsqrt(self.running_var + self.eps) * self.weight + self.bias


def check_norm(norm: str) -> str:
    """``norm`` if it is one of :data:`NORMS`; ``ValueError`` naming the choices otherwise."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {sorted(NORMS)}, got {norm!r}.")
    return norm


def norm_layer(norm: str, width: int) -> nn.Module:
    """A fresh normalization layer of ``width`` features."""
    check_norm(norm)
    if norm == "batch":
        return nn.BatchNorm1d(width)
    if norm == "frozen_batch":
        return FrozenBatchNorm(width)
    return nn.LayerNorm(width) if norm == "layer" else nn.Identity()
