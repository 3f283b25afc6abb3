"""Meta-overfitting diagnostics: training-group vs held-out-group performance."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from sciml.evaluation.metrics import TaskMetric
from sciml.evaluation.protocol import few_shot_results
from sciml.tasks import TaskSet


def generalization_gap(
    learner: Any,
    train_tasks: TaskSet,
    test_tasks: TaskSet,
    *,
    shots: Sequence[int],
    steps: Sequence[int],
    metrics: Mapping[str, TaskMetric] | None = None,
    seeds: Sequence[int] = (0,),
) -> pd.DataFrame:
    """Few-shot performance on meta-training groups vs held-out groups.

    A meta-learner that has memorized its training tasks does much better on them than on new
    groups; a large ``gap`` (held-out minus train, for a loss) is meta-overfitting.

    Returns:
        Columns ``learner, shots, steps, metric, train, held_out, gap``.
    """
    common = {"shots": shots, "steps": steps, "metrics": metrics, "seeds": seeds}
    tr = few_shot_results(learner, train_tasks, **common).assign(split="train")
    te = few_shot_results(learner, test_tasks, **common).assign(split="held_out")
    both = pd.concat([tr, te])
    table = both.pivot_table(index=["learner", "shots", "steps", "metric"], columns="split", values="value", aggfunc="mean")
    table = table.reset_index()
    table["gap"] = table["held_out"] - table["train"]
    table.columns.name = None
    return table[["learner", "shots", "steps", "metric", "train", "held_out", "gap"]]


def leave_one_group_out(
    make_learner: Callable[[], Any],
    tasks: TaskSet,
    *,
    fit_kwargs: Mapping[str, Any],
    shots: Sequence[int],
    steps: Sequence[int],
    metrics: Mapping[str, TaskMetric] | None = None,
    seeds: Sequence[int] = (0,),
    groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Meta-train on all groups but one, evaluate on that one; every group in turn.

    Args:
        make_learner: Builds a fresh learner (a new model each time).
        tasks: All tasks.
        fit_kwargs: Passed to ``fit``.
        shots, steps, metrics, seeds: As in :func:`few_shot_results`.
        groups: Groups to hold out (all by default).

    Returns:
        The concatenated results tables (``group`` is the held-out group).
    """
    frames = []
    for group, train, test in tasks.leave_one_group_out():
        if groups is not None and group not in groups:
            continue
        learner = make_learner().fit(train, **fit_kwargs)
        frames.append(few_shot_results(learner, test, shots=shots, steps=steps, metrics=metrics, seeds=seeds))
    return pd.concat(frames, ignore_index=True)
