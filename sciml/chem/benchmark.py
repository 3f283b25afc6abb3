"""The few-shot assay benchmark on any assay table: pretrain a GIN on the training assays,
meta-train every learner, evaluate on the test assays.

The protocol of Meta-MGNN and PAR: one task per assay, support = k actives + k inactives,
query = every other labelled molecule of the test assay, ROC-AUC averaged over test assays,
over seeds. Model selection (early stopping, the pretraining epoch, the number of test-time
inner steps) looks only at molecules held out of the *training* assays.

Example:
    >>> from sciml.chem.benchmark import assay_benchmark
    >>> bench = assay_benchmark(train, test, learners=["MAML head (frozen body)", "kNN-Tanimoto"])
    >>> bench.results.groupby(["learner", "shots"]).value.mean()
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from sciml.evaluation.benchmark import BenchmarkResult, Log, quiet
from sciml.tasks import Task, TaskSet

FROZEN_HEAD = "MAML head (frozen body)"
"""The pretrained body frozen with its BatchNorm statistics (each molecule embedded on its own)
and a meta-learned logistic head: the learner saved as a molecule prior."""

LEARNERS = ("MAML", "ANIL", FROZEN_HEAD, "ProtoNet", "FineTune", "Scratch", "kNN-Tanimoto")
"""Learner names :func:`assay_benchmark` knows."""

MODEL: dict[str, Any] = {"hidden": 300, "layers": 5, "norm": "batch", "pooling": "mean", "dropout": 0.0}
"""GIN settings (:class:`~sciml.models.gnn.GIN` arguments)."""

TRAINING: dict[str, Any] = {"iterations": 300, "pretrain_epochs": 40, "pretrain_batch_size": 128, "pretrain_ema_decay": 0.99,
                            "meta_batch_size": 9, "queries": 8, "val_queries": 32, "eval_every": 50, "seed": 0, "outer_lr": 1e-3,
                            "holdout_fraction": 0.2}
"""Meta-training settings. ``holdout_fraction``: share of each training assay's molecules held
out for model selection; ``queries`` / ``val_queries``: query molecules per class of a
training / validation episode; ``pretrain_ema_decay``: weight averaging of pretraining (0: none)."""

OPTIONS: dict[str, Any] = {
    "init": "pretrained", "batch_statistics": "task",
    "maml_inner_lr": 0.05, "maml_inner_steps": 1, "anil_inner_lr": 0.05, "anil_inner_steps": 1,
    "finetune_inner_lr": 0.01, "finetune_inner_steps": 50, "scratch_inner_lr": 0.005, "scratch_inner_steps": 30,
    "knn_neighbours": 3, "step_choices": [1, 3, 10],
}
"""Learner settings. ``init``: MAML, ANIL and ProtoNet start from the ``"pretrained"`` body or
at ``"random"``; ``batch_statistics``: BatchNorm normalizes each batch with its own
(``"task"``) statistics or keeps the fixed statistics of pretraining (``"pretrained"``);
``step_choices``: test-time inner steps tried on held-out molecules of the training assays."""


def build_gin(model: Mapping[str, Any], out: int, seed: int) -> nn.Module:
    """A GIN with ``out`` outputs, initialized from ``seed`` (settings as in :data:`MODEL`)."""
    from sciml.models.gnn import GIN

    torch.manual_seed(seed)
    return GIN(out, hidden=model["hidden"], layers=model["layers"], norm=model["norm"], pooling=model["pooling"], dropout=model["dropout"])


def check_options(options: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` for an inconsistent ``init`` / ``batch_statistics`` pair."""
    if options["init"] not in ("pretrained", "random"):
        raise ValueError(f"learners.init must be 'pretrained' or 'random', got {options['init']!r}.")
    if options["batch_statistics"] not in ("task", "pretrained"):
        raise ValueError("learners.batch_statistics must be 'task' (each batch normalized with its own statistics) or "
                         f"'pretrained' (the fixed statistics of multi-task pretraining), got {options['batch_statistics']!r}.")
    if options["batch_statistics"] == "pretrained" and options["init"] != "pretrained":
        raise ValueError("learners.batch_statistics = 'pretrained' needs learners.init = 'pretrained' (a random "
                         "initialization has no statistics to keep).")


def _initial_gin(model: Mapping[str, Any], options: Mapping[str, Any], seed: int, out: int, pretrained: nn.Module | None) -> nn.Module:
    """A GIN with ``out`` head outputs: every body weight copied from ``pretrained`` (when
    given) and a fresh head; with ``batch_statistics = "pretrained"`` its BatchNorm layers
    keep the statistics of pretraining, fixed."""
    from sciml.models.gnn.gin import load_body

    m = dict(model)
    if pretrained is not None and m["norm"] == "batch" and options["batch_statistics"] == "pretrained":
        m["norm"] = "frozen_batch"
    net = build_gin(m, out, seed)
    return load_body(net, pretrained) if pretrained is not None else net


def train_learner(name: str, source: Any, val: list[Task], pretrained: nn.Module | None, *, model: Mapping[str, Any],
                  training: Mapping[str, Any], options: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """Train one learner of :data:`LEARNERS` (all but ``Scratch``).

    Args:
        name: The learner.
        source: Training episodes (:class:`~sciml.chem.fewshot.BalancedEpisodes`).
        val: Validation episodes from held-out molecules of the training assays.
        pretrained: The multi-task pretrained GIN (needed by FineTune and the frozen head).
        model, training, options: As :data:`MODEL`, :data:`TRAINING`, :data:`OPTIONS`.

    Returns:
        ``(trainer, embed, learner)``: the meta-trained learner (``None`` where nothing is
        meta-trained), the encoder that turns graphs into the learner's inputs (``None``: it
        reads graphs) and the learner that adapts at test time.
    """
    from sciml.chem.fewshot import BalancedEpisodes
    from sciml.chem.fingerprints import TanimotoKNN
    from sciml.meta import ANIL, MAML, FineTune, ProtoNet
    from sciml.models import MLP
    from sciml.models.gnn.gin import with_frozen_statistics
    from sciml.tasks.taskset import encode_tasks

    tr, lr = training, options
    fit = {"iterations": tr["iterations"], "eval_every": tr["eval_every"], "seed": tr["seed"], "progress": False}
    common = {"outer_lr": tr["outer_lr"], "meta_batch_size": tr["meta_batch_size"]}
    init = pretrained if lr["init"] == "pretrained" else None

    def gin(out: int) -> nn.Module:
        return _initial_gin(model, options, tr["seed"], out, init)

    if name == "kNN-Tanimoto":
        return None, None, TanimotoKNN(neighbours=lr["knn_neighbours"])
    if name == "MAML":
        learner = MAML(gin(1), loss="bce", inner_lr=lr["maml_inner_lr"], inner_steps=lr["maml_inner_steps"], **common)
        return learner.fit(source, val, **fit), None, learner
    if name == "ANIL":
        learner = ANIL(gin(1), loss="bce", inner_lr=lr["anil_inner_lr"], inner_steps=lr["anil_inner_steps"], **common)
        learner.fit(source, val, **fit)
        head = MAML(copy.deepcopy(learner.model.head), loss="bce", inner_lr=lr["anil_inner_lr"], inner_steps=lr["anil_inner_steps"])
        head.name = "ANIL"
        return learner, learner.model.eval().embed, head
    if name == "ProtoNet":
        learner = ProtoNet(gin(model["hidden"]), n_way=2, **common)
        learner.fit(source, val, **fit)
        protos = ProtoNet(nn.Identity(), n_way=2)
        protos.name = "ProtoNet"
        return learner, learner.model.eval(), protos  # prototypes average the model's output
    if name in (FROZEN_HEAD, "FineTune") and pretrained is None:
        raise ValueError(f"{name} adapts on the pretrained body: pass the pretrained GIN.")
    if name == FROZEN_HEAD:
        encoder = with_frozen_statistics(pretrained)
        fit_tasks, held = source.tasks.encoded(encoder.embed), encode_tasks(val, encoder.embed)
        torch.manual_seed(tr["seed"])
        head = MAML(MLP(model["hidden"], (), 1), loss="bce", inner_lr=lr["anil_inner_lr"], inner_steps=lr["anil_inner_steps"], **common)
        head.fit(BalancedEpisodes(fit_tasks, source.shots, queries=source.queries), held, **fit)
        return head, encoder.embed, head
    if name == "FineTune":
        torch.manual_seed(tr["seed"])
        tuned = FineTune(nn.Linear(model["hidden"], 1), loss="bce", inner_lr=lr["finetune_inner_lr"], inner_steps=lr["finetune_inner_steps"])
        return None, pretrained.embed, tuned
    raise ValueError(f"Unknown learner {name!r}; choose from {list(LEARNERS)}.")


def scratch_results(test: TaskSet, shots: Sequence[int], seeds: Sequence[int], *, model: Mapping[str, Any], options: Mapping[str, Any],
                    **labels: Any) -> pd.DataFrame:
    """Scratch: a fresh GIN initialization per seed (one fixed initialization for every seed
    would measure that initialization's bias, not training from scratch)."""
    from sciml.chem.fewshot import balanced_support
    from sciml.evaluation.metrics import BINARY_METRICS
    from sciml.evaluation.protocol import few_shot_results
    from sciml.meta import Scratch

    frames = []
    for seed in seeds:
        learner = Scratch(build_gin(model, 1, 10_000 + seed), loss="bce", inner_lr=options["scratch_inner_lr"],
                          inner_steps=options["scratch_inner_steps"])
        frames.append(few_shot_results(learner, test, shots=shots, steps=[learner.inner_steps], seeds=[seed], metrics=BINARY_METRICS,
                                       resample=balanced_support, learner_name="Scratch", **labels))
    return pd.concat(frames, ignore_index=True)


def assay_benchmark(
    train: TaskSet,
    test: TaskSet,
    *,
    learners: Sequence[str] = LEARNERS,
    shots: Sequence[int] = (10, 1),
    seeds: int = 10,
    model: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    study: str = "",
    dataset: str = "",
    log: Log = quiet,
) -> BenchmarkResult:
    """Meta-train every learner on the training assays and evaluate it on the test assays.

    Args:
        train: Training assays (:func:`~sciml.chem.fewshot.label_tasks`, binary labels).
        test: Test assays, disjoint from ``train``.
        learners: Names from :data:`LEARNERS`, in report order.
        shots: k of the k + k supports.
        seeds: Number of support draws per test assay (seeds ``0..seeds-1``).
        model, training, options: Overrides of :data:`MODEL`, :data:`TRAINING`, :data:`OPTIONS`.
        study, dataset: Labels of the result rows.
        log: Progress callback.

    Returns:
        ROC-AUC rows (metric ``roc_auc``) for every learner, test assay, k and seed. ``learners``
        holds the frozen-head learner and its encoder (``{FROZEN_HEAD: (head, encoder)}``) when
        it ran; ``details``: ``pretrain_history``, ``inner_steps`` (learner -> (steps, table of
        the choice)), ``held`` (the held-out molecules of the training assays).
    """
    from sciml.chem.fewshot import (
        BalancedEpisodes,
        balanced_support,
        select_inner_steps,
        split_molecules,
        validation_episodes,
    )
    from sciml.chem.pretrain import pretrain_multitask
    from sciml.evaluation.metrics import BINARY_METRICS
    from sciml.evaluation.protocol import few_shot_results

    model, training, options = {**MODEL, **(model or {})}, {**TRAINING, **(training or {})}, {**OPTIONS, **(options or {})}
    check_options(options)
    unknown = [n for n in learners if n not in LEARNERS]
    if unknown:
        raise ValueError(f"Unknown learner(s) {unknown}; choose from {list(LEARNERS)}.")
    if set(train.names) & set(test.names):
        raise ValueError(f"Assays on both sides of the split: {sorted(set(train.names) & set(test.names))}.")
    tr, shots = training, list(shots)
    fit_tasks, held = split_molecules(train, tr["holdout_fraction"], seed=tr["seed"])
    source = BalancedEpisodes(fit_tasks, shots, queries=tr["queries"])
    val = validation_episodes(held, shots, queries=tr["val_queries"], seed=tr["seed"] + 1)
    seed_list = list(range(seeds))
    labels = {"study": study, "dataset": dataset}
    out = BenchmarkResult(pd.DataFrame(), details={"pretrain_history": [], "inner_steps": {}, "held": held})
    needs_body = bool({"FineTune", FROZEN_HEAD} & set(learners)) or (options["init"] == "pretrained" and bool({"MAML", "ANIL", "ProtoNet"} & set(learners)))
    pretrained = None
    if needs_body:
        pretrained = build_gin(model, len(fit_tasks), tr["seed"])
        log(f"multi-task pretraining: {tr['pretrain_epochs']} epochs")
        history = pretrain_multitask(pretrained, fit_tasks, held, tr["pretrain_epochs"], tr["outer_lr"], tr["pretrain_batch_size"],
                                     tr["seed"], tr["pretrain_ema_decay"], progress=False)
        pretrained.eval()
        out.histories["multi-task pretraining"] = out.details["pretrain_history"] = history
        best = max(history, key=lambda r: r["val_roc_auc"])
        log(f"multi-task pretraining: best held-out ROC-AUC {best['val_roc_auc']:.3f} (training tasks) at epoch {best['iteration']}")
    frames = []
    for name in learners:
        if name == "Scratch":
            log(f"{name}: evaluating (a fresh initialization per seed)")
            frames.append(scratch_results(test, shots, seed_list, model=model, options=options, **labels))
            continue
        log(f"{name}: training")
        trainer, embed, learner = train_learner(name, source, val, pretrained, model=model, training=training, options=options)
        if getattr(trainer, "history_", None):
            out.histories[name] = trainer.history_
        steps = learner.inner_steps
        if name in ("MAML", "ANIL", FROZEN_HEAD) and options["step_choices"]:
            steps, table = select_inner_steps(learner, held.encoded(embed) if embed is not None else held, shots, list(options["step_choices"]))
            out.details["inner_steps"][name] = (steps, table)
            log(f"{name}: {steps} inner steps at test time (best ROC-AUC on held-out molecules of the training tasks)")
        log(f"{name}: evaluating")
        frames.append(few_shot_results(learner, test.encoded(embed) if embed is not None else test, shots=shots, steps=[steps],
                                       seeds=seed_list, metrics=BINARY_METRICS, resample=balanced_support, learner_name=name, **labels))
        if name == FROZEN_HEAD:
            learner.inner_steps = steps
            out.learners[name] = (learner, embed.__self__)
    out.results = pd.concat(frames, ignore_index=True)
    return out


def frozen_head_prior(head: Any, encoder: nn.Module, results: pd.DataFrame, dataset: str, featurizer: str) -> Any:
    """The frozen-body learner of :func:`assay_benchmark` as a :class:`~sciml.prior.Prior`,
    with its test ROC-AUC (mean over test assays and seeds) as held-out metrics."""
    from sciml.evaluation.protocol import held_out_metrics
    from sciml.prior import Prior
    from sciml.prior.domains.molecules import MoleculeDomain

    return Prior(head, MoleculeDomain(featurizer, label=f"active (1) in a new {dataset}-like assay"), encoder=encoder,
                 encoder_method="embed", metrics=held_out_metrics(results, FROZEN_HEAD),
                 provenance={"encoder": "GIN pretrained multi-task on the training assays (fixed BatchNorm statistics)",
                             "held_out_metrics": "ROC-AUC on the test assays, mean over assays and seeds"})


@dataclass(frozen=True)
class AssayTasks:
    """Assays split for the benchmark.

    Attributes:
        train, test: Training and test assays (one binary task per assay column).
        name: The table's name (``tox21``, ``sider`` or the CSV's file stem).
        path: The file read.
        molecules: The featurized molecules (``skipped``: rows RDKit could not parse, with why).
    """

    train: TaskSet
    test: TaskSet
    name: str
    path: Path
    molecules: Any


def load_assay_tasks(dataset: str | Path, featurizer: str = "simple", train_assays: Sequence[str] = (),
                     test_assays: Sequence[str] = ()) -> AssayTasks:
    """Read, featurize (cached) and split an assay table.

    Args:
        dataset: ``"tox21"`` or ``"sider"`` (the standard column split), or the path of a CSV
            with a ``smiles`` column and one 0/1 column per assay (blank where not measured).
        featurizer: Atom/bond featurizer name.
        train_assays, test_assays: Column names on each side (a user's CSV only).
    """
    from sciml.chem.dataset import featurize_cached
    from sciml.chem.fewshot import column_split, label_tasks, protocol_split
    from sciml.data import load_moleculenet
    from sciml.data.moleculenet import load_assay_table

    if str(dataset).lower().endswith(".csv"):
        if not train_assays or not test_assays:
            raise ValueError("A user's assay table needs data.train_assays and data.test_assays (lists of its column names).")
        df, name = load_assay_table(dataset), Path(dataset).stem
    else:
        name = str(dataset).lower()
        df = load_moleculenet(name)
    mols = featurize_cached(df.smiles.tolist(), featurizer, df.attrs["sha256"])
    tasks = label_tasks(df, mols)
    train, test = column_split(tasks, train_assays, test_assays) if str(dataset).lower().endswith(".csv") else protocol_split(tasks, name)
    return AssayTasks(train, test, name, Path(df.attrs["path"]), mols)
