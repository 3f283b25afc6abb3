"""Figures of calibrated kinetics: bands per temperature, and sequential design curves."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch


def plot_material_calibration(ax: Any, posterior: Any, task: Any, support: Any, level: float = 0.9, title: str = "") -> Any:
    """One material: the calibrated JMAK-Arrhenius curve with its ``level`` predictive band at
    each of the material's temperatures, every measured point (circles) and the support (stars).

    Args:
        ax: Matplotlib axes.
        posterior: The calibration's Laplace posterior.
        task: The material task (``temperatures_K`` in metadata; inputs time [s], temperature [K]).
        support: The points the calibration used.
        level: Band level.
        title: Axes title.
    """
    import matplotlib.pyplot as plt

    temps = task.metadata["temperatures_K"]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(temps)))
    x_all = task.data.x
    for T, c in zip(temps, colors):
        sel = x_all[:, 1] == T
        tt = x_all[sel, 0].clamp_min(1.0)
        grid = torch.logspace(float(tt.min().log10()) - 0.3, float(tt.max().log10()) + 0.3, 100, dtype=torch.float64)
        mean, lo, hi = posterior.predict(torch.stack([grid, torch.full_like(grid, T)], 1), level=level)
        ax.fill_between(grid, lo.clamp(0, 1), hi.clamp(0, 1), color=c, alpha=0.2)
        ax.plot(grid, mean, color=c, label=f"{T - 273.15:.0f} C")
        ax.plot(tt, task.data.y[sel], "o", mfc="none", color=c, ms=4)
    ax.plot(support.x[:, 0].clamp_min(1.0), support.y, "k*", ms=10, label=f"{len(support)} measured")
    ax.set_xscale("log")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("time [s]")
    ax.legend(fontsize=6)
    return ax


def plot_sequential_design(ax: Any, table: pd.DataFrame) -> Any:
    """Median t50 error vs measured points for each strategy of
    :func:`~sciml.materials.design.sequential_design` (``strategy, shots, t50_rel_error``, or
    result rows whose ``learner`` is ``<learner>/<strategy>`` and ``value`` the t50 error);
    ``ax=None`` makes a new figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    if "strategy" not in table.columns:
        table = table.assign(strategy=table.learner.str.split("/").str[1], t50_rel_error=table.value)
    for name, grp in table.groupby("strategy", sort=False):
        med = grp.groupby("shots").t50_rel_error.median()
        ax.plot(med.index, med.values, marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("measured points (earliest + added)")
    ax.set_ylabel("median t50 error")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_isotherm_calibrations(ax: Any, task: Any, fits: dict[str, Any], dashed: tuple[str, ...] = ()) -> Any:
    """One synthetic isotherm: its true JMAK curve (``t50_s``, ``n``, ``temperature_K`` in the
    task's metadata), the held-out and support points, and each calibrated law in ``fits``
    (label -> adapted law, combination of laws, or another predictor of the task's inputs;
    those that read a temperature get the isotherm's)."""
    from sciml.materials.kinetics import input_columns, law_inputs

    t_all = task.data.x[:, 0]
    grid = torch.logspace(float(t_all.min().log10()) - 0.3, float(t_all.max().log10()) + 0.3, 200)
    meta = task.metadata
    truth = 1 - torch.exp(-torch.log(torch.tensor(2.0)) * (grid / meta["t50_s"]) ** meta["n"])
    ax.plot(grid, truth, "k-", lw=2, alpha=0.4, label="truth")
    ax.plot(task.query.x[:, 0], task.query.y, "o", mfc="none", color="gray", label="held-out points")
    ax.plot(task.support.x[:, 0], task.support.y, "ko", label="measured (support)")
    for name, ad in fits.items():
        ax.plot(grid, ad.predict(law_inputs(ad, grid, meta["temperature_K"], input_columns(task))), "--" if name in dashed else "-", label=name)
    ax.set_xscale("log")
    ax.set_title(f"{task.name} (n={meta['n']:.2f})", fontsize=8)
    ax.set_xlabel("time [s]")
    return ax


def plot_metric_by_design(results: pd.DataFrame, metric: str, title: str, *, order: Any = None, baselines: tuple[str, ...] = (),
                          statistic: str = "median") -> Any:
    """One panel per design (``dataset`` values ``<name>:<design>``): ``metric`` vs k per learner.

    Args:
        results: Rows of :func:`~sciml.materials.benchmark.calibrate_and_judge`.
        metric: A metric name, e.g. ``t50_rel_error`` (log axis) or ``coverage90`` (the 0.80-0.95
            target shaded).
        title: Panel title after the design's name.
        order: Learner order.
        baselines: Learners drawn dashed.
        statistic: ``median`` or ``mean`` over calibrations.

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    from sciml.evaluation.plots import plot_metric_vs_shots

    designs = list(results.dataset.unique())
    fig, axes = plt.subplots(1, len(designs), figsize=(6 * len(designs), 4), squeeze=False)
    for ax, design in zip(axes[0], designs):
        plot_metric_vs_shots(results[results.dataset == design], metric, ax=ax, statistic=statistic, learners=order, baselines=baselines,
                             log_y=metric == "t50_rel_error", title=f"{design.split(':')[1]} design: {title}")
        if metric == "coverage90":
            ax.axhspan(0.8, 0.95, color="green", alpha=0.1)
    axes[0, 0].legend(fontsize=7)
    return fig


def plot_calibrated_materials(kept: dict[str, Any], shots: int = 3, seed: int = 0) -> Any:
    """Each held-out material calibrated from ``shots`` random points with its 90% bands
    (``details["kept"]`` of :func:`~sciml.materials.benchmark.leave_one_group_out`).

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    from sciml.evaluation.protocol import split_generator

    fig, axes = plt.subplots(1, len(kept), figsize=(4.2 * len(kept), 3.8), squeeze=False, sharey=True)
    for ax, (name, (learner, task, noise_sd)) in zip(axes[0], kept.items()):
        split = task.resample(shots, split_generator(seed, task.name, shots))
        post = learner.posterior(learner.adapt(split.support), split.support, noise_sd)
        plot_material_calibration(ax, post, task, split.support, title=name)
    axes[0, 0].set_ylabel("recrystallized fraction X")
    fig.tight_layout()
    return fig


def plot_isotherm_gallery(test: Any, learners: dict[str, Any], shots: int, seed: int = 0, panels: int = 6,
                          dashed: tuple[str, ...] = ()) -> Any:
    """Up to ``panels`` test isotherms (evenly spread over ``test``), each calibrated by every
    learner from the same ``shots`` random points (:func:`plot_isotherm_calibrations`); a
    ``CurveFit`` learner gets the time column only.

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    from sciml.meta import CurveFit
    from sciml.tasks import TensorData

    fig, axes = plt.subplots(2, (panels + 1) // 2, figsize=(14, 7), sharey=True)
    step = max(1, len(test) // panels)
    for ax, task in zip(axes.flat, list(test)[::step][:panels]):
        split = task.resample(shots, torch.Generator().manual_seed(seed))
        fits = {label: learner.adapt(TensorData(split.support.x[:, 0], split.support.y) if isinstance(learner, CurveFit) else split.support)
                for label, learner in learners.items()}
        plot_isotherm_calibrations(ax, split, fits, dashed=dashed)
    axes[0, 0].set_ylabel("X")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_family_errors(results: pd.DataFrame, references: dict[str, float] | None = None, metric: str = "mae_n",
                       baselines: tuple[str, ...] = ("support mean", "ridge (composition)")) -> Any:
    """One panel per family ``grouping`` (a column of ``results``): ``metric`` vs k per learner,
    with dotted ``references`` (label -> value, e.g. full-data leaderboard errors).

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    from sciml.evaluation.plots import plot_metric_vs_shots

    groupings = list(dict.fromkeys(results.grouping))
    fig, axes = plt.subplots(1, len(groupings), figsize=(6 * len(groupings), 4), squeeze=False)
    for ax, grouping in zip(axes[0], groupings):
        plot_metric_vs_shots(results[results.grouping == grouping], metric, ax=ax, statistic="mean", baselines=baselines,
                             title=f"grouping: {grouping}")
        for name, value in (references or {}).items():
            ax.axhline(value, color="gray", lw=0.8, ls=":")
            ax.text(ax.get_xlim()[0], value, name, fontsize=6, va="bottom")
        ax.set_ylabel(f"{metric}, held-out families")
        ax.legend(fontsize=7)
    return fig


def plot_kinetics_errors(results: pd.DataFrame, order: Any = None, baselines: tuple[str, ...] = ()) -> Any:
    """Three panels vs k: median t50 error (log axis), median n error and the share of diverged
    calibrations, one line per learner (``baselines`` dashed).

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    from sciml.evaluation.plots import plot_metric_vs_shots

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, metric, stat, title in zip(axes, ("t50_rel_error", "n_rel_error", "diverged"), ("median", "median", "mean"),
                                       ("median |t50 error| / t50", "median |n error| / n", "share diverged")):
        plot_metric_vs_shots(results, metric, ax=ax, statistic=stat, learners=order, baselines=baselines, title=title)
    axes[0].set_yscale("log")
    axes[0].legend()
    return fig
