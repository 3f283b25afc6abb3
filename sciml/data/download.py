"""Reference files: found under ``SCIML_DATA_DIR``, else downloaded with a sha256 check."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from sciml.data.paths import ENV_VAR, data_dir

CACHE_ENV_VAR = "SCIML_CACHE_DIR"


class DataUnavailableError(FileNotFoundError):
    """A reference file is neither under ``SCIML_DATA_DIR`` nor downloadable."""


def cache_dir() -> Path:
    """Where downloads are kept: ``SCIML_CACHE_DIR`` or ``~/.cache/sciml``."""
    return Path(os.environ.get(CACHE_ENV_VAR, Path.home() / ".cache" / "sciml")).expanduser()


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(relative: str, url: str, sha256: str, *, timeout: float = 60.0, gunzip: bool = False) -> Path:
    """The local path of a reference file.

    Looks for ``SCIML_DATA_DIR/relative``, then the download cache; otherwise downloads
    ``url`` into the cache. Every file is checked against ``sha256`` before it is used.

    Args:
        relative: Path of the file inside the data directory (e.g.
            ``kinetics/tungsten_recrystallization/yu_data/data.csv``).
        url: Canonical download URL (pinned to a commit or version); empty for a file with no
            public download (derived from a published source).
        sha256: Expected hex digest.
        timeout: Download timeout [s].
        gunzip: The URL serves a gzip file whose *decompressed* bytes have ``sha256`` (the
            local copy under ``relative`` is stored decompressed).

    Raises:
        ValueError: if a local file or the download has a different sha256.
        DataUnavailableError: if the file is missing and the download fails; the message says
            where to put the file.
    """
    root = data_dir()
    candidates = ([root / relative] if root is not None else []) + [cache_dir() / relative]
    for path in candidates:
        if path.is_file():
            digest = sha256_of(path)
            if digest != sha256:
                raise ValueError(
                    f"{path} has sha256 {digest}, expected {sha256}: the file differs from the published one. "
                    f"Replace it with a fresh copy from {url}."
                )
            return path
    if not url:
        raise DataUnavailableError(
            f"{relative} is not under {ENV_VAR} ({root or 'unset'}) and has no public download (it is derived from a "
            f"published source; see its dataset card). Set {ENV_VAR} to the folder that holds {relative}."
        )
    target = cache_dir() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, tempfile.NamedTemporaryFile(
            dir=target.parent, delete=False
        ) as tmp:
            if gunzip:
                import gzip

                with gzip.GzipFile(fileobj=response) as gz:
                    shutil.copyfileobj(gz, tmp)
            else:
                shutil.copyfileobj(response, tmp)
            tmp_path = Path(tmp.name)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise DataUnavailableError(
            f"{relative} is not under {ENV_VAR} ({root or 'unset'}) and could not be downloaded from {url} ({err}). "
            f"Download it on a machine with network access and set {ENV_VAR} to the folder that holds "
            f"{relative}."
        ) from None
    digest = sha256_of(tmp_path)
    if digest != sha256:
        tmp_path.unlink(missing_ok=True)
        raise ValueError(f"Download of {url} has sha256 {digest}, expected {sha256}; nothing was kept.")
    tmp_path.replace(target)
    return target
