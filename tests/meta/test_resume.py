"""Checkpoint and resume of Learner.fit: an interrupted run ends exactly as an uninterrupted one."""

from __future__ import annotations

import pytest
import torch

from sciml.meta import MAML, Reptile
from sciml.meta.checkpoint import CheckpointError
from sciml.meta.training_state import CHECKPOINT_NAME, checkpointing, has_checkpoint, load_checkpoint
from sciml.models.mlp import MLP
from sciml.tasks import Task, TaskSet, TensorData
from tests.conftest import sinusoid_tasks

TASKS = TaskSet(sinusoid_tasks(20, 5, 15))
# validation on all-zero targets: the validation loss grows as MAML learns amplitudes, so its
# best state is an early one (iteration 5) and early stopping matters for the final result
FLAT = TaskSet([Task(TensorData(t.support.x, 0 * t.support.y), TensorData(t.query.x, 0 * t.query.y), name=t.name)
                for t in TASKS[:3]])
FIT = {"iterations": 20, "shots": 5, "eval_every": 5, "progress": False}


class Interrupt(Exception):
    pass


def _maml() -> MAML:
    torch.manual_seed(0)
    return MAML(MLP(1, [16, 16]).double(), inner_lr=0.01, meta_batch_size=4)


def _reptile() -> Reptile:
    torch.manual_seed(0)
    return Reptile(MLP(1, [16]).double(), inner_lr=0.01, inner_steps=2, meta_batch_size=4)


def _stop_at(iteration: int):
    def callback(it: int, _: dict) -> None:
        if it == iteration:
            raise Interrupt
    return callback


def _same(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert a.history_ == b.history_
    assert a.best_iteration_ == b.best_iteration_


@pytest.mark.parametrize("make", [_maml, _reptile])
def test_interrupted_and_resumed_equals_uninterrupted(make, tmp_path) -> None:
    whole = make().fit(TASKS, FLAT, **FIT)
    with pytest.raises(Interrupt):
        make().fit(TASKS, FLAT, **FIT, checkpoint_dir=tmp_path, checkpoint_every=5, callback=_stop_at(13))
    assert load_checkpoint(tmp_path)["iteration"] == 10
    resumed = make().fit(TASKS, FLAT, **FIT, checkpoint_dir=tmp_path, checkpoint_every=5, resume_from=tmp_path)
    _same(whole, resumed)
    # the validation history and the early-stopping choice came through the checkpoint
    assert sum("val_loss" in r for r in resumed.history_) == 4
    assert resumed.best_iteration_ == (5 if make is _maml else 20)


def test_a_finished_checkpoint_returns_its_result_and_rng_state(tmp_path) -> None:
    learner = _maml()
    torch.manual_seed(99)
    whole = learner.fit(TASKS, TASKS[:3], **FIT, checkpoint_dir=tmp_path, checkpoint_every=7)
    after_whole = torch.rand(3)
    learner = _maml()
    torch.manual_seed(123)  # a resumed process starts with other RNG states
    again = learner.fit(TASKS, TASKS[:3], **FIT, resume_from=tmp_path)
    _same(whole, again)
    assert torch.equal(torch.rand(3), after_whole)


def test_a_longer_run_continues_a_finished_one(tmp_path) -> None:
    whole = _maml().fit(TASKS, **{**FIT, "iterations": 30})
    _maml().fit(TASKS, **FIT, checkpoint_dir=tmp_path)
    more = _maml().fit(TASKS, **{**FIT, "iterations": 30}, resume_from=tmp_path)
    _same(whole, more)


def test_resume_refuses_another_run_and_a_missing_checkpoint(tmp_path) -> None:
    _maml().fit(TASKS, **FIT, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="another run"):
        _maml().fit(TASKS, **{**FIT, "shots": 4}, resume_from=tmp_path)
    with pytest.raises(CheckpointError, match="another run"):
        _maml().fit(TASKS, **FIT, seed=1, resume_from=tmp_path)
    with pytest.raises(CheckpointError, match="past iterations=10"):
        _maml().fit(TASKS, **{**FIT, "iterations": 10}, resume_from=tmp_path)
    with pytest.raises(CheckpointError, match="No meta-training checkpoint"):
        _maml().fit(TASKS, **FIT, resume_from=tmp_path / "nothing")
    with pytest.raises(ValueError, match="checkpoint_every"):
        _maml().fit(TASKS, **FIT, checkpoint_every=0)


def test_checkpoint_file_is_plain_and_written_atomically(tmp_path) -> None:
    _maml().fit(TASKS, **FIT, checkpoint_dir=tmp_path, checkpoint_every=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]  # no temporary file left
    doc = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert doc["complete"] and doc["iteration"] == 20 and len(doc["ranks"]) == 1
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path)


def test_checkpointing_block_numbers_fits_and_resumes_each(tmp_path) -> None:
    whole = [_maml().fit(TASKS, **FIT), _reptile().fit(TASKS, **FIT)]
    with checkpointing(tmp_path, every=5), pytest.raises(Interrupt):
        _maml().fit(TASKS, **FIT)
        _reptile().fit(TASKS, **FIT, callback=_stop_at(17))
    assert has_checkpoint(tmp_path / "fit-000") and load_checkpoint(tmp_path / "fit-001")["iteration"] == 15
    with checkpointing(tmp_path, every=5):
        again = [_maml().fit(TASKS, **FIT), _reptile().fit(TASKS, **FIT)]
    for a, b in zip(whole, again):
        _same(a, b)
