"""ASAS variable-star light curves (Richards et al. 2012) and HTRU2 pulsar candidates."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from sciml.data.download import fetch

ASAS_COMMIT = "2ad85e77"
_ASAS_RAW = f"https://raw.githubusercontent.com/cesium-ml/cesium-data/{ASAS_COMMIT}/asas_training_set/"
ASAS_FILES = {
    "asas_training_set.tar.gz": "6c66c4435b03576a3b20416fac9b7b9453d2a9189e1af745733816a0715e08fd",
    "asas_training_set_classes.dat": "572f628cccf3ce529326c085034ed310c79503fba3a9ac2447e2959ae540d85f",
}
SESAR_COMMIT = "869ca282"
_SESAR_RAW = f"https://raw.githubusercontent.com/astroML/astroML-data/{SESAR_COMMIT}/datasets/"
SESAR_FILES = {
    "RRLyr_ugriz_templates.tar.gz": "f88cbdb35d6ba98945fae198c4e7c80aaadd22f0a132e10ad894e080838e7565",
    "s82_table2.dat.gz": "17dfa90d65d2c91b15b21d76f00d7067266058cc9b2885b44d366f464fcb7614",
}
HTRU2_URL = "https://archive.ics.uci.edu/static/public/372/htru2.zip"
HTRU2_SHA256 = "f8c97fed0487647ede91cc8709cdc3b9966df93a5adacf513e81780a42a21e47"
HTRU2_FEATURES = (
    "IP_Mean", "IP_std", "IP_Exc_Kurtosis", "IP_Skewness", "DM-SNR_Mean", "DM-SNR_std", "DM-SNR_Exc_Kurtosis", "DM-SNR_Skewness",
)
HTRU2_UNITS = ("arbitrary flux", "arbitrary flux", "1", "1", "1 (S/N)", "1 (S/N)", "1", "1")
"""Units of :data:`HTRU2_FEATURES`: statistics of the integrated pulse profile (flux in the
survey's arbitrary units) and of the DM-SNR curve (signal-to-noise ratios)."""


def asas_files() -> dict[str, Path]:
    """Local, sha256-checked paths of the ASAS files (:data:`ASAS_FILES`), by file name."""
    return {name: fetch(f"astro/asas/{name}", _ASAS_RAW + name, sha) for name, sha in ASAS_FILES.items()}


def asas_labels(files: dict[str, Path] | None = None) -> pd.DataFrame:
    """``filename, class`` of the 810 ASAS light curves (28 classes)."""
    path = (files or asas_files())["asas_training_set_classes.dat"]
    df = pd.read_csv(path, dtype={"filename": str})
    return df.rename(columns={"class": "label"})


def iter_asas() -> Iterator[tuple[str, str, pd.DataFrame]]:
    """``(star id, class, DataFrame[t (d), mag (V), err])`` for every ASAS light curve, read
    from the tar.gz without unpacking it to disk."""
    files = asas_files()
    labels = asas_labels(files).set_index("filename").label.to_dict()
    with tarfile.open(files["asas_training_set.tar.gz"], "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".dat"):
                continue
            star = member.name.rsplit("/", 1)[-1][: -len(".dat")]
            fh = tar.extractfile(member)
            assert fh is not None
            raw = pd.read_csv(io.BytesIO(fh.read()), header=None, names=["t", "mag", "err"])
            yield star, labels.get(star, "unknown"), raw


def load_sesar_templates(band: str = "g") -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], pd.DataFrame]:
    """Sesar et al. (2010) SDSS Stripe 82 RR Lyrae light-curve templates and fits.

    Args:
        band: SDSS band (``u, g, r, i, z``).

    Returns:
        ``(templates, stars)``: template id -> (phase [0, 1), normalized magnitude: 0 at
        maximum light, 1 at minimum), and per star ``id, type (ab/c), P [d], A [mag],
        T (template id)`` in that band.
    """
    tar_path = fetch("astro/rrlyrae_templates/RRLyr_ugriz_templates.tar.gz", _SESAR_RAW + "RRLyr_ugriz_templates.tar.gz",
                     SESAR_FILES["RRLyr_ugriz_templates.tar.gz"])
    table_path = fetch("astro/rrlyrae_templates/s82_table2.dat.gz", _SESAR_RAW + "s82_table2.dat.gz", SESAR_FILES["s82_table2.dat.gz"])
    templates = {}
    with tarfile.open(tar_path, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(f"{band}.dat"):
                fh = tar.extractfile(member)
                assert fh is not None
                arr = np.loadtxt(io.BytesIO(fh.read()))
                templates[int(member.name.rsplit("/", 1)[-1][: -len(band) - 4])] = (arr[:, 0], arr[:, 1])
    table = pd.read_csv(table_path, sep=r"\s+")
    table = table.rename(columns={"#id": "id"})
    stars = table[["id", "type", "P", f"{band}A", f"{band}T"]].rename(columns={f"{band}A": "A", f"{band}T": "T"})
    return templates, stars[stars["T"].isin(templates)].reset_index(drop=True)


def load_htru2() -> tuple[np.ndarray, np.ndarray]:
    """HTRU2 (Lyon et al. 2016): features ``[17898, 8]`` (:data:`HTRU2_FEATURES`) and labels
    ``[17898]`` (1 = pulsar). The file uses CR line endings."""
    path = fetch("astro/htru2/HTRU_2.csv", HTRU2_URL, HTRU2_SHA256)
    text = path.read_bytes().decode().replace("\r\n", "\n").replace("\r", "\n")
    df = pd.read_csv(io.StringIO(text))
    return df[list(HTRU2_FEATURES)].to_numpy(dtype=float), df["class"].to_numpy(dtype=int)
