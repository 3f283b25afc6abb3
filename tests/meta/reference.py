"""Plain-autograd reference meta-gradients: one task at a time, torch.autograd.grad only."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call


def reference_maml_gradient(
    model: nn.Module,
    tasks: Sequence,
    *,
    loss: Callable[[Tensor, Tensor], Tensor],
    lrs: dict[str, Tensor | float],
    steps: int,
    first_order: bool,
    adapt_names: Sequence[str],
    extra: dict[str, Tensor] | None = None,
) -> dict[str, Tensor]:
    """Meta-gradient of the mean query loss after ``steps`` SGD steps on each support set.

    ``lrs`` may hold tensors that require grad (Meta-SGD); their gradients are returned too
    when listed in ``extra`` (name -> tensor).
    """
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    extra = extra or {}
    total = 0.0
    for t in tasks:
        fast = dict(params)
        for _ in range(steps):
            out = functional_call(model, fast, (t.support.x,))
            names = list(adapt_names)
            grads = torch.autograd.grad(loss(out, t.support.y), [fast[n] for n in names], create_graph=not first_order)
            fast = {**fast, **{n: fast[n] - lrs[n] * g for n, g in zip(names, grads)}}
        total = total + loss(functional_call(model, fast, (t.query.x,)), t.query.y)
    total = total / len(tasks)
    leaves = {**params, **extra}
    grads = torch.autograd.grad(total, list(leaves.values()), allow_unused=True)
    return {n: (g if g is not None else torch.zeros_like(leaves[n])) for n, g in zip(leaves, grads)}
