r"""Siamese networks (Koch et al., 2015) with the contrastive loss of Hadsell et al. (2006).

One encoder :math:`f` embeds both members of a pair; their distance
:math:`d = \lVert f(x) - f(x') \rVert_2` is trained so that pairs of the same class come close and
pairs of different classes stay at least a margin :math:`m` apart:

.. math:: \ell = \tfrac12\, [y = y']\, d^2 + \tfrac12\, [y \ne y']\, \max(0, m - d)^2 .

In an episode the pairs are every (query, support) combination. A query is classified by its
nearest support example: the logit of class :math:`c` is :math:`-\min_{i: y_i = c} d(x, x_i)^2`.
Unlike ProtoNet, no class summary is formed, so a class with scattered examples keeps them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from sciml.meta.protonet import ProtoNet

_FAR = 1e30
"""Squared distance standing in for 'no support example of this class' (finite, so vmap-safe)."""


def pair_distances(query: Tensor, support: Tensor) -> Tensor:
    """Squared Euclidean distances ``[m, n]`` between query ``[m, d]`` and support ``[n, d]`` embeddings."""
    return ((query[:, None, :] - support[None, :, :]) ** 2).sum(-1)


def contrastive_loss(d2: Tensor, same: Tensor, margin: float) -> Tensor:
    """Mean contrastive loss over pairs: ``d2`` ``[m, n]`` squared distances, ``same`` ``[m, n]``
    (1 for pairs of one class, 0 otherwise), ``margin`` in embedding units."""
    d = (d2 + 1e-12).sqrt()  # the gradient of sqrt at 0 is infinite
    return 0.5 * (same * d2 + (1 - same) * torch.relu(margin - d) ** 2).mean()


def nearest_support_logits(d2: Tensor, onehot: Tensor) -> Tensor:
    """Logits ``[m, N]``: minus the squared distance to the nearest support example of each class
    (``d2`` ``[m, n]``, ``onehot`` ``[n, N]`` support labels)."""
    masked = d2[:, :, None] + (1 - onehot)[None, :, :] * _FAR
    return -masked.amin(dim=1)


class SiameseNet(ProtoNet):
    """A Siamese network behind the :class:`~sciml.meta.Learner` contract (see the module
    docstring): meta-trained with the contrastive loss on every (query, support) pair of each
    episode; a query takes the class of its nearest support example. Adaptation has no gradient
    steps: it embeds the support once; ``Adapted.predict(x)`` returns logits ``[n, N]``. Labels,
    ``n_way`` and adaptation are ProtoNet's, with the support's embeddings kept instead of
    class prototypes.

    Args:
        model: Encoder ``[n, ...] -> [n, d]``.
        n_way: Classes per episode.
        margin: Distance beyond which pairs of different classes cost nothing.
        outer_lr, meta_batch_size: As for :class:`~sciml.meta.Learner`.
    """

    name = "SiameseNet"
    refines_prototypes = False

    def __init__(self, model: nn.Module, n_way: int, *, margin: float = 1.0, outer_lr: float = 1e-3, meta_batch_size: int = 4,
                 **kwargs: Any) -> None:
        if not margin > 0:
            raise ValueError(f"margin must be > 0, got {margin}.")
        super().__init__(model, n_way, outer_lr=outer_lr, meta_batch_size=meta_batch_size, **kwargs)
        self.margin = float(margin)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "margin": self.margin}

    def task_loss(self, meta: Mapping[str, Tensor], sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
        params = self._model_params(meta)
        d2 = pair_distances(self._embed(params, qx), self._embed(params, sx))
        return contrastive_loss(d2, (qy[:, None] == sy[None, :]).to(d2.dtype), self.margin)

    needs_every_class = "to be a nearest neighbour"

    def _support_state(self, params: Mapping[str, Tensor], x: Tensor, y: Tensor) -> dict[str, Tensor]:
        """The support's embeddings and one-hot labels (vmap-safe)."""
        embedded = self._embed(params, x)
        return {"support": embedded, "support_onehot": (y[:, None] == torch.arange(self.n_way)[None, :]).to(embedded.dtype)}

    def _classifier(self) -> nn.Module:
        return _NearestSupportClassifier(self.model)


class _NearestSupportClassifier(nn.Module):
    """Encoder + stored support embeddings and labels as one module: ``forward`` gives logits."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.support = nn.Parameter(torch.zeros(1, 1), requires_grad=False)
        self.support_onehot = nn.Parameter(torch.zeros(1, 1), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return nearest_support_logits(pair_distances(self.encoder(x), self.support), self.support_onehot)
