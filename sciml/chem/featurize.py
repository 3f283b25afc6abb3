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

import numpy as np

from sciml.data.graph_cache import FeaturizedGraphs, GraphParts, featurize_rows, graph_from_parts

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
    with rd_base.BlockLogs():
        mol = chem.MolFromSmiles(smiles)
    if mol is None:
        raise InvalidSmilesError(f"RDKit cannot parse {smiles!r}: {_rdkit_reason(smiles)}")
    return mol


def _rdkit_reason(smiles: str) -> str:
    """RDKit's log lines for a SMILES that does not parse (parsed again with the log captured)."""
    chem, rd_base = _rdkit()
    rd_base.LogToPythonLogger()
    logger = logging.getLogger("rdkit")
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        chem.MolFromSmiles(smiles)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    return " ".join(line.split("] ", 1)[-1] for line in buf.getvalue().splitlines() if line.strip()) or "unknown error"


def _code_table(codes: dict[int, int], other: int) -> np.ndarray:
    """Feature index of every RDKit enum value below 64 (``codes``; any other value: ``other``);
    read with :func:`_lookup`."""
    table = np.full(64, other, dtype=np.int64)
    table[list(codes)] = list(codes.values())
    return table


def _lookup(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``table[values]``, values beyond the table read as its last entry (``other``)."""
    return table[np.minimum(values, len(table) - 1)]


# RDKit enum values (rdchem.ChiralType, BondType, BondDir) -> feature indices.
_CHIRAL_SIMPLE = _code_table({0: 0, 1: 1, 2: 2, 3: 3}, other=3)  # unspecified, CW, CCW, other; newer tags count as other
_CHIRAL_HU = _code_table({1: 1, 2: 2}, other=0)  # CHI_OTHER and newer tags as unspecified (3-row embedding)
_BOND_TYPE = _code_table({1: 0, 2: 1, 3: 2, 12: 3}, other=-1)  # SINGLE, DOUBLE, TRIPLE, AROMATIC
_BOND_DIR_SIMPLE = _code_table({0: 0, 4: 1, 3: 2}, other=2)  # NONE, ENDUPRIGHT, ENDDOWNRIGHT; others as the last
_BOND_DIR_HU = _code_table({4: 1, 3: 2}, other=0)  # others as NONE


def _atom_table(mol) -> np.ndarray:
    """``[atoms, 2]`` int64: atomic number and RDKit chirality tag value."""
    return np.array([(a.GetAtomicNum(), int(a.GetChiralTag())) for a in mol.GetAtoms()], dtype=np.int64).reshape(-1, 2)


def _bond_table(mol) -> np.ndarray:
    """``[bonds, 4]`` int64: begin atom, end atom, RDKit bond type value, bond direction value."""
    return np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondType()), int(b.GetBondDir())) for b in mol.GetBonds()],
                    dtype=np.int64).reshape(-1, 4)


def _both_directions(bonds: np.ndarray, attr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``edge_index`` ``[2, 2 * bonds]`` (bond k as columns 2k: i->j and 2k+1: j->i) and
    ``edge_attr`` ``[2 * bonds, width]`` with each bond's row repeated."""
    edge_index = np.stack([bonds[:, [0, 1]].ravel(), bonds[:, [1, 0]].ravel()])
    return edge_index, np.repeat(attr, 2, axis=0)


def _simple(mol) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    atoms, bonds = _atom_table(mol), _bond_table(mol)
    z = atoms[:, 0]
    x = np.stack([np.where((z > 0) & (z <= 118), z - 1, 118), _lookup(_CHIRAL_SIMPLE, atoms[:, 1])], 1)
    kind = _lookup(_BOND_TYPE, bonds[:, 2])
    attr = np.stack([np.where(kind < 0, 3, kind), _lookup(_BOND_DIR_SIMPLE, bonds[:, 3])], 1)
    return (x, *_both_directions(bonds, attr))


def _hu(mol) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    atoms, bonds = _atom_table(mol), _bond_table(mol)
    z = atoms[:, 0]
    bad = np.flatnonzero((z < 1) | (z > 118))
    if len(bad):
        raise InvalidSmilesError(f"atom {int(bad[0])} has atomic number {int(z[bad[0]])}: the pre-trained encoders "
                                 "know elements 1-118 only.")
    kind = _lookup(_BOND_TYPE, bonds[:, 2])
    bad = np.flatnonzero(kind < 0)
    if len(bad):
        name = str(mol.GetBondWithIdx(int(bad[0])).GetBondType())
        raise InvalidSmilesError(f"bond {int(bad[0])} is {name}: the pre-trained encoders know "
                                 f"{', '.join(_BOND_TYPES)} bonds only.")
    x = np.stack([z - 1, _lookup(_CHIRAL_HU, atoms[:, 1])], 1)
    attr = np.stack([kind, _lookup(_BOND_DIR_HU, bonds[:, 3])], 1)
    return (x, *_both_directions(bonds, attr))


def _ogb(mol) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    return np.array(feats, dtype=np.int64).reshape(-1, 9), edge_index, edge_attr


def _bonds(mol, width: int, features: Callable[[Any], list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """``edge_index`` ``[2, 2 * bonds]`` (both directions) and int64 ``edge_attr``
    ``[2 * bonds, width]`` with ``features(bond)`` repeated for each direction."""
    rows, attrs = [], []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        attr = features(b)
        rows += [(i, j), (j, i)]
        attrs += [attr, attr]
    edge_index = np.array(rows, dtype=np.int64).T.reshape(2, -1) if rows else np.zeros((2, 0), dtype=np.int64)
    return edge_index, np.array(attrs, dtype=np.int64).reshape(-1, width)


FEATURIZERS = {"simple": _simple, "ogb": _ogb, "hu": _hu}


def smiles_parts(smiles: str, featurizer: str = "simple") -> GraphParts:
    """One molecule as :data:`~sciml.data.graph_cache.GraphParts` (numpy arrays), the plain
    form of :func:`smiles_to_graph` that worker processes send back."""
    if featurizer not in FEATURIZERS:
        raise ValueError(f"Unknown featurizer {featurizer!r}; choose from {sorted(FEATURIZERS)}.")
    x, edge_index, edge_attr = FEATURIZERS[featurizer](parse_smiles(smiles))
    return {"x": x, "edge_index": edge_index, "edge_attr": edge_attr, "smiles": smiles}


def smiles_to_graph(smiles: str, featurizer: str = "simple"):
    """One molecule as a ``torch_geometric.data.Data`` with int64 ``x`` ``[atoms, F]``,
    ``edge_index`` ``[2, 2 * bonds]`` (both directions) and ``edge_attr`` ``[2 * bonds, B]``.

    Raises:
        InvalidSmilesError: with RDKit's reason.
        ValueError: for an unknown featurizer.
    """
    return graph_from_parts(smiles_parts(smiles, featurizer))


class FeaturizedMolecules(FeaturizedGraphs):
    """Graphs of the parsable rows of a table; ``rows`` maps graph i to its table row, and
    ``skipped`` lists every unparsable row with RDKit's reason."""


def featurize_smiles(smiles: Sequence[str], featurizer: str = "simple", workers: int | None = None,
                     progress: bool = False) -> FeaturizedMolecules:
    """Featurize many SMILES; invalid ones are reported (row and reason), never dropped silently.

    Args:
        smiles: SMILES strings, one per row.
        featurizer: A key of :data:`FEATURIZERS`.
        workers: Worker processes (default: one per core for large inputs, see
            :func:`~sciml.data.graph_cache.worker_count`); the result does not depend on it.
        progress: Show a progress bar.

    Raises:
        ValueError: for an unknown featurizer.
    """
    if featurizer not in FEATURIZERS:
        raise ValueError(f"Unknown featurizer {featurizer!r}; choose from {sorted(FEATURIZERS)}.")
    return FeaturizedMolecules(*featurize_rows(smiles, lambda _, s: smiles_parts(str(s), featurizer), InvalidSmilesError, "SMILES",
                                               progress, workers))
