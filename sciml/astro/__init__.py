"""Astrophysical signals: light-curve preprocessing and features (extra ``astro``: astropy)."""

from sciml.astro.features import FEATURE_NAMES, features, fourier_fit
from sciml.astro.lightcurve import (
    LightCurve,
    LightCurveError,
    PeriodDoubling,
    check_variability,
    find_period,
    fold,
    normalize_amplitude,
    periodogram,
    phase_vector,
    resample_phase,
    resolve_period_doubling,
    sigma_clip,
)

__all__ = [
    "FEATURE_NAMES", "LightCurve", "LightCurveError", "PeriodDoubling", "check_variability", "features", "find_period", "fold",
    "fourier_fit", "normalize_amplitude", "periodogram", "phase_vector", "resample_phase", "resolve_period_doubling",
    "sigma_clip",
]
