"""The result of adapting a learner to one task: an immutable, task-specific model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from sciml import settings


@dataclass(frozen=True)
class Adapted:
    """A model specialised to one task. Adapting never changes the learner's meta-parameters.

    Attributes:
        model: The (shared) module, evaluated functionally with ``params``.
        params: Adapted parameters, detached copies (read-only mapping).
        buffers: Module buffers used with them.
        learner: Name of the learner that produced it.
        steps: Inner steps taken.
        extras: Learner-specific state (e.g. ProtoNet prototypes).
    """

    model: nn.Module
    params: Mapping[str, Tensor]
    buffers: Mapping[str, Tensor] = field(default_factory=dict)
    learner: str = ""
    steps: int = 0
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType({k: v.detach().clone() for k, v in self.params.items()}))
        object.__setattr__(self, "buffers", MappingProxyType(dict(self.buffers)))
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras)))

    def predict(self, x: Tensor) -> Tensor:
        """Model output for inputs ``x`` (``[n, ...]``), without gradients.

        Regression models return predictions; classifiers return logits ``[n, C]``.
        """
        with torch.no_grad():
            return functional_call(self.model, ({**self.params}, {**self.buffers}), (x,))

    def predict_proba(self, x: Tensor) -> Tensor:
        """Class probabilities ``[n, C]`` (softmax of the logits)."""
        return torch.softmax(self.predict(x), dim=-1)

    def physical_params(self) -> dict[str, Any]:
        """Named parameters with units, for physical laws (``PhysicalLaw.physical_params``)."""
        fn = getattr(self.model, "physical_params", None)
        if fn is None:
            raise TypeError(f"{type(self.model).__name__} is not a physical law: it has no named physical parameters.")
        with torch.no_grad():
            return fn(dict(self.params))


def validated(model: nn.Module, x: Tensor, y: Tensor | None, task: str) -> None:
    """Run a law's input/target checks once, outside any transform, naming the task."""
    try:
        check_x = getattr(model, "check_inputs", None)
        if check_x is not None:
            check_x(x)
        check_y = getattr(model, "check_targets", None)
        if check_y is not None and y is not None and len(y):
            check_y(y)
    except ValueError as err:
        raise ValueError(f"Task {task!r}: {err}") from None


def no_input_checks() -> settings.validate_inputs:
    """Context in which laws skip per-call checks (data were validated beforehand)."""
    return settings.validate_inputs(False)
