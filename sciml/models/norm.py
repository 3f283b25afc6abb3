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


def norm_per_task_applies(layer: nn.Module) -> bool:
    """Whether :func:`norm_with` reproduces ``layer`` on one task's rows with given affine
    parameters: LayerNorm, identity, :class:`FrozenBatchNorm`, and BatchNorm without running
    statistics (as the meta-learning engine leaves it: statistics of each forward call's batch).
    BatchNorm that tracks running statistics updates buffers in ``forward``, so it does not."""
    if isinstance(layer, nn.BatchNorm1d):
        return layer.running_mean is None and layer.running_var is None
    return isinstance(layer, (nn.LayerNorm, nn.Identity, FrozenBatchNorm))


def norm_with(layer: nn.Module, x: Tensor, params: dict[str, Tensor]) -> Tensor:
    """``layer``'s normalization of ``x`` ``[n, C]`` with the affine ``params["weight"]`` and
    ``params["bias"]`` ``[C]`` in place of its own (no entries for an identity layer): one task's
    rows in a task-batched forward pass. Raises ``ValueError`` where
    :func:`norm_per_task_applies` is false."""
    if not norm_per_task_applies(layer):
        raise ValueError(f"{type(layer).__name__} with running statistics cannot be applied per task; run the tasks one by one.")
    if isinstance(layer, nn.Identity):
        return x
    if isinstance(layer, nn.LayerNorm):
        return nn.functional.layer_norm(x, layer.normalized_shape, params["weight"], params["bias"], layer.eps)
    if isinstance(layer, FrozenBatchNorm):
        return (x - layer.running_mean) * torch.rsqrt(layer.running_var + layer.eps) * params["weight"] + params["bias"]
    return nn.functional.batch_norm(x, None, None, params["weight"], params["bias"], training=True, eps=layer.eps)
