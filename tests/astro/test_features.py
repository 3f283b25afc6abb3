"""Light-curve features on curves whose Fourier structure is known."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("astropy", reason="the period search needs astropy: pip install 'sciml[astro]'")

from sciml.astro import FEATURE_NAMES, LightCurve, features, fourier_fit


def test_fourier_ratios_are_recovered() -> None:
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 400, 400))
    period = 0.55
    w = 2 * np.pi * t / period
    mag = 13 + 0.40 * np.sin(w + 0.3) + 0.20 * np.sin(2 * w + 1.1) + 0.10 * np.sin(3 * w + 2.0)
    amps, _phases = fourier_fit(t, mag, period)
    assert amps == pytest.approx([0.40, 0.20, 0.10], abs=1e-9)
    f = dict(zip(FEATURE_NAMES, features(LightCurve(t, mag + rng.normal(0, 0.01, 400), np.full(400, 0.01)))))
    assert 10 ** f["log10_period"] == pytest.approx(period, rel=1e-3)
    assert f["R21"] == pytest.approx(0.5, abs=0.03) and f["R31"] == pytest.approx(0.25, abs=0.03)
    assert f["phi21"] == pytest.approx(np.mod(1.1 - 2 * 0.3, 2 * np.pi), abs=0.05)
