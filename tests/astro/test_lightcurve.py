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
    resolve_period_doubling,
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


def _eclipsing_binary(period: float, secondary: float, seed: int = 0, n: int = 400) -> LightCurve:
    """Two Gaussian eclipses per orbit (primary depth 0.6 mag, secondary ``secondary`` times it)
    over 3 seasons: the Lomb-Scargle peak sits at half the orbital period."""
    rng = np.random.default_rng(seed)
    t = np.sort(np.concatenate([y * 365.25 + rng.uniform(0, 120, n // 3) for y in range(3)]))
    phase = np.mod(t / period + 0.1, 1.0)
    dip = np.exp(-0.5 * (np.minimum(phase, 1 - phase) / 0.05) ** 2) + secondary * np.exp(-0.5 * ((phase - 0.5) / 0.05) ** 2)
    return LightCurve(t, 12.0 + 0.6 * dip + rng.normal(0, 0.02, len(t)), np.full(len(t), 0.02), name=f"EB P={period}")


@pytest.mark.parametrize("period", [0.83, 2.7, 9.1])
def test_eclipsing_binaries_with_unequal_eclipses_get_their_orbital_period(period: float) -> None:
    lc = _eclipsing_binary(period, secondary=0.4)
    found = find_period(lc)
    assert abs(found / (period / 2) - 1) < 1e-3  # the periodogram's choice: half the orbit
    resolved = resolve_period_doubling(lc, found)
    assert resolved.doubled and abs(resolved.period / period - 1) < 1e-3
    assert resolved.p_value < 1e-10 and resolved.odd_fraction > 0.1
    _, p, _ = phase_vector(lc)  # the standard preprocessing applies the rule
    assert abs(p / period - 1) < 1e-3


@pytest.mark.parametrize("period", [0.37, 4.3, 27.0])
def test_pulsators_and_equal_eclipses_keep_their_period(period: float) -> None:
    lc = _irregular(period)
    assert not resolve_period_doubling(lc, find_period(lc, min_period=0.1)).doubled
    twin = _eclipsing_binary(period, secondary=1.0)  # equal eclipses: alternate cycles cannot be told apart
    kept = resolve_period_doubling(twin, period / 2)
    assert not kept.doubled and kept.period == period / 2


@pytest.mark.parametrize(("odd", "doubled"), [(0.3, True), (0.1, False)])
def test_odd_fraction_is_the_share_of_the_alternating_part(odd: float, doubled: bool) -> None:
    # b sin(2 pi t / P) + a sin(2 pi t / 2P): the a-term alternates between cycles of P and
    # carries a^2 / (a^2 + b^2) of the variance; both are significant in nearly noise-free data
    t = np.sort(np.random.default_rng(1).uniform(0, 400, 600))
    mag = 12.0 + np.sin(2 * np.pi * t / 1.3) + odd * np.sin(2 * np.pi * t / 2.6 + 0.4)
    lc = LightCurve(t, mag + np.random.default_rng(2).normal(0, 1e-4, len(t)), np.full(len(t), 1e-4))
    out = resolve_period_doubling(lc, 1.3)
    assert out.odd_fraction == pytest.approx(odd**2 / (1 + odd**2), rel=1e-3)
    assert out.p_value < 1e-12
    assert out.doubled is doubled and out.period == (2.6 if doubled else 1.3)


def test_period_doubling_needs_enough_cycles_and_points() -> None:
    lc = _eclipsing_binary(60.0, secondary=0.3)  # 2 x 30 d x 20 cycles > the 3-season baseline
    assert not resolve_period_doubling(lc, 30.0).doubled
    assert resolve_period_doubling(lc, 30.0, min_cycles=5).doubled
    with pytest.raises(LightCurveError, match="too few"):
        resolve_period_doubling(LightCurve(lc.t[:30], lc.mag[:30], lc.err[:30]), 30.0, n_harmonics=10)
    with pytest.raises(LightCurveError, match="positive"):
        resolve_period_doubling(lc, 0.0)


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


def test_the_rule_on_the_simulators_classes_of_known_period() -> None:
    """Detached binaries (primary and optional secondary eclipse) mostly get their orbital period
    back; pulsators keep theirs."""
    from sciml.astro.simulate import simulate

    rng = np.random.default_rng(0)

    def recovered(name: str, n: int = 20) -> tuple[float, float, int]:
        ls = rule = doubled = 0
        for _ in range(n):
            lc, truth = simulate(name, rng)
            lc = sigma_clip(lc)
            found = find_period(lc)
            out = resolve_period_doubling(lc, found)
            ls += abs(found / truth["period"] - 1) < 0.01
            rule += abs(out.period / truth["period"] - 1) < 0.01
            doubled += out.doubled
        return ls / n, rule / n, doubled

    ls, rule, _ = recovered("Eclipsing_Algol")
    assert ls <= 0.2 and rule >= 0.75  # the periodogram alone finds half the orbit for most
    for name in ("RR_Lyrae_ab", "Classical_Cepheid", "Mira"):
        assert recovered(name, 10)[2] == 0
