"""Reptile (Nichol et al., 2018): move the initialization towards task-adapted weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sciml.meta.adapted import no_input_checks
from sciml.meta.functional import Params, map_tasks
from sciml.meta.learner import Learner
from sciml.tasks import Task


class Reptile(Learner):
    """Reptile: adapt on each task's support *and* query points with ``inner_steps`` steps,
    then step the initialization towards the mean adapted weights. No second-order terms and
    no backpropagation through the inner loop.

    The meta-update uses the pseudo-gradient ``theta - mean_i phi_i`` with the outer optimizer
    (plain SGD by default, so ``outer_lr`` is Reptile's interpolation rate epsilon).

    See :class:`~sciml.meta.learner.Learner` for the arguments; defaults here:
    ``inner_steps=5``, ``outer_lr=0.1``, ``outer_optimizer="sgd"``.
    """

    name = "Reptile"
    default_outer_optimizer = "sgd"
    needs_outer_gradient = False

    def __init__(self, model: nn.Module, *, inner_steps: int = 5, outer_lr: float = 0.1, **kwargs: Any) -> None:
        super().__init__(model, inner_steps=inner_steps, outer_lr=outer_lr, **kwargs)

    def meta_step(self, tasks: Sequence[Task], optimizer: torch.optim.Optimizer) -> float:
        args = [(*self._tensors(t.data),) for t in tasks]
        meta = self._meta()

        def adapted(m: Params, x: Tensor, y: Tensor) -> Params:
            return self.adapt_path(m, x, y, [self.inner_steps])[0]

        with torch.no_grad(), no_input_checks():
            phis = map_tasks(adapted, meta, args)
            loss = float(self.meta_loss(meta, tasks))
        if not torch.isfinite(torch.tensor(loss)):
            raise FloatingPointError(f"Reptile: the loss became {loss}; lower inner_lr.")
        mean_phi = {n: torch.stack([p[n] for p in phis]).mean(0) for n in phis[0]}
        pseudo = {n: meta[n] - mean_phi[n] for n in mean_phi}
        self._apply_gradient(pseudo, optimizer)
        return loss
