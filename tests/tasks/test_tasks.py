"""Tasks, task sets, splits and samplers."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from sciml.tasks import EpisodeSampler, Task, TaskSet, TensorData, k_shot_indices
from tests.conftest import sinusoid_tasks


def _table() -> pd.DataFrame:
    rows = []
    for alloy in range(6):
        for iso in range(2):
            for j in range(5):
                rows.append({"alloy": f"A{alloy}", "iso": f"A{alloy}-{iso}", "time": 10.0 * (j + 1), "X": j / 5})
    return pd.DataFrame(rows)


def test_from_dataframe_builds_one_task_per_task_column_with_units() -> None:
    ts = TaskSet.from_dataframe(_table(), x="time", y="X", units={"time": "s", "X": "1"}, group="alloy", task="iso", support_size=2)
    assert len(ts) == 12 and len(ts.groups) == 6
    t = ts.task("A3-1")
    assert t.group == "A3" and len(t.support) == 2 and len(t.query) == 3
    assert t.metadata["units"] == {"time": "s", "X": "1"}


def test_from_dataframe_requires_units_and_columns() -> None:
    with pytest.raises(ValueError, match="Units missing for column"):
        TaskSet.from_dataframe(_table(), x="time", y="X", units={"X": "1"}, group="alloy")
    with pytest.raises(KeyError, match="temperature"):
        TaskSet.from_dataframe(_table(), x=["time", "temperature"], y="X", units={}, group="alloy")
    bad = _table()
    bad.loc[3, "X"] = float("nan")
    with pytest.raises(ValueError, match="Task 'A0-0'.*NaN"):
        TaskSet.from_dataframe(bad, x="time", y="X", units={"time": "s", "X": "1"}, group="alloy", task="iso")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_splits_never_leak_a_group(seed: int) -> None:
    ts = TaskSet.from_dataframe(_table(), x="time", y="X", units={"time": "s", "X": "1"}, group="alloy", task="iso")
    train, test = ts.split(test_fraction=0.34, seed=seed)
    assert not set(train.groups) & set(test.groups)
    assert len(train) + len(test) == len(ts)
    # deterministic, and independent of task order
    again, _ = TaskSet(list(reversed(list(ts)))).split(test_fraction=0.34, seed=seed)
    assert sorted(again.names) == sorted(train.names)
    for group, tr, te in ts.leave_one_group_out():
        assert set(te.groups) == {group} and group not in tr.groups


def test_split_errors() -> None:
    ts = TaskSet(sinusoid_tasks(4, 3, 3))
    with pytest.raises(ValueError, match="exactly one"):
        ts.split()
    with pytest.raises(KeyError, match="Unknown test group"):
        ts.split(["nope"])
    with pytest.raises(ValueError, match="unique"):
        TaskSet([ts[0], ts[0]])


def test_k_shot_resampling_is_disjoint_and_seeded() -> None:
    t = sinusoid_tasks(1, 5, 15)[0]
    a = t.resample(4, torch.Generator().manual_seed(3))
    b = t.resample(4, torch.Generator().manual_seed(3))
    assert len(a.support) == 4 and len(a.query) == 16
    assert torch.equal(a.support.x, b.support.x)
    rows = {tuple(r.tolist()) for r in a.support.x} | {tuple(r.tolist()) for r in a.query.x}
    assert len(rows) == 20
    with pytest.raises(ValueError, match="too few"):
        t.resample(20, torch.Generator())


def test_per_class_resampling_balances_classes() -> None:
    y = torch.tensor([0] * 10 + [1] * 30)
    s, q = k_shot_indices(y, 5, torch.Generator().manual_seed(0), per_class=True)
    assert (y[s] == 0).sum() == 5 and (y[s] == 1).sum() == 5
    assert not set(s.tolist()) & set(q.tolist()) and len(s) + len(q) == 40


def test_episode_sampler_stays_inside_its_classes() -> None:
    y = torch.arange(10).repeat_interleave(8)
    x = torch.randn(80, 3)
    train_classes, test_classes = range(6), range(6, 10)
    sampler = EpisodeSampler(x, y, classes=train_classes, n_way=3, k_shot=2, n_query=4)
    for ep in sampler.sample_batch(20, torch.Generator().manual_seed(0)):
        assert set(ep.metadata["classes"]) <= set(train_classes)
        assert not set(ep.metadata["classes"]) & set(test_classes)
        assert ep.support.y.tolist() == [0, 0, 1, 1, 2, 2] and len(ep.query) == 12


def test_task_data_validation() -> None:
    with pytest.raises(ValueError, match="rows"):
        TensorData(torch.zeros(3, 1), torch.zeros(4))
    with pytest.raises(ValueError, match="name"):
        Task(TensorData(torch.zeros(2), torch.zeros(2)), TensorData(torch.zeros(0), torch.zeros(0)), name="")
    with pytest.raises(ValueError, match="feature shapes"):
        Task(TensorData(torch.zeros(2, 2), torch.zeros(2)), TensorData(torch.zeros(2, 3), torch.zeros(2)), name="t")
    t = Task(TensorData(torch.zeros(2), torch.zeros(2)), TensorData(torch.zeros(1), torch.zeros(1)), name="t", metadata={"a": 1})
    with pytest.raises(TypeError):
        t.metadata["a"] = 2  # type: ignore[index]


def test_mixed_shot_batches_share_one_support_size() -> None:
    ts = TaskSet(sinusoid_tasks(8, 10, 10))
    g = torch.Generator().manual_seed(0)
    sizes = set()
    for _ in range(20):
        batch = ts.sample_batch(4, g, shots=[2, 5])
        assert len({len(t.support) for t in batch}) == 1
        sizes.add(len(batch[0].support))
    assert sizes == {2, 5}
