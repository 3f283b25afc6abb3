"""Where reference data live: ``SCIML_DATA_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SCIML_DATA_DIR"


def data_dir() -> Path | None:
    """The reference-data directory named by ``SCIML_DATA_DIR``, if it exists."""
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def reference_file(relative: str) -> Path | None:
    """``SCIML_DATA_DIR/relative`` if it exists, else ``None``."""
    root = data_dir()
    if root is None:
        return None
    path = root / relative
    return path if path.is_file() else None
