"""MAML (Finn et al., 2017), its first-order variant, and ANIL (Raghu et al., 2020)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value

from sciml.meta.adapted import no_input_checks
from sciml.meta.functional import Params, mean_over_tasks
from sciml.meta.learner import Learner, _has_batchnorm
from sciml.tasks import GraphData, Task


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

    def _shared_body(self) -> bool:
        """Whether the meta-batch can share one body pass: the model has ``embed`` and a
        ``head`` applied to it, only the head adapts (plain gradient steps), and no BatchNorm
        couples examples of a batch."""
        head = getattr(self.model, "head", None)
        names = [f"head.{n}" for n, _ in head.named_parameters()] if isinstance(head, nn.Module) else []
        return (callable(getattr(self.model, "embed", None)) and bool(names) and sorted(self._adapt_names) == sorted(names)
                and self.inner_optimizer == "sgd" and not _has_batchnorm(self.model))

    def meta_loss(self, meta: Mapping[str, Tensor], tasks: Sequence[Task]) -> Tensor:
        """Mean outer loss. When :meth:`_shared_body` holds, the body embeds every support
        and query example of the meta-batch in one call (one PyG batch for graphs), and only
        the head's inner loop runs per task (vmapped): the same loss as the per-task path,
        without re-running the body at every inner step."""
        if not self._shared_body():
            return super().meta_loss(meta, tasks)
        params = self._model_params(meta)
        parts = [d for t in tasks for d in (t.support, t.query)]
        if all(isinstance(d, GraphData) for d in parts):
            inputs: Any = GraphData(tuple(g for d in parts for g in d.graphs), torch.cat([d.y for d in parts])).x.to(self._device)
        else:
            inputs = torch.cat([self._tensors(d)[0] for d in parts])
        body = {n: p for n, p in params.items() if not n.startswith("head.")}
        with no_input_checks():
            emb = functional_call(_Embedder(self.model), {f"model.{n}": p for n, p in body.items()} | {
                f"model.{n}": b for n, b in self._buffers().items()}, (inputs,))
        chunks = torch.split(emb, [len(d) for d in parts])
        args = []
        for i, t in enumerate(tasks):  # targets only: the inputs went through the body above
            args.append((chunks[2 * i], self._target(t.support.y), chunks[2 * i + 1], self._target(t.query.y)))
        head = {n.removeprefix("head."): p for n, p in params.items() if n.startswith("head.")}
        return mean_over_tasks(self._head_task_loss, head, args)

    def _head_task_loss(self, head: Params, fs: Tensor, sy: Tensor, fq: Tensor, qy: Tensor) -> Tensor:
        def support_loss(h: Params) -> Tensor:
            return self._loss_fn(functional_call(self.model.head, h, (fs,)), sy)

        for _ in range(self.inner_steps):
            g, _ = grad_and_value(support_loss)(head)
            if self.first_order:
                g = {n: v.detach() for n, v in g.items()}
            head = {n: head[n] - self.inner_lr_for(head, "head." + n) * g[n] for n in head}
        return self._loss_fn(functional_call(self.model.head, head, (fq,)), qy)

    def meta_gradient(self, tasks: Sequence[Task]) -> tuple[Params, Tensor]:
        """Meta-gradient through :meth:`meta_loss` (shared body pass where it applies)."""
        if not self._shared_body():
            return super().meta_gradient(tasks)
        with no_input_checks():
            return grad_and_value(lambda m: self.meta_loss(m, tasks))(self._meta())


class _Embedder(nn.Module):
    """``forward`` = the wrapped model's ``embed`` (so ``functional_call`` can reach it)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Any) -> Tensor:
        return self.model.embed(x)
