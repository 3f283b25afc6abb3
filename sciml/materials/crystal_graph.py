"""Periodic crystal graphs in the CGCNN convention (Xie & Grossman, 2018), with pymatgen.

Every atom is joined to its ``max_neighbors`` nearest neighbours (periodic images included)
within ``radius``. Graphs store atomic numbers ``z`` ``[atoms]``, ``edge_index`` ``[2, E]``
(row 0: neighbour, row 1: centre) and distances ``dist`` ``[E]`` in angstrom; features are
looked up and distances expanded into Gaussians inside the model, so the cache stays small and
independent of model settings. An atom with fewer than ``max_neighbors`` neighbours inside the
radius keeps only the neighbours it has (no padding with fake neighbours); the count of such
atoms is stored per graph (``short_atoms``) and reported.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from sciml.data.graph_cache import (
    FeaturizedGraphs,
    GraphParts,
    cache_path,
    cached_featurization,
    featurize_rows,
    graph_from_parts,
)
from sciml.materials.elements import MAX_Z

FEATURIZER_VERSION = "1"
_KEYS = (("z",), ("edge_index", "dist"), ("comp", "short_atoms"))


class StructureParseError(ValueError):
    """A structure could not be read; the message names its id and pymatgen's reason."""


def _pymatgen():
    try:
        from pymatgen.core import Structure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("Crystal graphs need pymatgen: pip install 'sciml[materials]'.") from err
    return Structure


def _looks_like_path(text: str) -> bool:
    """One line that names a file rather than holding a structure (CIF/POSCAR text has several lines)."""
    return os.path.isfile(text) or text.lower().endswith((".cif", ".vasp", ".poscar", ".json")) or "/" in text or "\\" in text or text.upper() in ("POSCAR", "CONTCAR")


def to_structure(obj: Any, id: str = "structure") -> Any:
    """A pymatgen ``Structure`` from a ``Structure``, its ``as_dict()``, CIF or POSCAR text,
    or a path to a CIF/POSCAR file.

    Raises:
        StructureParseError: naming ``id``, the format tried and pymatgen's reason.
    """
    structure_cls = _pymatgen()
    if isinstance(obj, structure_cls):
        return obj
    if isinstance(obj, dict):
        try:
            return structure_cls.from_dict(obj)
        except Exception as err:  # noqa: BLE001 - pymatgen raises many types
            raise StructureParseError(f"Structure {id}: the dict is not a pymatgen Structure ({type(err).__name__}: {err}).") from None
    if isinstance(obj, os.PathLike) or (isinstance(obj, str) and "\n" not in obj and _looks_like_path(obj)):
        if not os.path.isfile(obj):
            raise StructureParseError(f"Structure {id}: no file at {str(obj)!r} (pass CIF/POSCAR text, a Structure, or an existing path).")
        obj = open(obj).read()  # noqa: SIM115 - small text file
    if not isinstance(obj, str):
        raise StructureParseError(f"Structure {id}: expected a Structure, dict, CIF/POSCAR text or path, got {type(obj).__name__}.")
    fmt = "cif" if ("data_" in obj or "_cell_length_a" in obj) else "poscar"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = structure_cls.from_str(obj, fmt=fmt)
    except Exception as err:  # noqa: BLE001 - pymatgen raises many types
        raise StructureParseError(f"Structure {id}: could not parse it as {fmt.upper()} ({type(err).__name__}: {err}). "
                                  "Check the file, or read it with pymatgen and pass the Structure.") from None
    if len(structure) == 0:
        raise StructureParseError(f"Structure {id}: parsed as {fmt.upper()} but has no sites.")
    return structure


def structure_parts(structure: Any, radius: float = 8.0, max_neighbors: int = 12, id: str = "structure") -> GraphParts:
    """The crystal graph of :func:`structure_to_graph` as :data:`~sciml.data.graph_cache.GraphParts`
    (numpy arrays), the plain form that worker processes send back."""
    structure = to_structure(structure, id)
    if not structure.is_ordered:
        raise StructureParseError(f"Structure {id} has partial occupancies; order it first "
                                  "(e.g. pymatgen's OrderDisorderedStructureTransformation).")
    z = np.array([site.specie.Z for site in structure])
    if z.max() > MAX_Z:
        raise StructureParseError(f"Structure {id} contains Z = {int(z.max())}; element features go up to Z = {MAX_Z}.")
    centre, neighbour, _, dist = structure.get_neighbor_list(radius)
    order = np.lexsort((dist, centre))
    centre, neighbour, dist = centre[order], neighbour[order], dist[order]
    starts = np.searchsorted(centre, np.arange(len(structure)))
    rank = np.arange(len(centre)) - starts[centre]
    keep = rank < max_neighbors
    counts = np.bincount(centre[keep], minlength=len(structure))
    comp = np.bincount(z, minlength=MAX_Z + 1) / len(z)
    return {
        "z": z.astype(np.int64),
        "edge_index": np.stack([neighbour[keep], centre[keep]]).astype(np.int64),
        "dist": dist[keep].astype(np.float32),
        "comp": comp.astype(np.float32)[None],
        "short_atoms": np.array([int((counts < max_neighbors).sum())], dtype=np.int64),
        "num_nodes": len(z),
        "id": str(id),
    }


def structure_to_graph(structure: Any, radius: float = 8.0, max_neighbors: int = 12, id: str = "structure") -> Any:
    """A ``torch_geometric.data.Data`` crystal graph (see the module docstring).

    Also stores ``comp`` ``[1, MAX_Z + 1]`` (element fractions, for composition baselines).

    Raises:
        StructureParseError: for a disordered structure or an element beyond ``MAX_Z``.
    """
    return graph_from_parts(structure_parts(structure, radius, max_neighbors, id))


class FeaturizedCrystals(FeaturizedGraphs):
    """Graphs of the structures that parsed; ``rows[i]`` is graph ``i``'s input row;
    ``skipped`` maps rows that failed to the reason."""

    @property
    def short_atoms(self) -> int:
        """Atoms with fewer than ``max_neighbors`` neighbours inside the radius, in total."""
        return int(sum(int(g.short_atoms) for g in self.graphs))


def featurize_structures(structures: Sequence[Any], ids: Sequence[str] | None = None, radius: float = 8.0, max_neighbors: int = 12,
                         progress: bool = True, workers: int | None = None) -> FeaturizedCrystals:
    """Crystal graphs of many structures; a structure that fails is reported (row, id and
    reason) and skipped, and the count is logged. Nothing is dropped silently.

    Args:
        structures: Anything :func:`to_structure` reads, one per row.
        ids: Names used in messages and stored on the graphs (default: the row numbers).
        radius: Neighbour cutoff [angstrom].
        max_neighbors: Nearest neighbours kept per atom.
        progress: Show a progress bar.
        workers: Worker processes (default: one per core for large inputs, see
            :func:`~sciml.data.graph_cache.worker_count`); the result does not depend on it.
    """
    ids = list(ids) if ids is not None else [str(i) for i in range(len(structures))]
    if len(ids) != len(structures):
        raise ValueError(f"{len(ids)} ids for {len(structures)} structures: give one id per structure.")
    return FeaturizedCrystals(*featurize_rows(structures, lambda i, s: structure_parts(s, radius, max_neighbors, ids[i]),
                                              StructureParseError, "structures", progress, workers))


def featurize_structures_cached(structures: Sequence[Any], ids: Sequence[str], cache_key: str, radius: float = 8.0,
                                max_neighbors: int = 12) -> FeaturizedCrystals:
    """:func:`featurize_structures` with an on-disk cache keyed by ``cache_key`` (pass the
    input file's sha256), the graph settings and :data:`FEATURIZER_VERSION`."""
    path = cache_path("crystals", cache_key, radius, max_neighbors, FEATURIZER_VERSION)
    return FeaturizedCrystals(*cached_featurization(path, lambda: featurize_structures(structures, ids, radius, max_neighbors), _KEYS,
                                                    lambda row: {"id": str(ids[row])}))
