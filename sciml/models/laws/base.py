"""Base class of parametric physical laws."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sciml import settings
from sciml.models.config import Configurable

GAS_CONSTANT = 8.314462618  # J / (mol K)


@dataclass(frozen=True)
class Quantity:
    """A physical parameter value with its unit.

    Attributes:
        value: The value (a 0-d tensor, or ``[B]`` for batched parameters).
        unit: Unit string, e.g. ``"1/s"``, ``"kJ/mol"``, ``"1"`` for dimensionless.
        description: What the parameter means.
    """

    value: Tensor
    unit: str
    description: str = ""

    def __float__(self) -> float:
        return float(self.value.detach())

    def __repr__(self) -> str:
        v = self.value.detach()
        shown = f"{float(v):.4g}" if v.numel() == 1 else f"tensor{tuple(v.shape)}"
        return f"{shown} {self.unit}"


class PhysicalLaw(Configurable, nn.Module):
    """A parametric law: a few named parameters stored unconstrained (``log_k``, ...).

    Subclasses define :meth:`evaluate` (the equation), :meth:`physical_params` (names and
    units), :meth:`check_inputs` and :meth:`check_targets`, and :attr:`bounds` (box bounds on
    the unconstrained parameters, used by bounded curve fitting).

    ``forward`` validates its input (unless :class:`sciml.settings.validate_inputs` is off, as
    inside the meta-learning engine, which validates each task once beforehand).
    """

    input_description: str = "x"
    target_description: str = "y"

    def forward(self, x: Tensor) -> Tensor:
        """Evaluate the law (validating ``x`` first)."""
        if settings.validate_inputs.on():
            self.check_inputs(x)
        return self.evaluate(x)

    def evaluate(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The equation, without input checks."""
        raise NotImplementedError

    def check_inputs(self, x: Tensor) -> None:
        """Raise ``ValueError`` naming the problem if ``x`` is not valid input."""
        _check_finite(x, self.input_description, type(self).__name__)

    def check_targets(self, y: Tensor) -> None:
        """Raise ``ValueError`` naming the problem if ``y`` are not valid measurements."""
        _check_finite(y, self.target_description, type(self).__name__)

    def physical_params(self, params: Mapping[str, Tensor] | None = None) -> dict[str, Quantity]:
        """Named parameters with units (derived quantities included)."""
        raise NotImplementedError

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        """Box bounds of every unconstrained parameter (for bounded fitting)."""
        return {name: (-math.inf, math.inf) for name, _ in self.named_parameters()}

    def initial_guess(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """A starting point for fitting from scratch; defaults to the current values."""
        return {name: float(p) for name, p in self.named_parameters()}

    def _get(self, params: Mapping[str, Tensor] | None, name: str) -> Tensor:
        if params is not None and name in params:
            return params[name]
        return getattr(self, name)


def _check_finite(t: Tensor, what: str, law: str) -> None:
    if t.numel() and torch.is_floating_point(t) and not torch.isfinite(t).all():
        rows = torch.nonzero(~torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1)).flatten().tolist()
        raise ValueError(f"{law}: {what} contains NaN or infinite values at rows {rows[:10]}; drop or fix them.")


def check_kelvin(T: Tensor, law: str, min_kelvin: float = 0.0) -> None:
    """Raise unless every temperature is a finite value in kelvin, at least ``min_kelvin``."""
    if not torch.isfinite(T).all():
        raise ValueError(f"{law}: temperature contains NaN or infinite values; every point needs its temperature [K].")
    if (T <= 0).any():
        raise ValueError(
            f"{law}: temperature must be in kelvin (> 0); got minimum {float(T.min()):.4g}. "
            "Convert Celsius with T[K] = T[C] + 273.15."
        )
    if (T < min_kelvin).any():
        raise ValueError(
            f"{law}: temperature {float(T.min()):.4g} K is below {min_kelvin:g} K, which this law does not model: "
            "it looks like Celsius (convert with T[K] = T[C] + 273.15) or a room-temperature entry."
        )


def as_column(x: Tensor, law: str, what: str) -> Tensor:
    """``x`` as shape ``[n]``, accepting ``[n]`` or ``[n, 1]``."""
    if x.ndim == 2 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim != 1:
        raise ValueError(f"{law}: {what} must have shape [n] or [n, 1]; got {tuple(x.shape)}.")
    return x


def two_columns(x: Tensor, law: str, columns: str) -> tuple[Tensor, Tensor]:
    """The two columns of a law's ``[n, 2]`` input; ``columns`` names them in the error for
    another shape, e.g. ``"temperature [K], stress [MPa]"``."""
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{law}: inputs must have shape [n, 2] ({columns}); got {tuple(x.shape)}.")
    return x[:, 0], x[:, 1]


def _param(value: float) -> nn.Parameter:
    return nn.Parameter(torch.tensor(float(value)))


def log_param(value: float, name: str, law: str) -> nn.Parameter:
    """A parameter holding ``log(value)``; ``value`` must be positive."""
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{law}: {name} must be positive and finite, got {value}.")
    return _param(math.log(value))
