"""Chemical families of compounds as tasks: grouped by anion or by crystal system."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from sciml.tasks import GraphData, Task, TaskSet


def anion_of(structure: Any) -> str:
    """The most electronegative element of a structure's composition (Pauling scale; elements
    without an electronegativity are ignored), e.g. ``"O"`` for ``Rb4Zr2O6``."""
    elements = [el for el in structure.composition.elements if not math.isnan(float(el.X))]
    if not elements:
        raise ValueError(f"{structure.composition.reduced_formula}: no element with an electronegativity.")
    return max(elements, key=lambda el: float(el.X)).symbol


def crystal_system_of(structure: Any, symprec: float = 0.1) -> str:
    """Crystal system by spglib through pymatgen (``symprec`` in angstrom)."""
    import warnings

    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return SpacegroupAnalyzer(structure, symprec=symprec).get_crystal_system()


def family_tasks(graphs: Sequence[Any], targets: np.ndarray, families: Sequence[str], min_members: int = 20,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None, units: str = "") -> TaskSet:
    """One regression task per family with at least ``min_members`` members.

    Args:
        graphs: Crystal graphs.
        targets: One target per graph, ``[n]``.
        families: Family label per graph.
        min_members: Smallest family kept (smaller ones are left out, not merged).
        transform: Applied to the targets (e.g. ``np.log10``).
        units: Target units, recorded in the task metadata.
    """
    if not len(graphs) == len(targets) == len(families):
        raise ValueError(f"{len(graphs)} graphs, {len(targets)} targets and {len(families)} family labels: one each per structure.")
    y = np.asarray(targets, dtype=float)
    if not np.isfinite(y).all():
        raise ValueError(f"{int((~np.isfinite(y)).sum())} targets are NaN or infinite; drop those structures first.")
    if transform is not None:
        y = transform(y)
    counts = Counter(families)
    tasks = []
    for fam, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n < min_members:
            continue
        idx = [i for i, f in enumerate(families) if f == fam]
        data = GraphData(tuple(graphs[i] for i in idx), torch.tensor(y[idx], dtype=torch.float32)[:, None])
        tasks.append(Task(data, GraphData.empty_like(data), name=fam, group=fam, metadata={"members": n, "units": units}))
    return TaskSet(tasks)


def family_splits(names: Sequence[str], n_test: int, seeds: Sequence[int]) -> list[tuple[list[str], list[str]]]:
    """Seeded splits of family names into ``(train, test)``, ``n_test`` test families each."""
    if not 0 < n_test < len(names):
        raise ValueError(f"n_test must be between 1 and {len(names) - 1}, got {n_test}.")
    out = []
    for seed in seeds:
        perm = np.random.default_rng(seed).permutation(len(names))
        test = sorted(names[i] for i in perm[:n_test])
        out.append(([n for n in names if n not in test], test))
    return out


def family_labels(structures: Sequence[Any], grouping: str) -> list[str]:
    """The family of each structure: ``"anion"`` (:func:`anion_of`) or ``"crystal_system"``
    (:func:`crystal_system_of`, spglib with symprec 0.1 A)."""
    if grouping == "anion":
        return [anion_of(s) for s in structures]
    if grouping == "crystal_system":
        return [crystal_system_of(s) for s in structures]
    raise ValueError(f"Unknown grouping {grouping!r}; use 'anion' or 'crystal_system'.")
