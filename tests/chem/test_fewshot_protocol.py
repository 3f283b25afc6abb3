"""Invariants of the few-shot molecular protocol."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[chem]'")

from sciml.chem import featurize_smiles
from sciml.chem.fewshot import balanced_support, label_tasks, protocol_split

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


def _labelled_task(n_pos: int, n_neg: int, name: str = "T"):
    from sciml.tasks import GraphData, Task

    graphs = featurize_smiles(["C" * (i % 7 + 1) + "O" * (i // 7) for i in range(n_pos + n_neg)]).graphs
    data = GraphData(tuple(graphs), torch.tensor([1] * n_pos + [0] * n_neg))
    return Task(data, GraphData.empty_like(data), name=name, group=name)


def test_balanced_episodes_and_molecule_holdout() -> None:
    from sciml.chem.fewshot import BalancedEpisodes, split_molecules, validation_episodes
    from sciml.tasks import TaskSet

    tasks = TaskSet([_labelled_task(12, 30, "A"), _labelled_task(15, 20, "B"), _labelled_task(3, 40, "C")])
    fit, held = split_molecules(tasks, 0.25, seed=0)
    for f, h, t in zip(fit, held, tasks):
        fs, hs = {g.smiles for g in f.data.graphs}, {g.smiles for g in h.data.graphs}
        assert not fs & hs and len(f) + len(h) == len(t) and f.name == h.name == t.name
        assert int(h.data.y.sum()) >= 1  # stratified: every label keeps some held-out molecules
    source = BalancedEpisodes(fit[:2], [1, 5], queries=4)
    batch = source.sample_batch(2, torch.Generator().manual_seed(0))
    assert sorted(t.name for t in batch) == ["A", "B"]  # distinct tasks in a meta-batch
    for ep in batch:
        sy = ep.support.y.tolist()
        assert sy.count(1) == sy.count(0) in (1, 5)
        assert ep.query.y.tolist().count(1) == ep.query.y.tolist().count(0) == 4
        assert not {g.smiles for g in ep.support.graphs} & {g.smiles for g in ep.query.graphs}
    with pytest.raises(ValueError, match="rarer label"):
        BalancedEpisodes(fit, [5])  # task C keeps 2 positives for fitting
    val = validation_episodes(held, [1, 5], queries=3, seed=0)
    # held out: A 3+8, B 4+5, C 1+10 molecules; an episode needs more of each label than the support takes
    assert sorted((t.name, len(t.support)) for t in val) == [("A", 2), ("B", 2)]
