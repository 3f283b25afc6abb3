"""Learners and tasks for the data-parallel tests, built identically in every process."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sciml.meta import ANIL, MAML, FineTune, MetaSGD, ProtoNet, Reptile
from sciml.meta.learner import Learner
from sciml.models.mlp import MLP
from sciml.tasks import GraphData, Task, TaskSet, TensorData
from tests.conftest import sinusoid_tasks

SMILES = ["CCO", "c1ccccc1", "CC(=O)O", "N#N", "C[C@H](N)O", "O", "CCN(CC)CC", "c1ccncc1", "CCCl", "C=CC=C",
          "OCC(O)CO", "CC(C)O"]


def _classification_tasks(n_tasks: int, n_way: int = 3, per_class: int = 6) -> TaskSet:
    g = torch.Generator().manual_seed(3)
    tasks = []
    for i in range(n_tasks):
        centers = 2 * torch.randn(n_way, 2, generator=g, dtype=torch.float64)
        y = torch.arange(n_way).repeat_interleave(per_class)
        x = centers[y] + 0.5 * torch.randn(len(y), 2, generator=g, dtype=torch.float64)
        tasks.append(Task(TensorData(x, y), TensorData(x[:0], y[:0]), name=f"c{i}"))
    return TaskSet(tasks)


def _molecule_tasks(n_tasks: int) -> TaskSet:
    from sciml.chem import smiles_to_graph

    graphs = [smiles_to_graph(s) for s in SMILES]
    g = torch.Generator().manual_seed(5)
    tasks = []
    for i in range(n_tasks):
        w = torch.randn(2, generator=g, dtype=torch.float64)
        y = torch.tensor([[w[0] * gr.num_nodes / 5 + w[1] * gr.num_edges / 10] for gr in graphs], dtype=torch.float64)
        order = torch.randperm(len(graphs), generator=g).tolist()
        data = GraphData([graphs[j] for j in order], y[order])
        tasks.append(Task(data.subset(range(4)), data.subset(range(4, 10)), name=f"m{i}"))
    return TaskSet(tasks)


def maml_mlp() -> tuple[Learner, TaskSet, dict[str, Any]]:
    torch.manual_seed(0)
    learner = MAML(MLP(1, [16, 16]).double(), inner_lr=0.01, inner_steps=2, meta_batch_size=4)
    return learner, TaskSet(sinusoid_tasks(12, 5, 10)), {"shots": 5}


def maml_gin() -> tuple[Learner, TaskSet, dict[str, Any]]:
    from sciml.models.gnn import GIN

    torch.manual_seed(0)
    # SGD outer steps: the bias before each BatchNorm has a mathematically zero gradient, which
    # Adam would normalize from rounding noise (1e-18) into full-size steps of either sign.
    learner = MAML(GIN(out_features=1, hidden=8, layers=2).double(), inner_lr=0.01, outer_lr=0.01, meta_batch_size=4,
                   outer_optimizer="sgd")
    return learner, _molecule_tasks(8), {}


def protonet() -> tuple[Learner, TaskSet, dict[str, Any]]:
    torch.manual_seed(0)
    learner = ProtoNet(MLP(2, [16], 8).double(), n_way=3, meta_batch_size=4)
    return learner, _classification_tasks(10), {"shots": 2, "per_class": True}


def reptile() -> tuple[Learner, TaskSet, dict[str, Any]]:
    torch.manual_seed(0)
    learner = Reptile(MLP(1, [16, 16]).double(), inner_lr=0.01, inner_steps=3, meta_batch_size=4)
    return learner, TaskSet(sinusoid_tasks(12, 5, 10)), {"shots": 5}


def anil_gin() -> tuple[Learner, TaskSet, dict[str, Any]]:
    from sciml.models.gnn import GIN

    torch.manual_seed(0)  # layer norm: the meta-batch shares one body pass (ANIL's fast path)
    learner = ANIL(GIN(out_features=1, hidden=8, layers=2, norm="layer").double(), inner_lr=0.05, inner_steps=2,
                   meta_batch_size=4, outer_lr=0.01, outer_optimizer="sgd")  # SGD: see maml_gin
    return learner, _molecule_tasks(8), {}


def metasgd_law() -> tuple[Learner, TaskSet, dict[str, Any]]:
    from sciml.models.laws import JMAK

    g = torch.Generator().manual_seed(9)
    tasks = []
    for i in range(10):
        k, n = 10 ** (-3 + 0.5 * torch.rand((), generator=g, dtype=torch.float64)), 1 + torch.rand((), generator=g, dtype=torch.float64)
        t = torch.logspace(1, 4, 8, dtype=torch.float64).reshape(-1, 1)
        x = 1 - torch.exp(-((k * t.reshape(-1)) ** n))
        tasks.append(Task(TensorData(t, x), TensorData(t[:0], x[:0]), name=f"alloy{i}"))
    torch.manual_seed(0)
    return MetaSGD(JMAK(k=1e-3, n=1.5).double(), inner_lr=0.1, inner_steps=2, meta_batch_size=4), TaskSet(tasks), {"shots": 3}


def finetune_mlp() -> tuple[Learner, TaskSet, dict[str, Any]]:
    torch.manual_seed(0)
    learner = FineTune(MLP(1, [16]).double(), inner_lr=0.01, inner_steps=2, meta_batch_size=4)
    return learner, TaskSet(sinusoid_tasks(12, 5, 10)), {"shots": 5}


CASES: dict[str, Callable[[], tuple[Learner, TaskSet, dict[str, Any]]]] = {
    "maml_mlp": maml_mlp, "maml_gin": maml_gin, "protonet": protonet, "reptile": reptile, "anil_gin": anil_gin,
    "metasgd_law": metasgd_law, "finetune_mlp": finetune_mlp,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Interrupt(Exception):
    pass


def fit_on_rank(rank: int, world_size: int, port: int, cases: str, steps: int, seed: int, out: str,
                checkpoint_dir: str | None = None, stop_at: int | None = None, resume: bool = False) -> None:
    """One rank of a gloo job: fit each of the comma-separated ``cases`` for ``steps`` meta-steps;
    rank 0 saves each state to ``out`` (``{case}`` in it is replaced by the case).

    With ``checkpoint_dir`` it checkpoints every 2 iterations; ``stop_at`` interrupts every rank
    at that iteration; ``resume`` continues from ``checkpoint_dir``."""
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)

    def stop(it: int, _: dict) -> None:
        if it == stop_at:
            raise Interrupt

    try:
        for case in cases.split(","):
            learner, tasks, sampling = CASES[case]()
            extra: dict[str, Any] = {}
            if checkpoint_dir is not None:
                extra = {"checkpoint_dir": checkpoint_dir, "checkpoint_every": 2, "callback": stop,
                         "resume_from": checkpoint_dir if resume else None}
            try:
                val = tasks[:2] if checkpoint_dir is not None else None  # early stopping goes through the checkpoint
                learner.fit(tasks, val, iterations=steps, seed=seed, progress=False, eval_every=2, **sampling, **extra)
            except Interrupt:
                continue
            if rank == 0:
                torch.save({**learner.state_dict(), "rng": torch.rand(4, dtype=torch.float64)},
                           Path(out.replace("{case}", case)))
    finally:
        dist.destroy_process_group()
