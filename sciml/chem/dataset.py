"""Featurized molecule tables, cached on disk by input sha256 and featurizer version."""

from __future__ import annotations

from collections.abc import Sequence

from sciml.chem import featurize as _featurize
from sciml.chem.featurize import FeaturizedMolecules, featurize_smiles
from sciml.data.graph_cache import cache_path, cached_featurization

_KEYS = (("x",), ("edge_index", "edge_attr"), ())


def featurize_cached(smiles: Sequence[str], featurizer: str, cache_key: str) -> FeaturizedMolecules:
    """:func:`~sciml.chem.featurize_smiles` with an on-disk cache.

    The cache file is keyed by ``cache_key`` (pass the input file's sha256), the featurizer
    and its version, so a changed file or featurizer is featurized again. The cache holds plain
    tensors (``torch.load(weights_only=True)``) plus a JSON sidecar of kept and skipped rows.
    """
    path = cache_path(f"molecules-{featurizer}", cache_key, featurizer, _featurize.FEATURIZER_VERSION[featurizer])
    return FeaturizedMolecules(*cached_featurization(path, lambda: featurize_smiles(smiles, featurizer), _KEYS,
                                                     lambda row: {"smiles": str(smiles[row])}))
