"""Task-batched GNNs: every task's graphs in one PyG batch with per-task parameters, against
the models' own ``forward`` task by task and a plain per-task autograd MAML reference."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[graph]'")
pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")

from torch.func import functional_call
from torch_geometric.data import Batch

from sciml import settings
from sciml.chem import smiles_to_graph
from sciml.meta import MAML
from sciml.meta.functional import bce_logits_loss, mse_loss
from sciml.meta.task_batched import task_batched_inputs
from sciml.models.gnn import GIN
from sciml.models.task_graphs import Segments, TaskGraphs
from sciml.tasks import GraphData, Task
from tests.meta.reference import reference_maml_gradient

SMILES = ["CCO", "c1ccccc1", "CC(=O)O", "N#N", "C[C@H](N)O", "O", "CCN(CC)CC", "c1ccncc1", "OC(=O)c1ccccc1O", "C#N",
          "CC(C)Cl", "FC(F)F"]


def test_segments_apply_each_tasks_parameters_to_its_rows() -> None:
    g = torch.Generator().manual_seed(0)
    counts = (3, 0, 4)
    seg = Segments(counts)
    rows = torch.randn(sum(counts), 5, generator=g, dtype=torch.float64)
    weight, bias = torch.randn(3, 2, 5, generator=g, dtype=torch.float64), torch.randn(3, 2, generator=g, dtype=torch.float64)
    expected = torch.cat([rows[:3] @ weight[0].T + bias[0], rows[3:] @ weight[2].T + bias[2]])
    torch.testing.assert_close(seg.linear(rows, weight, bias), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(seg.linear(rows, weight), expected - bias[[0, 0, 0, 2, 2, 2, 2]], rtol=1e-12, atol=1e-12)
    scaled = seg.map(lambda x, p: x * p["s"], rows, {"s": torch.tensor([2.0, 5.0, -1.0], dtype=torch.float64)})
    torch.testing.assert_close(scaled, torch.cat([2 * rows[:3], -rows[3:]]), rtol=0, atol=0)
    with pytest.raises(ValueError, match="6 rows for segments of 7 rows"):
        seg.linear(rows[:6], weight, bias)
    with pytest.raises(ValueError, match="one non-negative row count per task"):
        Segments(())


def _molecule_tasks(n_tasks: int, support: int = 4, query: int = 3) -> list[Task]:
    graphs = [smiles_to_graph(s) for s in SMILES]
    g = torch.Generator().manual_seed(1)
    tasks = []
    for i in range(n_tasks):
        idx = torch.randperm(len(graphs), generator=g)[: support + query].tolist()
        y = torch.randint(0, 2, (len(idx), 1), generator=g).double()
        data = GraphData([graphs[j] for j in idx], y)
        tasks.append(Task(data.subset(range(support)), data.subset(range(support, support + query)), name=f"assay{i}"))
    return tasks


def _per_task_params(model: torch.nn.Module, tasks: int, seed: int = 2) -> dict[str, torch.Tensor]:
    """Each task its own parameters: the model's, perturbed differently per task."""
    g = torch.Generator().manual_seed(seed)
    return {n: torch.stack([p.detach() + 0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype) for _ in range(tasks)])
            for n, p in model.named_parameters()}


def _assert_each_task_is_its_own_forward(model: torch.nn.Module, params: dict[str, torch.Tensor], tasks: list[Task],
                                         out: torch.Tensor) -> None:
    """Row ``b`` of ``forward_tasks`` output is the model's own ``forward`` on task ``b``'s support
    graphs with the parameters ``[b]``."""
    for b, t in enumerate(tasks):
        own = functional_call(model, {n: p[b] for n, p in params.items()}, (Batch.from_data_list(list(t.support.graphs)),))
        torch.testing.assert_close(out[b], own, rtol=1e-10, atol=1e-10)


def _gin(norm: str, **kwargs) -> GIN:
    """A GIN with ``norm``; ``"batch"`` with its running statistics removed (as a meta-learner
    leaves it), ``"frozen_batch"`` with non-trivial fixed statistics."""
    gin = GIN(hidden=16, norm=norm, **kwargs).double()
    if norm == "batch":
        torch.func.replace_all_batch_norm_modules_(gin)
    if norm == "frozen_batch":
        for layer in gin.norms:
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
    return gin


@pytest.mark.parametrize("norm", ["layer", "none", "batch", "frozen_batch"])
def test_gin_forward_tasks_is_forward_with_each_tasks_parameters(norm: str) -> None:
    torch.manual_seed(0)
    gin = _gin(norm, out_features=2, layers=3)
    tasks = _molecule_tasks(3)
    graphs = TaskGraphs.collate([t.support.graphs for t in tasks])
    params = _per_task_params(gin, 3)
    out = gin.forward_tasks(params, graphs)
    assert out.shape == (3, 4, 2)
    _assert_each_task_is_its_own_forward(gin, params, tasks, out)


def test_gin_with_running_statistics_does_not_batch_tasks() -> None:
    gin = GIN(1, hidden=8, layers=2, norm="batch")
    assert not gin.batches_tasks  # its forward would update the running statistics
    with pytest.raises(ValueError, match="running statistics"):
        gin.forward_tasks(_per_task_params(gin, 2), TaskGraphs.collate([t.support.graphs for t in _molecule_tasks(2)]))
    assert task_batched_inputs(MAML(gin, loss="bce"), _molecule_tasks(3)) is not None  # the learner removes them


def test_graph_tasks_batch_only_with_equal_counts() -> None:
    learner = MAML(GIN(1, hidden=8, layers=2, norm="layer").double(), loss="bce")
    tasks = _molecule_tasks(3)
    sx, sy, qx, qy = task_batched_inputs(learner, tasks)
    assert isinstance(sx, TaskGraphs) and sx.tasks == 3 and sy.shape == (3, 4, 1) and qy.shape == (3, 3, 1)
    assert qx.graphs.counts == (3, 3, 3) and qx.batch.num_graphs == 9
    assert sx.nodes.counts == tuple(sum(g.num_nodes for g in t.support.graphs) for t in tasks)
    ragged = [*tasks[:2], Task(tasks[2].support.subset(range(3)), tasks[2].query, name="short")]
    assert task_batched_inputs(learner, ragged) is None
    with pytest.raises(ValueError, match="same number of graphs"):
        TaskGraphs.collate([t.support.graphs for t in ragged])
    with settings.task_batched_models(False):
        assert task_batched_inputs(learner, tasks) is None


@pytest.mark.parametrize(("norm", "first_order"), [("layer", False), ("layer", True), ("batch", False)])
def test_gin_task_batched_meta_gradient_matches_the_reference(norm: str, first_order: bool) -> None:
    torch.manual_seed(0)
    learner = MAML(_gin(norm, layers=2), loss="bce", inner_lr=0.3, inner_steps=2, first_order=first_order)
    tasks = _molecule_tasks(4)
    assert task_batched_inputs(learner, tasks) is not None  # the path under test is the one taken
    got, loss = learner.meta_gradient(tasks)
    names = [n for n, _ in learner.model.named_parameters()]
    ref = reference_maml_gradient(learner.model, tasks, loss=bce_logits_loss,
                                  lrs={n: 0.3 for n in names}, steps=2, first_order=first_order, adapt_names=names)
    for n in names:
        torch.testing.assert_close(got[n], ref[n], rtol=1e-8, atol=1e-11)
    with settings.task_batched_models(False):
        _, loop_loss = learner.meta_gradient(tasks)
    torch.testing.assert_close(loss, loop_loss, rtol=1e-10, atol=1e-12)


def _crystal_tasks(n_tasks: int) -> list[Task]:
    pytest.importorskip("pymatgen", reason="needs pymatgen: pip install 'sciml[materials]'")
    from pymatgen.core import Lattice, Structure

    from sciml.materials.crystal_graph import structure_to_graph

    species = (["Na", "Cl"], ["K", "Br"], ["Mg", "O"], ["Li", "F"])
    graphs = [structure_to_graph(Structure(Lattice.cubic(4.0 + 0.25 * i), species[i % 4], [[0, 0, 0], [0.5, 0.5, 0.5]]), 5.0, 6)
              for i in range(8)]
    graphs.append(structure_to_graph(Structure(Lattice.cubic(3.0), ["Po"], [[0, 0, 0]]), 5.0, 6))
    g = torch.Generator().manual_seed(4)
    tasks = []
    for i in range(n_tasks):
        idx = torch.randperm(len(graphs), generator=g)[:5].tolist()
        data = GraphData([graphs[j] for j in idx], torch.randn(5, 1, generator=g, dtype=torch.float64))
        tasks.append(Task(data.subset(range(3)), data.subset(range(3, 5)), name=f"family{i}"))
    return tasks


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_cgcnn_forward_tasks_and_meta_gradient(norm: str) -> None:
    from sciml.models.cgcnn import CGCNN

    torch.manual_seed(0)
    model = CGCNN(1, atom_dim=8, layers=2, hidden=8, cutoff=5.0, norm=norm).double()
    torch.func.replace_all_batch_norm_modules_(model)  # as a meta-learner leaves BatchNorm
    tasks = _crystal_tasks(3)
    graphs = TaskGraphs.collate([t.support.graphs for t in tasks])
    params = _per_task_params(model, 3)
    out = model.forward_tasks(params, graphs)
    assert out.shape == (3, 3, 1)
    _assert_each_task_is_its_own_forward(model, params, tasks, out)
    assert not CGCNN(1, atom_dim=8, layers=1, hidden=8, norm="batch").batches_tasks  # with running statistics

    learner = MAML(model, inner_lr=0.05, inner_steps=2)
    assert task_batched_inputs(learner, tasks) is not None
    got, _ = learner.meta_gradient(tasks)
    names = [n for n, _ in model.named_parameters()]
    ref = reference_maml_gradient(model, tasks, loss=mse_loss, lrs={n: 0.05 for n in names}, steps=2, first_order=False,
                                  adapt_names=names)
    for n in names:
        torch.testing.assert_close(got[n], ref[n], rtol=1e-8, atol=1e-11)
