"""A property of new material families from a few measured members: crystal-graph learners
meta-trained on some families, calibrated to each held-out family from k members and judged
on its other members.

Example:
    >>> from sciml.materials.family_benchmark import family_split_benchmark
    >>> bench = family_split_benchmark(train, val, test, learners=["support mean", "MAML"], shots=[5, 10])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from sciml.evaluation.benchmark import BenchmarkResult, Log, quiet
from sciml.tasks import Task, TaskSet

LEARNERS: dict[str, dict[str, Any]] = {
    "support mean": {"class": "CompositionRidge", "features": False},
    "ridge (composition)": {"class": "CompositionRidge"},
    "Scratch": {"class": "Scratch", "inner_lr": 5e-3, "inner_steps": 50},
    "FineTune": {"class": "FineTune", "inner_lr": 1e-3, "inner_steps": 30},
    "MAML": {"class": "MAML", "inner_lr": 0.005, "inner_steps": 3},
    "ANIL": {"class": "ANIL", "inner_lr": 0.005, "inner_steps": 5},
}
"""The learner tables :func:`family_learner` builds by default (label -> ``class`` and
arguments, :mod:`sciml.meta.tables`): learners that take a model get a fresh CGCNN; others
(``CompositionRidge``) are built from their arguments alone."""

MODEL: dict[str, Any] = {"atom_dim": 64, "layers": 3, "hidden": 128, "norm": "layer", "radius": 8.0}
"""CGCNN settings (``radius``: the graph cutoff in Angstrom)."""

TRAINING: dict[str, Any] = {"iterations": 300, "train_shots": [5, 10], "query_size": 10, "meta_batch_size": 5, "outer_lr": 1e-3,
                            "eval_every": 25, "seed": 0}
"""Meta-training settings (``outer_lr`` and ``meta_batch_size`` apply to every learner whose
table does not set them; a table's ``iterations``, ``shots``, ``query_size`` or ``eval_every``
override these for that learner)."""


def mae_log10(adapted: Any, task: Task) -> float:
    """Mean absolute error of the query in the target's own (log10) scale."""
    pred = adapted.predict(task.query.x).reshape(-1)
    return float((pred - task.query.y.reshape(-1)).abs().mean())


def mae_linear(adapted: Any, task: Task) -> float:
    """Mean absolute error of the query after undoing the log10 transform (e.g. in n)."""
    pred = adapted.predict(task.query.x).reshape(-1).double()
    return float((10**pred - 10 ** task.query.y.reshape(-1).double()).abs().mean())


METRICS = {"mae_log10n": mae_log10, "mae_n": mae_linear}
"""Metric names of the results (refractive index n, modelled as log10 n)."""


def family_learner(spec: Any, train: TaskSet, val: TaskSet, *, model: Mapping[str, Any] | None = None,
                   training: Mapping[str, Any] | None = None) -> Any:
    """A learner, meta-trained on ``train`` with early stopping on ``val`` (families held out of
    training, never the test families); ``Scratch`` and learners without a model are not
    meta-trained.

    Args:
        spec: A label of :data:`LEARNERS` or a :class:`~sciml.meta.tables.LearnerSpec`.
        train, val: Training and validation families.
        model, training: Overrides of :data:`MODEL`, :data:`TRAINING`.
    """
    from sciml.meta import Learner, Scratch
    from sciml.meta.tables import learner_specs
    from sciml.models.cgcnn import CGCNN

    if isinstance(spec, str):
        spec = learner_specs([spec], LEARNERS)[spec]
    m, tr = {**MODEL, **(model or {})}, {**TRAINING, **(training or {})}
    if not issubclass(spec.cls, Learner):
        return spec.build(name=spec.label)
    torch.manual_seed(tr["seed"])
    net = CGCNN(1, atom_dim=m["atom_dim"], layers=m["layers"], hidden=m["hidden"], cutoff=m["radius"], norm=m["norm"])
    learner = spec.build(net, outer_lr=tr["outer_lr"], meta_batch_size=tr["meta_batch_size"])
    if issubclass(spec.cls, Scratch):
        return learner
    fit = {"iterations": tr["iterations"], "shots": tr["train_shots"], "query_size": tr["query_size"], "eval_every": tr["eval_every"],
           **spec.fit}
    return learner.fit(train, val, **fit, seed=tr["seed"], progress=False)


def band_halfwidths(learner: Any, val: TaskSet, shots: Sequence[int], seeds: int, min_query: int, level: float = 0.9) -> dict[int, float]:
    """Split-conformal half-widths (target units) per k from calibrations on the validation families.

    Raises:
        ValueError: if no validation family has ``k + min_query`` members for some k.
    """
    from sciml.evaluation import conformal_halfwidths

    out = {}
    for k in shots:
        usable = [t for t in val if len(t) >= k + min_query]
        if not usable:
            raise ValueError(f"No validation family has {k} + {min_query} members for the prior's {k}-shot band; "
                             "lower protocol.shots or raise training.val_families.")
        out.update(conformal_halfwidths(learner, usable, [k], level=level, seeds=range(seeds)))
    return out


def family_split_benchmark(
    train: TaskSet,
    val: TaskSet,
    test: TaskSet,
    *,
    learners: Sequence[str] | Mapping[str, Mapping[str, Any]] = tuple(LEARNERS),
    shots: Sequence[int] = (5, 10, 20, 50),
    seeds: int = 3,
    min_query: int = 5,
    model: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    band_for: str | None = None,
    level: float = 0.9,
    study: str = "",
    dataset: str = "",
    log: Log = quiet,
) -> BenchmarkResult:
    """Train every learner on ``train`` (early stopping on ``val``); calibrate to each test
    family from k members; judge on the family's other members.

    Args:
        train, val, test: Families (one regression task each, target log10 of the property);
            disjoint.
        learners: Labels of :data:`LEARNERS`, or label -> learner table (:mod:`sciml.meta.tables`).
        shots: Members measured per test family.
        seeds: Support draws per family and k.
        min_query: Members kept out of every support for the query.
        model, training: Overrides of :data:`MODEL`, :data:`TRAINING`.
        band_for: A learner that gets split-conformal bands at ``level``
            (:func:`band_halfwidths` on ``val``); its ``coverage90`` is judged on the test
            families and its half-widths are kept in ``details["halfwidths"]``.
        level: Band level.
        study, dataset: Labels of the result rows.
        log: Progress callback.

    Returns:
        :data:`METRICS` rows (and ``coverage90`` for ``band_for``); every learner by label.
    """
    from sciml.evaluation.conformal import band_coverage
    from sciml.evaluation.protocol import few_shot_results
    from sciml.meta.tables import learner_specs

    specs = learner_specs(learners, LEARNERS)
    if set(train.names) & set(test.names) or set(val.names) & set(test.names):
        raise ValueError("Test families must be held out of training and validation.")
    out, frames = BenchmarkResult(pd.DataFrame()), []
    for name, spec in specs.items():
        log(f"{dataset}: {name}")
        learner = family_learner(spec, train, val, model=model, training=training)
        out.learners[name] = learner
        if getattr(learner, "history_", None):
            out.histories[name] = learner.history_
        widths = band_halfwidths(learner, val, shots, seeds, min_query, level) if name == band_for else {}
        for k in shots:
            metrics = {**METRICS, "coverage90": band_coverage(widths[k])} if widths else METRICS
            frames.append(few_shot_results(learner, test, shots=[k], steps=[getattr(learner, "inner_steps", 0)], seeds=range(seeds),
                                           metrics=metrics, study=study, dataset=dataset, learner_name=name))
        if widths:
            out.details["halfwidths"] = widths
    out.results = pd.concat(frames, ignore_index=True)
    return out


def family_prior(learner: Any, halfwidths: Mapping[int, float], results: pd.DataFrame, *, target: str, radius: float, max_neighbors: int,
                 level: float = 0.9, provenance: Mapping[str, Any] | None = None) -> Any:
    """A crystal-graph learner with its split-conformal half-widths as a :class:`~sciml.prior.Prior`
    (``results``: the learner's own rows, whose means become its held-out metrics)."""
    from sciml.evaluation.protocol import held_out_metrics
    from sciml.prior import Prior
    from sciml.prior.domains.crystals import CrystalDomain

    domain = CrystalDomain(f"{target} target (refractive index n)", "1", "log10", radius, max_neighbors)
    return Prior(learner, domain, noise={"kind": "conformal", "level": level, "halfwidth": {str(k): v for k, v in halfwidths.items()},
                                         "unit": "log10(n)"},
                 metrics=held_out_metrics(results, results.learner.iloc[0]), provenance=dict(provenance or {}))


def load_structure_table(path: str | Path) -> pd.DataFrame:
    """A user's structures as a table: a CSV with a ``structure`` column (paths of CIF or POSCAR
    files, relative to the CSV) and a ``target`` column.

    Returns:
        Columns ``id`` (the file path), ``structure`` (pymatgen ``Structure``) and ``target``;
        ``attrs``: ``target``, ``path`` and ``sha256`` (of the CSV).

    Raises:
        FileNotFoundError: for a missing CSV or structure file (named).
        ValueError: for a missing column, a non-numeric target, or a file that does not parse
            (named, with its row).
    """
    from sciml.data.download import sha256_of
    from sciml.materials.crystal_graph import to_structure

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such structure table (a CSV with columns structure, target).")
    table = pd.read_csv(path)
    missing = [c for c in ("structure", "target") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} not found; it has {list(table.columns)} (expected structure = CIF/POSCAR "
                         "file paths relative to the CSV, target = the property).")
    target = pd.to_numeric(table["target"], errors="coerce")
    bad = [int(i) + 2 for i in target.index[target.isna()]]
    if bad:
        raise ValueError(f"{path}: target is empty or not a number on line(s) {bad[:10]}.")
    files = [p if Path(p).is_absolute() else path.parent / p for p in table["structure"].astype(str)]
    structures = []
    for line, file in enumerate(files, start=2):
        try:
            structures.append(to_structure(str(file), id=str(file)))
        except ValueError as err:
            raise ValueError(f"{path}, line {line}: {err}") from None
    out = pd.DataFrame({"id": [str(f) for f in files], "structure": structures, "target": target.to_numpy(dtype=float)})
    out.attrs.update(target="target", path=str(path), sha256=sha256_of(path))
    return out


def load_family_structures(dataset: str | Path, max_structures: int = 0) -> pd.DataFrame:
    """A matbench structure task by name (e.g. ``"dielectric"``) or a user's CSV
    (:func:`load_structure_table`); ``max_structures`` > 0 keeps a seeded subset."""
    import numpy as np

    from sciml.data.matbench import load_matbench

    df = load_structure_table(dataset) if str(dataset).lower().endswith(".csv") else load_matbench(str(dataset))
    if max_structures:
        df = df.iloc[np.sort(np.random.default_rng(0).permutation(len(df))[:max_structures])].reset_index(drop=True)
    return df


@dataclass(frozen=True)
class FamilySplit:
    """One split of families: ``train`` (meta-training), ``val`` (early stopping, bands) and ``test``."""

    label: str
    train: TaskSet
    val: TaskSet
    test: TaskSet

    def describe(self) -> str:
        """One line naming the families on each side."""
        return (f"- {self.label}: train {', '.join(self.train.names)}; validation (early stopping) {', '.join(sorted(self.val.names))}; "
                f"test {', '.join(sorted(self.test.names))}")


def held_out_family_splits(tasks: TaskSet, *, n_test: int, seeds: Sequence[int], min_members: int, val_families: int,
                           seed: int = 0, label: str = "split") -> list[FamilySplit]:
    """Seeded splits of families: test families drawn from those with at least
    ``min_members`` members (so every k is evaluated on the same families), then
    ``val_families`` validation families drawn from the rest (seed ``seed + 1000 + split``)."""
    import numpy as np

    from sciml.materials.families import family_splits

    candidates = [t.name for t in tasks if len(t) >= min_members]
    out = []
    for split_seed, (_, test_names) in zip(seeds, family_splits(candidates, n_test, seeds)):
        train_names = [n for n in tasks.names if n not in test_names]
        rng = np.random.default_rng(seed + 1000 + split_seed)
        val_names = sorted(rng.choice(train_names, val_families, replace=False).tolist())
        fit_names = [n for n in train_names if n not in val_names]
        out.append(FamilySplit(f"{label} {split_seed}", tasks.select_groups(fit_names), tasks.select_groups(val_names),
                               tasks.select_groups(test_names)))
    return out


def describe_families(tasks: TaskSet, labels: Sequence[str], grouping: str, min_members: int, test_members: int) -> list[str]:
    """Markdown lines: the families kept (with their sizes), how many smaller ones were left
    out, and which are large enough to be test families."""
    eligible = [t.name for t in tasks if len(t) >= test_members]
    return [f"- {grouping}: {len(tasks)} families with >= {min_members} members: " + ", ".join(f"{t.name} ({t.metadata['members']})" for t in tasks)
            + f"; {len(set(labels) - set(tasks.names))} smaller families left out",
            f"  - test families are drawn from the {len(eligible)} with >= {test_members} members: {', '.join(eligible)}"]


def best_per_k(results: pd.DataFrame, reference: str = "support mean") -> list[str]:
    """``k=<k>: best <learner> (<mean>), <reference> <mean>`` per k (mean of ``value`` over rows)."""
    per_k = results.groupby(["shots", "learner"]).value.mean().unstack("learner")
    return [f"k={k}: best {row.idxmin()} ({row.min():.3f}), {reference} {row.get(reference, float('nan')):.3f}" for k, row in per_k.iterrows()]


def band_summary(learner: str, split: str, level: float, halfwidths: Mapping[int, float], results: pd.DataFrame) -> str:
    """A sentence on a saved prior's split-conformal band: its half-widths per k and the share
    of test-family members inside it (the ``coverage90`` rows of ``results``)."""
    cover = results[results.metric == "coverage90"].groupby("shots").value.mean()
    return (f"{learner} ({split}) is saved as the study's prior with a {level:.0%} split-conformal band whose half-width (log10 n) is "
            "measured per k on the split's validation families: " + ", ".join(f"k={k}: +-{w:.3f}" for k, w in halfwidths.items())
            + ". Share of test-family members inside the band (results.csv metric `coverage90`): "
            + ", ".join(f"k={k}: {v:.3f}" for k, v in cover.items()) + ".")
