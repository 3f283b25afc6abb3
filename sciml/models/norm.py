"""Normalization layers selectable by name, shared by the graph encoders."""

from __future__ import annotations

from torch import nn

NORMS = ("batch", "layer", "none")
"""``"batch"``: BatchNorm1d (couples the examples of a batch); ``"layer"``: LayerNorm per node
(each example on its own); ``"none"``: identity."""


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
    return nn.LayerNorm(width) if norm == "layer" else nn.Identity()
