"""Supervised pre-training of an embedding on the training classes pooled.

A strong baseline of the few-shot literature (Chen et al. 2019, "A closer look at few-shot
classification"; Tian et al. 2020, "Rethinking few-shot image classification: a good embedding is
all you need"): train the encoder with a linear classifier over every training class at once,
drop the classifier, and hand the encoder to a metric learner (:class:`~sciml.meta.ProtoNet`,
:class:`~sciml.meta.RelationNet`, ...), with or without episodic training after.

Example:
    >>> history = pretrain_embedding(encoder, x_train, y_train, embedding_dim=32, epochs=100, seed=0)
    >>> learner = ProtoNet(encoder, n_way=5)   # nearest class mean on the pre-trained embedding
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pretrain_embedding(encoder: nn.Module, x: Tensor, y: Tensor, *, embedding_dim: int, epochs: int = 100, batch_size: int = 64,
                       lr: float = 1e-3, weight_decay: float = 5e-4, seed: int = 0) -> list[float]:
    """Train ``encoder`` (in place) with a linear classifier over the classes of ``y``, then
    drop the classifier.

    Args:
        encoder: Maps ``[n, ...]`` to embeddings ``[n, embedding_dim]``.
        x: Training inputs ``[n, ...]`` (examples of the training classes only).
        y: Class labels ``[n]`` (int64, any values; relabelled in sorted order).
        embedding_dim: Width of the encoder's output.
        epochs: Passes over ``x``.
        batch_size: Examples per step.
        lr: Adam step size.
        weight_decay: Adam's L2 weight decay.
        seed: Seeds the classifier's initialization and the batch order.

    Returns:
        The mean training cross-entropy of each epoch [nats].

    Raises:
        ValueError: for mismatched lengths, fewer than two classes, non-finite inputs, a wrong
            ``embedding_dim`` or non-positive ``epochs`` / ``batch_size``.
        TypeError: for labels that are not integers.
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)} labels; give one label per example.")
    if y.ndim != 1 or torch.is_floating_point(y):
        raise TypeError(f"y must be int64 class labels of shape [n], got {y.dtype} {tuple(y.shape)}.")
    classes = torch.unique(y)
    if len(classes) < 2:
        raise ValueError(f"Supervised pre-training needs at least two classes, got {classes.tolist()}.")
    if torch.is_floating_point(x) and not torch.isfinite(x).all():
        raise ValueError(f"x has {int((~torch.isfinite(x)).sum())} non-finite values; drop or repair those examples first.")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}.")
    labels = torch.searchsorted(classes, y)
    g = torch.Generator().manual_seed(seed)
    dtype = next(encoder.parameters()).dtype
    head = nn.Linear(embedding_dim, len(classes)).to(dtype)
    with torch.no_grad():  # seeded initialization, independent of the global generator
        bound = 1.0 / embedding_dim ** 0.5
        head.weight.copy_(torch.rand(head.weight.shape, generator=g, dtype=dtype) * 2 * bound - bound)
        head.bias.zero_()
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr, weight_decay=weight_decay)
    encoder.train()
    history = []
    try:
        for _ in range(epochs):
            order, total = torch.randperm(len(x), generator=g), 0.0
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                z = encoder(x[idx])
                if z.shape[-1] != embedding_dim:
                    raise ValueError(f"The encoder outputs {z.shape[-1]} columns but embedding_dim = {embedding_dim}.")
                loss = F.cross_entropy(head(z), labels[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
            history.append(total / len(x))
    finally:
        encoder.eval()
    return history
