"""The task-batched meta-gradient: per-task parameters as a leading dimension, plain autograd.

For a meta-batch of ``B`` same-shaped tasks on a model that implements
``forward_tasks(params, x)`` (parameters ``[B, ...]``; inputs ``[B, n, ...]``, e.g.
:class:`~sciml.models.MLP`, or every task's graphs in one batch,
:class:`~sciml.models.task_graphs.TaskGraphs`, e.g. :class:`~sciml.models.gnn.GIN` and
:class:`~sciml.models.CGCNN`), the inner loop runs once for all tasks: the meta-parameters are
expanded to ``[B, ...]`` views, each inner step differentiates the sum of the per-task support
losses (task ``b``'s loss depends on slice ``b`` only, so its gradient is task ``b``'s own), and
the meta-gradient is one backward pass through the whole batch. It computes what the per-task
path (:meth:`~sciml.meta.Learner.task_loss` of each task, averaged) computes, without the
per-operation overhead of nested ``torch.func`` transforms; ``settings.task_batched_models(False)``
turns it off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.func import vmap

from sciml import settings
from sciml.meta.functional import LossFn, Params, mse_loss, stack_tasks

if TYPE_CHECKING:
    from sciml.tasks import Task

_PER_TASK_METHODS = ("task_loss", "adapt_path", "inner_step", "inner_direction", "model_loss", "meta_loss")
"""Learner methods the task-batched path re-implements: a learner that overrides any of them
takes the per-task (vmapped) path."""


def task_batched_inputs(learner: object, tasks: Sequence[Task]) -> tuple[Any, Tensor, Any, Tensor] | None:
    """The meta-batch stacked for :func:`task_batched_meta_gradient`: ``(sx [B, n, ...], sy,
    qx [B, m, ...], qy)`` on the learner's device (floats in its dtype; graph inputs as
    :class:`~sciml.models.task_graphs.TaskGraphs`, :func:`stack_graph_tasks`), or ``None``
    where the task-batched path does not apply: fewer than two tasks, tasks of different shapes
    or without support or query points, a model without ``forward_tasks`` (or whose
    ``batches_tasks`` is false: e.g. with BatchNorm; a model that batches tasks reads its own
    buffers as constants), inner steps other than plain gradient steps, or a learner that
    overrides the :class:`~sciml.meta.Learner` inner loop."""
    from sciml.meta.learner import Learner

    ln: Any = learner
    model = ln.model
    if not (settings.task_batched_models.on() and settings.vmap_tasks.on()
            and callable(getattr(model, "forward_tasks", None)) and getattr(model, "batches_tasks", False)
            and ln.inner_optimizer == "sgd"
            and all(getattr(type(ln), m) is getattr(Learner, m) for m in _PER_TASK_METHODS)):
        return None
    return stack_tasks(tasks, ln._dtype, ln._device) or stack_graph_tasks(tasks, ln._dtype, ln._device)


def stack_graph_tasks(tasks: Sequence[Task], dtype: torch.dtype, device: torch.device) -> tuple[Any, Tensor, Any, Tensor] | None:
    """A meta-batch of graph tasks for a GNN's ``forward_tasks``: ``(support graphs, sy [B, n,
    ...], query graphs, qy [B, m, ...])``, the graphs of each side collated task by task into
    one :class:`~sciml.models.task_graphs.TaskGraphs` on ``device`` (float targets in
    ``dtype``); ``None`` unless there are two or more tasks, all of graph data, with the same
    numbers of support and of query graphs (at least one each) and targets of one shape and
    dtype."""
    from sciml.models.task_graphs import TaskGraphs
    from sciml.tasks.graph_data import GraphData

    if len(tasks) < 2 or not all(isinstance(t.support, GraphData) and isinstance(t.query, GraphData) for t in tasks):
        return None
    shapes = {(tuple(t.support.y.shape), t.support.y.dtype, tuple(t.query.y.shape), t.query.y.dtype) for t in tasks}
    if len(shapes) != 1 or not (len(tasks[0].support) and len(tasks[0].query)):
        return None

    def targets(ys: list[Tensor]) -> Tensor:
        y = torch.stack(ys)
        return y.to(device, dtype) if torch.is_floating_point(y) else y.to(device)

    return (TaskGraphs.collate([t.support.graphs for t in tasks], device), targets([t.support.y for t in tasks]),
            TaskGraphs.collate([t.query.graphs for t in tasks], device), targets([t.query.y for t in tasks]))


def task_batched_meta_gradient(learner: object, sx: Any, sy: Tensor, qx: Any, qy: Tensor) -> tuple[Params, Tensor]:
    """Meta-gradient and mean outer loss of a meta-batch, all tasks at once.

    Args:
        learner: A :class:`~sciml.meta.Learner` for which :func:`task_batched_inputs` applies.
        sx, sy, qx, qy: Its output: supports ``[B, n, ...]`` and queries ``[B, m, ...]``
            (graph inputs as :class:`~sciml.models.task_graphs.TaskGraphs`).

    Returns:
        The gradient of every meta-parameter (zeros for those the loss does not reach) and
        the mean query loss after ``inner_steps`` steps, as :meth:`~sciml.meta.Learner.meta_gradient`.
    """
    ln: Any = learner
    meta = {n: p.detach().requires_grad_(True) for n, p in ln._meta().items()}
    params = ln._model_params(meta)
    B = sy.shape[0]
    per_task = {n: p.unsqueeze(0).expand(B, *p.shape) for n, p in params.items()}
    fixed = {n: p for n, p in per_task.items() if n not in ln._adapt_names}
    fast = {n: per_task[n] for n in ln._adapt_names}
    losses = _per_task_losses(ln._loss_fn)
    for _ in range(ln.inner_steps):
        support = losses(ln.model.forward_tasks({**fixed, **fast}, sx), sy)
        grads = torch.autograd.grad(support.sum(), list(fast.values()), create_graph=not ln.first_order)
        fast = {n: fast[n] - ln.inner_lr_for(meta, n) * g for (n, g) in zip(fast, grads)}
    loss = losses(ln.model.forward_tasks({**fixed, **fast}, qx), qy).mean()
    names = list(meta)
    grads = torch.autograd.grad(loss, [meta[n] for n in names], allow_unused=True)
    return {n: torch.zeros_like(meta[n]) if g is None else g for n, g in zip(names, grads)}, loss.detach()


def _per_task_losses(loss_fn: LossFn) -> LossFn:
    """``loss_fn`` applied to each task of a batch: ``[B, ...]`` predictions and targets to
    ``[B]`` losses (the mean squared error directly, any other loss through ``vmap``)."""
    if loss_fn is mse_loss:
        return lambda pred, y: ((pred - y) ** 2).reshape(pred.shape[0], -1).mean(1)
    return vmap(loss_fn)
