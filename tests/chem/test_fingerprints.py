"""Morgan fingerprints and the Tanimoto kNN baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[chem]'")

from torch_geometric.data import Batch

from sciml.chem import InvalidSmilesError, featurize_smiles
from sciml.chem.fingerprints import TanimotoKNN, morgan_fingerprints, tanimoto
from sciml.tasks import GraphData


def test_tanimoto_of_known_fingerprints() -> None:
    a = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]], dtype=bool)
    np.testing.assert_allclose(tanimoto(a, a), [[1, 1 / 3, 0], [1 / 3, 1, 0], [0, 0, 0]])
    fp = morgan_fingerprints(["CCO", "OCC", "c1ccccc1"])
    sim = tanimoto(fp, fp)
    assert sim[0, 1] == 1.0 and sim[0, 2] == 0.0  # same molecule written twice; no shared environment
    with pytest.raises(InvalidSmilesError, match="C1CC\\("):
        morgan_fingerprints(["C1CC("])


def test_knn_ranks_the_similar_molecule_first() -> None:
    support = featurize_smiles(["c1ccccc1C", "CCCCCCO"])
    data = GraphData(tuple(support.graphs), torch.tensor([1, 0]))
    (ad,) = TanimotoKNN().adapt_many([data], [0])[0]
    query = featurize_smiles(["c1ccccc1CC", "CCCCCO"]).graphs
    score = ad.predict(Batch.from_data_list(list(query)))
    assert score[0] > 0 > score[1]
    with pytest.raises(ValueError, match="both labels"):
        TanimotoKNN().adapt_many([GraphData(tuple(support.graphs), torch.tensor([1, 1]))], [0])
