"""Standard light-curve features (Richards et al. 2011 style)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from sciml.astro.lightcurve import (
    LightCurve,
    check_variability,
    find_period,
    harmonic_design,
    resolve_period_doubling,
    sigma_clip,
)

FEATURE_NAMES = ("log10_period", "amplitude", "skewness", "kurtosis", "R21", "R31", "phi21", "phi31")
"""Order of :func:`features`' output."""


def fourier_fit(t: np.ndarray, mag: np.ndarray, period: float, n_harmonics: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit ``m(t) = c + sum_k a_k sin(2 pi k t / P + phi_k)``.

    Returns:
        ``(amplitudes [n_harmonics], phases [n_harmonics] in radians)``.
    """
    coef, *_ = np.linalg.lstsq(harmonic_design(t, period, n_harmonics), mag, rcond=None)
    s, c = coef[1::2], coef[2::2]
    return np.hypot(s, c), np.arctan2(c, s)


def features(lc: LightCurve, period: float | None = None, clip: bool = True) -> np.ndarray:
    """The :data:`FEATURE_NAMES` of one light curve, shape ``[8]``.

    ``R_k1 = A_k / A_1`` and ``phi_k1 = phi_k - k phi_1`` (mod 2 pi) are the Fourier amplitude
    ratios and phase differences that separate RR Lyrae, Cepheids and eclipsing binaries. The
    period, unless given, is the Lomb-Scargle period doubled where alternate cycles differ
    (:func:`~sciml.astro.lightcurve.resolve_period_doubling`).
    """
    if clip:
        lc = sigma_clip(lc)
    check_variability(lc)
    return feature_vector(lc, resolve_period_doubling(lc, find_period(lc)).period if period is None else period)


def feature_vector(lc: LightCurve, period: float) -> np.ndarray:
    """The :data:`FEATURE_NAMES` at a known period, without clipping or checks, ``[8]``."""
    amps, phases = fourier_fit(lc.t, lc.mag, period)
    lo, hi = np.percentile(lc.mag, [5, 95])
    phi21 = np.mod(phases[1] - 2 * phases[0], 2 * np.pi)
    phi31 = np.mod(phases[2] - 3 * phases[0], 2 * np.pi)
    return np.array(
        [np.log10(period), hi - lo, stats.skew(lc.mag), stats.kurtosis(lc.mag), amps[1] / amps[0], amps[2] / amps[0], phi21, phi31]
    )
