"""Light-curve preprocessing: period recovery, folding, and clear messages for bad curves."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("astropy", reason="the period search needs astropy: pip install 'sciml[astro]'")

from sciml.astro.lightcurve import (
    LightCurve,
    LightCurveError,
    check_variability,
    find_period,
    phase_vector,
    resample_phase,
    sigma_clip,
)


def _irregular(period: float, n: int = 300, seed: int = 0, amp: float = 0.4) -> LightCurve:
    rng = np.random.default_rng(seed)
    # seasonal gaps: observe 4 months a year for 3 years, irregular nights
    t = np.sort(np.concatenate([y * 365.25 + rng.uniform(0, 120, n // 3) for y in range(3)]))
    mag = 12.0 + amp * np.sin(2 * np.pi * t / period) + 0.1 * amp * np.sin(4 * np.pi * t / period + 1.0)
    err = np.full_like(t, 0.02)
    return LightCurve(t, mag + rng.normal(0, 0.02, len(t)), err, name=f"sim P={period}")


@pytest.mark.parametrize("period", [0.37, 0.61, 4.3, 27.0, 180.0])
def test_period_is_recovered_from_irregular_gappy_sampling(period: float) -> None:
    lc = _irregular(period)
    full = find_period(lc, min_period=0.1, search="full")
    # within a tenth of the periodogram's frequency resolution 1 / baseline (grid step 0.2 / baseline)
    assert abs(1 / full - 1 / period) < 0.1 / lc.baseline
    # the coarse grid's step is 0.5 / baseline: only the refinement brings it this close
    fast = find_period(lc, min_period=0.1)
    assert abs(1 / fast - 1 / period) < 0.04 / lc.baseline


def test_coarse_to_fine_finds_the_true_peak_among_daily_aliases() -> None:
    # nightly sampling of a short period: aliases at f +- 1/d stand nearly as high as the peak
    rng = np.random.default_rng(3)
    nights = np.sort(rng.choice(900, 250, replace=False)).astype(float)
    t = nights + 0.2 + 0.05 * rng.normal(size=nights.size)
    period = 0.4137
    mag = 11.0 + 0.3 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.03, t.size)
    lc = LightCurve(t, mag, np.full_like(t, 0.03))
    for search in ("coarse-to-fine", "full"):
        assert abs(1 / find_period(lc, search=search) - 1 / period) < 0.1 / lc.baseline, search
    with pytest.raises(ValueError, match="Unknown period search"):
        find_period(lc, search="grid")
    with pytest.raises(ValueError, match="candidates must be at least 1"):
        find_period(lc, candidates=0)


def test_phase_vector_shape_and_normalization() -> None:
    vec, period, amp = phase_vector(_irregular(2.5), n_bins=32)
    assert vec.shape == (32,) and np.isfinite(vec).all()
    assert period == pytest.approx(2.5, rel=0.01) and amp == pytest.approx(0.8, rel=0.15)
    assert np.percentile(vec, 95) - np.percentile(vec, 5) == pytest.approx(1.0, abs=1e-9)


def test_resample_fills_gaps_periodically() -> None:
    phase = np.array([0.05, 0.1, 0.9])
    out = resample_phase(phase, np.array([1.0, 1.0, 3.0]), n_bins=10)
    assert np.isfinite(out).all() and out[0] == pytest.approx(1.0)


def test_sigma_clip_removes_outliers_only() -> None:
    lc = _irregular(3.0)
    mag = lc.mag.copy()
    mag[[10, 50]] = 25.0
    clipped = sigma_clip(LightCurve(lc.t, mag, lc.err))
    assert len(clipped) == len(lc) - 2


def test_bad_light_curves_get_clear_messages() -> None:
    t = np.linspace(0, 100, 50)
    with pytest.raises(LightCurveError, match="too short: 5 points"):
        LightCurve(t[:5], np.ones(5))
    with pytest.raises(LightCurveError, match="not sorted"):
        LightCurve(t[::-1], np.sin(t))
    assert len(LightCurve.unsorted(t[::-1], np.sin(t))) == 50
    bad = np.sin(t)
    bad[3] = np.nan
    with pytest.raises(LightCurveError, match="NaN"):
        LightCurve(t, bad)
    with pytest.raises(LightCurveError, match="no variability"):
        check_variability(LightCurve(t, 12 + np.random.default_rng(0).normal(0, 0.02, 50), np.full(50, 0.02)))
