"""Plots of results tables (matplotlib, imported when called)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd


def plot_metric_vs_shots(
    results: pd.DataFrame,
    metric: str,
    *,
    ax: Any = None,
    statistic: str = "median",
    learners: Sequence[str] | None = None,
    baselines: Sequence[str] = (),
    log_y: bool = False,
    title: str | None = None,
    x: str = "shots",
) -> Any:
    """One line per learner: ``statistic`` of ``metric`` over all rows at each support size
    (or at each inner step count, ``x="steps"``).

    Args:
        results: A results table (columns of :data:`~sciml.evaluation.RESULT_COLUMNS`).
        metric: Metric name to plot.
        ax: Matplotlib axes (a new figure when ``None``).
        statistic: ``"median"`` or ``"mean"``.
        learners: Order and selection of learners (all, in order of appearance, by default).
        baselines: Learners drawn dashed.
        log_y: Logarithmic y axis.
        title: Axes title (the metric name by default).
        x: The column on the x axis: ``"shots"`` or ``"steps"``.

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt

    if x not in ("shots", "steps"):
        raise ValueError(f"x must be 'shots' or 'steps', got {x!r}.")

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    sub = results[results.metric == metric]
    for name in learners or list(dict.fromkeys(sub.learner)):
        values = getattr(sub[sub.learner == name].groupby(x).value, statistic)()
        if values.notna().any():
            ax.plot(values.index, values.values, "--" if name in baselines else "-", marker="o", label=name)
    ax.set_xlabel("support size k" if x == "shots" else "inner steps")
    ax.set_title(title or f"{statistic} {metric}")
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    return ax


def plot_training_curves(histories: pd.DataFrame, ax: Any = None, *, metrics: Sequence[str] | None = None, window: int = 1) -> Any:
    """Training and validation curves from a run's ``metrics.csv`` table (``learner, iteration,
    metric, value``): solid validation, dotted training; log scale.

    Args:
        histories: The curves.
        ax: Matplotlib axes (a new figure by default).
        metrics: Only these metrics (default: all).
        window: Rolling-mean window over iterations (1: raw values).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    if metrics is not None:
        histories = histories[histories.metric.isin(list(metrics))]
    for (name, metric), grp in histories.groupby(["learner", "metric"]):
        ax.plot(grp.iteration, grp.value.rolling(window, min_periods=1).mean(), "-" if metric.startswith("val") else ":",
                label=f"{name} {metric}")
    ax.set_yscale("log")
    ax.set_xlabel("meta-iteration")
    ax.legend(fontsize=7)
    return ax


def plot_bars(long: pd.DataFrame, *, ax: Any = None, references: dict[str, float] | None = None, ylabel: str = "") -> Any:
    """Bars of ``mean`` with ``half`` whiskers per learner, one bar group per ``shots`` (a
    :func:`~sciml.evaluation.tables.summary_table`'s ``attrs["long"]``); dashed lines at the
    ``references`` (label -> value, e.g. published numbers with their source in the label)."""
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    learners = list(dict.fromkeys(long.learner))
    shots = sorted(long.shots.unique())
    width = 0.8 / max(1, len(shots))
    for j, k in enumerate(shots):
        sub = long[long.shots == k].set_index("learner").reindex(learners)
        ax.bar(np.arange(len(learners)) + j * width, sub["mean"], width, yerr=sub["half"], label=f"k = {k}", capsize=3)
    for name, value in (references or {}).items():
        ax.axhline(value, ls="--", lw=0.8, color="gray")
        ax.text(len(learners) - 0.4, value, name, fontsize=6, va="bottom", ha="right")
    ax.set_xticks(np.arange(len(learners)) + width * (len(shots) - 1) / 2, learners, rotation=20, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return ax


def plot_confusion(table: pd.DataFrame, ax: Any = None) -> Any:
    """A row-normalized confusion table (``pandas.crosstab(..., normalize="index")``) as an image."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(table.to_numpy(), vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=7)
    ax.figure.colorbar(im)
    return ax
