"""GIN on molecules: shapes, per-task BatchNorm under the engine, gradients reach every layer."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[graph]'")

from torch_geometric.data import Batch  # noqa: E402

from sciml.chem import smiles_to_graph  # noqa: E402
from sciml.meta import MAML  # noqa: E402
from sciml.models.gnn import GIN  # noqa: E402
from sciml.tasks import GraphData, Task  # noqa: E402

SMILES = ["CCO", "c1ccccc1", "CC(=O)O", "N#N", "C[C@H](N)O", "O", "CCN(CC)CC", "c1ccncc1"]


def test_gin_shapes_and_save_config() -> None:
    torch.manual_seed(0)
    gin = GIN(out_features=3, hidden=16, layers=2)
    batch = Batch.from_data_list([smiles_to_graph(s) for s in SMILES])
    out = gin(batch)
    assert out.shape == (len(SMILES), 3)
    assert gin.config()["args"]["hidden"] == 16


def test_maml_on_molecules_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    graphs = [smiles_to_graph(s) for s in SMILES]
    y = torch.tensor([[float(g.num_nodes)] for g in graphs])
    data = GraphData(graphs, y)
    tasks = [Task(data.subset([0, 1, 2, 3]), data.subset([4, 5, 6, 7]), name="a"), Task(data.subset([4, 5, 6, 7]), data.subset([0, 1, 2, 3]), name="b")]
    learner = MAML(GIN(out_features=1, hidden=16, layers=2), inner_lr=0.01)
    assert "per-task" in learner.batchnorm_policy
    grads, loss = learner.meta_gradient(tasks)
    assert torch.isfinite(loss)
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert grads["atom.tables.0.weight"].abs().sum() > 0 and grads["head.weight"].abs().sum() > 0
