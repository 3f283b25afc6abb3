"""Study configuration: ``study.toml`` read with tomllib, defaults merged, overrides applied."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

STUDY_FILE = "study.toml"


def read_study_file(study_dir: Path) -> dict[str, Any]:
    """Parse ``study_dir/study.toml`` (never modified)."""
    path = study_dir / STUDY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{study_dir} has no {STUDY_FILE}; a study folder holds study.toml and a README.")
    try:
        with path.open("rb") as fh:
            cfg = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err}).") from None
    study = cfg.get("study")
    if not isinstance(study, dict) or "kind" not in study:
        raise ValueError(f"{path}: needs a [study] table with kind = \"...\" (see `sciml list`).")
    return cfg


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``, recursively for tables."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else copy.deepcopy(v)
    return out


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (``value`` in TOML syntax, e.g. ``train.iterations=50``;
    a key part with spaces or dots is quoted as in TOML: ``learners."MAML head (frozen body)".enabled=false``).

    Raises:
        ValueError: for a malformed override or a key the config does not have (naming the
            valid keys and the closest match).
    """
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"Override {item!r} must look like section.key=value.")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare string
        node = cfg
        *parents, leaf = _key_path(item, key)
        for depth, p in enumerate(parents):
            if p not in node and not _open_table(node, depth):
                _unknown(item, p, node, parents[:depth])
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise TypeError(f"Override {item!r}: {p} is not a table.")
        if leaf not in node and not _open_table(node, len(parents)) and leaf not in _learner_keys(node):
            _unknown(item, leaf, {**node, **dict.fromkeys(_learner_keys(node))}, parents)
        node[leaf] = value
    return cfg


def _key_path(item: str, key: str) -> list[str]:
    """The parts of a dotted TOML key (quoted parts may hold spaces and dots)."""
    try:
        node: Any = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        raise ValueError(f"Override {item!r}: {key.strip()!r} is not a dotted key; quote parts with spaces, e.g. "
                         'learners."MAML head (frozen body)".enabled=false.') from None
    parts = []
    while isinstance(node, dict):
        (part, node), = node.items()
        parts.append(part)
    return parts


def _open_table(node: Mapping[str, Any], depth: int) -> bool:
    """Whether a table takes new keys: a table of labelled tables below the top level (e.g.
    ``learners`` holding ``[learners.MAML]``), or a new, empty one. Other keys must already
    exist in the kind's defaults or the study file."""
    return depth > 0 and all(isinstance(v, Mapping) for v in node.values())


def _learner_keys(node: Mapping[str, Any]) -> set[str]:
    """Keys a learner table (one with ``class = "..."``) accepts beyond those it sets: the
    learner's constructor arguments and the domain options of :mod:`sciml.meta.tables`."""
    if "class" not in node:
        return set()
    from sciml.meta import resolve_learner
    from sciml.meta.checkpoint import accepted_arguments
    from sciml.meta.tables import DOMAIN_OPTION_KEYS, FIT_KEYS, SPEC_KEYS

    try:
        cls = resolve_learner(str(node["class"]))
    except ValueError:
        return set()
    return accepted_arguments(cls) | set(FIT_KEYS) | set(SPEC_KEYS) | set(DOMAIN_OPTION_KEYS)


def _unknown(item: str, key: str, node: Mapping[str, Any], parents: Sequence[str]) -> None:
    import difflib

    where = ".".join(parents) or "the top level"
    valid = sorted(map(str, node))
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" Did you mean {'.'.join([*parents, close[0]])!r}?" if close else ""
    raise ValueError(f"Override {item!r}: unknown key {key!r} in {where}; valid keys: {valid}.{hint}")


def config_hash(cfg: Mapping[str, Any]) -> str:
    """Short sha256 of the canonical JSON of a resolved config."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:10]
