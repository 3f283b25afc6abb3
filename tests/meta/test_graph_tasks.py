"""Graph tasks (PyG) run through the same engine: loop path, exact meta-gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("torch_geometric", reason="graph tasks need torch-geometric: pip install 'sciml[graph]'")

from torch_geometric.data import Data
from torch_geometric.nn import GINConv, global_add_pool

from sciml.meta import MAML, ProtoNet
from sciml.meta.functional import mse_loss
from sciml.tasks import GraphData, Task, TaskSet
from tests.meta.reference import reference_maml_gradient


class TinyGIN(nn.Module):
    def __init__(self, out: int = 1) -> None:
        super().__init__()
        self.conv = GINConv(nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8)))
        self.head = nn.Linear(8, out)

    def forward(self, batch) -> torch.Tensor:
        h = self.conv(batch.x, batch.edge_index)
        return self.head(global_add_pool(h, batch.batch))


def _graph(g: torch.Generator) -> Data:
    n = int(torch.randint(3, 7, (1,), generator=g))
    src = torch.arange(n - 1)
    edge_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], 1)  # a chain
    return Data(x=torch.randn(n, 3, generator=g, dtype=torch.float64), edge_index=edge_index)


def _tasks(n_tasks: int, seed: int = 0) -> list[Task]:
    g = torch.Generator().manual_seed(seed)
    tasks = []
    for i in range(n_tasks):
        graphs = [_graph(g) for _ in range(9)]
        y = torch.tensor([[float(d.num_nodes) * (1 + 0.1 * i)] for d in graphs], dtype=torch.float64)
        data = GraphData(graphs, y)
        tasks.append(Task(data.subset(range(4)), data.subset(range(4, 9)), name=f"t{i}", group=f"g{i % 2}"))
    return tasks


def test_graph_meta_gradient_matches_reference() -> None:
    torch.manual_seed(0)
    model = TinyGIN().double()
    tasks = _tasks(3)
    learner = MAML(model, inner_lr=0.01, inner_steps=2)
    got, _ = learner.meta_gradient(tasks)
    names = [n for n, _ in model.named_parameters()]

    class _View:
        def __init__(self, t: Task) -> None:
            self.support = type("S", (), {"x": t.support.x, "y": t.support.y})()
            self.query = type("Q", (), {"x": t.query.x, "y": t.query.y})()

    ref = reference_maml_gradient(model, [_View(t) for t in tasks], loss=mse_loss, lrs={n: 0.01 for n in names}, steps=2,
                                  first_order=False, adapt_names=names)
    for k in ref:
        assert torch.allclose(got[k], ref[k], atol=1e-10), k
    # ragged graph tasks run through the per-task loop: the batch gradient is the mean of the tasks' own gradients
    singles = [learner.meta_gradient([t])[0] for t in tasks]
    for k in got:
        assert torch.allclose(got[k], sum(g[k] for g in singles) / len(singles), atol=1e-12), k


def test_graph_tasks_resample_fit_and_evaluate() -> None:
    torch.manual_seed(0)
    tasks = TaskSet(_tasks(4))
    res = MAML(TinyGIN().double(), inner_lr=0.01).fit(tasks, iterations=3, shots=3, progress=False).evaluate(tasks, shots=[3], steps=[1])
    assert set(res.metric) == {"mse", "mae"} and res.value.notna().all()
    split = tasks[0].resample(3, torch.Generator().manual_seed(0))
    assert len(split.support) == 3 and len(split.query) == 6


def test_protonet_on_graphs() -> None:
    g = torch.Generator().manual_seed(1)
    graphs = [_graph(g) for _ in range(12)]
    y = torch.tensor([d.num_nodes % 2 for d in graphs])
    data = GraphData(graphs, y)
    if len(set(y.tolist())) < 2:
        pytest.skip("generator produced one class")
    ep = Task(data.subset(range(6)), data.subset(range(6, 12)), name="ep")
    ad = ProtoNet(TinyGIN(out=4).double(), n_way=2).adapt(ep)
    assert ad.predict(ep.query.x).shape == (6, 2)


def test_graph_data_validation() -> None:
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="one target row per graph"):
        GraphData([_graph(g)], torch.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        GraphData([_graph(g)], torch.tensor([float("nan")]))
