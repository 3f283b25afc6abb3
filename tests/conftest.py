"""Shared fixtures: small task families and the reference-data directory."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from sciml.tasks import Task, TaskSet, TensorData

REPO = Path(__file__).resolve().parents[1]


def study_args(study: str, runs_dir: Path, overrides: list[str]) -> list[str]:
    """CLI arguments that run ``studies/<study>`` into ``runs_dir`` with ``--set`` overrides."""
    args = ["run", str(REPO / "studies" / study), "--runs-dir", str(runs_dir)]
    for o in overrides:
        args += ["--set", o]
    return args


def run_study(study: str, runs_dir: Path, overrides: list[str]) -> Path:
    """Run ``studies/<study>`` through the CLI with ``--set`` overrides; its run folder."""
    from sciml.cli import main

    assert main(study_args(study, runs_dir, overrides)) == 0
    (run_dir,) = list(runs_dir.iterdir())
    return run_dir


def data_dir() -> Path | None:
    """``SCIML_DATA_DIR`` if set and present."""
    d = os.environ.get("SCIML_DATA_DIR")
    return Path(d) if d and Path(d).is_dir() else None


def sinusoid_tasks(n: int, k: int, q: int, seed: int = 0, dtype: torch.dtype = torch.float64, ragged: bool = False) -> list[Task]:
    g = torch.Generator().manual_seed(seed)
    tasks = []
    for i in range(n):
        kk = k + (i % 3 if ragged else 0)
        a = 0.1 + 4.9 * torch.rand((), generator=g, dtype=dtype)
        p = math.pi * torch.rand((), generator=g, dtype=dtype)
        x = 10 * torch.rand(kk + q, 1, generator=g, dtype=dtype) - 5
        y = a * torch.sin(x - p)
        tasks.append(Task(TensorData(x[:kk], y[:kk]), TensorData(x[kk:], y[kk:]), name=f"sin{i}", group=f"g{i % 4}"))
    return tasks


@pytest.fixture
def sinusoids() -> TaskSet:
    return TaskSet(sinusoid_tasks(6, 5, 7))
