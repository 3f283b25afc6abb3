"""Checkpoints: ``learner.json`` (class, init arguments, model config, versions, history)
plus ``state.pt`` (a plain dict of tensors, loadable with ``torch.load(weights_only=True)``)."""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sciml._version import __version__
from sciml.models.config import build_module, load_weights_only, module_config

JSON_NAME, STATE_NAME = "learner.json", "state.pt"


class CheckpointError(ValueError):
    """A saved learner or prior that cannot be read: missing, truncated, foreign or of another format."""


def import_object(path: str) -> Any:
    """The object at ``"module.path:Qual.Name"``."""
    mod_path, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(mod_path)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def learner_spec(learner: Any) -> dict[str, Any]:
    """JSON description of a learner: class, constructor arguments and model config."""
    cls = type(learner)
    return {
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "config": learner.get_config(),
        "model": module_config(learner.model),
        "model_class": f"{type(learner.model).__module__}:{type(learner.model).__qualname__}",
        "dtype": str(learner._dtype).removeprefix("torch."),
    }


def accepted_arguments(cls: type) -> set[str]:
    """Keyword arguments the constructors along ``cls``'s MRO accept (besides ``model``)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        names |= {p.name for p in inspect.signature(init).parameters.values()
                  if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self", "model")}
    return names


def learner_from_spec(spec: Mapping[str, Any], model: nn.Module | None = None, source: str = "learner") -> Any:
    """Rebuild the learner that :func:`learner_spec` described (untrained weights).

    Raises:
        CheckpointError: naming ``source`` if the class is unknown, an argument is not one the
            class takes, or the model is not a built-in module and none was passed.
    """
    try:
        cls = import_object(spec["class"])
    except (KeyError, ImportError, AttributeError) as err:
        raise CheckpointError(f"{source}: unknown learner class {spec.get('class')!r} ({err}).") from None
    config = dict(spec.get("config", {}))
    allowed = accepted_arguments(cls)
    unknown = sorted(set(config) - allowed)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(allowed), n=1)
        raise CheckpointError(
            f"{source}: unknown key {unknown[0]!r} in the {cls.__name__} arguments"
            + (f" (did you mean {close[0]!r}?)" if close else "") + f"; valid keys: {sorted(allowed)}."
        )
    if model is None:
        if spec.get("model") is None:
            raise CheckpointError(
                f"{source}: the saved model ({spec.get('model_class')}) is not a built-in sciml module; pass model=... "
                "(constructed as when it was saved)."
            )
        try:
            model = build_module(spec["model"])
        except (ImportError, AttributeError, TypeError, ValueError) as err:
            raise CheckpointError(f"{source}: cannot rebuild the model {spec['model'].get('class')!r}: {err}") from None
        dtype = getattr(torch, str(spec.get("dtype", "float32")), None)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise CheckpointError(f"{source}: unknown dtype {spec.get('dtype')!r}.")
        model = model.to(dtype)
    return cls(model, **config)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A plain tensor dict saved with ``torch.save``, read with ``weights_only=True``.

    Raises:
        CheckpointError: naming the file if it is missing, truncated, or not a tensor dict.
    """
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: a saved learner or prior keeps its weights there.")
    state = load_weights_only(path, "sciml weights file (expected a dict of tensors saved by sciml; the file may be "
                                    "truncated or foreign)", CheckpointError)
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path}: expected a dict of named tensors, got {type(state).__name__}.")
    return state


def load_state(learner: Any, state: Mapping[str, torch.Tensor], source: str) -> None:
    """``learner.load_state_dict(state)`` with errors naming ``source``."""
    try:
        learner.load_state_dict(state)
    except (RuntimeError, KeyError) as err:
        raise CheckpointError(f"{source}: the weights do not fit the saved model ({str(err).splitlines()[0]}).") from None


def save_learner(learner: Any, directory: Path) -> Path:
    """Write ``directory/learner.json`` and ``directory/state.pt``; returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    doc = {
        **learner_spec(learner),
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
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not valid JSON ({err}); the file may be truncated.") from None
    learner = learner_from_spec(doc, model, source=str(path))
    load_state(learner, load_tensors(directory / STATE_NAME), str(directory / STATE_NAME))
    learner.history_ = doc.get("history", [])
    learner.best_iteration_ = doc.get("best_iteration")
    return learner
