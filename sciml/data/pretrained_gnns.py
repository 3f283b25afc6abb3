"""Hu et al.'s released molecular encoders (``molecules/pretrain_gnns/``), fetched with a
sha256 check: the starting point of :func:`sciml.models.gnn.pretrained`."""

from __future__ import annotations

from pathlib import Path

from sciml.data.download import fetch

URL = "https://raw.githubusercontent.com/snap-stanford/pretrain-gnns/master/chem/model_architecture/"
"""Canonical folder of the released files (MIT licence, snap-stanford/pretrain-gnns)."""

ENCODER_FILES: dict[str, tuple[str, str]] = {
    "gcn_supervised_contextpred.pth": ("gcn", "49cf0465e623c14fc802cdc67b47cbb78326f43fc7991afe6a14e1ff471755d5"),
    "gcn_contextpred.pth": ("gcn", "ff1d9c5e5c198b8faf8af576c303808853e3f55a52aed7ae27964e3c8635a81a"),
    "gcn_supervised.pth": ("gcn", "8fb73bcce4991d6778e7309474505fcf2e5ff69f5debf166a5e6b91edf3f1493"),
    "graphsage_supervised_contextpred.pth": ("graphsage", "aca7caa7c15a0e478b57d5d2cca84d8bda6d4500614bd96486b84739bff3929b"),
    "gat_supervised_contextpred.pth": ("gat", "ad433c867915b166fbc98154d763eaa83fa53cd60bf3a3b0c2086a0ef7dc684e"),
}
"""Released file -> (architecture, sha256 of the file). Pre-training: ``supervised_contextpred``
= context prediction on 2M ZINC15 molecules, then supervised on 456k ChEMBL molecules with
1,310 assays; ``contextpred`` or ``supervised`` alone in the ablations."""


def hu_encoder_file(name_or_path: str | Path) -> tuple[str, Path]:
    """The architecture and local path of a released encoder.

    Args:
        name_or_path: A file name of :data:`ENCODER_FILES` (read from
            ``SCIML_DATA_DIR/molecules/pretrain_gnns/`` or downloaded and checked), or the path of
            a file of the same release not listed there (e.g. a GIN file; its name must start
            with the architecture: ``gin_...``, ``gcn_...``, ``graphsage_...``, ``gat_...``).

    Raises:
        ValueError: for a name that is neither listed nor an existing file, or whose architecture
            cannot be told from its name.
        DataUnavailableError: if a listed file is missing and cannot be downloaded.
    """
    from sciml.models.gnn.pretrained import ARCHITECTURES

    name = str(name_or_path)
    if name in ENCODER_FILES:
        arch, sha = ENCODER_FILES[name]
        return arch, fetch(f"molecules/pretrain_gnns/{name}", URL + name, sha)
    path = Path(name).expanduser()
    if not path.is_file():
        raise ValueError(f"{name!r} is neither a released encoder ({sorted(ENCODER_FILES)}) nor an existing file.")
    arch = path.name.split("_")[0].lower()
    if arch not in ARCHITECTURES:
        raise ValueError(f"Cannot tell the architecture of {path.name}: its name must start with one of {list(ARCHITECTURES)} "
                         "followed by '_' (as the released files do).")
    return arch, path
