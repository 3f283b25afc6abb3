"""Plots of results tables draw what the table holds."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from sciml.evaluation import plot_metric_vs_shots

matplotlib.use("Agg")


def _results() -> pd.DataFrame:
    rows = [("A", 3, step, task, "mse", value) for step, values in ((0, [4.0, 1.0, 2.0]), (5, [0.5, 0.1, 0.3]))
            for task, value in enumerate(values)]
    return pd.DataFrame(rows, columns=["learner", "shots", "steps", "task", "metric", "value"])


def test_one_point_per_inner_step_at_the_median() -> None:
    ax = plot_metric_vs_shots(_results(), "mse", x="steps")
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [0, 5]
    assert list(line.get_ydata()) == [2.0, 0.3]  # medians of (4, 1, 2) and (0.5, 0.1, 0.3)
    assert ax.get_xlabel() == "inner steps"


def test_an_unknown_x_column_is_refused() -> None:
    with pytest.raises(ValueError, match="x must be 'shots' or 'steps'"):
        plot_metric_vs_shots(_results(), "mse", x="seed")
