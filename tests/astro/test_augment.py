"""Augmented light curves: a subset of the epochs with noise at the quoted errors, seeded per
curve; the benchmark trains on copies of training classes only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sciml.astro.augment import MIN_POINTS, augment_curve, augmented_curves


def _frame(n: int = 400, err: float = 0.1) -> pd.DataFrame:
    t = np.sort(np.random.default_rng(0).uniform(0, 300, n))
    return pd.DataFrame({"t": t, "mag": 12 + 0.5 * np.sin(2 * np.pi * t / 3.3), "err": np.full(n, err)})


def test_a_copy_keeps_a_subset_of_epochs_with_noise_at_the_quoted_errors() -> None:
    frame = _frame()
    copy = augment_curve(frame, np.random.default_rng(1), keep=(0.5, 0.5))
    assert len(copy) == 200 and copy.t.is_monotonic_increasing
    matched = frame.set_index("t").loc[copy.t]
    assert np.isin(copy.t, frame.t).all()  # no epoch invented
    noise = copy.mag.to_numpy() - matched.mag.to_numpy()
    assert abs(noise.std() / 0.1 - 1) < 0.15 and abs(noise.mean()) < 0.03  # N(0, err): 200 draws
    np.testing.assert_allclose(copy.err, 0.1 * np.sqrt(2))  # the copy's quoted errors include the added noise
    no_err = augment_curve(frame.drop(columns="err"), np.random.default_rng(1))
    np.testing.assert_array_equal(no_err.mag.to_numpy(), frame.set_index("t").loc[no_err.t].mag.to_numpy())  # no guessed noise
    short = augment_curve(frame.head(30), np.random.default_rng(2), keep=(0.1, 0.1))
    assert len(short) == MIN_POINTS
    with pytest.raises(ValueError, match="keep"):
        augment_curve(frame, np.random.default_rng(0), keep=(0.0, 0.5))


def test_copies_are_named_labelled_and_seeded_per_curve() -> None:
    curves = [("a", "X", _frame()), ("b", "Y", _frame(err=0.05))]
    out = augmented_curves(curves, copies=2, seed=3)
    assert [(n, lab) for n, lab, _ in out] == [("a~0", "X"), ("a~1", "X"), ("b~0", "Y"), ("b~1", "Y")]
    alone = augmented_curves(curves[1:], copies=2, seed=3)  # curve b's copies do not depend on curve a
    assert not alone[0][2].equals(out[2][2])  # its generator is seeded by its position ...
    again = augmented_curves(curves, copies=2, seed=3)
    assert all(x[2].equals(y[2]) for x, y in zip(out, again))  # ... and the same seed gives the same copies
    with pytest.raises(ValueError, match="copies"):
        augmented_curves(curves, copies=0, seed=0)


def test_the_benchmark_never_reads_copies_of_test_classes() -> None:
    from sciml.astro.benchmark import class_split_benchmark

    g = torch.Generator().manual_seed(0)
    y = torch.arange(6).repeat_interleave(20)
    x = 10 * torch.randn(6, 4, generator=g)[y] + 0.1 * torch.randn(len(y), 4, generator=g)
    phase = torch.zeros(len(y), 8)
    a_y = torch.arange(6).repeat_interleave(5)
    a_x = 10 * torch.randn(6, 4, generator=g)[a_y]
    a_x[a_y >= 3] = float("nan")  # copies of the test classes: reading them would poison training
    table = {"aug": {"class": "ProtoNet", "model": "mlp", "augment": True}}
    bench = class_split_benchmark(x, phase, y, [0, 1, 2], [3, 4, 5], learners=table, n_way=3, shots=[1], queries=3, test_episodes=10,
                                  iterations=3, augmented=(a_x, torch.zeros(len(a_y), 8), a_y))
    assert all(torch.isfinite(p).all() for p in bench.learners["aug"].model.parameters())
    a_x[a_y == 0] = float("nan")  # the same poison in copies of a training class is read, and refused
    with pytest.raises(ValueError, match="NaN"):
        class_split_benchmark(x, phase, y, [0, 1, 2], [3, 4, 5], learners=table, n_way=3, shots=[1], queries=3, test_episodes=10,
                              iterations=3, augmented=(a_x, torch.zeros(len(a_y), 8), a_y))
    with pytest.raises(ValueError, match="augmented"):
        class_split_benchmark(x, phase, y, [0, 1, 2], [3, 4, 5], learners=table, n_way=3, shots=[1], queries=3, test_episodes=10,
                              iterations=3)
