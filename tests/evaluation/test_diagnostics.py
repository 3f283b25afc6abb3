"""Meta-overfitting diagnostics."""

from __future__ import annotations

import pytest
import torch

from sciml.evaluation import generalization_gap, leave_one_group_out, split_generator
from sciml.meta import MAML
from sciml.models import MLP
from sciml.tasks import TaskSet
from tests.conftest import sinusoid_tasks


def test_generalization_gap_and_leave_one_group_out() -> None:
    tasks = TaskSet(sinusoid_tasks(12, 8, 8, dtype=torch.float32))
    train, test = tasks.split(["g0"])
    torch.manual_seed(0)
    learner = MAML(MLP(1, (16,), 1), inner_lr=0.01).fit(train, iterations=5, progress=False)
    gap = generalization_gap(learner, train, test, shots=[4], steps=[1])
    assert set(gap.metric) == {"mse", "mae"}
    row = gap[gap.metric == "mse"].iloc[0]

    def mean_mse(tasks: TaskSet) -> float:  # by hand: adapt on the protocol's 4-point support, MSE on the rest
        errs = []
        for t in tasks:
            split = t.resample(4, split_generator(0, t.name, 4))
            pred = learner.adapt(split.support, steps=1).predict(split.query.x)
            errs.append(float(((pred - split.query.y) ** 2).mean()))
        return sum(errs) / len(errs)

    assert row.train == pytest.approx(mean_mse(train), rel=1e-5)
    assert row.held_out == pytest.approx(mean_mse(test), rel=1e-5)
    assert row.gap == pytest.approx(mean_mse(test) - mean_mse(train), rel=1e-5)
    res = leave_one_group_out(lambda: MAML(MLP(1, (8,), 1)), tasks, fit_kwargs={"iterations": 2, "progress": False}, shots=[4], steps=[1])
    assert set(res.group) == set(tasks.groups)
    for g in tasks.groups:  # each group is evaluated only by the learner that never saw it
        assert set(res[res.group == g].task) == {t.name for t in tasks if t.group == g}
