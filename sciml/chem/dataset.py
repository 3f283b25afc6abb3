"""Featurized molecule tables, cached on disk by input sha256 and featurizer version."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sciml.chem import featurize as _featurize
from sciml.chem.featurize import FeaturizedMolecules, featurize_smiles
from sciml.data.graph_cache import load_with_sidecar, pack_graphs, save_with_sidecar, unpack_graphs


def _cache_path(cache_key: str, featurizer: str):  # noqa: ANN202
    from sciml.data.download import cache_dir

    version = _featurize.FEATURIZER_VERSION[featurizer]
    digest = hashlib.sha256(f"{cache_key}|{featurizer}|{version}".encode()).hexdigest()[:16]
    return cache_dir() / "processed" / f"molecules-{featurizer}-{digest}.pt"


_NODE, _EDGE = ("x",), ("edge_index", "edge_attr")


def featurize_cached(smiles: Sequence[str], featurizer: str, cache_key: str) -> FeaturizedMolecules:
    """:func:`~sciml.chem.featurize_smiles` with an on-disk cache.

    The cache file is keyed by ``cache_key`` (pass the input file's sha256), the featurizer
    and its version, so a changed file or featurizer is featurized again. The cache holds plain
    tensors (``torch.load(weights_only=True)``) plus a JSON sidecar of kept and skipped rows.
    """
    path = _cache_path(cache_key, featurizer)
    cached = load_with_sidecar(path)
    if cached is not None:
        state, side = cached
        rows = side["rows"]
        graphs = unpack_graphs(state, _NODE, _EDGE, extra=[{"smiles": str(smiles[r])} for r in rows])
        return FeaturizedMolecules(graphs, rows, {int(k): v for k, v in side["skipped"].items()})
    mols = featurize_smiles(smiles, featurizer)
    if mols.graphs:
        save_with_sidecar(path, pack_graphs(mols.graphs, _NODE, _EDGE), {"rows": list(mols.rows), "skipped": mols.skipped})
    return mols
