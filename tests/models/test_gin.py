"""GIN on molecules: shapes, per-task BatchNorm under the engine, gradients reach every layer."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[graph]'")

from torch_geometric.data import Batch

from sciml.chem import smiles_to_graph
from sciml.meta import MAML
from sciml.models.gnn import GIN
from sciml.tasks import GraphData, Task

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


def test_layer_norm_makes_a_molecules_embedding_independent_of_its_batch() -> None:
    torch.manual_seed(0)
    graphs = [smiles_to_graph(s) for s in SMILES]
    layer = GIN(out_features=2, hidden=16, layers=2, norm="layer").eval()
    batch_norm = GIN(out_features=2, hidden=16, layers=2, norm="batch").train()
    alone = Batch.from_data_list(graphs[:1])
    together = Batch.from_data_list(graphs)
    torch.testing.assert_close(layer.embed(alone)[0], layer.embed(together)[0])
    assert not torch.allclose(batch_norm.embed(alone)[0], batch_norm.embed(together)[0])
    with pytest.raises(ValueError, match="norm must be one of"):
        GIN(norm="group")


def test_frozen_batch_norm_keeps_trained_statistics_and_ignores_the_batch() -> None:
    torch.manual_seed(0)
    graphs = [smiles_to_graph(s) for s in SMILES]
    together = Batch.from_data_list(graphs)
    trained = GIN(out_features=2, hidden=16, layers=2, norm="batch").train()
    opt = torch.optim.Adam(trained.parameters(), lr=1e-2)
    for _ in range(5):  # moves weights, affine parameters and running statistics off their defaults
        loss = trained(together).pow(2).mean() + (trained(together) - 1).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    frozen = GIN(out_features=2, hidden=16, layers=2, norm="frozen_batch")
    frozen.load_state_dict(trained.state_dict())  # strict: only num_batches_tracked is dropped
    frozen.train()  # training mode: the statistics must still be the fixed ones
    torch.testing.assert_close(frozen(together), trained.eval()(together))
    torch.testing.assert_close(frozen.embed(Batch.from_data_list(graphs[:1]))[0], frozen.embed(together)[0])
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in frozen.modules())
    assert "per-task" not in MAML(frozen, inner_lr=0.01).batchnorm_policy


@pytest.mark.parametrize("first_order", [False, True])
def test_anil_shared_body_pass_matches_the_per_task_path(first_order: bool) -> None:
    from sciml.meta import ANIL

    torch.manual_seed(0)
    graphs = [smiles_to_graph(s) for s in SMILES]
    gin = GIN(out_features=1, hidden=16, layers=2, norm="layer").double()  # float64: agreement to rounding
    data = GraphData(tuple(graphs), torch.tensor([[0.0], [1.0], [0.5], [0.2], [0.9], [0.1], [0.3], [0.7]], dtype=torch.float64))
    tasks = [Task(data.subset([0, 1, 2]), data.subset([3, 4]), name="a"), Task(data.subset([5, 6, 7]), data.subset([0, 1]), name="b")]
    fast = ANIL(gin, inner_lr=0.3, inner_steps=2, first_order=first_order)
    generic = MAML(gin, adapt_params=["head"], inner_lr=0.3, inner_steps=2, first_order=first_order)
    assert fast._shared_body() and not ANIL(GIN(hidden=16, layers=2), inner_lr=0.3)._shared_body()  # BatchNorm: per task
    g_fast, loss_fast = fast.meta_gradient(tasks)
    g_ref, loss_ref = generic.meta_gradient(tasks)
    torch.testing.assert_close(loss_fast, loss_ref)
    for name in g_ref:
        torch.testing.assert_close(g_fast[name], g_ref[name], rtol=1e-9, atol=1e-12)


def test_load_body_copies_everything_but_the_head() -> None:
    pytest.importorskip("torch_geometric")
    from sciml.models.gnn import GIN
    from sciml.models.gnn.gin import load_body, with_frozen_statistics

    torch.manual_seed(0)
    source, target = GIN(9, hidden=8, layers=2), GIN(1, hidden=8, layers=2)
    head = target.head.weight.detach().clone()
    load_body(target, source)
    for k, v in source.state_dict().items():
        if not k.startswith("head."):
            assert torch.equal(target.state_dict()[k], v), k
    assert torch.equal(target.head.weight, head)
    with pytest.raises(ValueError, match="does not fit"):
        load_body(GIN(1, hidden=8, layers=3), source)
    frozen = with_frozen_statistics(source)
    assert frozen.config()["args"]["norm"] == "frozen_batch"
    with pytest.raises(ValueError, match="norm='batch'"):
        with_frozen_statistics(frozen)
