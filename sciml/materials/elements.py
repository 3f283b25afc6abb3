"""Element-property features for atoms in crystal graphs (from pymatgen's periodic table)."""

from __future__ import annotations

import functools
import math
import warnings

import torch

MAX_Z = 100
"""Largest atomic number with a feature row (Fm); heavier elements are refused."""

_CONTINUOUS = ("X", "atomic_radius", "ionization_energy", "electron_affinity", "molar_volume", "atomic_mass", "mendeleev_no")
_BLOCKS = ("s", "p", "d", "f")


def _value(el, name: str) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = getattr(el, name)
        return float(v) if v is not None else math.nan
    except (AttributeError, TypeError, ValueError):
        return math.nan


@functools.lru_cache(maxsize=1)
def element_features() -> torch.Tensor:
    """Feature table ``[MAX_Z + 1, F]`` (row ``Z``; row 0 unused): one-hot group (18), period
    (7) and block (4), then standardized electronegativity (Pauling), atomic radius (A), first
    ionization energy (eV), electron affinity (eV), molar volume (cm^3/mol), atomic mass (u) and
    Mendeleev number, each with a 0/1 column flagging a value pymatgen does not have (the value
    is then the mean)."""
    try:
        from pymatgen.core import Element
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("Crystal graphs need pymatgen: pip install 'sciml[materials]'.") from err
    rows = []
    for z in range(1, MAX_Z + 1):
        el = Element.from_Z(z)
        onehot = [0.0] * (18 + 7 + 4)
        if el.group and 1 <= el.group <= 18:
            onehot[el.group - 1] = 1.0
        onehot[18 + min(el.row, 7) - 1] = 1.0
        if el.block in _BLOCKS:
            onehot[25 + _BLOCKS.index(el.block)] = 1.0
        rows.append((onehot, [_value(el, n) for n in _CONTINUOUS]))
    cont = torch.tensor([c for _, c in rows], dtype=torch.float64)
    missing = torch.isnan(cont)
    mean = torch.nanmean(cont, 0)
    std = torch.sqrt(torch.nanmean((cont - mean) ** 2, 0)).clamp_min(1e-12)
    cont = torch.where(missing, mean, cont)
    cont = (cont - mean) / std
    table = torch.cat([torch.tensor([o for o, _ in rows], dtype=torch.float64), cont, missing.double()], 1).float()
    return torch.cat([torch.zeros(1, table.shape[1]), table])
