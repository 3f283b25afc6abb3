"""Featurized molecule tables, cached on disk by input sha256 and featurizer version."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import torch

from sciml.chem import featurize as _featurize
from sciml.chem.featurize import FeaturizedMolecules, featurize_smiles


def _cache_path(cache_key: str, featurizer: str):  # noqa: ANN202
    from sciml.data.download import cache_dir

    version = _featurize.FEATURIZER_VERSION[featurizer]
    digest = hashlib.sha256(f"{cache_key}|{featurizer}|{version}".encode()).hexdigest()[:16]
    return cache_dir() / "processed" / f"molecules-{featurizer}-{digest}.pt"


def _pack(mols: FeaturizedMolecules) -> dict[str, torch.Tensor]:
    graphs = mols.graphs
    atoms = torch.tensor([0] + [g.num_nodes for g in graphs]).cumsum(0)
    edges = torch.tensor([0] + [g.edge_index.shape[1] for g in graphs]).cumsum(0)
    return {
        "x": torch.cat([g.x for g in graphs]) if graphs else torch.zeros(0, 2, dtype=torch.long),
        "edge_index": torch.cat([g.edge_index for g in graphs], 1) if graphs else torch.zeros(2, 0, dtype=torch.long),
        "edge_attr": torch.cat([g.edge_attr for g in graphs]) if graphs else torch.zeros(0, 2, dtype=torch.long),
        "atom_ptr": atoms,
        "edge_ptr": edges,
        "rows": torch.tensor(mols.rows, dtype=torch.long),
    }


def _unpack(state: dict[str, torch.Tensor], smiles: Sequence[str], skipped: dict[int, str]) -> FeaturizedMolecules:
    from torch_geometric.data import Data

    graphs = []
    rows = state["rows"].tolist()
    for i, row in enumerate(rows):
        a0, a1 = int(state["atom_ptr"][i]), int(state["atom_ptr"][i + 1])
        e0, e1 = int(state["edge_ptr"][i]), int(state["edge_ptr"][i + 1])
        graphs.append(Data(x=state["x"][a0:a1], edge_index=state["edge_index"][:, e0:e1], edge_attr=state["edge_attr"][e0:e1],
                           smiles=str(smiles[row])))
    return FeaturizedMolecules(graphs, rows, skipped)


def featurize_cached(smiles: Sequence[str], featurizer: str, cache_key: str) -> FeaturizedMolecules:
    """:func:`~sciml.chem.featurize_smiles` with an on-disk cache.

    The cache file is keyed by ``cache_key`` (pass the input file's sha256), the featurizer
    and its version, so a changed file or featurizer is featurized again. The cache holds plain
    tensors (``torch.load(weights_only=True)``) plus a JSON list of skipped rows.
    """
    path = _cache_path(cache_key, featurizer)
    side = path.with_suffix(".skipped.json")
    if path.is_file() and side.is_file():
        skipped = {int(k): v for k, v in json.loads(side.read_text()).items()}
        return _unpack(torch.load(path, weights_only=True), smiles, skipped)
    mols = featurize_smiles(smiles, featurizer)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_pack(mols), path)
    side.write_text(json.dumps(mols.skipped))
    return mols
