"""EmbeddingCache: each distinct graph embedded once, and the same numbers as embedding every
task's batch directly."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("rdkit")

from sciml.chem.featurize import smiles_to_graph
from sciml.models.gnn import GIN
from sciml.tasks import EmbeddingCache, GraphData, Task, TensorData

SMILES = ["CCO", "CCCO", "CCCCO", "CCN", "c1ccccc1", "c1ccccc1O", "c1ccncc1", "CC(=O)O", "CCOC(=O)C", "OCC(O)CO"]


class _Counting(GIN):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.graphs_seen = 0

    def embed(self, batch):
        self.graphs_seen += int(batch.num_graphs)
        return super().embed(batch)


def _tasks() -> list[Task]:
    graphs = [smiles_to_graph(s) for s in SMILES]
    a = GraphData(tuple(graphs[:6]), torch.tensor([0, 1, 0, 1, 0, 1]))
    b = GraphData(tuple(graphs[3:]), torch.tensor([1, 1, 0, 0, 1, 0, 1]))  # shares 3 molecules with a
    return [Task(a.subset(range(4)), a.subset(range(4, 6)), name="a"), Task(b, GraphData.empty_like(b), name="b")]


def test_each_molecule_is_embedded_once_with_the_numbers_of_a_direct_pass() -> None:
    torch.manual_seed(0)
    encoder = _Counting(1, hidden=16, layers=2).eval()
    tasks = _tasks()
    cache = EmbeddingCache(encoder, batch_size=3)  # chunks cut across tasks: the numbers must not depend on them
    encoded = cache.encode(tasks)
    assert encoder.graphs_seen == len(SMILES) == len(cache)
    cache.encode(tasks)
    assert encoder.graphs_seen == len(SMILES)  # nothing embedded twice
    with torch.no_grad():
        for t, e in zip(tasks, encoded):
            assert isinstance(e.support, TensorData) and e.name == t.name
            assert torch.allclose(e.support.x, encoder.embed(t.support.x), atol=1e-6)
            assert torch.equal(e.support.y, t.support.y)
            if len(t.query):
                assert torch.allclose(e.query.x, encoder.embed(t.query.x), atol=1e-6)
    assert encoded[1].query.x.shape == (0, 16)


def test_bad_inputs_are_refused() -> None:
    encoder = GIN(1, hidden=8, layers=1)
    with pytest.raises(ValueError, match="no method"):
        EmbeddingCache(encoder, method="encode")
    with pytest.raises(ValueError, match="batch_size"):
        EmbeddingCache(encoder, batch_size=0)
    with pytest.raises(TypeError, match="GraphData"):
        EmbeddingCache(encoder).embed(TensorData(torch.zeros(2, 3), torch.zeros(2)))
