"""Learners from config tables: one schema for every study kind and for any script that reads
its learners from a file.

Each learner is a table named by its label (the name results and reports show)::

    [learners."MAML head (frozen body)"]
    class = "MAML"      # resolved by sciml.meta.resolve_learner ("package.module:Class" for your own)
    body = "frozen"     # an option of the domain (documented by the benchmark that reads it)
    inner_lr = 0.05     # constructor arguments of the class
    iterations = 300    # fit arguments (FIT_KEYS), where the protocol takes them per learner
    enabled = true      # false: skip it

Example:
    >>> specs = learner_specs(["MAML"], {"MAML": {"class": "MAML", "inner_lr": 0.05}})
    >>> learner = specs["MAML"].build(model)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from sciml.meta import resolve_learner

FIT_KEYS = ("iterations", "shots", "eval_every", "query_size")
"""Keys of a learner table passed to ``fit`` rather than to the constructor."""

SPEC_KEYS = ("class", "enabled")
"""Keys every learner table may hold besides arguments and domain options."""

DOMAIN_OPTION_KEYS = ("model", "incubation", "body", "init", "batch_statistics", "pretrain")
"""Domain options the study kinds document (``model``: the model a domain builds;
``incubation``: the JMAK law with an incubation time; ``body`` / ``init`` /
``batch_statistics``: the GIN body of a molecule learner; ``pretrain``: a light-curve learner's
pre-training on simulated classes). Each benchmark accepts its own subset."""


@dataclass(frozen=True)
class LearnerSpec:
    """One learner table, checked.

    Attributes:
        label: The learner's name in results.
        cls: The learner class.
        args: Constructor arguments (besides the model).
        fit: Fit overrides (keys of :data:`FIT_KEYS`).
        options: Domain options, with the domain's defaults filled in.
    """

    label: str
    cls: type
    args: Mapping[str, Any] = field(default_factory=dict)
    fit: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The class name, e.g. ``"MAML"``."""
        return self.cls.__name__

    def build(self, model: nn.Module | None = None, **defaults: Any) -> Any:
        """A fresh learner: ``cls(model, **defaults, **args)`` (``cls(**defaults, **args)``
        for a learner that takes no model). ``defaults`` the class does not accept are left
        out, so protocol-wide settings (``outer_lr``, ``meta_batch_size``) can be offered to
        every learner; the table's own arguments win.

        Raises:
            ValueError: naming the label when the constructor refuses the arguments.
        """
        from sciml.meta.checkpoint import accepted_arguments

        accepted = accepted_arguments(self.cls)
        kwargs = {**{k: v for k, v in defaults.items() if k in accepted}, **self.args}
        try:
            return self.cls(**kwargs) if model is None else self.cls(model, **kwargs)
        except TypeError as err:
            raise ValueError(f"[learners.{self.label}] ({self.kind}): {err}") from None


def learner_specs(
    learners: Sequence[str] | Mapping[str, Mapping[str, Any]],
    catalogue: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    choices: Mapping[str, Sequence[Any] | Mapping[Any, str]] | None = None,
) -> dict[str, LearnerSpec]:
    """Check learner tables and resolve their classes.

    Args:
        learners: Labels of ``catalogue`` (its tables used as they are), or label -> table. A
            table without ``class`` (or with the catalogue's class) is read over the
            catalogue's table of the same label, so ``{"MAML": {"inner_steps": 3}}`` changes
            one setting; tables with ``enabled = false`` are skipped; a :class:`LearnerSpec`
            (already checked, e.g. before a long featurization) is kept as it is.
        catalogue: The domain's default tables, label -> table.
        options: Domain options this protocol reads, with their defaults; any other key that is
            neither a constructor argument, a fit key nor in :data:`SPEC_KEYS` is refused.
        choices: The values an option may take (a sequence, or value -> what it means, shown
            in the error).

    Returns:
        Label -> :class:`LearnerSpec`, in the given order.

    Raises:
        ValueError: for an unknown label or class, a table without ``class``, an unknown key
            (each named, with the valid ones and the closest match), or an option outside its
            ``choices``.
    """
    from sciml.meta.checkpoint import accepted_arguments

    catalogue, options, choices = dict(catalogue or {}), dict(options or {}), dict(choices or {})
    if isinstance(learners, str):
        raise TypeError(f"learners must be a list of labels or a mapping of label -> table, got the string {learners!r}.")
    if not isinstance(learners, Mapping):
        unknown = [name for name in learners if name not in catalogue]
        if unknown:
            raise ValueError(f"Unknown learner(s) {unknown}; choose from {list(catalogue)}{_closest(unknown[0], catalogue)}, "
                             "or pass label -> table with class = ... for a learner of your own.")
        learners = {name: catalogue[name] for name in learners}
    out: dict[str, LearnerSpec] = {}
    for label, table in learners.items():
        if isinstance(table, LearnerSpec):
            out[label] = table
            continue
        if not isinstance(table, Mapping):
            raise TypeError(f"[learners.{label}] must be a table (class = ..., arguments), got {type(table).__name__}.")
        base = catalogue.get(label, {})
        if "class" not in table or (base and str(table["class"]).lower() == str(base.get("class", "")).lower()):
            table = {**base, **table}
        if not table.get("enabled", True):
            continue
        if "class" not in table:
            raise ValueError(f"[learners.{label}] needs class = \"MAML\" (or another learner); known labels: {list(catalogue)}.")
        try:
            cls = resolve_learner(str(table["class"]))
        except ValueError as err:
            raise ValueError(f"[learners.{label}]: {err}") from None
        accepted = accepted_arguments(cls)
        keys = set(table) - set(SPEC_KEYS)
        unknown = sorted(k for k in keys if k not in accepted and k not in FIT_KEYS and k not in options)
        if unknown:
            valid = sorted(accepted | set(FIT_KEYS) | set(options) | set(SPEC_KEYS))
            raise ValueError(f"[learners.{label}] ({cls.__name__}): unknown key(s) {unknown}; valid keys: {valid}"
                             f"{_closest(unknown[0], valid)}.")
        chosen = {**options, **{k: table[k] for k in options if k in table}}
        for key, allowed in choices.items():
            if chosen[key] not in allowed:
                raise ValueError(f"learners.{label}.{key} must be {_either(allowed)}, got {chosen[key]!r}.")
        out[label] = LearnerSpec(
            label, cls,
            args={k: v for k, v in table.items() if k in accepted and k not in FIT_KEYS and k not in options and k not in SPEC_KEYS},
            fit={k: table[k] for k in FIT_KEYS if k in table},
            options=chosen,
        )
    return out


def _either(allowed: Sequence[Any] | Mapping[Any, str]) -> str:
    """``'a', 'b' or 'c'``, each value followed by ``(its meaning)`` when ``allowed`` maps them."""
    named = [f"{v!r} ({allowed[v]})" if isinstance(allowed, Mapping) else repr(v) for v in allowed]
    return ", ".join(named[:-1]) + f" or {named[-1]}" if len(named) > 1 else named[0]


def _closest(key: str, valid: Sequence[str] | Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def build_learner(label: str, spec: Mapping[str, Any], model: nn.Module) -> tuple[Any, dict[str, Any]]:
    """A learner and its fit overrides from one config table (domain options ``model`` and
    ``incubation`` are read by the caller and ignored here).

    Args:
        label: Name of the table (used in messages and results).
        spec: ``class`` plus constructor arguments and fit keys.
        model: The model to wrap.
    """
    parsed = learner_specs({label: spec}, options={"model": None, "incubation": None})
    if label not in parsed:
        raise ValueError(f"[learners.{label}] is switched off (enabled = false).")
    return parsed[label].build(model), dict(parsed[label].fit)


def enabled_learners(cfg: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``[learners.*]`` tables not switched off with ``enabled = false``, in file order."""
    return {k: v for k, v in cfg.get("learners", {}).items() if v.get("enabled", True)}


def is_stack(spec: Mapping[str, Any]) -> bool:
    """Whether a learner table is a :class:`~sciml.meta.stacking.SuperLearner`."""
    return str(spec.get("class", "")).lower() == "superlearner"


def build_stack(label: str, spec: Mapping[str, Any], tables: Mapping[str, Mapping[str, Any]],
                build: Callable[[str, Mapping[str, Any]], Any]) -> Any:
    """A :class:`~sciml.meta.stacking.SuperLearner` from its table: ``learners`` lists the labels
    of other learner tables (switched-off ones too: a base learner need not be a row of its
    own), each built with ``build(label, table)``; the other keys are its arguments::

        [learners.SuperLearner]
        class = "SuperLearner"
        learners = ["MAML", "MetaSGD", "pooled-init"]
        folds = 4

    Raises:
        ValueError: for a missing or unknown base label, a stack inside a stack, or an
            argument SuperLearner does not take.
    """
    from sciml.meta.stacking import SuperLearner

    bases = spec.get("learners")
    if not isinstance(bases, Sequence) or isinstance(bases, str) or len(bases) < 2:
        raise ValueError(f"[learners.{label}] (SuperLearner) needs learners = [two or more labels of other learner tables].")
    unknown = [b for b in bases if b not in tables or b == label]
    if unknown:
        raise ValueError(f"[learners.{label}]: unknown base learner(s) {unknown}; choose from "
                         f"{[k for k in tables if k != label]}{_closest(str(unknown[0]), [k for k in tables if k != label])}.")
    nested = [b for b in bases if is_stack(tables[b])]
    if nested:
        raise ValueError(f"[learners.{label}]: {nested} are stacks themselves; stack their base learners directly.")
    args = {k: v for k, v in spec.items() if k not in (*SPEC_KEYS, *FIT_KEYS, "learners")}
    try:
        return SuperLearner({b: build(b, {**tables[b], "enabled": True}) for b in bases}, **args)
    except TypeError as err:
        raise ValueError(f"[learners.{label}] (SuperLearner): {err}") from None


def is_mixture(spec: Mapping[str, Any]) -> bool:
    """Whether a learner table is a :class:`~sciml.meta.mixture.MixtureOfExperts`."""
    return str(spec.get("class", "")).lower() == "mixtureofexperts"


def build_mixture(label: str, spec: Mapping[str, Any], tables: Mapping[str, Mapping[str, Any]], families: Sequence[str],
                  build: Callable[[str, Mapping[str, Any], str], Any], descriptor: Callable[[Any], Any] | None = None) -> Any:
    """A :class:`~sciml.meta.mixture.MixtureOfExperts` from its table: ``expert`` names another
    learner table, built once per family with ``build(label, table, family)`` (e.g. each from
    its family's nominal law); the other keys are its arguments::

        [learners."MAML experts"]
        class = "MixtureOfExperts"
        expert = "MAML"
        gate = "support"

    Raises:
        ValueError: for a missing or unknown expert label, a stack or mixture as expert, fewer
            than two families, or an argument MixtureOfExperts does not take.
    """
    from sciml.meta.mixture import MixtureOfExperts

    base = spec.get("expert")
    others = [k for k in tables if k != label]
    if not isinstance(base, str) or base not in others:
        raise ValueError(f"[learners.{label}] (MixtureOfExperts) needs expert = <the label of another learner table>; choose from "
                         f"{others}{_closest(str(base), others)}.")
    if is_stack(tables[base]) or is_mixture(tables[base]):
        raise ValueError(f"[learners.{label}]: the expert {base!r} is a stack or a mixture; name a single learner.")
    if len(families) < 2:
        raise ValueError(f"[learners.{label}]: a mixture of experts needs tasks of at least 2 families; got {list(families)}.")
    args = {k: v for k, v in spec.items() if k not in (*SPEC_KEYS, *FIT_KEYS, "expert")}
    if args.get("gate") == "descriptor":
        args["descriptor"] = descriptor
    try:
        return MixtureOfExperts({f: build(base, {**tables[base], "enabled": True}, f) for f in families}, **args)
    except TypeError as err:
        raise ValueError(f"[learners.{label}] (MixtureOfExperts): {err}") from None
