"""A simulator fitted to real classes: each class's periods, amplitudes, Fourier shapes,
irregularity and sampling estimated from its own curves, new curves drawn from a kernel density
over them.

Each member curve of a class is summarized at its period ``P`` by a Fourier series with
``n_harmonics`` terms (amplitudes ``A_k`` and phases ``phi_k``) and the scatter about it beyond
the quoted errors (the star's own irregularity: semi-regular, red-giant and supergiant light
curves are far from strictly periodic), modelled as a damped random walk whose timescale matches
the residuals' structure function. A class is the cloud of its members' parameter vectors
(log10 P, log10 A_1, log10 A_k/A_1, phi_k - k phi_1, log10 intrinsic scatter and log10 its
timescale). A new curve
picks a member at random and perturbs its vector with a Gaussian kernel (a smoothed bootstrap:
Scott's bandwidth per dimension, wrapped on the circle for the phase differences); its epochs
and quoted errors are those of another random member of the same class, and its noise is drawn
at those errors plus the intrinsic red noise.

:meth:`FittedSimulator.fit` reads the curves of the classes it is given and nothing else, so a
simulator fitted to the training classes of a class split never sees the held-out classes.

Example:
    >>> sim = FittedSimulator.fit(curves, periods, classes=["Mira", "Semireg_PV"])
    >>> new = sim.curves(per_class=40, seed=0)          # (name, label, DataFrame[t, mag, err])
    >>> sim.parameters()                                 # the fitted members' parameters
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sciml.astro.lightcurve import LightCurve, LightCurveError, sigma_clip, weighted_harmonic_fit
from sciml.astro.simulate import red_noise

SIMULATOR_VERSION = "1"
"""Bump when fitting or simulation changes: cached pools of simulated curves are then remade."""

FIT_HARMONICS = 4
"""Fourier terms per member curve (the period-doubling test's default)."""

MIN_MEMBERS = 3
"""Fewest usable member curves for a class to be fitted."""

MAX_STRUCTURE_POINTS = 2000
"""Most epochs whose pairs enter the structure function (about 2 million pairs, some 100 MB)."""

SCATTER_FLOOR_MAG = 1e-3
"""Intrinsic scatter [mag] below which a curve counts as strictly periodic (log10 of zero)."""


@dataclass(frozen=True)
class ClassFit:
    """The fitted members of one class.

    Attributes:
        name: Class name.
        members: Member curve names ``[m]``.
        params: Parameter vectors ``[m, d]``, columns :meth:`FittedSimulator.columns`.
        bandwidth: Kernel width per column ``[d]`` (Scott's rule: ``sigma * m^(-1/(d+4))``;
            the circular standard deviation for the phase differences).
        mean_mag: Mean magnitude of each member [mag] ``[m]``.
        cadences: Epochs [d] and quoted errors [mag] of each member (``err`` ``None`` where
            none are quoted).
    """

    name: str
    members: tuple[str, ...]
    params: np.ndarray
    bandwidth: np.ndarray
    mean_mag: np.ndarray
    cadences: tuple[tuple[np.ndarray, np.ndarray | None], ...]


def member_parameters(lc: LightCurve, period: float, n_harmonics: int = FIT_HARMONICS) -> tuple[np.ndarray, float]:
    """One curve's parameter vector at its period, and its weighted mean magnitude.

    Args:
        lc: The (sigma-clipped) light curve.
        period: Its period [d].
        n_harmonics: Fourier terms.

    Returns:
        ``(params [2 n_harmonics + 2], mean magnitude [mag])``; ``params`` is log10 P, log10 A_1,
        log10 A_k/A_1 (k = 2..n), phi_k - k phi_1 (k = 2..n, radians in [0, 2 pi)), log10 of
        the intrinsic scatter [mag] (the residual variance beyond the mean squared quoted error,
        floored at :data:`SCATTER_FLOOR_MAG`) and log10 of its timescale [d]
        (:func:`red_noise_timescale`).

    Raises:
        LightCurveError: for a non-positive or non-finite period or a flat fit (``A_1 = 0``).
    """
    if not np.isfinite(period) or period <= 0:
        raise LightCurveError(f"{lc.name}: the period must be a positive number of days, got {period}.")
    w = np.ones_like(lc.mag) if lc.err is None else 1.0 / np.maximum(lc.err, 1e-6)
    coef, design = weighted_harmonic_fit(lc, period, n_harmonics, w)
    s, c = coef[1::2], coef[2::2]
    amps, phases = np.hypot(s, c), np.arctan2(c, s)
    if amps[0] <= 0:
        raise LightCurveError(f"{lc.name}: no variation at the period {period} d (first Fourier amplitude 0).")
    k = np.arange(2, n_harmonics + 1)
    resid = lc.mag - design @ coef
    excess = resid.var() - (0.0 if lc.err is None else float(np.mean(lc.err**2)))
    scatter = max(float(np.sqrt(max(excess, 0.0))), SCATTER_FLOOR_MAG)
    timescale = red_noise_timescale(lc.t, resid, lc.err, scatter)
    params = np.concatenate([[np.log10(period), np.log10(amps[0])], np.log10(np.maximum(amps[1:], 1e-12) / amps[0]),
                             np.mod(phases[1:] - k * phases[0], 2 * np.pi), [np.log10(scatter), np.log10(timescale)]])
    return params, float(coef[0])


def red_noise_timescale(t: np.ndarray, resid: np.ndarray, err: np.ndarray | None, scatter: float, n_grid: int = 40) -> float:
    r"""Timescale [d] of a damped random walk (an Ornstein-Uhlenbeck process) that best matches the
    structure function of the residuals.

    The model is :math:`\langle (r_i - r_j)^2 \rangle = 2 s^2 (1 - e^{-|t_i - t_j| / \tau}) +
    2 \overline{\sigma^2}` with ``s`` the intrinsic scatter and :math:`\sigma` the quoted errors;
    :math:`\tau` is chosen on a log grid from the shortest pair separation to the baseline by
    least squares over log-spaced separation bins (pairs counted as weights). Curves of more
    than :data:`MAX_STRUCTURE_POINTS` epochs are thinned to that many, evenly spread in index,
    so memory stays bounded.

    Args:
        t: Epochs [d] ``[n]``.
        resid: Residuals about the periodic fit [mag] ``[n]``.
        err: Quoted errors [mag] ``[n]`` or ``None``.
        scatter: Intrinsic scatter ``s`` [mag].
        n_grid: Grid points of :math:`\tau`.
    """
    if len(t) > MAX_STRUCTURE_POINTS:
        keep = np.linspace(0, len(t) - 1, MAX_STRUCTURE_POINTS).astype(int)
        t, resid, err = t[keep], resid[keep], None if err is None else err[keep]
    i, j = np.triu_indices(len(t), 1)
    lag = np.abs(t[j] - t[i])
    keep = lag > 0
    lag, sq = lag[keep], (resid[j] - resid[i])[keep] ** 2
    edges = np.geomspace(lag.min(), lag.max() * (1 + 1e-9), 25)
    which = np.digitize(lag, edges) - 1
    counts = np.bincount(which, minlength=len(edges) - 1)[: len(edges) - 1]
    sums = np.bincount(which, weights=sq, minlength=len(edges) - 1)[: len(edges) - 1]
    used = counts > 0
    centers, observed = np.sqrt(edges[:-1] * edges[1:])[used], sums[used] / counts[used]
    noise = 0.0 if err is None else 2.0 * float(np.mean(err**2))
    taus = np.geomspace(lag.min(), lag.max(), n_grid)
    model = 2 * scatter**2 * (1 - np.exp(-centers[None, :] / taus[:, None])) + noise
    loss = ((model - observed[None, :]) ** 2 * counts[used][None, :]).sum(axis=1)
    return float(taus[np.argmin(loss)])


def _bandwidth(params: np.ndarray, angular: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
    """Silverman's rule of thumb per column, ``0.9 min(sd, IQR / 1.349) m^(-1/5)``, times
    ``smoothing``; the circular standard deviation stands for the spread of the angular columns."""
    m, d = params.shape
    if m < 2:
        return np.zeros(d)
    q75, q25 = np.percentile(params, [75, 25], axis=0)
    sigma = np.minimum(params.std(axis=0, ddof=1), (q75 - q25) / 1.349)
    sigma = np.where(sigma > 0, sigma, params.std(axis=0, ddof=1))
    resultant = np.abs(np.exp(1j * params[:, angular]).mean(axis=0))
    sigma[angular] = np.minimum(np.sqrt(-2.0 * np.log(np.clip(resultant, 1e-12, 1.0))), np.pi)
    return smoothing * 0.9 * sigma * m ** (-0.2)


class FittedSimulator:
    """Class-conditional light-curve simulator fitted to real curves (see the module docstring).

    Build with :meth:`fit`; ``classes`` maps class name -> :class:`ClassFit`.
    """

    def __init__(self, classes: Mapping[str, ClassFit], n_harmonics: int = FIT_HARMONICS, skipped: Mapping[str, str] | None = None):
        self.classes = dict(classes)
        self.n_harmonics = n_harmonics
        self.skipped = dict(skipped or {})

    @staticmethod
    def columns(n_harmonics: int = FIT_HARMONICS) -> list[str]:
        """Names of the parameter columns."""
        k = range(2, n_harmonics + 1)
        return (["log10_period", "log10_A1"] + [f"log10_R{i}1" for i in k] + [f"phi{i}1" for i in k] + ["log10_scatter", "log10_timescale"])

    @classmethod
    def fit(cls, curves: Sequence[tuple[str, str, pd.DataFrame]], periods: Mapping[str, float], classes: Sequence[str],
            n_harmonics: int = FIT_HARMONICS) -> FittedSimulator:
        """Fit the given classes from their curves only.

        Args:
            curves: ``(name, label, DataFrame[t, mag, err])`` per curve (e.g.
                :func:`sciml.astro.dataset.load_light_curve_table`); curves of other classes
                are skipped without being read.
            periods: Period [d] of each curve by name (e.g. ``CurvePool.periods``, with the
                doubled periods of eclipsing binaries); curves without one are skipped.
            classes: The classes to fit (e.g. a split's training classes).
            n_harmonics: Fourier terms per member.

        Returns:
            The simulator; ``skipped`` names each member curve left out and why.

        Raises:
            ValueError: for no classes, or a class with fewer than :data:`MIN_MEMBERS` usable
                curves.
        """
        if not classes:
            raise ValueError("Name at least one class to fit.")
        if n_harmonics < 2:
            raise ValueError(f"n_harmonics must be >= 2 (phase differences need a second term), got {n_harmonics}.")
        wanted = set(classes)
        rows: dict[str, list[tuple[str, np.ndarray, float, tuple[np.ndarray, np.ndarray | None]]]] = {c: [] for c in classes}
        skipped: dict[str, str] = {}
        for name, label, frame in curves:
            if label not in wanted:
                continue  # never read
            if name not in periods:
                skipped[name] = "no period"
                continue
            try:
                lc = sigma_clip(LightCurve.unsorted(frame["t"].to_numpy(float), frame["mag"].to_numpy(float),
                                                    frame["err"].to_numpy(float) if "err" in frame else None, name=name))
                params, mean_mag = member_parameters(lc, float(periods[name]), n_harmonics)
            except LightCurveError as err:
                skipped[name] = str(err)
                continue
            rows[label].append((name, params, mean_mag, (lc.t - lc.t[0], lc.err)))
        angular = np.zeros(2 * n_harmonics + 2, dtype=bool)
        angular[n_harmonics + 1: 2 * n_harmonics] = True
        fits = {}
        for c in classes:
            members = rows[c]
            if len(members) < MIN_MEMBERS:
                raise ValueError(f"Class {c!r} has {len(members)} usable curves; at least {MIN_MEMBERS} are needed to fit it "
                                 "(leave it out of classes).")
            params = np.stack([m[1] for m in members])
            fits[c] = ClassFit(c, tuple(m[0] for m in members), params, _bandwidth(params, angular),
                               np.array([m[2] for m in members]), tuple(m[3] for m in members))
        return cls(fits, n_harmonics, skipped)

    def _class(self, name: str) -> ClassFit:
        if name not in self.classes:
            raise KeyError(f"Class {name!r} was not fitted; fitted: {sorted(self.classes)}.")
        return self.classes[name]

    def sample_parameters(self, name: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` parameter vectors of class ``name`` from its kernel density, ``[n, d]``."""
        fit = self._class(name)
        pick = rng.integers(len(fit.members), size=n)
        out = fit.params[pick] + rng.normal(size=(n, fit.params.shape[1])) * fit.bandwidth
        angular = slice(self.n_harmonics + 1, 2 * self.n_harmonics)
        out[:, angular] = np.mod(out[:, angular], 2 * np.pi)
        return out

    def simulate(self, name: str, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, float]]:
        """One curve of class ``name`` (columns ``t`` [d], ``mag`` and, where the members quote
        them, ``err`` [mag]) and its true
        ``period`` [d] and first Fourier amplitude ``A1`` [mag]."""
        fit = self._class(name)
        h = self.n_harmonics
        p = self.sample_parameters(name, 1, rng)[0]
        period, a1 = 10 ** p[0], 10 ** p[1]
        amps = a1 * np.concatenate([[1.0], 10 ** p[2:h + 1]])
        phi1 = rng.uniform(0, 2 * np.pi)
        phases = np.concatenate([[phi1], p[h + 1:2 * h] + np.arange(2, h + 1) * phi1])
        t, err = fit.cadences[int(rng.integers(len(fit.cadences)))]
        w = 2 * np.pi * np.outer(t, np.arange(1, h + 1)) / period
        scatter, timescale = 10 ** p[-2], 10 ** p[-1]
        noise = rng.normal(size=len(t)) * (0.0 if err is None else err)
        mag = (fit.mean_mag[int(rng.integers(len(fit.mean_mag)))] + np.sin(w + phases) @ amps + red_noise(t, scatter, timescale, rng)
               + noise)
        frame = pd.DataFrame({"t": t, "mag": mag} | ({} if err is None else {"err": err}))
        return frame, {"period": float(period), "A1": float(a1)}

    def curves(self, per_class: int, seed: int) -> list[tuple[str, str, pd.DataFrame]]:
        """``per_class`` simulated curves of every fitted class, named ``sim-<class>-<i>``.

        Class ``c``'s curves come from the generator seeded ``(seed, crc32(c))``, so they do not
        depend on which other classes were fitted.
        """
        if per_class < 1:
            raise ValueError(f"per_class must be >= 1, got {per_class}.")
        out = []
        for c in sorted(self.classes):
            rng = np.random.default_rng([seed, zlib.crc32(c.encode())])
            out += [(f"sim-{c}-{i}", c, self.simulate(c, rng)[0]) for i in range(per_class)]
        return out

    def parameters(self) -> pd.DataFrame:
        """The fitted members' parameters: one row per member curve, columns ``class``,
        ``curve`` and :meth:`columns`."""
        frames = [pd.DataFrame(f.params, columns=self.columns(self.n_harmonics)).assign(**{"class": f.name, "curve": list(f.members)})
                  for f in self.classes.values()]
        table = pd.concat(frames, ignore_index=True)
        return table[["class", "curve", *self.columns(self.n_harmonics)]]


def feature_agreement(real: Any, simulated: Any) -> pd.DataFrame:
    """How close simulated curves come to the real ones, per class and feature.

    Args:
        real: :class:`~sciml.astro.dataset.CurvePool` of real curves.
        simulated: :class:`~sciml.astro.dataset.CurvePool` of simulated curves (their classes
            are compared; each must have real curves).

    Returns:
        Columns ``class``, ``feature``, ``real_median``, ``simulated_median`` and ``ks`` (the
        two-sample Kolmogorov-Smirnov statistic: 0 for equal distributions, 1 for disjoint).

    Raises:
        ValueError: for a simulated class without real curves.
    """
    from scipy.stats import ks_2samp

    from sciml.astro.features import FEATURE_NAMES

    rows = []
    for c in sorted(set(simulated.labels.tolist())):
        r, m = real.features[real.labels == c], simulated.features[simulated.labels == c]
        if not len(r):
            raise ValueError(f"Class {c!r} has simulated curves but no real ones to compare with.")
        for j, f in enumerate(FEATURE_NAMES):
            rows.append({"class": c, "feature": f, "real_median": float(np.median(r[:, j])), "simulated_median": float(np.median(m[:, j])),
                         "ks": float(ks_2samp(r[:, j], m[:, j]).statistic)})
    return pd.DataFrame(rows)
