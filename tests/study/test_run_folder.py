"""Run folders: unknown overrides refused with the closest key, failures marked, overrides reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sciml.study.config import apply_overrides
from sciml.study.runner import run_study
from tests.conftest import REPO

CFG = {"study": {"kind": "x"}, "train": {"iterations": 10, "seed": 0}, "learners": {"MAML": {"class": "MAML", "inner_lr": 0.1}}}


@pytest.mark.parametrize(("override", "message"), [
    ("train.iteratons=5", "unknown key 'iteratons' in train.*Did you mean 'train.iterations'"),
    ("trian.iterations=5", "unknown key 'trian' in the top level.*Did you mean 'train'"),
    ("learners.MAML.iner_lr=0.2", "Did you mean 'learners.MAML.inner_lr'"),
    ("learners.MAML.grad_clp=1.0", "Did you mean 'learners.MAML.grad_clip'"),
])
def test_unknown_override_keys_are_refused(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_overrides(CFG, [override])


def test_known_keys_and_new_learner_tables_are_accepted() -> None:
    cfg = apply_overrides(CFG, ["train.iterations=5", "learners.Reptile.class=\"Reptile\"", "learners.MAML.inner_lr=0.2",
                                "learners.MAML.enabled=false", "learners.MAML.grad_clip=1.0"])
    assert cfg["learners"]["MAML"]["grad_clip"] == 1.0 and cfg["learners"]["MAML"]["enabled"] is False
    assert cfg["train"]["iterations"] == 5 and cfg["learners"]["Reptile"] == {"class": "Reptile"}
    assert cfg["learners"]["MAML"]["inner_lr"] == 0.2 and CFG["train"]["iterations"] == 10


def test_failed_run_is_marked_and_overrides_are_in_the_reproduce_line(tmp_path: Path) -> None:
    study = REPO / "studies" / "sinusoid"
    with pytest.raises(ValueError, match="must be >= 1"):
        run_study(study, ["learners.MAML.meta_batch_size=0", "train.iterations=1"], runs_dir=tmp_path / "bad")
    (failed,) = (tmp_path / "bad").iterdir()
    assert json.loads((failed / "status.json").read_text())["status"] == "failed"
    assert "meta_batch_size must be >= 1" in (failed / "FAILED").read_text()
