"""The functional core: parameters as dicts, losses, and mapping over a meta-batch of tasks.

Same-shaped tasks are stacked and evaluated with ``torch.func.vmap``; tasks of other shapes
(or all of them, under ``settings.vmap_tasks(False)``) go through the very same per-task
function in a loop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import vmap

from sciml import settings

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]


def mse_loss(pred: Tensor, y: Tensor) -> Tensor:
    """Mean squared error; ``pred`` and ``y`` of equal shape."""
    return ((pred - y) ** 2).mean()


def cross_entropy_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy of logits ``[n, C]`` against class indices ``[n]``."""
    return F.cross_entropy(logits, y)


def bce_logits_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Binary cross-entropy of logits ``[n]`` or ``[n, 1]`` against 0/1 targets."""
    return F.binary_cross_entropy_with_logits(logits.reshape(y.shape), y.to(logits.dtype))


LOSSES: dict[str, LossFn] = {"mse": mse_loss, "cross_entropy": cross_entropy_loss, "bce": bce_logits_loss}


def resolve_loss(loss: str | LossFn) -> LossFn:
    """A loss function from its name (``mse``, ``cross_entropy``, ``bce``) or a callable."""
    if callable(loss):
        return loss
    try:
        return LOSSES[loss]
    except KeyError:
        raise ValueError(f"Unknown loss {loss!r}; choose from {sorted(LOSSES)} or pass a callable.") from None


def flatten_params(params: Mapping[str, Tensor], names: Sequence[str]) -> Tensor:
    """The tensors ``params[n]`` for ``n`` in ``names``, flattened into one vector ``[P]``."""
    return torch.cat([params[n].reshape(-1) for n in names])


def unflatten_params(vec: Tensor, like: Mapping[str, Tensor], names: Sequence[str]) -> Params:
    """Inverse of :func:`flatten_params`: ``like`` with the entries ``names`` replaced by
    consecutive slices of ``vec``, reshaped like ``like[n]``. vmap- and grad-safe."""
    out, i = dict(like), 0
    for n in names:
        size = like[n].numel()
        out[n] = vec[i : i + size].reshape(like[n].shape)
        i += size
    return out


def index_tree(tree: Any, i: int) -> Any:
    """Slice ``i`` along dim 0 of every tensor in a nested dict/list/tuple."""
    if isinstance(tree, Tensor):
        return tree[i]
    if isinstance(tree, dict):
        return {k: index_tree(v, i) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(index_tree(v, i) for v in tree)
    return tree


def _groups(signatures: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, s in enumerate(signatures):
        groups[s].append(i)
    return groups


def _signature(args: Sequence[Any]) -> tuple[Any, ...]:
    """Shapes and dtypes of a task's tensors: equal signatures can be stacked. Tasks with a
    non-tensor argument (a graph batch) get a signature of their own: they are looped."""
    if not all(isinstance(a, Tensor) for a in args):
        return ("unstackable", id(args))
    return tuple((tuple(a.shape), a.dtype) for a in args)


def _stack(per_task: Sequence[Sequence[Tensor]], idxs: Sequence[int]) -> tuple[Tensor, ...]:
    n_args = len(per_task[idxs[0]])
    return tuple(torch.stack([per_task[i][j] for i in idxs]) for j in range(n_args))


def stack_tasks(tasks: Sequence[Any], dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """Supports and queries of a meta-batch stacked along a new first dimension, ``(sx [B, n,
    ...], sy, qx [B, m, ...], qy)``, on ``device`` with floats in ``dtype`` (class indices as
    they are); ``None`` unless there are two or more tasks, all with tensor inputs (not graph
    batches), support and query points, and equal shapes and dtypes. One conversion for the
    whole batch instead of one per task."""
    if len(tasks) < 2:
        return None
    fields = ([t.support.x for t in tasks], [t.support.y for t in tasks], [t.query.x for t in tasks], [t.query.y for t in tasks])
    for field in fields:  # graph batches and mixed dtypes do not stack; shapes are checked by torch.stack
        if not all(isinstance(a, Tensor) for a in field) or len({a.dtype for a in field}) != 1:
            return None
    if not (len(fields[0][0]) and len(fields[2][0])):
        return None  # the per-task path names the problem
    try:
        stacked = [torch.stack(field) for field in fields]
    except RuntimeError:  # shapes differ
        return None
    sx, sy, qx, qy = (s.to(device, dtype) if torch.is_floating_point(s) else s.to(device) for s in stacked)
    return sx, sy, qx, qy


def map_tasks(fn: Callable[..., Any], shared: Any, per_task: Sequence[Sequence[Tensor]]) -> list[Any]:
    """``[fn(shared, *args) for args in per_task]``, vmapped over groups of same-shaped tasks.

    Args:
        fn: Per-task function, written for one task (no batch dimension).
        shared: First argument, shared by all tasks (e.g. meta-parameters).
        per_task: One tuple of tensors per task.

    Returns:
        One output per task, in input order.
    """
    outs: list[Any] = [None] * len(per_task)
    for idxs in _groups([_signature(a) for a in per_task]).values():
        if len(idxs) > 1 and settings.vmap_tasks.on():
            stacked = _stack(per_task, idxs)
            res = vmap(fn, in_dims=(None,) + (0,) * len(stacked), randomness="different")(shared, *stacked)
            for pos, i in enumerate(idxs):
                outs[i] = index_tree(res, pos)
        else:
            for i in idxs:
                outs[i] = fn(shared, *per_task[i])
    return outs


def mean_over_tasks(fn: Callable[..., Tensor], shared: Any, per_task: Sequence[Sequence[Tensor]]) -> Tensor:
    """Mean over tasks of the scalar ``fn(shared, *args)``; vmapped like :func:`map_tasks`."""
    if not per_task:
        raise ValueError("A meta-batch needs at least one task.")
    total: Tensor | float = 0.0
    for idxs in _groups([_signature(a) for a in per_task]).values():
        if len(idxs) > 1 and settings.vmap_tasks.on():
            stacked = _stack(per_task, idxs)
            total = total + vmap(fn, in_dims=(None,) + (0,) * len(stacked), randomness="different")(shared, *stacked).sum()
        else:
            for i in idxs:
                total = total + fn(shared, *per_task[i])
    assert isinstance(total, Tensor)
    return total / len(per_task)
