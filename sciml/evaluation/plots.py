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
) -> Any:
    """One line per learner: ``statistic`` of ``metric`` over all rows at each support size.

    Args:
        results: A results table (columns of :data:`~sciml.evaluation.RESULT_COLUMNS`).
        metric: Metric name to plot.
        ax: Matplotlib axes (a new figure when ``None``).
        statistic: ``"median"`` or ``"mean"``.
        learners: Order and selection of learners (all, in order of appearance, by default).
        baselines: Learners drawn dashed.
        log_y: Logarithmic y axis.
        title: Axes title (the metric name by default).

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    sub = results[results.metric == metric]
    for name in learners or list(dict.fromkeys(sub.learner)):
        values = getattr(sub[sub.learner == name].groupby("shots").value, statistic)()
        if values.notna().any():
            ax.plot(values.index, values.values, "--" if name in baselines else "-", marker="o", label=name)
    ax.set_xlabel("support size k")
    ax.set_title(title or f"{statistic} {metric}")
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    return ax
