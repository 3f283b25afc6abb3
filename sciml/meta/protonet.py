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


def class_counts(labels: Tensor, n_way: int) -> Tensor:
    """Examples per class ``[N]`` of int64 ``labels`` ``[n]`` (vmap-safe)."""
    return (labels[:, None] == torch.arange(n_way, device=labels.device)[None, :]).sum(0)


def proto_logits(query_embeddings: Tensor, protos: Tensor) -> Tensor:
    """Negative squared Euclidean distances ``[n_query, N]``."""
    return -((query_embeddings[:, None, :] - protos[None, :, :]) ** 2).sum(-1)


def refine_prototypes(protos: Tensor, counts: Tensor, unlabelled: Tensor, steps: int) -> Tensor:
    r"""Transductive refinement by soft k-means (Ren et al. 2018, "Meta-learning for
    semi-supervised few-shot classification"): each unlabelled embedding joins every class in
    proportion to its current softmax assignment,

    .. math:: p_c \leftarrow \frac{n_c\, \bar s_c + \sum_j w_{jc} z_j}{n_c + \sum_j w_{jc}}, \qquad
              w_{jc} = \mathrm{softmax}_c(-\lVert z_j - p_c \rVert^2),

    repeated ``steps`` times from the support means :math:`\bar s_c`.

    Args:
        protos: Support prototypes ``[N, d]``.
        counts: Support examples per class ``[N]``.
        unlabelled: Embeddings of the unlabelled examples ``[m, d]`` (the query batch).
        steps: Refinement steps; 0 returns ``protos``.

    Returns:
        ``[N, d]`` refined prototypes.
    """
    refined = protos
    for _ in range(steps):
        w = torch.softmax(proto_logits(unlabelled, refined), dim=-1)
        refined = (counts[:, None] * protos + w.T @ unlabelled) / (counts + w.sum(0))[:, None]
    return refined


class ProtoNet(Learner):
    """Prototypical Networks: the model embeds inputs; a class is the mean embedding of its
    support examples; a query is classified by softmax over negative squared distances.

    Adaptation has no gradient steps: ``adapt`` computes prototypes, and
    ``Adapted.predict(x)`` returns logits ``[n, N]``.

    With ``transductive_steps > 0`` the prototypes are refined with the unlabelled batch being
    classified (:func:`refine_prototypes`), in meta-training (with the episode's queries) and in
    ``Adapted.predict(x)`` (with ``x``): a query's prediction then depends on the other rows of
    ``x``, so evaluate on whole query sets and report such results as transductive.

    Args:
        model: Encoder mapping ``[n, ...]`` to embeddings ``[n, d]``.
        n_way: Classes per episode (fixed during meta-training).
        transductive_steps: Soft k-means refinement steps with the unlabelled batch (0: none).
        outer_lr: Adam step size.
        meta_batch_size: Episodes per meta-iteration.
    """

    name = "ProtoNet"

    def __init__(self, model: nn.Module, n_way: int, *, transductive_steps: int = 0, outer_lr: float = 1e-3, meta_batch_size: int = 4,
                 **kwargs: Any) -> None:
        kwargs.setdefault("inner_steps", 0)
        if int(transductive_steps) != transductive_steps or transductive_steps < 0:
            raise ValueError(f"transductive_steps must be a whole number >= 0, got {transductive_steps}.")
        if transductive_steps and not self.refines_prototypes:
            raise ValueError(f"{type(self).__name__} has no prototypes to refine; transductive_steps suits ProtoNet only.")
        super().__init__(model, loss="cross_entropy", outer_lr=outer_lr, meta_batch_size=meta_batch_size, **kwargs)
        self.n_way = int(n_way)
        self.transductive_steps = int(transductive_steps)

    refines_prototypes = True
    """Whether ``transductive_steps`` applies (subclasses that keep no class prototypes say no)."""

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("loss")
        cfg["n_way"] = self.n_way
        if self.transductive_steps:
            cfg["transductive_steps"] = self.transductive_steps
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
        query = self._embed(params, qx)
        if self.transductive_steps:
            protos = refine_prototypes(protos, class_counts(sy, self.n_way).to(query.dtype), query, self.transductive_steps)
        return F.cross_entropy(proto_logits(query, protos), qy)

    needs_every_class = "to form its prototype"
    """Why every class needs a support example (ends the message of a support that lacks one)."""

    def _support_state(self, params: Mapping[str, Tensor], x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """What an adapted learner keeps of one support set (vmap-safe): the class prototypes
        (and, when refined transductively, the support examples per class)."""
        embedded = self._embed(params, x)
        state = {"prototypes": prototypes(embedded, y, self.n_way)}
        if self.transductive_steps:
            state["class_counts"] = class_counts(y, self.n_way).to(embedded.dtype)
        return state

    def _classifier(self) -> nn.Module:
        """The module that turns the encoder and a support state into logits."""
        return _PrototypeClassifier(self.model, self.transductive_steps)

    def _classifier_params(self, meta: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The meta-parameters the :meth:`_classifier` module reads, by its parameter names."""
        return {f"encoder.{k}": v for k, v in self._model_params(meta).items()}

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
        encoder = self._classifier_params(meta)
        return [[Adapted(model, {**encoder, **state}, buffers, learner=self.name, steps=int(s)) for s in steps] for state in states]


class _PrototypeClassifier(nn.Module):
    """Encoder + fixed prototypes as one module, so ``Adapted.predict`` returns logits (refined
    with the batch ``x`` first when ``transductive_steps > 0``)."""

    def __init__(self, encoder: nn.Module, transductive_steps: int = 0) -> None:
        super().__init__()
        self.encoder = encoder
        self.transductive_steps = transductive_steps
        self.prototypes = nn.Parameter(torch.zeros(1, 1), requires_grad=False)
        if transductive_steps:
            self.class_counts = nn.Parameter(torch.zeros(1), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        z = self.encoder(x)
        protos = self.prototypes
        if self.transductive_steps:
            protos = refine_prototypes(protos, self.class_counts, z, self.transductive_steps)
        return proto_logits(z, protos)
