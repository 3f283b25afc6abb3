"""Invariants of the few-shot molecular protocol."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[chem]'")

from sciml.chem import featurize_smiles  # noqa: E402
from sciml.chem.fewshot import balanced_support, label_tasks, protocol_split  # noqa: E402

SMILES = ["CCO", "c1ccccc1", "CC(=O)O", "N#N", "C[C@H](N)O", "O", "CCN(CC)CC", "c1ccncc1", "CCCC", "C1CC(", "CCl", "CBr"]


def _table(n_cols: int = 12) -> pd.DataFrame:
    g = torch.Generator().manual_seed(0)
    cols = {f"T{i}": torch.randint(0, 2, (len(SMILES),), generator=g).double().tolist() for i in range(n_cols)}
    df = pd.DataFrame({"smiles": SMILES, **cols})
    df.loc[0, "T0"] = float("nan")
    df.attrs["tasks"] = list(cols)
    return df


def test_tasks_support_and_query() -> None:
    df = _table()
    mols = featurize_smiles(df.smiles)
    assert list(mols.skipped) == [9]  # the malformed SMILES is reported, not silently lost
    tasks = label_tasks(df, mols)
    assert len(tasks) == 12 and len(tasks[0]) == len(SMILES) - 2  # unparsable + unlabelled
    train, test = protocol_split(tasks, "tox21")
    assert [t.name for t in test] == ["T9", "T10", "T11"] and not set(train.names) & set(test.names)
    task = next(t for t in tasks if 2 < t.metadata["positives"] < len(t) - 2)
    split = balanced_support(task, 2, torch.Generator().manual_seed(1))
    assert split.support.y.tolist().count(1) == 2 and split.support.y.tolist().count(0) == 2
    sup = {g.smiles for g in split.support.graphs}
    qry = {g.smiles for g in split.query.graphs}
    assert not sup & qry and len(sup) + len(qry) == len(task)
    with pytest.raises(ValueError, match="too few"):
        balanced_support(task, 50, torch.Generator())
    with pytest.raises(KeyError, match="standard split"):
        protocol_split(tasks, "qm9")
