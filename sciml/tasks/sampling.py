"""Samplers: k-shot splits of one task and N-way K-shot classification episodes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from sciml.tasks.data import TensorData
from sciml.tasks.task import Task


def k_shot_indices(
    y: Tensor,
    shots: int,
    generator: torch.Generator,
    *,
    query_size: int | None = None,
    per_class: bool = False,
    min_query: int = 1,
    task_name: str = "task",
) -> tuple[Tensor, Tensor]:
    """Support and query row indices of a k-shot split.

    Args:
        y: Targets, shape ``[n, ...]``; int64 class indices when ``per_class``.
        shots: Support size, or support size per class when ``per_class``.
        generator: Seeded generator.
        query_size: Query size (all remaining rows when ``None``).
        per_class: Stratify: ``shots`` rows of every class present in ``y``.
        min_query: Fewest rows that must remain for the query.
        task_name: Used in error messages.

    Returns:
        ``(support_idx, query_idx)``, 1-D int64 tensors, disjoint.
    """
    n = int(y.shape[0])
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}.")
    if per_class:
        classes = torch.unique(y)
        support_parts = []
        for c in classes.tolist():
            rows = torch.nonzero(y == c).flatten()
            if rows.numel() < shots + (1 if min_query else 0):
                raise ValueError(
                    f"Task {task_name!r}: class {c} has {rows.numel()} examples, too few for "
                    f"{shots}-shot support plus a query; lower shots or drop the class."
                )
            perm = rows[torch.randperm(rows.numel(), generator=generator)]
            support_parts.append(perm[:shots])
        support = torch.cat(support_parts)
        mask = torch.ones(n, dtype=torch.bool)
        mask[support] = False
        rest = torch.nonzero(mask).flatten()
        rest = rest[torch.randperm(rest.numel(), generator=generator)]
    else:
        if n < shots + min_query:
            raise ValueError(
                f"Task {task_name!r} has {n} measurements: too few for a {shots}-point support set "
                f"plus {min_query} query point(s). Use fewer shots or add measurements."
            )
        perm = torch.randperm(n, generator=generator)
        support, rest = perm[:shots], perm[shots:]
    if query_size is not None:
        if rest.numel() < query_size:
            raise ValueError(
                f"Task {task_name!r}: {rest.numel()} points remain after the support set, fewer than "
                f"query_size={query_size}."
            )
        rest = rest[:query_size]
    return support, rest


def sample_episode(
    x: Tensor,
    y: Tensor,
    classes: Sequence[int],
    n_way: int,
    k_shot: int,
    n_query: int,
    generator: torch.Generator,
    *,
    name: str = "episode",
) -> Task:
    """One N-way K-shot classification episode.

    Args:
        x: Inputs of the whole pool, shape ``[N_pool, ...]``.
        y: Original class labels of the pool, shape ``[N_pool]`` (int64).
        classes: Labels the episode may draw from (e.g. the meta-train classes only).
        n_way: Classes per episode.
        k_shot: Support examples per class.
        n_query: Query examples per class.
        generator: Seeded generator.
        name: Task name.

    Returns:
        A task whose targets are relabelled ``0..n_way-1`` (shape ``[n_way * k]``, class-major);
        ``metadata["classes"]`` maps episode label -> original label.
    """
    classes = list(classes)
    if n_way > len(classes):
        raise ValueError(f"n_way={n_way} exceeds the {len(classes)} classes available.")
    pick = torch.randperm(len(classes), generator=generator)[:n_way].tolist()
    chosen = [classes[i] for i in pick]
    sx, sy, qx, qy = [], [], [], []
    for new_label, c in enumerate(chosen):
        rows = torch.nonzero(y == c).flatten()
        if rows.numel() < k_shot + n_query:
            raise ValueError(
                f"Class {c} has {rows.numel()} examples; an episode needs k_shot + n_query = "
                f"{k_shot + n_query}."
            )
        rows = rows[torch.randperm(rows.numel(), generator=generator)]
        sx.append(x[rows[:k_shot]])
        qx.append(x[rows[k_shot : k_shot + n_query]])
        sy.append(torch.full((k_shot,), new_label, dtype=torch.long))
        qy.append(torch.full((n_query,), new_label, dtype=torch.long))
    return Task(
        support=TensorData(torch.cat(sx), torch.cat(sy)),
        query=TensorData(torch.cat(qx), torch.cat(qy)),
        name=name,
        metadata={"classes": chosen, "n_way": n_way, "kind": "classification"},
    )


class EpisodeSampler:
    """An endless source of N-way K-shot episodes over a fixed set of classes.

    Args:
        x: Inputs of the pool, shape ``[N_pool, ...]``.
        y: Class labels of the pool, shape ``[N_pool]``.
        classes: Labels episodes may use (keep meta-train and meta-test classes disjoint).
        n_way: Classes per episode.
        k_shot: Support examples per class.
        n_query: Query examples per class.
    """

    def __init__(
        self, x: Tensor, y: Tensor, classes: Sequence[int], n_way: int, k_shot: int, n_query: int
    ) -> None:
        self.x, self.y = x, torch.as_tensor(y, dtype=torch.long)
        self.classes = sorted(int(c) for c in classes)
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        present = set(torch.unique(self.y).tolist())
        missing = [c for c in self.classes if c not in present]
        if missing:
            raise ValueError(f"Classes {missing} have no examples in y.")

    def sample(self, generator: torch.Generator, name: str = "episode") -> Task:
        """One episode."""
        return sample_episode(
            self.x, self.y, self.classes, self.n_way, self.k_shot, self.n_query, generator, name=name
        )

    def sample_batch(self, n: int, generator: torch.Generator, **_: object) -> list[Task]:
        """``n`` independent episodes (the interface :meth:`Learner.fit` draws from)."""
        return [self.sample(generator, name=f"episode{i}") for i in range(n)]
