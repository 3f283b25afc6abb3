"""Morgan fingerprints and a Tanimoto nearest-neighbour classifier: the classical few-shot
baseline that learns nothing across tasks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sciml.chem.featurize import parse_smiles
from sciml.meta.contract import FewShotLearner


def morgan_fingerprints(smiles: Sequence[str], radius: int = 2, bits: int = 2048) -> np.ndarray:
    """Morgan (ECFP-like) bit vectors, ``[n, bits]`` bool.

    Raises:
        InvalidSmilesError: naming the SMILES RDKit cannot parse.
    """
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=bits)
    out = np.zeros((len(smiles), bits), dtype=bool)
    for i, s in enumerate(smiles):
        out[i] = gen.GetFingerprintAsNumPy(parse_smiles(s)).astype(bool)
    return out


def tanimoto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of every row of ``a`` ``[n, bits]`` with every row of ``b``
    ``[m, bits]`` (bool): ``[n, m]`` in [0, 1]."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass
class _KNNAdapted:
    fps: np.ndarray
    y: np.ndarray
    neighbours: int
    cache: dict[str, np.ndarray]

    def _fp(self, smiles: Sequence[str]) -> np.ndarray:
        missing = [s for s in dict.fromkeys(smiles) if s not in self.cache]
        if missing:
            self.cache.update(zip(missing, morgan_fingerprints(missing)))
        return np.stack([self.cache[s] for s in smiles])

    def predict(self, batch: Any) -> Tensor:
        """Score ``[n]``: mean similarity to the nearest positives minus to the nearest
        negatives (``neighbours`` of each), for a PyG batch whose graphs carry ``smiles``."""
        sim = tanimoto(self._fp(list(batch.smiles)), self.fps)
        score = np.zeros(sim.shape[0])
        for label, sign in ((1, 1.0), (0, -1.0)):
            s = sim[:, self.y == label]
            m = min(self.neighbours, s.shape[1])
            score += sign * np.sort(s, axis=1)[:, -m:].mean(1)
        return torch.as_tensor(score, dtype=torch.float32)


@dataclass
class TanimotoKNN(FewShotLearner):
    """k-nearest-neighbour scoring on Morgan fingerprints, from the support set alone.

    Has the ``adapt_many`` interface of the learners so the same protocol runs it.

    Args:
        neighbours: Nearest positives and negatives averaged (capped by the support size).
    """

    neighbours: int = 3
    name: str = "kNN-Tanimoto (Morgan)"
    inner_steps: int = 0
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def fit(self, *args: Any, **kwargs: Any) -> TanimotoKNN:
        """Nothing to learn across tasks. Returns ``self``."""
        return self

    def adapt_many(self, supports: Sequence[Any], steps: Sequence[int]) -> list[list[_KNNAdapted]]:
        """One scorer per support set (the same for every step count)."""
        out = []
        for s in supports:
            data = getattr(s, "support", s)
            y = data.y.numpy()
            if set(np.unique(y)) != {0, 1}:
                raise ValueError("TanimotoKNN needs both labels (0 and 1) in the support set.")
            ad = _KNNAdapted(np.zeros((0, 0), dtype=bool), y, self.neighbours, self._cache)
            ad.fps = ad._fp([g.smiles for g in data.graphs])
            out.append([ad for _ in steps])
        return out
