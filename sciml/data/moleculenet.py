"""MoleculeNet tables (SMILES + labels): Tox21, SIDER, ESOL, FreeSolv, Lipophilicity."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sciml.data.download import fetch

_S3 = "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/"


@dataclass(frozen=True)
class MoleculeNetSource:
    """Where one MoleculeNet table lives and which columns hold what.

    Attributes:
        file: File name under ``SCIML_DATA_DIR/molecules/``.
        url: Canonical URL (deepchem's S3, as used by PyG's ``MoleculeNet``).
        sha256: Digest of the (decompressed) CSV.
        smiles: SMILES column.
        labels: Label columns, by name (``None``: every column but the SMILES one).
        gzip: The URL serves the CSV gzip-compressed.
    """

    file: str
    url: str
    sha256: str
    smiles: str
    labels: tuple[str, ...] | None
    gzip: bool = False


TOX21_TASKS = ("NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD", "NR-PPAR-gamma", "SR-ARE", "SR-ATAD5",
               "SR-HSE", "SR-MMP", "SR-p53")

SOURCES = {
    "tox21": MoleculeNetSource("tox21.csv", _S3 + "tox21.csv.gz", "7d7e7facd853a63e79ddce4e9c3fcb7a0d83a1c300b603031c0f2c64fbe77761",
                               "smiles", TOX21_TASKS, gzip=True),
    "sider": MoleculeNetSource("sider.csv", _S3 + "sider.csv.gz", "71efc6ac4ca82d6545bc512509863281be0f17234afd7adaf71a71899988302e",
                               "smiles", None, gzip=True),
    "esol": MoleculeNetSource("delaney-processed.csv", _S3 + "delaney-processed.csv",
                              "8c06a76f0c6487d29ab0f903e6a7a7139f189ab3c1178f159c8be8964602f189", "smiles",
                              ("measured log solubility in mols per litre",)),
    "freesolv": MoleculeNetSource("SAMPL.csv", _S3 + "SAMPL.csv", "ab5895d914ee87cb563bd7b9611e869527bba45bec6b014d34dc495a0f9dcb72",
                                  "smiles", ("expt",)),
    "lipophilicity": MoleculeNetSource("Lipophilicity.csv", _S3 + "Lipophilicity.csv",
                                       "aed41590cb30609d51d8e08ad3ff06495a76e80e211358801f596b10da69bacd", "smiles", ("exp",)),
}


def load_moleculenet(name: str) -> pd.DataFrame:
    """A MoleculeNet table: the ``smiles`` column then the label columns, read by name (NaN
    where a molecule is unlabelled for a task). ``df.attrs["tasks"]`` lists the label columns,
    ``df.attrs["path"]`` the file read and ``df.attrs["sha256"]`` its verified digest.

    Raises:
        KeyError: for an unknown name.
        ValueError: if an expected column is missing from the file.
    """
    key = name.lower()
    if key not in SOURCES:
        raise KeyError(f"Unknown MoleculeNet data set {name!r}; choose from {sorted(SOURCES)}.")
    src = SOURCES[key]
    path = fetch(f"molecules/{src.file}", src.url, src.sha256, gunzip=src.gzip)
    raw = pd.read_csv(path)
    labels = list(src.labels) if src.labels is not None else [c for c in raw.columns if c != src.smiles]
    missing = [c for c in [src.smiles, *labels] if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} not found; it has {list(raw.columns)}.")
    df = raw[[src.smiles, *labels]].rename(columns={src.smiles: "smiles"})
    df.attrs["tasks"] = labels
    df.attrs["path"] = str(path)
    df.attrs["sha256"] = src.sha256  # fetch() checked the file against it
    return df


def load_assay_table(path: str | Path) -> pd.DataFrame:
    """A user's own assays in the form of :func:`load_moleculenet`: a CSV with a ``smiles``
    column and one column per assay holding 0, 1 or nothing (not measured).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the ``smiles`` column is missing, no assay column is left, or an assay
            column holds anything but 0, 1 and blanks (naming the column and the first bad row).
    """
    from sciml.data.download import sha256_of

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No assay table at {path}.")
    raw = pd.read_csv(path)
    cols = {str(c).lower(): c for c in raw.columns}
    if "smiles" not in cols:
        raise ValueError(f"{path}: needs a 'smiles' column; it has {list(raw.columns)}.")
    df = raw.rename(columns={cols["smiles"]: "smiles"})
    labels = [c for c in df.columns if c != "smiles"]
    if not labels:
        raise ValueError(f"{path}: no assay columns besides 'smiles'.")
    for c in labels:
        values = pd.to_numeric(df[c], errors="coerce")
        bad = df.index[(df[c].notna() & ~values.isin([0, 1]))]
        if len(bad):
            raise ValueError(f"{path}: column {c!r} row {int(bad[0])} is {df[c].iloc[bad[0]]!r}; assay labels must be 0, 1 or empty.")
        df[c] = values
    df.attrs["tasks"] = labels
    df.attrs["path"] = str(path)
    df.attrs["sha256"] = sha256_of(path)
    return df
