"""Supervised multi-task pretraining of a molecule encoder on the training tasks' labels.

The encoder (a GIN with one output per training task) learns every labelled entry of the
training tasks at once (masked BCE), with an exponential moving average of its weights; the
epoch with the best mean ROC-AUC on molecules held out of the *training* tasks is kept. Its body
is then the starting point of fine-tuning and of meta-learning, or, frozen with
:func:`~sciml.models.gnn.gin.with_frozen_statistics`, the encoder of a molecule prior.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from sciml.tasks import TaskSet


def label_matrix(tasks: TaskSet) -> tuple[list[Any], torch.Tensor]:
    """The distinct molecules of ``tasks`` (graphs matched by identity, as
    :func:`~sciml.chem.fewshot.label_tasks` shares them across tasks) and their labels
    ``[molecules, tasks]``, NaN where a molecule is not labelled for a task."""
    index: dict[int, int] = {}
    graphs: list[Any] = []
    entries = []
    for j, task in enumerate(tasks):
        for graph, label in zip(task.data.graphs, task.data.y.tolist()):
            if id(graph) not in index:
                index[id(graph)] = len(graphs)
                graphs.append(graph)
            entries.append((index[id(graph)], j, float(label)))
    y = torch.full((len(graphs), len(tasks)), float("nan"))
    for i, j, label in entries:
        y[i, j] = label
    return graphs, y


@torch.no_grad()
def heldout_roc_auc(model: nn.Module, held: TaskSet) -> float:
    """Mean over tasks of the ROC-AUC of ``model``'s output ``j`` on task ``j``'s molecules."""
    from torch_geometric.data import Batch

    from sciml.evaluation.metrics import roc_auc

    model.eval()
    return float(np.mean([roc_auc(model(Batch.from_data_list(list(t.data.graphs)))[:, j], t.data.y) for j, t in enumerate(held)]))


def pretrain_multitask(model: nn.Module, fit: TaskSet, held: TaskSet, epochs: int, lr: float, batch_size: int, seed: int,
                       ema_decay: float = 0.0, progress: bool = True) -> list[dict[str, float]]:
    """Train ``model`` (output ``j`` predicts training task ``j``) on every labelled entry of
    ``fit`` and keep the epoch with the best :func:`heldout_roc_auc` on ``held``.

    Args:
        model: A graph model with ``len(fit)`` outputs; changed in place.
        fit: Training tasks (the molecules to learn from).
        held: The same tasks' held-out molecules (for choosing the epoch), never test tasks.
        epochs: Passes over the molecules, in shuffled mini-batches.
        lr: Adam step size.
        batch_size: Molecules per mini-batch.
        seed: Seed of the shuffling.
        ema_decay: With ``ema_decay > 0`` the kept weights and BatchNorm statistics are an
            exponential moving average over optimizer steps, ``avg <- decay * avg + (1 - decay)
            * current``; ``0`` keeps the raw weights.
        progress: Show a progress bar.

    Returns:
        Per epoch: ``iteration``, ``train_loss``, ``val_roc_auc``.
    """
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    from torch_geometric.data import Batch
    from tqdm.auto import tqdm

    if not 0.0 <= ema_decay < 1.0:
        raise ValueError(f"training.pretrain_ema_decay must be in [0, 1) (0: no averaging), got {ema_decay}.")
    graphs, y = label_matrix(fit)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True) if ema_decay else None
    kept = average.module if average is not None else model
    g = torch.Generator().manual_seed(seed)
    history, best, best_state = [], -1.0, None
    for epoch in tqdm(range(epochs), desc="multi-task pretraining", leave=False, disable=not progress):
        model.train()
        order = torch.randperm(len(graphs), generator=g)
        losses = []
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            target = y[rows]
            labelled = ~torch.isnan(target)
            out = model(Batch.from_data_list([graphs[int(i)] for i in rows]))
            loss = nn.functional.binary_cross_entropy_with_logits(out[labelled], target[labelled])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if average is not None:
                average.update_parameters(model)
            losses.append(float(loss.detach()))
        auc = heldout_roc_auc(kept, held)
        history.append({"iteration": epoch + 1, "train_loss": float(np.mean(losses)), "val_roc_auc": auc})
        if auc > best:
            best, best_state = auc, copy.deepcopy(kept.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
