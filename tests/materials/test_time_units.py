"""Time units inferred from the evidence: synthetic alloys whose unit is known."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from sciml.materials import SyntheticAlloyFamily
from sciml.materials.recrystallization import material_tasks
from sciml.materials.time_units import (
    SECONDS_PER_UNIT,
    infer_time_units,
    rescale_time,
    time_unit_posterior,
    unit_recovery,
)
from sciml.meta import PriorMAP
from sciml.tasks import Task

FAMILY = SyntheticAlloyFamily(temperatures_per_alloy=3, points_per_isotherm=8)


def _alloys(n: int, seed: int) -> list[Task]:
    df = FAMILY.measurements(n, seed=seed).rename(columns={"alloy": "dataset"})
    df["material"], df["source_paper"] = df["dataset"], "synthetic"
    return list(material_tasks(df))


def _fit(min_sd: float = 0.05):
    return lambda tasks: PriorMAP(FAMILY.nominal_law().double(), min_sd=min_sd).fit(tasks)


def test_rescale_time_scales_only_the_time_column() -> None:
    task = _alloys(1, seed=3)[0]
    scaled = rescale_time(task, 60.0)
    assert torch.equal(scaled.support.x[:, 0], task.support.x[:, 0] * 60.0)
    assert torch.equal(scaled.support.x[:, 1], task.support.x[:, 1]) and torch.equal(scaled.support.y, task.support.y)
    with pytest.raises(ValueError, match="positive"):
        rescale_time(task, 0.0)


def test_hidden_units_of_new_alloys_are_recovered() -> None:
    known = _alloys(10, seed=0)
    hidden = {"s": None, "min": None, "h": None}
    new = _alloys(3, seed=1)
    printed = [rescale_time(t, 1.0 / SECONDS_PER_UNIT[u]) for t, u in zip(new, hidden)]  # times as a paper in that unit prints them
    table = infer_time_units(_fit(), known, printed)
    assert list(table.inferred) == list(hidden)
    assert (table.probability > 0.9).all() and table.used.all()
    p = table[[f"p_{u}" for u in SECONDS_PER_UNIT]].to_numpy()
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])


def test_recovery_hides_each_documented_unit_in_turn() -> None:
    tasks = _alloys(6, seed=2)
    truth = {t.name: unit for t, unit in zip(tasks, ["s", "min", "h", "h", "min", "s"])}
    rec = unit_recovery(_fit(), tasks, truth)
    assert list(rec.source) == [t.name for t in tasks] and list(rec.true_unit) == list(truth.values())
    assert rec.recovered.all()


def test_a_prior_that_says_nothing_about_the_rate_leaves_the_source_out() -> None:
    known, new = _alloys(6, seed=0), _alloys(1, seed=1)
    table = infer_time_units(_fit(min_sd=1e3), known, new, threshold=0.9)  # prior sd of ln k: 1000
    assert not table.used.iloc[0] and table.probability.iloc[0] < 0.9


def test_the_unit_prior_enters_as_bayes_rule_says() -> None:
    learner = _fit()(_alloys(6, seed=0))
    task = _alloys(1, seed=1)[0]
    flat = time_unit_posterior(learner, task)
    tilted = time_unit_posterior(learner, task, prior_probabilities={"s": 0.2, "min": 0.3, "h": 0.5})
    # posterior odds = evidence ratio x prior odds
    expected = flat.probability * pd.Series([0.2, 0.3, 0.5])
    assert tilted.probability.to_numpy() == pytest.approx((expected / expected.sum()).to_numpy(), rel=1e-9)


def test_bad_inputs_are_refused() -> None:
    tasks = _alloys(3, seed=0)
    learner = _fit()(tasks)
    with pytest.raises(ValueError, match="distinct names"):
        time_unit_posterior(learner, tasks[0], units=("s", "days"))
    with pytest.raises(ValueError, match="positive probability"):
        time_unit_posterior(learner, tasks[0], prior_probabilities={"s": 1.0, "min": 0.0, "h": 0.0})
    with pytest.raises(ValueError, match="threshold"):
        infer_time_units(_fit(), tasks, tasks[:1], threshold=0.0)
    with pytest.raises(ValueError, match="at least three"):
        unit_recovery(_fit(), tasks[:2], {t.name: "s" for t in tasks})
    with pytest.raises(ValueError, match="no unit for"):
        unit_recovery(_fit(), tasks, {tasks[0].name: "s"})


def test_the_mode_is_found_where_a_calibration_from_the_prior_mean_stalls() -> None:
    from sciml.meta.evidence import map_estimate

    learner = _fit()(_alloys(8, seed=0))
    task = _alloys(1, seed=1)[0]
    hours_as_seconds = rescale_time(task, 3600.0).support  # every prediction at the prior mean is saturated

    def rmse(adapted) -> float:
        return float(((adapted.predict(hours_as_seconds.x) - hours_as_seconds.y) ** 2).mean().sqrt())

    stalled, mode = learner.adapt(hours_as_seconds), map_estimate(learner, hours_as_seconds, learner.noise_sd_)
    assert rmse(stalled) > 0.2 and rmse(mode) < 0.05  # the family's noise sd is 0.03
    # k t is what the law sees: the rate at the mode is the unscaled calibration's over 3600 (up to the prior's pull)
    plain = learner.adapt(task.support)
    assert float(mode.params["log_k_ref"]) == pytest.approx(float(plain.params["log_k_ref"]) - math.log(3600.0), abs=0.1)
