"""Prototypical Networks (Snell et al., 2017) for N-way K-shot classification."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from sciml.meta.adapted import Adapted, no_input_checks
from sciml.meta.functional import Params, map_tasks
from sciml.meta.learner import Learner
from sciml.tasks import Task, TensorData


def prototypes(embeddings: Tensor, labels: Tensor, n_way: int) -> Tensor:
    """Class means of support embeddings.

    Args:
        embeddings: ``[n_support, d]``.
        labels: ``[n_support]`` int64 in ``0..n_way-1``.
        n_way: Number of classes ``N``.

    Returns:
        ``[N, d]`` prototypes (vmap-safe: one-hot matmul, no indexing by data).
    """
    onehot = (labels[:, None] == torch.arange(n_way, device=labels.device)[None, :]).to(embeddings.dtype)
    return (onehot.T @ embeddings) / onehot.sum(0).clamp_min(1.0)[:, None]


def proto_logits(query_embeddings: Tensor, protos: Tensor) -> Tensor:
    """Negative squared Euclidean distances ``[n_query, N]``."""
    return -((query_embeddings[:, None, :] - protos[None, :, :]) ** 2).sum(-1)


class ProtoNet(Learner):
    """Prototypical Networks: the model embeds inputs; a class is the mean embedding of its
    support examples; a query is classified by softmax over negative squared distances.

    Adaptation has no gradient steps: ``adapt`` computes prototypes, and
    ``Adapted.predict(x)`` returns logits ``[n, N]``.

    Args:
        model: Encoder mapping ``[n, ...]`` to embeddings ``[n, d]``.
        n_way: Classes per episode (fixed during meta-training).
        outer_lr: Adam step size.
        meta_batch_size: Episodes per meta-iteration.
    """

    name = "ProtoNet"

    def __init__(self, model: nn.Module, n_way: int, *, outer_lr: float = 1e-3, meta_batch_size: int = 4, **kwargs: Any) -> None:
        kwargs.setdefault("inner_steps", 0)
        super().__init__(model, loss="cross_entropy", outer_lr=outer_lr, meta_batch_size=meta_batch_size, **kwargs)
        self.n_way = int(n_way)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("loss")
        cfg["n_way"] = self.n_way
        return cfg

    def _check_against_output(self, y: Tensor, out_shape: tuple[int, ...], task: str) -> None:
        if y.ndim != 1 or y.dtype != torch.long:
            raise TypeError(f"Task {task!r}: ProtoNet needs int64 class indices of shape [n]; got {y.dtype} {tuple(y.shape)}.")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.n_way):
            raise ValueError(f"Task {task!r}: class indices must lie in 0..{self.n_way - 1} (n_way = {self.n_way}); got "
                             f"{int(y.min())}..{int(y.max())}. Relabel the classes 0..n_way-1 or raise n_way.")

    def _embed(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self.model, ({**params}, self._buffers()), (x,))

    def task_loss(self, meta: Mapping[str, Tensor], sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
        params = self._model_params(meta)
        protos = prototypes(self._embed(params, sx), sy, self.n_way)
        return F.cross_entropy(proto_logits(self._embed(params, qx), protos), qy)

    needs_every_class = "to form its prototype"
    """Why every class needs a support example (ends the message of a support that lacks one)."""

    def _support_state(self, params: Mapping[str, Tensor], x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """What an adapted learner keeps of one support set (vmap-safe): the class prototypes."""
        return {"prototypes": prototypes(self._embed(params, x), y, self.n_way)}

    def _classifier(self) -> nn.Module:
        """The module that turns the encoder and a support state into logits."""
        return _PrototypeClassifier(self.model)

    def adapt_many(self, supports: Sequence[TensorData | Task], steps: Sequence[int]) -> list[list[Adapted]]:
        args = [self._support_tensors(s, f"support {i}") for i, s in enumerate(supports)]
        meta = self._meta()
        for i, (_, y) in enumerate(args):
            missing = sorted(set(range(self.n_way)) - set(y.tolist()))
            if missing:
                raise ValueError(f"Support {i}: class(es) {missing} have no example; every one of the {self.n_way} classes "
                                 f"needs at least one support example {self.needs_every_class}.")

        def state_of(m: Params, x: Tensor, y: Tensor) -> dict[str, Tensor]:
            return self._support_state(self._model_params(m), x, y)

        self.model.eval()
        with torch.no_grad(), no_input_checks():
            states = map_tasks(state_of, meta, args)
        model = self._classifier()
        buffers = {f"encoder.{k}": v for k, v in self._buffers().items()}
        encoder = {f"encoder.{k}": v for k, v in self._model_params(meta).items()}
        return [[Adapted(model, {**encoder, **state}, buffers, learner=self.name, steps=int(s)) for s in steps] for state in states]


class _PrototypeClassifier(nn.Module):
    """Encoder + fixed prototypes as one module, so ``Adapted.predict`` returns logits."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.prototypes = nn.Parameter(torch.zeros(1, 1), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return proto_logits(self.encoder(x), self.prototypes)
