"""Figures of light-curve pools."""

from __future__ import annotations

from typing import Any

import numpy as np


def plot_gallery(pool: Any, classes: int = 15, per_class: int = 12) -> Any:
    """Phase-folded, resampled curves of the most populous ``classes`` of a
    :class:`~sciml.astro.dataset.CurvePool`, up to ``per_class`` each; returns the figure."""
    import matplotlib.pyplot as plt

    names = sorted(set(pool.labels), key=lambda c: -int((pool.labels == c).sum()))[:classes]
    cols = 5
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(14, 2.4 * rows), sharex=True, squeeze=False)
    grid = np.linspace(0, 1, pool.phase.shape[1], endpoint=False)
    for ax, cls in zip(axes.flat, names):
        for r in pool.phase[pool.labels == cls][:per_class]:
            ax.plot(grid, r, color="tab:blue", alpha=0.3, lw=0.8)
        ax.set_title(f"{cls} ({int((pool.labels == cls).sum())})", fontsize=8)
    fig.tight_layout()
    return fig


def plot_simulated_vs_real(real: Any, simulated: Any, features: tuple[str, ...] = ("log10_period", "amplitude", "skewness", "R21")) -> Any:
    """Per class, the distribution of each feature over real and simulated curves side by side
    (box plots; one panel per feature); returns the figure.

    Args:
        real: :class:`~sciml.astro.dataset.CurvePool` of real curves.
        simulated: :class:`~sciml.astro.dataset.CurvePool` of simulated curves; its classes are
            shown.
        features: Names of :data:`~sciml.astro.features.FEATURE_NAMES` to show.
    """
    import matplotlib.pyplot as plt

    from sciml.astro.features import FEATURE_NAMES

    unknown = [f for f in features if f not in FEATURE_NAMES]
    if unknown:
        raise ValueError(f"Unknown features {unknown}; choose from {list(FEATURE_NAMES)}.")
    classes = sorted(set(simulated.labels.tolist()))
    fig, axes = plt.subplots(len(features), 1, figsize=(max(6.0, 0.9 * len(classes) + 2), 2.2 * len(features)), sharex=True, squeeze=False)
    at = np.arange(len(classes))
    for ax, f in zip(axes[:, 0], features):
        j = FEATURE_NAMES.index(f)
        for shift, pool, color, label in ((-0.2, real, "tab:blue", "real"), (0.2, simulated, "tab:orange", "simulated")):
            box = ax.boxplot([pool.features[pool.labels == c, j] for c in classes], positions=at + shift, widths=0.35, patch_artist=True,
                             showfliers=False)
            for patch in box["boxes"]:
                patch.set(facecolor=color, alpha=0.6)
            ax.plot([], [], color=color, lw=6, alpha=0.6, label=label)
        ax.set_ylabel(f, fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xticks(at, classes, rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    return fig
