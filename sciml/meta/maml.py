"""MAML (Finn et al., 2017), its first-order variant, and ANIL (Raghu et al., 2020)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from sciml.meta.learner import Learner


class MAML(Learner):
    """Model-Agnostic Meta-Learning: meta-learn an initialization that adapts in a few
    gradient steps.

    Second order by default (the meta-gradient differentiates through the inner loop);
    ``first_order=True`` gives FOMAML, whose memory does not grow with ``inner_steps``.
    Memory of second-order MAML grows linearly with ``inner_steps``; ANIL cuts it further by
    adapting the head only.

    See :class:`~sciml.meta.learner.Learner` for the arguments.
    """

    name = "MAML"

    def __init__(self, model: nn.Module, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        if self.first_order:
            self.name = "FOMAML"


class ANIL(MAML):
    """Almost No Inner Loop: adapt only ``adapt_params`` (by default the parameters whose
    name starts with ``head``); the body is meta-learned in the outer loop only.

    Args:
        model: The model; its head parameters must match ``adapt_params``.
        adapt_params: Names or prefixes of the adapted parameters (default ``["head"]``).
        **kwargs: Other :class:`~sciml.meta.learner.Learner` arguments.
    """

    name = "ANIL"

    def __init__(self, model: nn.Module, adapt_params: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(model, adapt_params=list(adapt_params or ["head"]), **kwargs)
        self.name = "ANIL-FO" if self.first_order else "ANIL"
