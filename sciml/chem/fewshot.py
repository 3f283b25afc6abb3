"""The few-shot molecular property protocol (Meta-MGNN / PAR lineage).

One task is one label column; Tox21 columns 0-8 meta-train and 9-11 (SR-HSE, SR-MMP, SR-p53)
meta-test, SIDER columns 0-20 and 21-26; the support set is k positives + k negatives and the
query is every other labelled molecule of the task; the metric is ROC-AUC averaged over the
test tasks.
"""

from __future__ import annotations

import pandas as pd
import torch

from sciml.chem.featurize import FeaturizedMolecules
from sciml.tasks import GraphData, Task, TaskSet

SPLITS = {"tox21": (range(0, 9), range(9, 12)), "sider": (range(0, 21), range(21, 27))}
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


def protocol_split(tasks: TaskSet, dataset: str) -> tuple[TaskSet, TaskSet]:
    """``(meta_train, meta_test)`` tasks by the standard column split of ``dataset``."""
    if dataset not in SPLITS:
        raise KeyError(f"No standard split for {dataset!r}; known: {sorted(SPLITS)}.")
    train_idx, test_idx = SPLITS[dataset]
    if len(tasks) != max(test_idx) + 1:
        raise ValueError(f"{dataset} has {max(test_idx) + 1} label columns; got {len(tasks)} tasks.")
    return TaskSet(tasks[i] for i in train_idx), TaskSet(tasks[i] for i in test_idx)


def balanced_support(task: Task, shots: int, generator: torch.Generator) -> Task:
    """``shots`` positives + ``shots`` negatives drawn at random as support; every other
    labelled molecule of the task is the query (a design for ``few_shot_results``)."""
    data = task.data
    parts = []
    for label in (1, 0):
        rows = torch.nonzero(data.y == label).flatten()
        if rows.numel() <= shots:
            raise ValueError(f"Task {task.name!r} has {rows.numel()} molecules labelled {label}: too few for {shots}-shot support.")
        parts.append(rows[torch.randperm(rows.numel(), generator=generator)[:shots]])
    support = torch.cat(parts)
    mask = torch.ones(len(data), dtype=torch.bool)
    mask[support] = False
    return task.with_split(data.subset(support), data.subset(torch.nonzero(mask).flatten()))
