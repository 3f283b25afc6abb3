"""Baselines with the learners' interface, so every comparison is like for like."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import grad, grad_and_value, vmap

from sciml.meta.adapted import no_input_checks
from sciml.meta.functional import Params, mean_over_tasks
from sciml.meta.learner import Learner
from sciml.tasks import Task

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


class _TunedInnerLoop(Learner):
    """Learners whose adaptation is ordinary training (Adam, SGD or Gauss-Newton), not
    meta-learned."""

    _adam_inner = True

    def __init__(self, model: nn.Module, *, inner_optimizer: str = "adam", **kwargs: Any) -> None:
        super().__init__(model, inner_optimizer=inner_optimizer, **kwargs)

    def inner_step(
        self, meta: Mapping[str, Tensor], fast: Params, problem: Any, step: int, state: dict[str, Any]
    ) -> Params:
        if self.inner_optimizer != "adam":
            return super().inner_step(meta, fast, problem, step, state)
        g = {n: t.detach() for n, t in grad(problem.loss)(fast).items()}
        m = {n: _BETA1 * state.get("m", {}).get(n, 0.0) + (1 - _BETA1) * g[n] for n in fast}
        v = {n: _BETA2 * state.get("v", {}).get(n, 0.0) + (1 - _BETA2) * g[n] ** 2 for n in fast}
        state["m"], state["v"] = m, v
        c1, c2 = 1 - _BETA1 ** (step + 1), 1 - _BETA2 ** (step + 1)
        return {n: fast[n] - self.inner_lr * (m[n] / c1) / ((v[n] / c2).sqrt() + _EPS) for n in fast}


class Scratch(_TunedInnerLoop):
    """Fit every task from the same fixed initialization (the model as given); no
    meta-learning. ``fit`` only records that nothing was learned.

    Args:
        model: Model whose current parameters are the fixed initialization.
        inner_optimizer: ``"adam"`` (default) or ``"sgd"``.
        inner_lr: Step size (default 0.01).
        inner_steps: Training steps per task (default 100).
        **kwargs: Other :class:`~sciml.meta.learner.Learner` arguments.
    """

    name = "Scratch"
    needs_outer_gradient = False

    def __init__(self, model: nn.Module, *, inner_lr: float = 0.01, inner_steps: int = 100, **kwargs: Any) -> None:
        super().__init__(model, inner_lr=inner_lr, inner_steps=inner_steps, **kwargs)

    def fit(self, train_tasks: Any = None, val_tasks: Any = None, **kwargs: Any) -> Scratch:
        """No meta-training: the initialization stays as given. Returns ``self``."""
        self.history_ = []
        return self


class FineTune(_TunedInnerLoop):
    """Transfer learning: train one model on all meta-train tasks pooled (task-balanced: the
    loss is the mean over a batch of tasks of each task's mean loss), then fine-tune it on
    each new task's support set.

    With ``compile=True`` a batch of same-shaped tasks takes one compiled pooled-loss gradient.

    Args:
        model: The model.
        inner_optimizer: Fine-tuning optimizer, ``"adam"`` (default) or ``"sgd"``.
        inner_lr: Fine-tuning step size.
        inner_steps: Fine-tuning steps (default 20).
        outer_lr: Adam step size of the pooled training.
        **kwargs: Other :class:`~sciml.meta.learner.Learner` arguments.
    """

    name = "FineTune"
    needs_outer_gradient = False

    def __init__(self, model: nn.Module, *, inner_steps: int = 20, **kwargs: Any) -> None:
        super().__init__(model, inner_steps=inner_steps, **kwargs)
        self._compiled_step: Any = None

    def _task_data_loss(self, meta: Params, x: Tensor, y: Tensor) -> Tensor:
        return self.model_loss(self._model_params(meta), x, y)

    def _stacked_pooled_loss(self, meta: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
        """Mean over a stacked meta-batch of each task's loss on its support and query rows."""
        return vmap(self._task_data_loss, in_dims=(None, 0, 0), randomness="different")(
            meta, torch.cat([sx, qx], 1), torch.cat([sy, qy], 1)).mean()

    def meta_step(self, tasks: Sequence[Task], optimizer: torch.optim.Optimizer) -> float:
        stacked = self._compiled_batch(tasks)
        if stacked is not None:
            if self._compiled_step is None:
                self._compiled_step = torch.compile(grad_and_value(self._stacked_pooled_loss))
            with no_input_checks():
                grads, loss = self._compiled_step(self._meta(), *stacked)
        else:
            args = [self._tensors(t.data) for t in tasks]
            with no_input_checks():
                grads, loss = grad_and_value(lambda m: mean_over_tasks(self._task_data_loss, m, args))(self._meta())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"FineTune: the pooled loss became {float(loss)}; lower outer_lr.")
        self._apply_gradient(grads, optimizer)
        return float(loss)


