"""Learners from config tables: ``[learners.<label>]`` with ``class = "MAML"`` and its arguments (the
format of every study.toml and of any script that reads its learners from a file)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from sciml.meta import Learner, resolve_learner

FIT_KEYS = ("iterations", "shots", "eval_every", "query_size")
SPEC_KEYS = ("class", "model", "enabled", "incubation")
"""Keys of a learner table that are not constructor arguments (``incubation``: the JMAK law
with an incubation time, in the tungsten study)."""


def build_learner(label: str, spec: Mapping[str, Any], model: nn.Module) -> tuple[Learner, dict[str, Any]]:
    """A learner and its fit overrides from a config table.

    Args:
        label: Name of the table (used in messages and results).
        spec: ``class`` plus constructor arguments; keys in :data:`FIT_KEYS` are returned
            separately as ``fit`` arguments, and ``model`` / ``enabled`` are ignored here.
        model: The model to wrap.
    """
    if "class" not in spec:
        raise ValueError(f"[learners.{label}] needs class = \"MAML\" (or another learner).")
    cls = resolve_learner(spec["class"])
    kwargs = {k: v for k, v in spec.items() if k not in ("class", "model", "enabled", *FIT_KEYS)}
    fit = {k: spec[k] for k in FIT_KEYS if k in spec}
    try:
        learner = cls(model, **kwargs)
    except TypeError as err:
        raise ValueError(f"[learners.{label}]: {err}") from None
    return learner, fit


def enabled_learners(cfg: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``[learners.*]`` tables not switched off with ``enabled = false``, in file order."""
    return {k: v for k, v in cfg.get("learners", {}).items() if v.get("enabled", True)}

