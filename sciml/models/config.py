"""Modules that remember their constructor arguments, so checkpoints are JSON + state dict."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from torch import nn


class Configurable:
    """Mixin: ``self.remember(**init_args)`` in ``__init__``; ``config()`` returns them.

    A checkpoint of a configurable module is its import path plus ``config()`` (JSON) plus a
    state dict, and :func:`build_module` rebuilds it (the matgl/CHGNet convention).
    """

    _init_args: dict[str, Any]

    def remember(self, **init_args: Any) -> None:
        """Store the constructor arguments (must be JSON-serializable)."""
        self._init_args = dict(init_args)

    def config(self) -> dict[str, Any]:
        """``{"class": "module.path:ClassName", "args": {...}}``."""
        cls = type(self)
        return {"class": f"{cls.__module__}:{cls.__qualname__}", "args": dict(self._init_args)}


def module_config(module: nn.Module) -> dict[str, Any] | None:
    """The config of a :class:`Configurable` module, else ``None``."""
    return module.config() if isinstance(module, Configurable) and hasattr(module, "_init_args") else None


def build_module(config: dict[str, Any]) -> nn.Module:
    """Rebuild a module from :func:`module_config` output."""
    path, _, qualname = config["class"].partition(":")
    obj: Any = importlib.import_module(path)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj(**config["args"])


def load_weights_only(path: Path, what: str, error: type[Exception] = ValueError) -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU.

    Raises:
        error: naming the file, ``what`` it should hold and torch's reason, if torch cannot
            read it (a damaged or foreign file raises many kinds of error inside torch).
    """
    import torch

    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - see above
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise error(f"{path}: not a readable {what}: {reason}") from None
