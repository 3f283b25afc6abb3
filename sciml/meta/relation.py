r"""Relation Networks (Sung et al., 2018): a learned comparison instead of a fixed distance.

The encoder :math:`f` embeds support and query examples; a class is summarised by the mean
embedding of its support examples :math:`p_c`; a *relation module* :math:`g` (an MLP on the
concatenated pair) scores how well a query matches a class,

.. math:: r_{jc} = g\bigl([f(x_j);\, p_c]\bigr), \qquad
          \ell = \frac{1}{mN} \sum_{j, c} \bigl(\sigma(r_{jc}) - [y_j = c]\bigr)^2 ,

trained with the cross-entropy of the softmax over classes (``loss="cross_entropy"``, the
default) or the mean squared error of Sung et al. (``loss="mse"``). The squared error rewards
pushing every score down (four of five targets are 0 in a 5-way episode), and on ASAS features it
drove the module to one constant score for every pair (every ReLU dead); the softmax is blind to a
shift shared by all classes, so it has no such pull. ProtoNet fixes the comparison to a squared
Euclidean distance; here it is meta-learned, so the learner can weigh embedding directions
differently or compare non-linearly. Sung et al. sum the support embeddings of a class; the mean
is used here, so one trained module serves every K.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from sciml.meta.protonet import ProtoNet, prototypes

_PREFIX = "relation:"
LOSSES = ("mse", "cross_entropy")
PAIRS = ("concat", "difference")
r"""What the relation module reads of a (query :math:`q`, class mean :math:`p`) pair: ``"concat"``,
:math:`[q; p]` (Sung et al.), or ``"difference"``, :math:`[|q - p|; q \odot p]`: symmetric in the
two, with a first half that depends only on how they differ (the component-wise distance of
Koch et al.'s Siamese networks; both halves together are the pair features of Conneau et al.,
2017, without the pair itself)."""


class RelationModule(nn.Module):
    r"""The comparison :math:`g`: an MLP ``[.., 2 d] -> [..]`` on (query, class) pairs.

    Args:
        dim: Embedding width ``d``.
        hidden: Hidden width.
        pairs: What it reads of a pair (:data:`PAIRS`): ``"concat"`` or ``"difference"``.

    Shapes:
        - input: queries ``[m, d]`` and class summaries ``[N, d]``
        - output: relation scores ``[m, N]`` (logits; :math:`\sigma` of them is in [0, 1])
    """

    def __init__(self, dim: int, hidden: int = 16, pairs: str = "concat") -> None:
        super().__init__()
        if dim < 1 or hidden < 1:
            raise ValueError(f"dim and hidden must be >= 1, got {dim} and {hidden}.")
        if pairs not in PAIRS:
            raise ValueError(f"pairs must be one of {PAIRS}, got {pairs!r}.")
        self.pairs = pairs
        self.hidden = nn.Linear(2 * dim, hidden)
        self.score = nn.Linear(hidden, 1)

    def forward(self, query: Tensor, classes: Tensor) -> Tensor:
        q, p = torch.broadcast_tensors(query[:, None, :], classes[None, :, :])
        pairs = torch.cat([q, p] if self.pairs == "concat" else [(q - p).abs(), q * p], dim=-1)
        return self.score(torch.relu(self.hidden(pairs)))[..., 0]


def relation_loss(scores: Tensor, labels: Tensor, loss: str) -> Tensor:
    r"""Loss of relation scores ``[m, N]`` against int64 labels ``[m]``: ``"mse"`` (Sung et al.:
    squared error of :math:`\sigma(r)` against one-hot) or ``"cross_entropy"``."""
    if loss == "mse":
        onehot = (labels[:, None] == torch.arange(scores.shape[-1], device=labels.device)[None, :]).to(scores.dtype)
        return ((torch.sigmoid(scores) - onehot) ** 2).mean()
    return F.cross_entropy(scores, labels)


class RelationNet(ProtoNet):
    """Relation Networks behind the :class:`~sciml.meta.Learner` contract (see the module
    docstring). Adaptation has no gradient steps: ``adapt`` forms the class means of the support
    embeddings; ``Adapted.predict(x)`` returns the relation scores ``[n, N]`` (logits). Labels,
    ``n_way`` and the support checks are ProtoNet's.

    Args:
        model: Encoder ``[n, ...] -> [n, embedding_dim]``.
        n_way: Classes per episode.
        embedding_dim: Width of the encoder's output.
        hidden: Hidden width of the relation module.
        loss: ``"cross_entropy"`` or ``"mse"`` (Sung et al.).
        pairs: What the relation module reads of a (query, class mean) pair: ``"concat"``
            (Sung et al.) or ``"difference"`` (:data:`PAIRS`).
        outer_lr, meta_batch_size: As for :class:`~sciml.meta.Learner`.
    """

    name = "RelationNet"
    refines_prototypes = False

    def __init__(self, model: nn.Module, n_way: int, *, embedding_dim: int, hidden: int = 16, loss: str = "cross_entropy", outer_lr: float = 1e-3,
                 meta_batch_size: int = 4, pairs: str = "concat", **kwargs: Any) -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
        super().__init__(model, n_way, outer_lr=outer_lr, meta_batch_size=meta_batch_size, **kwargs)
        self.embedding_dim, self.hidden, self.relation_loss = int(embedding_dim), int(hidden), loss
        self.relation = RelationModule(self.embedding_dim, self.hidden, pairs).to(self._dtype)  # checks pairs

    @property
    def pairs(self) -> str:
        """What the relation module reads of a pair (:data:`PAIRS`)."""
        return self.relation.pairs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "embedding_dim": self.embedding_dim, "hidden": self.hidden, "loss": self.relation_loss,
                "pairs": self.pairs}

    def extra_meta_parameters(self) -> dict[str, nn.Parameter]:
        if getattr(self, "relation", None) is None:  # while __init__ builds it
            return {}
        return {f"{_PREFIX}{k}": p for k, p in self.relation.named_parameters()}

    def _check_against_output(self, y: Tensor, out_shape: tuple[int, ...], task: str) -> None:
        super()._check_against_output(y, out_shape, task)
        if out_shape != (self.embedding_dim,):
            raise ValueError(f"Task {task!r}: the encoder outputs {list(out_shape)} but embedding_dim = {self.embedding_dim}; set "
                             "embedding_dim to the encoder's output width.")

    def _relation_params(self, meta: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {k: meta[_PREFIX + k] for k, _ in self.relation.named_parameters()}

    def scores(self, meta: Mapping[str, Tensor], sx: Tensor, sy: Tensor, qx: Tensor) -> Tensor:
        """Relation scores ``[m, N]`` of queries ``qx`` against the classes of one support set."""
        params = self._model_params(meta)
        protos = prototypes(self._embed(params, sx), sy, self.n_way)
        return functional_call(self.relation, self._relation_params(meta), (self._embed(params, qx), protos))

    def task_loss(self, meta: Mapping[str, Tensor], sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
        return relation_loss(self.scores(meta, sx, sy, qx), qy, self.relation_loss)

    needs_every_class = "to be compared with"

    def _classifier(self) -> nn.Module:
        return _RelationClassifier(self.model, self.relation)

    def _classifier_params(self, meta: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {**super()._classifier_params(meta), **{f"relation.{k}": v for k, v in self._relation_params(meta).items()}}


class _RelationClassifier(nn.Module):
    """Encoder + relation module + stored class means: ``forward`` gives relation scores."""

    def __init__(self, encoder: nn.Module, relation: RelationModule) -> None:
        super().__init__()
        self.encoder = encoder
        self.relation = relation
        self.prototypes = nn.Parameter(torch.zeros(1, 1), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.relation(self.encoder(x), self.prototypes)
