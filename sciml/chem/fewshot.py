"""The few-shot molecular property protocol (Meta-MGNN / PAR lineage).

One task is one label column; Tox21 columns 0-8 meta-train and 9-11 (SR-HSE, SR-MMP, SR-p53)
meta-test, SIDER columns 0-20 and 21-26; the support set is k positives + k negatives and the
query is every other labelled molecule of the task; the metric is ROC-AUC averaged over the
test tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from sciml.chem.featurize import FeaturizedMolecules
from sciml.tasks import GraphData, Task, TaskSet

SPLITS = {"tox21": (range(9), range(9, 12)), "sider": (range(21), range(21, 27))}
"""Meta-train and meta-test label-column indices of the standard protocol."""


def label_tasks(df: pd.DataFrame, mols: FeaturizedMolecules, name: str = "") -> TaskSet:
    """One binary task per label column of a MoleculeNet table: the molecules labelled for it
    (int64 labels 0/1); unlabelled (NaN) molecules are left out of that task only.

    Args:
        df: Output of :func:`sciml.data.load_moleculenet` (``df.attrs["tasks"]``).
        mols: The featurized molecules of ``df`` (``mols.rows`` index ``df``).
        name: Prefix of task names.
    """
    tasks = []
    for col in df.attrs["tasks"]:
        labels = df[col].to_numpy()
        keep = [(g, int(labels[row])) for g, row in zip(mols.graphs, mols.rows) if labels[row] == labels[row]]
        data = GraphData(tuple(g for g, _ in keep), torch.tensor([v for _, v in keep], dtype=torch.long))
        tasks.append(Task(data, GraphData.empty_like(data), name=f"{name}{col}", group=f"{name}{col}",
                          metadata={"column": col, "positives": int(data.y.sum()), "kind": "binary"}))
    return TaskSet(tasks)


def column_split(tasks: TaskSet, train: Sequence[str], test: Sequence[str]) -> tuple[TaskSet, TaskSet]:
    """``(meta_train, meta_test)`` tasks by label-column name (a user's own assay split).

    Raises:
        ValueError: for an unknown column, or a column on both sides.
    """
    names = {t.metadata["column"]: t for t in tasks}
    unknown = [c for c in [*train, *test] if c not in names]
    if unknown:
        raise ValueError(f"Unknown assay column(s) {unknown}; the table has {sorted(names)}.")
    both = sorted(set(train) & set(test))
    if both:
        raise ValueError(f"Assay column(s) {both} are on both sides of the split.")
    return TaskSet(names[c] for c in train), TaskSet(names[c] for c in test)


def protocol_split(tasks: TaskSet, dataset: str) -> tuple[TaskSet, TaskSet]:
    """``(meta_train, meta_test)`` tasks by the standard column split of ``dataset``."""
    if dataset not in SPLITS:
        raise KeyError(f"No standard split for {dataset!r}; known: {sorted(SPLITS)}.")
    train_idx, test_idx = SPLITS[dataset]
    if len(tasks) != max(test_idx) + 1:
        raise ValueError(f"{dataset} has {max(test_idx) + 1} label columns; got {len(tasks)} tasks.")
    return TaskSet(tasks[i] for i in train_idx), TaskSet(tasks[i] for i in test_idx)


def _balanced_rows(y: torch.Tensor, per_class: int, generator: torch.Generator, exclude: torch.Tensor | None = None) -> torch.Tensor:
    mask = torch.ones(len(y), dtype=torch.bool)
    if exclude is not None:
        mask[exclude] = False
    parts = []
    for label in (1, 0):
        rows = torch.nonzero((y == label) & mask).flatten()
        parts.append(rows[torch.randperm(rows.numel(), generator=generator)[:per_class]])
    return torch.cat(parts)


def rarer_label_count(task: Task) -> int:
    """Molecules of the task's rarer label (positives, usually)."""
    return min(int((task.data.y == c).sum()) for c in (0, 1))


def _episode(task: Task, shots: int, queries: int, generator: torch.Generator) -> Task:
    """``shots`` of each label as support, up to ``queries`` of each of the rest as query."""
    sup = _balanced_rows(task.data.y, shots, generator)
    qry = _balanced_rows(task.data.y, queries, generator, exclude=sup)
    return task.with_split(task.data.subset(sup), task.data.subset(qry))


def balanced_support(task: Task, shots: int, generator: torch.Generator) -> Task:
    """``shots`` positives + ``shots`` negatives drawn at random as support; every other
    labelled molecule of the task is the query (a design for ``few_shot_results``)."""
    data = task.data
    for label in (1, 0):
        n = int((data.y == label).sum())
        if n <= shots:
            raise ValueError(f"Task {task.name!r} has {n} molecules labelled {label}: too few for {shots}-shot support.")
    support = _balanced_rows(data.y, shots, generator)
    mask = torch.ones(len(data), dtype=torch.bool)
    mask[support] = False
    return task.with_split(data.subset(support), data.subset(torch.nonzero(mask).flatten()))


def split_molecules(tasks: TaskSet, fraction: float, seed: int = 0) -> tuple[TaskSet, TaskSet]:
    """Hold out ``fraction`` of every task's molecules (stratified by label) for model
    selection: ``(fit_tasks, holdout_tasks)``, same task names, disjoint molecules.

    Used on the *training* tasks only, so early stopping never sees a test task.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}.")
    fit, held = [], []
    for task in tasks:
        data = task.data
        g = torch.Generator().manual_seed(seed)
        out = []
        for label in (1, 0):
            rows = torch.nonzero(data.y == label).flatten()
            out.append(rows[torch.randperm(rows.numel(), generator=g)[: max(1, round(fraction * rows.numel()))]])
        hold = torch.cat(out)
        mask = torch.ones(len(data), dtype=torch.bool)
        mask[hold] = False
        keep = torch.nonzero(mask).flatten()
        for part, rows in ((fit, keep), (held, hold)):
            sub = data.subset(rows)
            meta = {**task.metadata, "positives": int(sub.y.sum())}
            part.append(Task(sub, GraphData.empty_like(sub), name=task.name, group=task.group, metadata=meta))
    return TaskSet(fit), TaskSet(held)


class BalancedEpisodes:
    """Episode source for :meth:`Learner.fit`: each drawn task gets ``shots`` positives +
    ``shots`` negatives as support and up to ``queries`` of each label as query
    (class-balanced episodes, as in the few-shot molecular literature).

    Args:
        tasks: Binary tasks (int64 0/1 labels), e.g. the meta-train columns.
        shots: Support positives (= negatives) per episode; a sequence draws one per batch.
        queries: Query positives (= negatives) per episode (fewer where a label runs out).

    Raises:
        ValueError: if a task has no more molecules of a label than the largest ``shots``.
    """

    def __init__(self, tasks: TaskSet, shots: int | list[int], queries: int = 8) -> None:
        self.tasks = TaskSet(tasks)
        self.shots = [shots] if isinstance(shots, int) else list(shots)
        self.queries = queries
        for t in self.tasks:
            n_min = rarer_label_count(t)
            if n_min <= max(self.shots):
                raise ValueError(f"Task {t.name!r} has only {n_min} molecules of its rarer label: too few for "
                                 f"{max(self.shots)}-shot episodes with a query. Lower shots or drop the task.")

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self):
        return iter(self.tasks)

    def sample_batch(self, n: int, generator: torch.Generator, **_: object) -> list[Task]:
        """``n`` episodes of distinct tasks (with repeats only if ``n`` exceeds the tasks)."""
        k = self.shots[int(torch.randint(len(self.shots), (1,), generator=generator))]
        order = torch.cat([torch.randperm(len(self.tasks), generator=generator) for _ in range(-(-n // len(self.tasks)))])[:n]
        return [_episode(self.tasks[int(i)], k, self.queries, generator) for i in order]


def validation_episodes(tasks: TaskSet, shots: list[int], queries: int, seed: int) -> list[Task]:
    """Fixed balanced episodes for early stopping: one per task and support size where the
    task has more molecules of each label than the support takes (others are left out)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in shots:
        for t in tasks:
            if rarer_label_count(t) > k:
                out.append(_episode(t, k, queries, g))
    if not out:
        raise ValueError("No validation episode could be drawn: the held-out molecules are too few for the support sizes.")
    return out


def usable_held_out(held: TaskSet, shots: Sequence[int]) -> TaskSet:
    """The held-out tasks with more than ``max(shots)`` molecules of their rarer label (enough
    for a balanced support and a query of both labels).

    Raises:
        ValueError: if none is left (hold out more molecules).
    """
    usable = TaskSet(t for t in held if rarer_label_count(t) > max(shots))
    if not len(usable):
        raise ValueError(f"No held-out task has more than {max(shots)} molecules of its rarer label; hold out more molecules.")
    return usable


def select_inner_steps(learner: Any, held: TaskSet, shots: Sequence[int], choices: Sequence[int], seeds: int = 3) -> tuple[int, pd.DataFrame]:
    """The inner-step count in ``choices`` with the best mean ROC-AUC on held-out molecules of the
    *training* tasks (balanced supports drawn from them, the rest as query), and the table it
    was chosen from (``steps``, ``val_roc_auc`` in %). Test tasks are never passed here.

    Args:
        learner: A trained learner.
        held: Held-out molecules of the training tasks (tasks with too few of the rarer label
            for ``max(shots)`` are skipped).
        shots: Support sizes (per class).
        choices: Candidate inner-step counts.
        seeds: Support draws per task.
    """
    from sciml.evaluation.metrics import BINARY_METRICS
    from sciml.evaluation.protocol import few_shot_results

    res = few_shot_results(learner, usable_held_out(held, shots), shots=list(shots), steps=list(choices), seeds=range(seeds), metrics=BINARY_METRICS,
                           resample=balanced_support)
    table = res.groupby("steps").value.mean().mul(100).rename("val_roc_auc").reset_index()
    return int(table.sort_values("val_roc_auc", ascending=False).steps.iloc[0]), table
