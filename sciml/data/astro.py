"""ASAS variable-star light curves (Richards et al. 2012) and HTRU2 pulsar candidates."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import numpy as np
import pandas as pd

from sciml.data.download import fetch

ASAS_COMMIT = "2ad85e77"
_ASAS_RAW = f"https://raw.githubusercontent.com/cesium-ml/cesium-data/{ASAS_COMMIT}/asas_training_set/"
ASAS_FILES = {
    "asas_training_set.tar.gz": "6c66c4435b03576a3b20416fac9b7b9453d2a9189e1af745733816a0715e08fd",
    "asas_training_set_classes.dat": "572f628cccf3ce529326c085034ed310c79503fba3a9ac2447e2959ae540d85f",
}
HTRU2_URL = "https://archive.ics.uci.edu/static/public/372/htru2.zip"
HTRU2_SHA256 = "f8c97fed0487647ede91cc8709cdc3b9966df93a5adacf513e81780a42a21e47"
HTRU2_FEATURES = (
    "IP_Mean", "IP_std", "IP_Exc_Kurtosis", "IP_Skewness", "DM-SNR_Mean", "DM-SNR_std", "DM-SNR_Exc_Kurtosis", "DM-SNR_Skewness",
)


def asas_labels() -> pd.DataFrame:
    """``filename, class`` of the 810 ASAS light curves (28 classes)."""
    path = fetch("astro/asas/asas_training_set_classes.dat", _ASAS_RAW + "asas_training_set_classes.dat", ASAS_FILES["asas_training_set_classes.dat"])
    df = pd.read_csv(path, dtype={"filename": str})
    return df.rename(columns={"class": "label"})


def iter_asas() -> Iterator[tuple[str, str, pd.DataFrame]]:
    """``(star id, class, DataFrame[t (d), mag (V), err])`` for every ASAS light curve, read
    from the tar.gz without unpacking it to disk."""
    labels = asas_labels().set_index("filename").label.to_dict()
    path = fetch("astro/asas/asas_training_set.tar.gz", _ASAS_RAW + "asas_training_set.tar.gz", ASAS_FILES["asas_training_set.tar.gz"])
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".dat"):
                continue
            star = member.name.rsplit("/", 1)[-1][: -len(".dat")]
            fh = tar.extractfile(member)
            assert fh is not None
            raw = pd.read_csv(io.BytesIO(fh.read()), header=None, names=["t", "mag", "err"])
            yield star, labels.get(star, "unknown"), raw


def load_htru2() -> tuple[np.ndarray, np.ndarray]:
    """HTRU2 (Lyon et al. 2016): features ``[17898, 8]`` (:data:`HTRU2_FEATURES`) and labels
    ``[17898]`` (1 = pulsar). The file uses CR line endings."""
    path = fetch("astro/htru2/HTRU_2.csv", HTRU2_URL, HTRU2_SHA256)
    text = path.read_bytes().decode().replace("\r\n", "\n").replace("\r", "\n")
    df = pd.read_csv(io.StringIO(text))
    return df[list(HTRU2_FEATURES)].to_numpy(dtype=float), df["class"].to_numpy(dtype=int)
