"""The few-shot protocol: metric vs shots and inner steps, over seeds, in one tidy table."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from sciml.evaluation.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS, TaskMetric
from sciml.tasks import Task

RESULT_COLUMNS = ["study", "dataset", "learner", "task", "group", "shots", "steps", "seed", "metric", "value"]
"""Columns of every results table, in this order."""

Resampler = Callable[[Task, int, torch.Generator], Task]


def split_generator(seed: int, task_name: str, shots: int) -> torch.Generator:
    """Generator for the k-shot split of one task: the same (seed, task, shots) gives the same
    points to every learner, whatever the order tasks are visited in."""
    digest = hashlib.sha256(f"{seed}|{task_name}|{shots}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


class _PredictOnce:
    """An adapted model whose ``predict`` / ``predict_proba`` of the same input object is
    computed once: several metrics of one query (ROC-AUC and ECE) share one forward pass."""

    def __init__(self, adapted: Any) -> None:
        self._adapted, self._memo = adapted, {}

    def _once(self, method: str, x: Any) -> Any:
        key = (method, id(x))
        if key not in self._memo:
            self._memo[key] = (x, getattr(self._adapted, method)(x))  # x kept so its id stays unique
        return self._memo[key][1]

    def predict(self, x: Any) -> Any:
        return self._once("predict", x)

    def predict_proba(self, x: Any) -> Any:
        return self._once("predict_proba", x)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapted, name)


def draw_splits(tasks: Sequence[Task], shots: int, seed: int, *, resample: Resampler | None = None,
                query_size: int | None = None, per_class: bool = False) -> list[Task]:
    """Every task split into a ``shots``-point support and a query, as the few-shot protocol
    draws them (:func:`split_generator`: the same seed, task and shots give every learner the
    same support).

    Args:
        tasks: Tasks to split.
        shots: Support size (per class with ``per_class``).
        seed: Seed of the draw.
        resample: Custom support design ``resample(task, shots, generator) -> Task`` (default:
            :meth:`Task.resample` with ``query_size`` and ``per_class``).
    """
    return [resample(t, shots, split_generator(seed, t.name, shots)) if resample is not None
            else t.resample(shots, split_generator(seed, t.name, shots), query_size=query_size, per_class=per_class)
            for t in tasks]


def _is_classification(tasks: Sequence[Task]) -> bool:
    y = tasks[0].data.y
    return not torch.is_floating_point(y)


def few_shot_results(
    learner: Any,
    tasks: Iterable[Task],
    *,
    shots: Sequence[int],
    steps: Sequence[int],
    seeds: Iterable[int] = (0,),
    metrics: Mapping[str, TaskMetric] | None = None,
    query_size: int | None = None,
    per_class: bool = False,
    resample: Resampler | None = None,
    study: str = "",
    dataset: str = "",
    learner_name: str | None = None,
) -> pd.DataFrame:
    """Adapt ``learner`` to every task at every (shots, steps, seed); judge it on the query.

    Args:
        learner: A :class:`~sciml.meta.Learner` (or anything with ``adapt_many``).
        tasks: Tasks to evaluate on (meta-test tasks, or training tasks for diagnostics).
        shots: Support sizes (per class with ``per_class``).
        steps: Inner-step counts.
        seeds: Seeds of the support draws.
        metrics: ``name -> metric(adapted, task)``; defaults to MSE and MAE for regression,
            accuracy and ECE for classification.
        query_size: Query size (all non-support points by default).
        per_class: Draw ``shots`` per class.
        resample: Custom support design ``resample(task, shots, generator) -> Task``
            (default: uniformly random points, :meth:`Task.resample`).
        study, dataset, learner_name: Written into the table.

    Returns:
        A tidy DataFrame with :data:`RESULT_COLUMNS`.
    """
    tasks = list(tasks)
    if not tasks:
        raise ValueError("No tasks to evaluate.")
    if metrics is None:
        metrics = CLASSIFICATION_METRICS if _is_classification(tasks) else REGRESSION_METRICS
    name = learner_name or getattr(learner, "name", type(learner).__name__)
    rows: list[tuple[Any, ...]] = []
    for seed in seeds:
        for k in shots:
            split = draw_splits(tasks, k, seed, resample=resample, query_size=query_size, per_class=per_class)
            adapted = learner.adapt_many([t.support for t in split], list(steps))
            for task, per_step in zip(split, adapted):
                for n_steps, ad in zip(steps, per_step):
                    ad = _PredictOnce(ad) if len(metrics) > 1 else ad
                    for metric_name, fn in metrics.items():
                        rows.append((study, dataset, name, task.name, task.group, int(k), int(n_steps), int(seed), metric_name, float(fn(ad, task))))
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def summarize(
    results: pd.DataFrame,
    by: Sequence[str] = ("learner", "shots", "steps", "metric"),
    statistic: str = "mean",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Aggregate tasks within each seed, then seeds: mean and confidence interval over seeds.

    Args:
        results: A results table.
        by: Columns to group by.
        statistic: ``"mean"`` or ``"median"`` over tasks within a seed.
        confidence: Level of the Student-t interval over seeds.

    Returns:
        One row per group: ``value`` (mean over seeds of the per-seed statistic),
        ``ci_low``, ``ci_high``, ``n_seeds``, ``n_tasks``.
    """
    from scipy import stats

    by = list(by)
    per_seed = results.groupby([*by, "seed"], sort=False)["value"].agg([statistic, "count"]).reset_index()
    out = []
    for key, grp in per_seed.groupby(by, sort=False):
        vals = grp[statistic].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals)]
        mean = float(np.mean(vals)) if len(vals) else float("nan")
        if len(vals) > 1:
            half = float(stats.t.ppf(0.5 + confidence / 2, len(vals) - 1) * stats.sem(vals))
        else:
            half = float("nan")
        key = key if isinstance(key, tuple) else (key,)
        out.append((*key, mean, mean - half, mean + half, len(vals), int(grp["count"].max())))
    return pd.DataFrame(out, columns=[*by, "value", "ci_low", "ci_high", "n_seeds", "n_tasks"])


def held_out_metrics(results: pd.DataFrame, learner: str, statistic: str = "mean") -> dict[str, float]:
    """One learner's results condensed for a prior's record: ``"<dataset>/<metric>/k=<shots>"``
    -> the ``statistic`` (``"mean"`` or ``"median"``) over tasks and seeds.

    Raises:
        ValueError: if the results hold no row of ``learner``.
    """
    rows = results[results.learner == learner]
    if not len(rows):
        raise ValueError(f"No results of learner {learner!r}; learners: {sorted(results.learner.unique())}.")
    agg = rows.groupby(["dataset", "metric", "shots"], sort=True)["value"].agg(statistic)
    return {f"{d}/{m}/k={int(k)}": float(v) for (d, m, k), v in agg.items()}
