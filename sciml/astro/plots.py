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
