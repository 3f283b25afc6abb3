"""Dense task data: inputs and targets as tensors with a shared leading dimension."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


def _nan_rows(t: Tensor) -> Tensor:
    if not torch.is_floating_point(t):
        return torch.zeros(t.shape[0], dtype=torch.bool)
    if t.numel() == 0:
        return torch.zeros(t.shape[0], dtype=torch.bool)
    flat = t.reshape(t.shape[0], -1)
    return ~torch.isfinite(flat).all(dim=1)


@dataclass(frozen=True)
class TensorData:
    """Inputs ``x`` and targets ``y`` of one set of measurements (a support or a query set).

    Args:
        x: Inputs, shape ``[n, ...]`` (for a law, e.g. times in s, shape ``[n]``, or
            ``[n, 2]`` for time [s] and temperature [K]).
        y: Targets, shape ``[n, ...]`` (float for regression, int64 class indices for
            classification).

    Raises:
        ValueError: if ``x`` and ``y`` disagree on ``n`` or contain NaN/inf values.
    """

    x: Tensor
    y: Tensor

    def __post_init__(self) -> None:
        x = self.x if isinstance(self.x, Tensor) else torch.as_tensor(self.x)
        y = self.y if isinstance(self.y, Tensor) else torch.as_tensor(self.y)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError("x and y need a leading dimension (one row per measurement); got a scalar.")
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"x has {x.shape[0]} rows but y has {y.shape[0]}: every measurement needs one input "
                "row and one target."
            )
        for label, t in (("x", x), ("y", y)):
            bad = _nan_rows(t)
            if bad.any():
                rows = torch.nonzero(bad).flatten().tolist()
                shown = ", ".join(str(r) for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
                raise ValueError(
                    f"{label} contains NaN or infinite values in {len(rows)} row(s) ({shown}); drop or "
                    "impute those measurements before building the task."
                )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def signature(self) -> tuple[Any, ...]:
        """Shapes and dtypes: tasks with equal signatures can be stacked and vmapped."""
        return (tuple(self.x.shape), self.x.dtype, tuple(self.y.shape), self.y.dtype)

    def subset(self, index: Tensor | Sequence[int]) -> TensorData:
        """Rows ``index`` (a sequence of ints or a 1-D index tensor), as new data."""
        idx = torch.as_tensor(index, dtype=torch.long)
        return TensorData(self.x[idx], self.y[idx])

    def concat(self, other: TensorData) -> TensorData:
        """These rows followed by ``other``'s rows."""
        return TensorData(torch.cat([self.x, other.x]), torch.cat([self.y, other.y]))

    def to(self, *args: Any, **kwargs: Any) -> TensorData:
        """Move floating-point tensors (``x``; ``y`` when float) like ``Tensor.to``."""
        y = self.y.to(*args, **kwargs) if torch.is_floating_point(self.y) else self.y.to(
            device=kwargs.get("device", args[0] if args and not isinstance(args[0], torch.dtype) else None)
        )
        x = self.x.to(*args, **kwargs) if torch.is_floating_point(self.x) else self.x
        return TensorData(x, y)

    @staticmethod
    def empty_like(other: TensorData) -> TensorData:
        """Zero rows with ``other``'s trailing shapes and dtypes."""
        return TensorData(other.x[:0], other.y[:0])
