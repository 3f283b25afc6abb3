"""Featurized light-curve pools: phase vectors and features of every curve, cached on disk."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sciml.astro.features import FEATURE_NAMES, feature_vector, features
from sciml.astro.lightcurve import (
    LightCurve,
    LightCurveError,
    check_variability,
    find_period,
    folded_vector,
    resolve_period_doubling,
    sigma_clip,
)

FEATURIZER_VERSION = "4"
"""Bump when preprocessing changes: cached pools of older versions are recomputed."""


@dataclass(frozen=True)
class CurvePool:
    """Featurized light curves.

    Attributes:
        names: Curve identifiers ``[N]``.
        labels: Class names ``[N]``.
        phase: Phase vectors ``[N, n_bins]`` (brightness-up, unit 5-95% range).
        features: :data:`~sciml.astro.features.FEATURE_NAMES` ``[N, 8]``.
        periods: Periods [d] ``[N]``.
        skipped: Curves left out, with the reason.
        doubled: Whether each period is twice the Lomb-Scargle period ``[N]`` (bool;
            :func:`~sciml.astro.lightcurve.resolve_period_doubling`; all false for simulated
            curves, which are folded at their true period).
    """

    names: np.ndarray
    labels: np.ndarray
    phase: np.ndarray
    features: np.ndarray
    periods: np.ndarray
    skipped: dict[str, str]
    doubled: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.doubled is None:
            object.__setattr__(self, "doubled", np.zeros(len(self.names), dtype=bool))

    def classes(self, min_members: int = 1) -> list[str]:
        """Classes with at least ``min_members`` curves, most populous first."""
        counts = pd.Series(self.labels).value_counts()
        return [str(c) for c, n in counts.items() if n >= min_members]

    def doubled_by_class(self) -> pd.DataFrame:
        """Columns ``class``, ``curves``, ``doubled``: how many curves of each class are folded at
        twice their Lomb-Scargle period, most doubled first."""
        frame = pd.DataFrame({"class": self.labels, "doubled": self.doubled.astype(int)})
        table = frame.groupby("class").agg(curves=("doubled", "size"), doubled=("doubled", "sum")).reset_index()
        return table.sort_values(["doubled", "curves"], ascending=False, kind="stable").reset_index(drop=True)

    def select(self, keep: np.ndarray) -> CurvePool:
        """The curves where ``keep`` is true."""
        return CurvePool(self.names[keep], self.labels[keep], self.phase[keep], self.features[keep], self.periods[keep], self.skipped,
                         self.doubled[keep])


def featurize(name: str, t: np.ndarray, mag: np.ndarray, err: np.ndarray | None, n_bins: int, min_period: float = 0.05,
              ) -> tuple[np.ndarray, np.ndarray, float, bool] | str:
    """``(phase vector, features, period [d], doubled)`` of one curve, or the reason it cannot be
    used. The period is the Lomb-Scargle period, doubled (``doubled``) where alternate cycles
    differ (:func:`~sciml.astro.lightcurve.resolve_period_doubling`: eclipsing binaries)."""
    try:
        lc = LightCurve.unsorted(t, mag, err, name=name)
        period = find_period(lc, min_period=min_period)
        clipped = sigma_clip(lc)
        check_variability(clipped)
        resolved = resolve_period_doubling(clipped, period)
        vec, _ = folded_vector(clipped, resolved.period, n_bins)
        return vec, feature_vector(clipped, resolved.period), resolved.period, resolved.doubled
    except LightCurveError as err_:
        return str(err_)


def _work(args: tuple[str, np.ndarray, np.ndarray, np.ndarray | None, int]) -> tuple[np.ndarray, np.ndarray, float, bool] | str:
    return featurize(*args)


def build_pool(curves: list[tuple[str, str, pd.DataFrame]], n_bins: int = 64, cache_key: str | None = None, workers: int | None = None) -> CurvePool:
    """Featurize ``(name, label, DataFrame[t, mag, err])`` curves (in parallel), with an
    on-disk cache keyed by ``cache_key`` (e.g. the input file's sha256), ``n_bins`` and
    :data:`FEATURIZER_VERSION`. Curves that fail are listed in ``skipped`` with the reason."""
    from tqdm.auto import tqdm

    cache = None
    if cache_key is not None:
        from sciml.data.download import cache_dir

        digest = hashlib.sha256(f"{cache_key}|{n_bins}|{FEATURIZER_VERSION}".encode()).hexdigest()[:16]
        cache = cache_dir() / "processed" / f"curvepool-{digest}.npz"
        if cache.is_file():
            z = np.load(cache, allow_pickle=False)
            return CurvePool(z["names"], z["labels"], z["phase"], z["features"], z["periods"], json.loads(str(z["skipped"])), z["doubled"])
    jobs = [(name, df.t.to_numpy(), df.mag.to_numpy(), df.err.to_numpy() if "err" in df else None, n_bins) for name, _, df in curves]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as ex:
        outs = list(tqdm(ex.map(_work, jobs, chunksize=4), total=len(jobs), desc="featurizing light curves", leave=False))
    names, labels, phase, feats, periods, doubled, skipped = [], [], [], [], [], [], {}
    for (name, label, _), out in zip(curves, outs):
        if isinstance(out, str):
            skipped[name] = out
            continue
        names.append(name), labels.append(label), phase.append(out[0]), feats.append(out[1]), periods.append(out[2])
        doubled.append(out[3])
    pool = CurvePool(np.array(names), np.array(labels), np.array(phase), np.array(feats), np.array(periods), skipped,
                     np.array(doubled, dtype=bool))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, names=pool.names, labels=pool.labels, phase=pool.phase, features=pool.features, periods=pool.periods,
                 doubled=pool.doubled, skipped=json.dumps(skipped))
    return pool


def asas_pool(n_bins: int = 64, max_curves: int | None = None) -> CurvePool:
    """The ASAS light curves, featurized (first call: a few minutes on 2 cores; then cached).

    Args:
        n_bins: Phase bins of the folded curves.
        max_curves: Only the first ``max_curves`` curves of the archive (quick runs).
    """
    return light_curve_pool("asas", n_bins=n_bins, max_curves=max_curves)


def simulated_pool(per_class: int, n_bins: int = 64, seed: int = 0, rrlyrae: Any = None) -> CurvePool:
    """Simulated curves of every :data:`~sciml.astro.simulate.CLASSES` class, folded at their
    true period (transients: at their time span), featurized without a period search.
    ``rrlyrae``: :class:`~sciml.astro.simulate.SesarTemplates` for empirical RR Lyrae shapes."""
    from sciml.astro.simulate import CLASSES, simulate

    rng = np.random.default_rng(seed)
    names, labels, phase, feats, periods = [], [], [], [], []
    for cls in CLASSES:
        made = 0
        while made < per_class:  # redraw curves a survey would not flag as variable
            lc, truth = simulate(cls, rng, rrlyrae=rrlyrae)
            period = truth["period"] if np.isfinite(truth["period"]) else lc.baseline
            try:
                feat = features(lc, period=period)
            except LightCurveError:
                continue
            vec, _ = folded_vector(lc, period, n_bins)
            names.append(f"{cls}-{made}"), labels.append(cls), phase.append(vec)
            feats.append(feat), periods.append(period)
            made += 1
    return CurvePool(np.array(names), np.array(labels), np.array(phase), np.array(feats), np.array(periods), {})


__all__ = ["FEATURE_NAMES", "CurvePool", "asas_pool", "augmented_pool", "build_pool", "featurize", "fitted_simulated_pool", "light_curve_pool",
           "simulated_pool"]


def load_light_curve_table(path: str | Path) -> list[tuple[str, str, pd.DataFrame]]:
    """A user's light curves from one long CSV: columns ``name`` (one per curve), ``label``
    (its class), ``t`` (time [d]), ``mag`` (magnitude) and optionally ``err`` [mag].

    Returns:
        ``(name, label, DataFrame[t, mag, err])`` per curve, in file order (the input of
        :func:`build_pool`).

    Raises:
        FileNotFoundError: for a missing file.
        ValueError: for a missing column, a non-numeric or empty value (named with its line), or
            a curve with more than one label.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such light-curve table (a CSV with columns name, label, t [d], mag[, err]).")
    table = pd.read_csv(path)
    missing = [c for c in ("name", "label", "t", "mag") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} not found; it has {list(table.columns)} (expected name, label, t [d], mag[, err]).")
    for col in [c for c in ("t", "mag", "err") if c in table.columns]:
        values = pd.to_numeric(table[col], errors="coerce")
        bad = [int(i) + 2 for i in values.index[values.isna()]]
        if bad:
            raise ValueError(f"{path}: column {col} is empty or not a number on line(s) {bad[:10]}.")
        table[col] = values
    labels = table.groupby("name", sort=False).label.nunique()
    if (labels > 1).any():
        raise ValueError(f"{path}: curve(s) {list(labels.index[labels > 1][:5])} carry more than one label.")
    cols = [c for c in ("t", "mag", "err") if c in table.columns]
    return [(str(name), str(rows.label.iloc[0]), rows[cols].reset_index(drop=True)) for name, rows in table.groupby("name", sort=False)]


def source_curves(source: str | Path, max_curves: int | None = None) -> tuple[list[tuple[str, str, pd.DataFrame]], str]:
    """The raw curves ``(name, class, table)`` of ``"asas"`` or a user's table, and the cache
    key of that input (read once and pass to :func:`fitted_simulated_pool` for several class
    splits)."""
    if str(source).lower() == "asas":
        from itertools import islice

        from sciml.data.astro import ASAS_FILES, iter_asas

        curves = list(islice(iter_asas(), max_curves)) if max_curves else list(iter_asas())
        key = ASAS_FILES["asas_training_set.tar.gz"]
    else:
        from sciml.data.download import sha256_of

        curves, key = load_light_curve_table(source)[: max_curves or None], sha256_of(Path(source))
    return curves, key + (f"|first{max_curves}" if max_curves else "")


def light_curve_pool(source: str | Path = "asas", n_bins: int = 64, max_curves: int | None = None) -> CurvePool:
    """The ASAS curves (``"asas"``) or a user's table (:func:`load_light_curve_table`),
    featurized and cached (keyed by the file's sha256)."""
    curves, key = source_curves(source, max_curves)
    return build_pool(curves, n_bins=n_bins, cache_key=key)


def augmented_pool(source: str | Path = "asas", copies: int = 2, seed: int = 0, n_bins: int = 64, max_curves: int | None = None) -> CurvePool:
    """Augmented copies of the curves of :func:`light_curve_pool`
    (:func:`sciml.astro.augment.augmented_curves`: fewer epochs, noise at the quoted errors),
    featurized and cached. Copies are named ``<name>~<k>``; train on the copies of training
    classes only, never evaluate on them."""
    from sciml.astro.augment import AUGMENT_VERSION, augmented_curves

    curves, key = source_curves(source, max_curves)
    return build_pool(augmented_curves(curves, copies, seed), n_bins=n_bins,
                      cache_key=f"{key}|augment{copies}|seed{seed}|v{AUGMENT_VERSION}")


def fitted_simulated_pool(source: str | Path, classes: list[str], per_class: int, seed: int = 0, n_bins: int = 64,
                          max_curves: int | None = None,
                          curves: tuple[list[tuple[str, str, pd.DataFrame]], str] | None = None) -> tuple[CurvePool, Any]:
    """Curves simulated by a :class:`~sciml.astro.fitted_simulator.FittedSimulator` fitted to
    ``classes`` of the curves of :func:`light_curve_pool` (at their featurized periods; the
    curves of other classes are not read), featurized like real curves (period search included)
    and cached.

    Args:
        source: ``"asas"`` or the path of a light-curve table.
        classes: The classes to fit and simulate (e.g. a class split's training classes).
        per_class: Curves simulated per class.
        seed: Seed of the simulation.
        n_bins: Phase bins.
        max_curves: Only the first ``max_curves`` curves of the source.
        curves: The source's curves and cache key as :func:`source_curves` returned them for
            ``source`` and ``max_curves``, so that fitting one simulator per class split does not
            read the source again.

    Returns:
        ``(pool of simulated curves, the fitted simulator)``; simulated curves a survey would
        not flag as variable are in the pool's ``skipped``.
    """
    from sciml.astro.fitted_simulator import SIMULATOR_VERSION, FittedSimulator

    curves, key = curves or source_curves(source, max_curves)
    real = build_pool(curves, n_bins=n_bins, cache_key=key)
    simulator = FittedSimulator.fit(curves, dict(zip(real.names.tolist(), real.periods.tolist())), classes)
    made = build_pool(simulator.curves(per_class, seed), n_bins=n_bins,
                      cache_key=f"{key}|fitted|{','.join(sorted(classes))}|{per_class}|seed{seed}|v{SIMULATOR_VERSION}")
    return made, simulator
