"""Matbench v0.1 structure tasks (Dunn et al., 2020): structures and targets, in matbench order."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sciml.data.download import fetch, sha256_of
from sciml.data.paths import data_dir

_URL = "https://ml.materialsproject.org/projects/{name}.json.gz"


@dataclass(frozen=True)
class MatbenchSource:
    """One matbench structure task: target column, unit and the sha256 of the canonical
    ``.json.gz`` (from matminer's dataset metadata)."""

    target: str
    unit: str
    sha256: str


MATBENCH: dict[str, MatbenchSource] = {
    "dielectric": MatbenchSource("n", "dimensionless", "83befa09bc2ec2f4b6143afc413157827a90e5e2e42c1eb507ccfa01bf26a1d6"),
    "jdft2d": MatbenchSource("exfoliation_en", "meV/atom", "26057dc4524e193e32abffb296ce819b58b6e11d1278cae329a2f97817a4eddf"),
    "log_gvrh": MatbenchSource("log10(G_VRH)", "log10(GPa)", "098af941f4c663270f1fe21abf20ffad6fb85ecbfcba5786ceac03983ac29da7"),
    "log_kvrh": MatbenchSource("log10(K_VRH)", "log10(GPa)", "44b113ddb7e23aa18731a62c74afa7e5aa654199e0db5f951c8248a00955c9cd"),
    "mp_e_form": MatbenchSource("e_form", "eV/atom", "dedcb1d4ba2e3e50dbdd45ba5bc647a00e9c2bcf8f8bf556dc8e92caa39eb21f"),
    "mp_gap": MatbenchSource("gap pbe", "eV", "58b65746bd88329986ed66031a2ac1369c7c522f7bc9f9081528e07097c2c057"),
    "mp_is_metal": MatbenchSource("is_metal", "boolean", "9a028ed5750a4c76ca36e9f3c8d48fe0bf3fb21b76ec2289e58ae7048d527919"),
    "perovskites": MatbenchSource("e_form", "eV/unit cell", "4641e2417f8ec8b50096d2230864468dfa08278dc9d257c327f65d0305278483"),
    "phonons": MatbenchSource("last phdos peak", "cm^-1", "4db551f21ec5f577e6202725f10e34dfc509aa7df3a6bdaac497da7f6dbbb9b3"),
}
"""The matbench structure tasks, by short name."""

SHARED_DIELECTRIC = ("crystals/matbench_dielectric.json.gz", "a9ce0587b3f719f65c74d05c623edaf983a451770f2917443b9e82924cbceb25")
"""A copy of matbench_dielectric (pandas orient="columns", same rows and targets) accepted under
``SCIML_DATA_DIR``."""


def _local_dielectric() -> Path | None:
    root = data_dir()
    path = root / SHARED_DIELECTRIC[0] if root is not None else None
    if path is None or not path.is_file():
        return None
    digest = sha256_of(path)
    if digest != SHARED_DIELECTRIC[1]:
        raise ValueError(f"{path} has sha256 {digest}, expected {SHARED_DIELECTRIC[1]}; replace it with a fresh copy.")
    return path


def load_matbench(name: str, structures: bool = True) -> pd.DataFrame:
    """A matbench structure task as a DataFrame: ``id`` (``mb-<task>-0001``...), ``structure``
    (pymatgen ``Structure``, or its dict with ``structures=False``) and the target column.

    Reads ``SCIML_DATA_DIR`` (for dielectric also the shared orient="columns" copy), then the
    download cache, then downloads the canonical file and checks its sha256.
    ``df.attrs``: ``target``, ``unit``, ``path`` and ``sha256`` (the verified digest of the file read).

    Raises:
        KeyError: for an unknown task name.
    """
    key = name.lower().removeprefix("matbench_")
    if key not in MATBENCH:
        raise KeyError(f"Unknown matbench structure task {name!r}; choose from {sorted(MATBENCH)}.")
    src = MATBENCH[key]
    path = _local_dielectric() if key == "dielectric" else None
    digest = SHARED_DIELECTRIC[1]
    if path is None:
        digest = src.sha256
        path = fetch(f"crystals/matbench/matbench_{key}.json.gz", _URL.format(name=f"matbench_{key}"), src.sha256)
    with gzip.open(path, "rt") as fh:
        raw = json.load(fh)
    if "data" in raw and "columns" in raw:  # canonical: orient="split"
        df = pd.DataFrame(raw["data"], columns=raw["columns"])
    else:  # orient="columns": {column: {row: value}}
        df = pd.DataFrame({c: pd.Series(v).sort_index(key=lambda i: i.astype(int)).to_numpy() for c, v in raw.items()})
    missing = [c for c in ("structure", src.target) if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} not found; it has {list(df.columns)}.")
    out = pd.DataFrame({"id": [f"mb-{key.replace('_', '-')}-{i + 1:04d}" for i in range(len(df))], "structure": df["structure"],
                        src.target: df[src.target].to_numpy()})
    if structures:
        from pymatgen.core import Structure

        out["structure"] = [Structure.from_dict(d) for d in out["structure"]]
    out.attrs.update(target=src.target, unit=src.unit, path=str(path), sha256=digest)
    return out
