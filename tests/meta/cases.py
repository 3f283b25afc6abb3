"""Small task sets shared by the learner tests."""

from __future__ import annotations

import torch

from sciml.tasks import Task, TensorData


def blob_tasks(n_tasks: int = 4, n: int = 16, separation: float = 2.0, seed: int = 2) -> list[Task]:
    """Binary tasks of two Gaussian blobs in 2-D (class 1 shifted by ``separation`` along both
    axes, task ``i`` by ``0.1 i``), ``n`` points each, classes alternating."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n_tasks):
        y = torch.arange(n) % 2
        x = torch.randn(n, 2, generator=g) + separation * y[:, None] + 0.1 * i
        out.append(Task(TensorData(x, y), TensorData.empty_like(TensorData(x, y)), name=f"blobs{i}"))
    return out
