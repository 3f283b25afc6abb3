"""The featurized-molecule cache: reused when nothing changed, rebuilt when the input or the
featurizer changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[chem]'")

from sciml.chem import dataset, featurize

SMILES = ["CCO", "C1CC(", "c1ccccc1", "N"]


def test_cache_reuse_and_invalidation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIML_CACHE_DIR", str(tmp_path))
    calls = []
    real = featurize.featurize_smiles
    monkeypatch.setattr(dataset, "featurize_smiles", lambda s, f: calls.append(f) or real(s, f))
    first = dataset.featurize_cached(SMILES, "simple", cache_key="sha-A")
    again = dataset.featurize_cached(SMILES, "simple", cache_key="sha-A")
    assert len(calls) == 1, "the second call must come from the cache"
    assert again.rows == first.rows == [0, 2, 3] and list(again.skipped) == [1]
    for a, b in zip(first.graphs, again.graphs):
        assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index) and torch.equal(a.edge_attr, b.edge_attr)
    dataset.featurize_cached(SMILES, "simple", cache_key="sha-B")  # the input file changed
    assert len(calls) == 2
    dataset.featurize_cached(SMILES, "ogb", cache_key="sha-B")  # another featurizer
    assert len(calls) == 3
    monkeypatch.setitem(featurize.FEATURIZER_VERSION, "simple", "2")  # the featurizer's code changed
    dataset.featurize_cached(SMILES, "simple", cache_key="sha-A")
    assert len(calls) == 4
