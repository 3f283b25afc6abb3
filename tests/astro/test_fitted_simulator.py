"""The simulator fitted to real classes: parameters recovered from curves of known shape, red
noise of known timescale, curves that look like their class, and a fit that never reads the
curves of other (held-out) classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("astropy", reason="the period search needs astropy: pip install 'sciml[astro]'")

from sciml.astro import LightCurve, find_period
from sciml.astro.fitted_simulator import (
    SCATTER_FLOOR_MAG,
    FittedSimulator,
    feature_agreement,
    member_parameters,
    red_noise_timescale,
)
from sciml.astro.simulate import CLASSES, red_noise, simulate, survey_times


def _curve(rng: np.random.Generator, period: float, a1: float = 0.4, a2: float = 0.12, phi1: float = 0.7, phi2: float = 2.0,
           err: float = 0.01, n: int = 300) -> pd.DataFrame:
    t = survey_times(rng, n)
    w = 2 * np.pi * t / period
    mag = 11.0 + a1 * np.sin(w + phi1) + a2 * np.sin(2 * w + phi2) + rng.normal(0, err, n)
    return pd.DataFrame({"t": t, "mag": mag, "err": np.full(n, err)})


def test_member_parameters_recover_a_known_fourier_shape() -> None:
    frame = _curve(np.random.default_rng(0), period=3.7)
    params, mean = member_parameters(LightCurve(frame.t.to_numpy(), frame.mag.to_numpy(), frame.err.to_numpy()), 3.7)
    cols = FittedSimulator.columns()
    got = dict(zip(cols, params))
    assert got["log10_period"] == pytest.approx(np.log10(3.7))
    assert 10 ** got["log10_A1"] == pytest.approx(0.4, abs=0.005)
    assert 10 ** got["log10_R21"] == pytest.approx(0.12 / 0.4, abs=0.02)
    assert got["phi21"] == pytest.approx(np.mod(2.0 - 2 * 0.7, 2 * np.pi), abs=0.05)  # phi_2 - 2 phi_1, by hand
    assert 10 ** got["log10_R31"] < 0.02  # no third harmonic in the curve
    assert 10 ** got["log10_scatter"] < 0.005  # only the quoted noise: no intrinsic scatter
    assert mean == pytest.approx(11.0, abs=0.005)
    with pytest.raises(ValueError, match="period"):
        member_parameters(LightCurve(frame.t.to_numpy(), frame.mag.to_numpy()), -1.0)


def test_red_noise_has_the_ornstein_uhlenbeck_moments_and_its_timescale_is_recovered() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(0.0, 4000.0, 1.0)
    draws = np.stack([red_noise(t[:50], 0.2, 10.0, rng) for _ in range(4000)])
    assert draws.std() == pytest.approx(0.2, rel=0.03)  # stationary standard deviation
    lag5 = np.mean(draws[:, 10] * draws[:, 15]) / 0.2**2
    assert lag5 == pytest.approx(np.exp(-5 / 10), abs=0.04)  # correlation exp(-dt / tau)
    for tau in (5.0, 50.0):
        series = red_noise(t, 0.3, tau, rng) + rng.normal(0, 0.02, len(t))
        found = red_noise_timescale(t, series, np.full(len(t), 0.02), 0.3)
        assert tau / 1.6 < found < tau * 1.6


def _population(rng: np.random.Generator) -> list[tuple[str, str, pd.DataFrame]]:
    curves = [(f"a{i}", "A", _curve(rng, period=rng.uniform(4.5, 5.5))) for i in range(12)]
    curves += [(f"b{i}", "B", _curve(rng, period=rng.uniform(0.3, 0.35), a1=0.2, a2=0.02)) for i in range(12)]
    return curves


def _periods(curves: list[tuple[str, str, pd.DataFrame]]) -> dict[str, float]:
    return {name: find_period(LightCurve(f.t.to_numpy(), f.mag.to_numpy(), f.err.to_numpy()), min_period=0.1) for name, _, f in curves}


class _Unreadable:
    """A stand-in for a held-out curve: any access fails the test."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"a held-out curve was read ({name})")

    def __getitem__(self, key: object) -> None:
        raise AssertionError(f"a held-out curve was read ([{key!r}])")

    def __contains__(self, key: object) -> bool:
        raise AssertionError(f"a held-out curve was read ({key!r} in)")


def test_the_fit_never_reads_curves_of_other_classes() -> None:
    curves = _population(np.random.default_rng(2))
    periods = _periods(curves)
    held_out = [(name, label, _Unreadable()) if label == "B" else (name, label, f) for name, label, f in curves]
    sim = FittedSimulator.fit(held_out, periods, classes=["A"])
    assert sorted(sim.classes) == ["A"] and set(sim.parameters()["class"]) == {"A"}
    full = FittedSimulator.fit(curves, periods, classes=["A"])
    np.testing.assert_array_equal(sim.classes["A"].params, full.classes["A"].params)
    with pytest.raises(AssertionError, match="held-out"):  # the guard itself works: fitting B reads B
        FittedSimulator.fit(held_out, periods, classes=["B"])


def test_simulated_curves_resemble_their_class_and_are_seeded_per_class() -> None:
    curves = _population(np.random.default_rng(3))
    sim = FittedSimulator.fit(curves, _periods(curves), classes=["A", "B"])
    made = sim.curves(per_class=6, seed=0)
    assert [lab for _, lab, _ in made] == ["A"] * 6 + ["B"] * 6
    for _, label, frame in made:
        lc = LightCurve(frame.t.to_numpy(), frame.mag.to_numpy(), frame.err.to_numpy())
        period = find_period(lc, min_period=0.1)
        assert (4.3 < period < 5.7) if label == "A" else (0.28 < period < 0.37)
        half_range = np.subtract(*np.percentile(frame.mag, [95, 5])) / 2
        assert (0.3 < half_range < 0.55) if label == "A" else (0.12 < half_range < 0.3)
    only_a = FittedSimulator.fit(curves, _periods(curves), classes=["A"]).curves(per_class=6, seed=0)
    assert all(x[2].equals(y[2]) for x, y in zip(only_a, made[:6]))  # class A's curves do not depend on B
    assert not made[0][2].equals(sim.curves(per_class=6, seed=1)[0][2])


def test_bad_input_is_refused_with_the_fix() -> None:
    curves = _population(np.random.default_rng(4))
    periods = _periods(curves)
    with pytest.raises(ValueError, match="at least 3"):
        FittedSimulator.fit(curves[:2], periods, classes=["A"])
    with pytest.raises(ValueError, match="at least one class"):
        FittedSimulator.fit(curves, periods, classes=[])
    sim = FittedSimulator.fit(curves, {k: v for k, v in periods.items() if k != "a0"}, classes=["A"])
    assert sim.skipped == {"a0": "no period"}
    with pytest.raises(KeyError, match="not fitted"):
        sim.simulate("B", np.random.default_rng(0))
    with pytest.raises(ValueError, match="per_class"):
        sim.curves(per_class=0, seed=0)
    assert SCATTER_FLOOR_MAG > 0


def test_feature_agreement_is_zero_for_the_same_curves_and_one_for_disjoint_ones() -> None:
    from sciml.astro.dataset import CurvePool

    rng = np.random.default_rng(5)
    feats = rng.normal(size=(20, 8))
    labels = np.array(["A"] * 20)
    pool = CurvePool(np.arange(20).astype(str), labels, np.zeros((20, 4)), feats, np.ones(20), {})
    same = feature_agreement(pool, pool)
    assert (same.ks == 0).all() and len(same) == 8
    far = CurvePool(pool.names, labels, pool.phase, feats + 100, pool.periods, {})
    assert (feature_agreement(pool, far).ks == 1).all()
    other = CurvePool(pool.names, np.array(["C"] * 20), pool.phase, feats, pool.periods, {})
    with pytest.raises(ValueError, match="no real"):
        feature_agreement(pool, other)


@pytest.mark.parametrize("name", ["Semiregular", "Small_amplitude_red_giant", "Long_secondary_period", "Red_supergiant"])
def test_the_red_giant_families_are_irregular_within_their_ranges(name: str) -> None:
    _, truth = simulate(name, np.random.default_rng(6))
    lo, hi = CLASSES[name].period_d
    assert lo <= truth["period"] <= hi and CLASSES[name].irregular > 0


def test_the_benchmark_asks_for_simulations_of_the_training_classes_only() -> None:
    from sciml.astro.benchmark import class_split_benchmark

    g = torch.Generator().manual_seed(0)
    y = torch.arange(6).repeat_interleave(20)
    x = 10 * torch.randn(6, 4, generator=g)[y] + 0.1 * torch.randn(len(y), 4, generator=g)
    phase = torch.zeros(len(y), 8)
    asked: list[list[int]] = []

    def sims(classes: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        asked.append(classes)
        s_y = torch.tensor(classes).repeat_interleave(5)
        return x[s_y * 20] + 0.1 * torch.randn(len(s_y), 4, generator=g), torch.zeros(len(s_y), 8), s_y

    table = {"sims": {"class": "ProtoNet", "model": "mlp", "fitted_sims": True}}
    kwargs = {"learners": table, "n_way": 3, "shots": [1], "queries": 3, "test_episodes": 5, "iterations": 3}
    class_split_benchmark(x, phase, y, [0, 1, 2], [3, 4, 5], fitted_sims=sims, **kwargs)
    assert asked == [[0, 1, 2]]
    with pytest.raises(ValueError, match="not training classes"):
        class_split_benchmark(x, phase, y, [0, 1, 2], [3, 4, 5], fitted_sims=lambda c: sims([*c, 4]), **kwargs)
    with pytest.raises(ValueError, match="fitted_sims"):
        class_split_benchmark(x, phase, y, [0, 1, 2], [3, 4, 5], **kwargs)


def test_a_pool_for_another_split_reuses_the_curves_already_read(tmp_path, monkeypatch) -> None:
    from sciml.astro import dataset

    monkeypatch.setenv("SCIML_CACHE_DIR", str(tmp_path))
    curves = _population(np.random.default_rng(5))

    def no_second_read(*_: object) -> None:
        raise AssertionError("the source was read again")

    monkeypatch.setattr(dataset, "source_curves", no_second_read)
    made, sim = dataset.fitted_simulated_pool("not-a-file.csv", ["A"], per_class=3, seed=0, n_bins=16, curves=(curves, "test"))
    assert set(made.labels) <= {"A"} and len(made.names) + len(made.skipped) == 3
    assert list(sim.classes) == ["A"]
    with pytest.raises(AssertionError, match="read again"):
        dataset.fitted_simulated_pool("not-a-file.csv", ["A"], per_class=3, n_bins=16)
