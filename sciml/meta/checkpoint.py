"""Checkpoints: ``learner.json`` (class, init arguments, model config, versions, history)
plus ``state.pt`` (a plain dict of tensors, loadable with ``torch.load(weights_only=True)``)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sciml._version import __version__
from sciml.models.config import build_module, module_config

JSON_NAME, STATE_NAME = "learner.json", "state.pt"


def save_learner(learner: Any, directory: Path) -> Path:
    """Write ``directory/learner.json`` and ``directory/state.pt``; returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cls = type(learner)
    doc = {
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "config": learner.get_config(),
        "model": module_config(learner.model),
        "model_class": f"{type(learner.model).__module__}:{type(learner.model).__qualname__}",
        "sciml_version": __version__,
        "torch_version": torch.__version__,
        "best_iteration": learner.best_iteration_,
        "history": learner.history_,
    }
    (directory / JSON_NAME).write_text(json.dumps(doc, indent=2))
    torch.save({k: v.detach().cpu() for k, v in learner.state_dict().items()}, directory / STATE_NAME)
    return directory


def load_learner(directory: Path, model: nn.Module | None = None) -> Any:
    """Rebuild a learner written by :func:`save_learner`."""
    path = directory / JSON_NAME
    if not path.exists():
        raise FileNotFoundError(f"No {JSON_NAME} in {directory}: not a saved sciml learner.")
    doc = json.loads(path.read_text())
    if model is None:
        if doc.get("model") is None:
            raise ValueError(
                f"The saved model ({doc.get('model_class')}) is not a built-in sciml module; pass model=... "
                "(constructed as when it was saved) to load()."
            )
        model = build_module(doc["model"])
    mod_path, _, qualname = doc["class"].partition(":")
    cls: Any = importlib.import_module(mod_path)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    learner = cls(model, **doc["config"])
    state = torch.load(directory / STATE_NAME, weights_only=True)
    learner.load_state_dict(state)
    learner.history_ = doc.get("history", [])
    learner.best_iteration_ = doc.get("best_iteration")
    return learner
