"""Light curves: validation, sigma clipping, period search, phase folding, resampling.

Irregular sampling and seasonal gaps are the rule in ground-based photometry: nothing here
assumes even sampling. The period search is the generalized Lomb-Scargle periodogram of
``astropy.timeseries`` (extra ``astro``: ``pip install sciml[astro]``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

MIN_POINTS = 20


class LightCurveError(ValueError):
    """A light curve cannot be used as it is; the message says why and what to do."""


@dataclass(frozen=True)
class LightCurve:
    """Photometric time series of one source.

    Args:
        t: Observation times [d], shape ``[n]``, increasing.
        mag: Magnitudes [mag], shape ``[n]``.
        err: Magnitude uncertainties [mag], shape ``[n]`` (optional).
        name: Identifier used in messages.

    Raises:
        LightCurveError: if the arrays disagree in length, hold NaN/inf, are too short, or the
            times are not sorted (use :meth:`sorted`).
    """

    t: np.ndarray
    mag: np.ndarray
    err: np.ndarray | None = None
    name: str = "light curve"
    min_points: int = MIN_POINTS

    def __post_init__(self) -> None:
        t, mag = np.asarray(self.t, dtype=float), np.asarray(self.mag, dtype=float)
        err = None if self.err is None else np.asarray(self.err, dtype=float)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "mag", mag)
        object.__setattr__(self, "err", err)
        if t.ndim != 1 or mag.shape != t.shape or (err is not None and err.shape != t.shape):
            raise LightCurveError(f"{self.name}: t, mag (and err) must be 1-D arrays of equal length; got {t.shape}, {mag.shape}.")
        for label, arr in (("t", t), ("mag", mag), ("err", err)):
            if arr is not None and not np.isfinite(arr).all():
                rows = np.flatnonzero(~np.isfinite(arr))
                raise LightCurveError(
                    f"{self.name}: {label} has NaN or infinite values at {len(rows)} point(s) (first: {rows[:5].tolist()}); "
                    "drop those epochs before building the light curve."
                )
        if len(t) < self.min_points:
            raise LightCurveError(
                f"{self.name}: too short: {len(t)} points, at least {self.min_points} are needed for a period search."
            )
        if np.any(np.diff(t) < 0):
            raise LightCurveError(f"{self.name}: times are not sorted; call LightCurve(...).sorted() or sort by time first.")

    @classmethod
    def unsorted(cls, t: np.ndarray, mag: np.ndarray, err: np.ndarray | None = None, name: str = "light curve") -> LightCurve:
        """Build from epochs in any order (they are sorted by time)."""
        order = np.argsort(np.asarray(t, dtype=float), kind="stable")
        return cls(np.asarray(t)[order], np.asarray(mag)[order], None if err is None else np.asarray(err)[order], name)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def baseline(self) -> float:
        """Time span [d]."""
        return float(self.t[-1] - self.t[0])

    def subset(self, keep: np.ndarray) -> LightCurve:
        """The epochs where ``keep`` is true."""
        return replace(self, t=self.t[keep], mag=self.mag[keep], err=None if self.err is None else self.err[keep])


def sigma_clip(lc: LightCurve, n_sigma: float = 5.0, iterations: int = 3) -> LightCurve:
    """Drop outliers more than ``n_sigma`` robust standard deviations (1.4826 MAD) from the
    median magnitude, iterating up to ``iterations`` times."""
    keep = np.ones(len(lc), dtype=bool)
    for _ in range(iterations):
        med = np.median(lc.mag[keep])
        mad = 1.4826 * np.median(np.abs(lc.mag[keep] - med))
        if mad == 0:
            break
        new = np.abs(lc.mag - med) <= n_sigma * mad
        if (new == keep).all():
            break
        keep = new
    return lc.subset(keep)


def check_variability(lc: LightCurve, min_chi2: float = 1.0) -> None:
    """Raise if the curve is consistent with a constant star.

    With uncertainties: the reduced chi-square about the weighted mean must exceed
    ``min_chi2`` (default 1: scatter no larger than the quoted errors is no evidence of
    variability). Without: the robust scatter must exceed 0.01 mag.
    """
    if lc.err is not None and np.all(lc.err > 0):
        w = 1.0 / lc.err**2
        mean = np.sum(w * lc.mag) / np.sum(w)
        chi2 = float(np.sum(w * (lc.mag - mean) ** 2) / (len(lc) - 1))
        if chi2 < min_chi2:
            raise LightCurveError(
                f"{lc.name}: shows no variability (reduced chi-square {chi2:.2f} about a constant, below {min_chi2}); "
                "it cannot be classified as a variable star."
            )
    else:
        scatter = 1.4826 * float(np.median(np.abs(lc.mag - np.median(lc.mag))))
        if scatter < 0.01:
            raise LightCurveError(f"{lc.name}: shows no variability (robust scatter {scatter:.4f} mag < 0.01 mag).")


MAX_FREQUENCIES = 5_000_000
"""Largest trial-frequency grid of the period search (about 80 MB of float64 per array)."""


def _lomb_scargle(lc: LightCurve):
    try:
        from astropy.timeseries import LombScargle
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("The period search needs astropy: pip install 'sciml[astro]'.") from err
    return LombScargle(lc.t, lc.mag, lc.err)


def periodogram(
    lc: LightCurve, min_period: float = 0.05, max_period: float | None = None, samples_per_peak: int = 5, algorithm: str = "lra",
    extirpolation: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalized Lomb-Scargle periodogram on an evenly spaced frequency grid.

    Args:
        lc: The light curve.
        min_period: Shortest trial period [d].
        max_period: Longest trial period [d] (default: half the baseline).
        samples_per_peak: Frequency oversampling: grid points per peak width ``1 / baseline``.
        algorithm: astropy's approximation of the trigonometric sums: ``"lra"`` (low-rank,
            accurate to about 1e-12) or ``"fasper"`` (Press & Rybicki, about 6x faster,
            relative error about 1e-5).
        extirpolation: ``fasper`` only: FFT grid points per trial frequency (astropy's
            ``oversampling``); fewer is faster and less accurate.

    Returns:
        ``(frequency [1/d], power)``, each ``[n_frequencies]``.

    Raises:
        LightCurveError: if the grid would exceed :data:`MAX_FREQUENCIES` (usually times not in days).
    """
    if algorithm not in ("lra", "fasper"):
        raise ValueError(f"Unknown algorithm {algorithm!r}; choose 'lra' or 'fasper'.")
    max_period = max_period or max(lc.baseline / 2.0, 2 * min_period)
    n_freq = samples_per_peak * lc.baseline * (1.0 / min_period - 1.0 / max_period)
    if n_freq > MAX_FREQUENCIES:
        raise LightCurveError(
            f"{lc.name}: the period search would need {n_freq:.3g} trial frequencies (baseline {lc.baseline:.4g} d, "
            f"shortest period {min_period:g} d), over the cap of {MAX_FREQUENCIES:.0e}. Times are read in days: a baseline "
            f"this long usually means times in seconds (divide by 86400) or hours (divide by 24)."
        )
    freq, power = _lomb_scargle(lc).autopower(
        minimum_frequency=1.0 / max_period, maximum_frequency=1.0 / min_period, samples_per_peak=samples_per_peak,
        method="fast", method_kwds={"algorithm": algorithm, **({"trig_sum_kwds": {"oversampling": extirpolation}} if algorithm == "fasper" else {})},
    )
    return np.asarray(freq), np.asarray(power)


PERIOD_SEARCHES = ("coarse-to-fine", "full")


def find_period(lc: LightCurve, min_period: float = 0.05, max_period: float | None = None, search: str = "coarse-to-fine",
                candidates: int = 20) -> float:
    """Period [d] of the highest generalized Lomb-Scargle peak.

    ``search="coarse-to-fine"`` (default) scans a grid of 2 points per peak width with the fast
    ``fasper`` sums (3 FFT points per trial frequency: a rough power, good enough to rank
    peaks), keeps the ``candidates`` highest local maxima (aliases of the true peak
    among them), and evaluates the exact periodogram on a grid of 20 points per peak width
    around each; the best of those wins. A peak between two coarse points keeps at least 81%
    of its height on the coarse grid (before the error of the fast sums), so it is among the
    candidates unless ``candidates`` other peaks stand about as high. On the 810 ASAS curves
    both searches find the same peak for about 98% of the curves; where they differ the peaks
    are near-ties, and the exact power of this search's choice is almost always the higher
    (``benchmarks/featurize_throughput.py``). ``search="full"`` takes the maximum of the accurate periodogram
    on a grid of 5 points per peak width everywhere (several times slower: the reference).

    Args:
        lc: The light curve (times in days).
        min_period: Shortest trial period [d].
        max_period: Longest trial period [d] (default: half the baseline).
        search: ``"coarse-to-fine"`` or ``"full"``.
        candidates: Coarse peaks refined (coarse-to-fine only).

    Raises:
        ValueError: for an unknown ``search`` or ``candidates < 1``.
        LightCurveError: if the grid would be too large (see :func:`periodogram`).
    """
    if search not in PERIOD_SEARCHES:
        raise ValueError(f"Unknown period search {search!r}; choose from {PERIOD_SEARCHES}.")
    if search == "full":
        freq, power = periodogram(lc, min_period, max_period)
        return float(1.0 / freq[int(np.argmax(power))])
    if candidates < 1:
        raise ValueError(f"candidates must be at least 1, got {candidates}.")
    freq, power = periodogram(lc, min_period, max_period, samples_per_peak=2, algorithm="fasper", extirpolation=3)
    padded = np.concatenate([[-np.inf], power, [-np.inf]])
    peaks = np.flatnonzero((padded[1:-1] >= padded[:-2]) & (padded[1:-1] >= padded[2:]))
    best = peaks[np.argsort(-power[peaks], kind="stable")[:candidates]]
    step = freq[1] - freq[0] if len(freq) > 1 else 1.0 / max(lc.baseline, 1e-12)
    fine = (freq[best][:, None] + np.linspace(-step, step, 21)[None, :]).ravel()
    fine = fine[(fine >= freq[0]) & (fine <= freq[-1])]
    exact = _lomb_scargle(lc).power(fine, method="cython")
    return float(1.0 / fine[int(np.argmax(exact))])


def harmonic_design(t: np.ndarray, period: float, n_harmonics: int) -> np.ndarray:
    """Least-squares design of a Fourier series: columns ``1, sin(k w), cos(k w)`` for
    ``k = 1..n_harmonics`` (interleaved), ``w = 2 pi t / P``; shape ``[n, 2 n_harmonics + 1]``."""
    w = 2 * np.pi * t / period
    cols = [np.ones_like(t)]
    for k in range(1, n_harmonics + 1):
        cols += [np.sin(k * w), np.cos(k * w)]
    return np.stack(cols, 1)


def weighted_harmonic_fit(lc: LightCurve, period: float, n_harmonics: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares Fourier series of a curve at ``period`` [d].

    Args:
        lc: The light curve.
        period: Period [d].
        n_harmonics: Fourier terms.
        weights: Weight of each epoch's residual ``[n]`` (e.g. ``1 / err``).

    Returns:
        ``(coefficients [2 n_harmonics + 1], design [n, 2 n_harmonics + 1])`` in the column
        order of :func:`harmonic_design`.
    """
    design = harmonic_design(lc.t, period, n_harmonics)
    coef, *_ = np.linalg.lstsq(design * weights[:, None], lc.mag * weights, rcond=None)
    return coef, design


@dataclass(frozen=True)
class PeriodDoubling:
    """The outcome of :func:`resolve_period_doubling`.

    Attributes:
        period: The period kept [d]: the given one or twice it.
        doubled: Whether it was doubled.
        p_value: F-test p-value of the odd harmonics of the doubled period.
        odd_fraction: Share of the doubled-period model's variance in its odd harmonics (the
            difference between alternate cycles: unequal eclipses).
    """

    period: float
    doubled: bool
    p_value: float
    odd_fraction: float


def resolve_period_doubling(lc: LightCurve, period: float, n_harmonics: int = 4, p_value: float = 1e-4, min_odd_fraction: float = 0.05,
                            min_cycles: float = 20.0) -> PeriodDoubling:
    """Double the period where alternate cycles differ: the eclipsing-binary rule.

    An eclipsing binary with two eclipses per orbit puts the highest Lomb-Scargle peak at half
    its orbital period, and folding there stacks the primary on the secondary eclipse. Folded
    at twice the period, a pulsator repeats itself (its odd harmonics are noise) while a binary
    with unequal eclipses does not. The rule compares a Fourier series of ``n_harmonics``
    harmonics at ``period`` with one of ``2 n_harmonics`` at ``2 period`` (which contains it:
    the extra terms are the odd harmonics) by a weighted F-test, and doubles when the odd terms
    are both significant (``p < p_value``) and large (at least ``min_odd_fraction`` of the
    doubled model's variance). A contact binary with equal minima stays at the half period: its
    cycles cannot be told apart. The doubled period must fit ``min_cycles`` times into the
    baseline: over a few cycles, a period off by a fraction of a percent leaves alternate cycles
    out of step, which the doubled model absorbs (simulated Miras, about 10 cycles in 6
    years, were doubled 2 times in 20 without this guard).

    Args:
        lc: The light curve (times in days), sigma-clipped.
        period: The period found [d], usually :func:`find_period`'s.
        n_harmonics: Harmonics of the single-period model.
        p_value: Significance the odd harmonics must reach.
        min_odd_fraction: Share of variance they must carry.
        min_cycles: Cycles of the doubled period the baseline must hold.

    Raises:
        LightCurveError: for a non-positive period or too few points for the doubled model.
    """
    from scipy import stats

    if not period > 0:
        raise LightCurveError(f"{lc.name}: period must be positive, got {period}.")
    n_single, n_double = 2 * n_harmonics + 1, 4 * n_harmonics + 1
    if len(lc) <= n_double + 1:
        raise LightCurveError(f"{lc.name}: {len(lc)} points are too few to test period doubling with {n_harmonics} harmonics "
                              f"(more than {n_double + 1} needed).")
    w = np.ones(len(lc)) if lc.err is None else 1.0 / lc.err

    def weighted_fit(trial: float, harmonics: int) -> tuple[np.ndarray, float]:
        coef, design = weighted_harmonic_fit(lc, trial, harmonics, w)
        return coef, float(np.sum(((design @ coef - lc.mag) * w) ** 2))

    _, rss_single = weighted_fit(period, n_harmonics)
    coef_double, rss_double = weighted_fit(2 * period, 2 * n_harmonics)
    dof = len(lc) - n_double
    f = ((rss_single - rss_double) / (n_double - n_single)) / max(rss_double / dof, 1e-300)
    p = float(stats.f.sf(max(f, 0.0), n_double - n_single, dof))
    grid = np.linspace(0.0, 2 * period, 256, endpoint=False)
    terms = harmonic_design(grid, 2 * period, 2 * n_harmonics)[:, 1:] * coef_double[None, 1:]
    odd = (np.arange(4 * n_harmonics) // 2) % 2 == 0  # columns sin k, cos k for k = 1, 3, 5, ...
    total_var = float(np.var(terms.sum(1)))
    odd_fraction = float(np.var(terms[:, odd].sum(1)) / total_var) if total_var > 0 else 0.0
    doubled = p < p_value and odd_fraction >= min_odd_fraction and min_cycles * 2 * period <= lc.baseline
    return PeriodDoubling(2 * period if doubled else period, doubled, p, odd_fraction)


def fold(lc: LightCurve, period: float, epoch: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Phases in [0, 1) and magnitudes, sorted by phase; phase 0 at ``epoch`` (default: the
    brightest point, i.e. the minimum magnitude)."""
    if not period > 0:
        raise LightCurveError(f"{lc.name}: period must be positive, got {period}.")
    epoch = float(lc.t[int(np.argmin(lc.mag))]) if epoch is None else epoch
    phase = np.mod((lc.t - epoch) / period, 1.0)
    order = np.argsort(phase, kind="stable")
    return phase[order], lc.mag[order]


def resample_phase(phase: np.ndarray, mag: np.ndarray, n_bins: int = 64) -> np.ndarray:
    """Median magnitude in ``n_bins`` equal phase bins; empty bins (gaps in phase coverage) are
    filled by periodic linear interpolation between the filled ones. Shape ``[n_bins]``."""
    idx = np.minimum((phase * n_bins).astype(int), n_bins - 1)
    out = np.full(n_bins, np.nan)
    for b in range(n_bins):
        sel = idx == b
        if sel.any():
            out[b] = np.median(mag[sel])
    filled = np.flatnonzero(np.isfinite(out))
    if len(filled) == 0:
        raise LightCurveError("no points to resample")
    centres = (np.arange(n_bins) + 0.5) / n_bins
    xp = np.concatenate([centres[filled] - 1, centres[filled], centres[filled] + 1])
    fp = np.tile(out[filled], 3)
    return np.interp(centres, xp, fp)


def normalize_amplitude(values: np.ndarray) -> tuple[np.ndarray, float]:
    """``(values - median) / amplitude`` with the amplitude the 5-95 percentile range;
    returns the normalized values and the amplitude [mag]."""
    lo, hi = np.percentile(values, [5, 95])
    amp = float(hi - lo)
    if amp <= 0:
        raise LightCurveError("the folded curve is flat: amplitude 0")
    return (values - np.median(values)) / amp, amp


def phase_vector(
    lc: LightCurve, n_bins: int = 64, period: float | None = None, clip: bool = True, min_period: float = 0.05
) -> tuple[np.ndarray, float, float]:
    """The standard preprocessing: sigma-clip, check variability, find the period (unless
    given; Lomb-Scargle, then :func:`resolve_period_doubling`), fold, resample onto ``n_bins`` phases, normalize the amplitude.

    Returns:
        ``(vector [n_bins], period [d], amplitude [mag])``; the vector is brightness-up
        (negated magnitudes), zero median, unit 5-95% range.
    """
    if clip:
        lc = sigma_clip(lc)
    check_variability(lc)
    if period is None:
        period = resolve_period_doubling(lc, find_period(lc, min_period=min_period)).period
    vec, amp = folded_vector(lc, period, n_bins)
    return vec, period, amp


def folded_vector(lc: LightCurve, period: float, n_bins: int = 64) -> tuple[np.ndarray, float]:
    """Fold at ``period``, resample onto ``n_bins`` phases and normalize the amplitude (no
    clipping or checks): ``(vector [n_bins], amplitude [mag])``, brightness up."""
    phase, mag = fold(lc, period)
    return normalize_amplitude(-resample_phase(phase, mag, n_bins))
