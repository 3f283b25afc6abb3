"""Augmented copies of light curves that keep their physics: the same star seen by a sparser
or noisier survey.

A copy keeps a random subset of the epochs (another cadence: fewer nights, wider gaps) and adds
Gaussian noise at the quoted per-point errors (the same star measured again with the same
photometry). Period, amplitude and shape are untouched, so the class stays what it was. A shift
in time (a phase shift) is not made: folding starts at the brightest point, so the folded shape
and the features are phase-free already.

Example:
    >>> copies = augmented_curves(curves, copies=3, seed=0)   # (name~k, label, DataFrame) each
"""

from __future__ import annotations

import numpy as np
import pandas as pd

AUGMENT_VERSION = "1"
"""Bump when the augmentation changes: cached pools of copies are then remade."""

MIN_POINTS = 20
"""Fewest epochs a copy keeps (the period search needs at least 20)."""


def augment_curve(frame: pd.DataFrame, rng: np.random.Generator, keep: tuple[float, float] = (0.5, 0.9)) -> pd.DataFrame:
    r"""One augmented copy of a curve.

    Args:
        frame: Columns ``t`` [d], ``mag`` [mag] and optionally ``err`` [mag].
        rng: The generator (seeded by the caller).
        keep: Range of the share of epochs kept (uniform); never fewer than
            :data:`MIN_POINTS` (or all, for a shorter curve).

    Returns:
        The copy, rows in time order; ``mag`` gains noise of standard deviation ``err`` where
        errors are quoted, and ``err`` grows by :math:`\sqrt 2` to match (no noise is added
        without quoted errors: its level would be a guess).

    Raises:
        ValueError: for a ``keep`` range outside (0, 1] or missing columns.
    """
    if not 0 < keep[0] <= keep[1] <= 1:
        raise ValueError(f"keep must satisfy 0 < low <= high <= 1, got {keep}.")
    missing = {"t", "mag"} - set(frame.columns)
    if missing:
        raise ValueError(f"A light curve needs columns t [d] and mag; {sorted(missing)} missing.")
    n = len(frame)
    size = min(n, max(MIN_POINTS, int(np.rint(rng.uniform(*keep) * n))))
    rows = np.sort(rng.choice(n, size=size, replace=False))
    out = frame.iloc[rows].reset_index(drop=True).copy()
    if "err" in out:
        err = out["err"].to_numpy(float)
        out["mag"] = out["mag"].to_numpy(float) + rng.normal(0.0, 1.0, len(out)) * err
        out["err"] = np.sqrt(2.0) * err  # two noise draws now: the copy's quoted errors say so
    return out


def augmented_curves(curves: list[tuple[str, str, pd.DataFrame]], copies: int, seed: int,
                     keep: tuple[float, float] = (0.5, 0.9)) -> list[tuple[str, str, pd.DataFrame]]:
    """``copies`` augmented copies of every curve, named ``<name>~<k>``, with its label.

    Curve ``i``'s copies come from the generator seeded ``(seed, i)``, so a curve's copies do
    not depend on the others.

    Raises:
        ValueError: for ``copies < 1``.
    """
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}.")
    out = []
    for i, (name, label, frame) in enumerate(curves):
        rng = np.random.default_rng([seed, i])
        out += [(f"{name}~{k}", label, augment_curve(frame, rng, keep)) for k in range(copies)]
    return out
