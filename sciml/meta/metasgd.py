"""Meta-SGD (Li et al., 2017): meta-learn the initialization and a per-parameter step size."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from sciml.meta.learner import Learner

_PREFIX = "inner_lr:"


def _key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "__", name)


class MetaSGD(Learner):
    """Meta-SGD: every adapted parameter tensor gets a learned, element-wise inner step size
    (initialized at ``inner_lr``; it may become negative, as in the paper).

    For a physical law the learned step sizes act like a prior's scale: parameters the tasks
    agree on barely move during calibration, the others move fast.

    See :class:`~sciml.meta.learner.Learner` for the arguments.
    """

    name = "MetaSGD"

    def __init__(self, model: nn.Module, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        params = dict(model.named_parameters())
        self._lr_names = {n: _key(n) for n in self._adapt_names}
        self.inner_lrs = nn.ParameterDict(
            {k: nn.Parameter(torch.full_like(params[n].detach(), self.inner_lr)) for n, k in self._lr_names.items()}
        )

    def extra_meta_parameters(self) -> dict[str, nn.Parameter]:
        return {_PREFIX + n: self.inner_lrs[k] for n, k in self._lr_names.items()}

    def inner_lr_for(self, meta: Mapping[str, Tensor], name: str) -> Tensor | float:
        return meta[_PREFIX + name]

    def learned_step_sizes(self) -> dict[str, Tensor]:
        """The meta-learned inner step sizes, by parameter name."""
        return {n: self.inner_lrs[k].detach().clone() for n, k in self._lr_names.items()}
