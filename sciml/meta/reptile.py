"""Reptile (Nichol et al., 2018): move the initialization towards task-adapted weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import vmap

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
    ``inner_steps=5``, ``outer_lr=0.1``, ``outer_optimizer="sgd"``. With ``compile=True`` a
    meta-batch of same-shaped tasks adapts in one compiled computation.
    """

    name = "Reptile"
    default_outer_optimizer = "sgd"
    needs_outer_gradient = False

    def __init__(self, model: nn.Module, *, inner_steps: int = 5, outer_lr: float = 0.1, **kwargs: Any) -> None:
        super().__init__(model, inner_steps=inner_steps, outer_lr=outer_lr, **kwargs)
        self._compiled_step: Any = None

    def _adapt_on_all(self, m: Params, x: Tensor, y: Tensor) -> Params:
        """The parameters after ``inner_steps`` steps on all of a task's points."""
        return self.adapt_path(m, x, y, [self.inner_steps])[0]

    def _stacked_step(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> tuple[Params, Tensor]:
        """Mean adapted parameters and mean outer loss of a stacked meta-batch (what
        ``compile=True`` compiles); each task adapts on its support and query rows, in that order."""
        phis = vmap(self._adapt_on_all, in_dims=(None, 0, 0), randomness="different")(meta, torch.cat([sx, qx], 1), torch.cat([sy, qy], 1))
        return {n: p.mean(0) for n, p in phis.items()}, self._stacked_meta_loss(meta, sx, sy, qx, qy)

    def meta_step(self, tasks: Sequence[Task], optimizer: torch.optim.Optimizer) -> float:
        meta = self._meta()
        stacked = self._compiled_batch(tasks)
        with torch.no_grad(), no_input_checks():
            if stacked is not None:
                if self._compiled_step is None:
                    self._compiled_step = torch.compile(self._stacked_step)
                mean_phi, loss_t = self._compiled_step(meta, *stacked)
                loss = float(loss_t)
            else:
                phis = map_tasks(self._adapt_on_all, meta, [(*self._tensors(t.data),) for t in tasks])
                loss = float(self.meta_loss(meta, tasks))
                mean_phi = {n: torch.stack([p[n] for p in phis]).mean(0) for n in phis[0]}
        if not torch.isfinite(torch.tensor(loss)):
            raise FloatingPointError(f"Reptile: the loss became {loss}; lower inner_lr.")
        pseudo = {n: meta[n] - mean_phi[n] for n in mean_phi}
        self._apply_gradient(pseudo, optimizer)
        return loss
