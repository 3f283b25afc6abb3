"""SMILES -> PyG graphs with RDKit (extra ``chem``).

Two featurizations:

* ``"simple"`` (Hu et al., 2020, used by the few-shot literature and the public pretrained GIN
  checkpoints): atom = (atomic-number index, chirality tag), bond = (bond type, bond direction),
  as int64 categories.
* ``"hu"``: the exact inputs of Hu et al.'s released pre-trained encoders
  (:func:`sciml.models.gnn.pretrained`): atom = (atomic number - 1, chirality with CHI_OTHER
  mapped to CHI_UNSPECIFIED, as their embedding has 3 rows), bond = (SINGLE 0, DOUBLE 1, TRIPLE 2,
  AROMATIC 3; direction NONE 0, ENDUPRIGHT 1, ENDDOWNRIGHT 2, other directions as NONE). A
  molecule with another bond type (e.g. dative) or a dummy atom is refused, not guessed.
* ``"ogb"``: the 9 atom and 3 bond categorical features of the Open Graph Benchmark.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch

from sciml.data.graph_cache import FeaturizedGraphs, featurize_rows

FEATURIZER_VERSION = {"simple": "1", "ogb": "1", "hu": "1"}

_CHIRALITY = ["CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER"]
_BOND_TYPES = ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]
_BOND_DIRS = ["NONE", "ENDUPRIGHT", "ENDDOWNRIGHT"]
_HYBRID = ["SP", "SP2", "SP3", "SP3D", "SP3D2", "misc"]
_STEREO = ["STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "STEREOANY"]


def _rdkit():
    try:
        from rdkit import Chem, rdBase
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("Molecular featurization needs RDKit and torch-geometric: pip install 'sciml[chem]'.") from err
    return Chem, rdBase


class InvalidSmilesError(ValueError):
    """RDKit could not parse a SMILES string; the message carries RDKit's reason."""


def _index(options: Sequence[str], value: str) -> int:
    return options.index(value) if value in options else len(options) - 1


def parse_smiles(smiles: str):
    """An RDKit molecule, or :class:`InvalidSmilesError` with RDKit's own reason."""
    if not isinstance(smiles, str) or not smiles.strip():
        raise InvalidSmilesError(f"Empty SMILES {smiles!r}: every molecule needs a SMILES string (RDKit would read it as a molecule with no atoms).")
    chem, rd_base = _rdkit()
    rd_base.LogToPythonLogger()
    logger = logging.getLogger("rdkit")
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        mol = chem.MolFromSmiles(smiles)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    if mol is None:
        reason = " ".join(line.split("] ", 1)[-1] for line in buf.getvalue().splitlines() if line.strip()) or "unknown error"
        raise InvalidSmilesError(f"RDKit cannot parse {smiles!r}: {reason}")
    return mol


def _simple(mol) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.tensor([[a.GetAtomicNum() - 1 if 0 < a.GetAtomicNum() <= 118 else 118, _index(_CHIRALITY, str(a.GetChiralTag()))]
                      for a in mol.GetAtoms()], dtype=torch.long)
    return (x, *_bonds(mol, 2, lambda b: [_index(_BOND_TYPES, str(b.GetBondType())), _index(_BOND_DIRS, str(b.GetBondDir()))]))


def _hu(mol) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    atoms = []
    for a in mol.GetAtoms():
        if not 1 <= a.GetAtomicNum() <= 118:
            raise InvalidSmilesError(f"atom {a.GetIdx()} has atomic number {a.GetAtomicNum()}: the pre-trained encoders "
                                     "know elements 1-118 only.")
        tag = str(a.GetChiralTag())
        atoms.append([a.GetAtomicNum() - 1, _CHIRALITY.index(tag) if tag in _CHIRALITY[1:3] else 0])

    def bond(b) -> list[int]:
        kind = str(b.GetBondType())
        if kind not in _BOND_TYPES:
            raise InvalidSmilesError(f"bond {b.GetIdx()} is {kind}: the pre-trained encoders know "
                                     f"{', '.join(_BOND_TYPES)} bonds only.")
        direction = str(b.GetBondDir())
        return [_BOND_TYPES.index(kind), _BOND_DIRS.index(direction) if direction in _BOND_DIRS else 0]

    return (torch.tensor(atoms, dtype=torch.long).reshape(-1, 2), *_bonds(mol, 2, bond))


def _ogb(mol) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    feats = []
    for a in mol.GetAtoms():
        feats.append([
            min(a.GetAtomicNum() - 1, 118), _index(_CHIRALITY, str(a.GetChiralTag())), min(a.GetTotalDegree(), 10),
            min(max(a.GetFormalCharge() + 5, 0), 11), min(a.GetTotalNumHs(), 8), min(a.GetNumRadicalElectrons(), 4),
            _index(_HYBRID, str(a.GetHybridization())), int(a.GetIsAromatic()), int(a.IsInRing()),
        ])
    edge_index, edge_attr = _bonds(
        mol, 3, lambda b: [_index(_BOND_TYPES + ["misc"], str(b.GetBondType())), _index(_STEREO, str(b.GetStereo())), int(b.GetIsConjugated())]
    )
    return torch.tensor(feats, dtype=torch.long), edge_index, edge_attr


def _bonds(mol, width: int, features: Callable[[Any], list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``edge_index`` ``[2, 2 * bonds]`` (both directions) and int64 ``edge_attr``
    ``[2 * bonds, width]`` with ``features(bond)`` repeated for each direction."""
    rows, attrs = [], []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        attr = features(b)
        rows += [(i, j), (j, i)]
        attrs += [attr, attr]
    edge_index = torch.tensor(rows, dtype=torch.long).T.reshape(2, -1) if rows else torch.zeros(2, 0, dtype=torch.long)
    return edge_index, torch.tensor(attrs, dtype=torch.long).reshape(-1, width)


FEATURIZERS = {"simple": _simple, "ogb": _ogb, "hu": _hu}


def smiles_to_graph(smiles: str, featurizer: str = "simple"):
    """One molecule as a ``torch_geometric.data.Data`` with int64 ``x`` ``[atoms, F]``,
    ``edge_index`` ``[2, 2 * bonds]`` (both directions) and ``edge_attr`` ``[2 * bonds, B]``.

    Raises:
        InvalidSmilesError: with RDKit's reason.
        ValueError: for an unknown featurizer.
    """
    if featurizer not in FEATURIZERS:
        raise ValueError(f"Unknown featurizer {featurizer!r}; choose from {sorted(FEATURIZERS)}.")
    from torch_geometric.data import Data

    x, edge_index, edge_attr = FEATURIZERS[featurizer](parse_smiles(smiles))
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, smiles=smiles)


class FeaturizedMolecules(FeaturizedGraphs):
    """Graphs of the parsable rows of a table; ``rows`` maps graph i to its table row, and
    ``skipped`` lists every unparsable row with RDKit's reason."""


def featurize_smiles(smiles: Sequence[str], featurizer: str = "simple") -> FeaturizedMolecules:
    """Featurize many SMILES; invalid ones are reported (row and reason), never dropped silently."""
    return FeaturizedMolecules(*featurize_rows(smiles, lambda _, s: smiles_to_graph(str(s), featurizer), InvalidSmilesError, "SMILES"))
