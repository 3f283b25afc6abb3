"""Meta-overfitting diagnostics."""

from __future__ import annotations

import torch

from sciml.evaluation import generalization_gap, leave_one_group_out
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
    assert row.gap == row.held_out - row.train
    res = leave_one_group_out(lambda: MAML(MLP(1, (8,), 1)), tasks, fit_kwargs={"iterations": 2, "progress": False}, shots=[4], steps=[1])
    assert set(res.group) == set(tasks.groups)
    for g in tasks.groups:  # each group is evaluated only by the learner that never saw it
        assert set(res[res.group == g].task) == {t.name for t in tasks if t.group == g}
