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
from sciml.tasks import EmbeddingCache, Task, TaskSet

FROZEN_HEAD = "MAML head (frozen body)"
"""The pretrained body frozen with its BatchNorm statistics (each molecule embedded on its own)
and a meta-learned logistic head: the learner saved as a molecule prior."""
GP_HEAD = "GP head (frozen body)"
"""The frozen body with a Gaussian-process head whose kernel is meta-learned
(:class:`~sciml.meta.DeepKernelGP`): calibrated probabilities, saved as a molecule prior."""
MATCHING = "MatchingNet (frozen body)"
"""The frozen body with Matching Networks' attention over the support set (full-context
embeddings): a property-aware adaptation that reads the relations among support molecules."""
ENSEMBLE = "Ensemble (frozen body)"
"""A weighted average of the frozen-body learners' probabilities
(:class:`~sciml.meta.ProbabilityEnsemble`), the weights chosen by greedy ensemble selection on
held-out molecules of the training assays."""

LEARNERS: dict[str, dict[str, Any]] = {
    "MAML": {"class": "MAML", "inner_lr": 0.05, "inner_steps": 1},
    "ANIL": {"class": "ANIL", "inner_lr": 0.05, "inner_steps": 1},
    FROZEN_HEAD: {"class": "MAML", "body": "frozen", "inner_lr": 0.05, "inner_steps": 1},
    GP_HEAD: {"class": "DeepKernelGP", "body": "frozen", "lengthscale": 5.0},
    MATCHING: {"class": "MatchingNet", "body": "frozen"},
    ENSEMBLE: {"class": "ProbabilityEnsemble", "members": [FROZEN_HEAD, GP_HEAD, MATCHING], "rounds": 20},
    "ProtoNet": {"class": "ProtoNet"},
    "FineTune": {"class": "FineTune", "body": "frozen", "inner_lr": 0.01, "inner_steps": 50},
    "Scratch": {"class": "Scratch", "inner_lr": 0.005, "inner_steps": 30},
    "kNN-Tanimoto": {"class": "TanimotoKNN", "neighbours": 3},
}
"""The learner tables :func:`assay_benchmark` runs by default (label -> ``class`` and arguments,
:mod:`sciml.meta.tables`). Any gradient-based learner class works on the GIN; options of
:data:`BODY`. A ``ProbabilityEnsemble`` table names its ``members`` (labels of frozen-body learners
on the same body, each listed before it) and ``rounds`` of selection (:data:`ENSEMBLE`)."""

BODY: dict[str, Any] = {"body": "meta-trained", "init": "pretrained", "batch_statistics": "task", "weights": "released"}
"""Learner options of the GIN body. ``body``: ``"meta-trained"`` (the whole GIN is the
learner's model) or ``"frozen"`` (the multi-task pretrained body, with its BatchNorm statistics
fixed, embeds each molecule on its own; the learner's model is a head on the embeddings: a
logistic head, a linear head for ``FineTune``, prototypes for ``ProtoNet``). For a meta-trained
body, ``init``: start from the ``"pretrained"`` body or at ``"random"``; ``batch_statistics``:
BatchNorm normalizes each batch with its own (``"task"``) statistics or keeps the fixed
statistics of pretraining (``"pretrained"``). ``weights``: the pretrained body starts from the
``"released"`` weights of ``model.encoder`` (Hu et al.'s encoders) or from ``"random"`` weights
of the same architecture, so that it learns from the training assays only (the ablation of
outside pre-training; each value is multi-task pretrained once and shared). ``Scratch`` always
starts from a fresh GIN, ``TanimotoKNN`` reads fingerprints."""

BODY_CHOICES: dict[str, Any] = {
    "body": ("meta-trained", "frozen"),
    "init": ("pretrained", "random"),
    "batch_statistics": {"task": "each batch normalized with its own statistics",
                         "pretrained": "the fixed statistics of multi-task pretraining"},
    "weights": {"released": "the released weights of model.encoder (a Hu et al. file)",
                "random": "the same architecture from random weights (no outside pre-training)"},
}
"""The values each option of :data:`BODY` may take."""

MODEL: dict[str, Any] = {"encoder": "gin", "hidden": 300, "layers": 5, "norm": "batch", "pooling": "mean", "dropout": 0.0,
                         "head_features": 128}
"""Encoder settings. ``encoder``: ``"gin"`` (a :class:`~sciml.models.gnn.GIN` from random
weights, ``"simple"`` features) or one of Hu et al.'s released encoders
(:data:`sciml.data.pretrained_gnns.ENCODER_FILES`, e.g. ``"gcn_supervised_contextpred.pth"``,
or the path of another file of that release such as a GIN one; ``"hu"`` features; depth and
width come from the file, ``hidden`` and ``layers`` are ignored). Either way the encoder is then
trained multi-task on the training assays (:func:`~sciml.chem.pretrain.pretrain_multitask`).
``head_features``: width of the learned linear feature map of frozen-body
:class:`~sciml.meta.DeepKernelGP` and :class:`~sciml.meta.MatchingNet` learners."""

TRAINING: dict[str, Any] = {"iterations": 300, "pretrain_epochs": 40, "pretrain_batch_size": 128, "pretrain_ema_decay": 0.99,
                            "meta_batch_size": 9, "queries": 8, "val_queries": 32, "eval_every": 50, "seed": 0, "outer_lr": 1e-3,
                            "holdout_fraction": 0.2, "step_choices": [1, 3, 10]}
"""Meta-training settings. ``holdout_fraction``: share of each training assay's molecules held
out for model selection; ``queries`` / ``val_queries``: query molecules per class of a
training / validation episode; ``pretrain_ema_decay``: weight averaging of pretraining (0: none);
``step_choices``: test-time inner steps of MAML and ANIL learners, chosen on held-out molecules of
the training assays (empty: keep the table's ``inner_steps``). ``outer_lr`` and
``meta_batch_size`` apply to every learner whose table does not set them."""


def build_gin(model: Mapping[str, Any], out: int, seed: int, released: bool = True) -> nn.Module:
    """The encoder of ``model`` (:data:`MODEL`) with a fresh head of ``out`` outputs, initialized
    from ``seed``: a GIN, or one of Hu et al.'s encoders with the released weights
    (``released=False``: the same architecture at random weights)."""
    torch.manual_seed(seed)
    if model["encoder"] == "gin":
        from sciml.models.gnn import GIN

        return GIN(out, hidden=model["hidden"], layers=model["layers"], norm=model["norm"], pooling=model["pooling"],
                   dropout=model["dropout"])
    from sciml.data.pretrained_gnns import hu_encoder_file
    from sciml.models.gnn import pretrained

    arch, path = hu_encoder_file(model["encoder"])
    return pretrained(arch, path, out_features=out, dropout=model["dropout"], norm=model["norm"], pooling=model["pooling"],
                      weights="released" if released else "random")


def encoder_width(model: Mapping[str, Any]) -> int:
    """Width of the molecule embeddings of ``model``'s encoder (read from the encoder file's shapes)."""
    if model["encoder"] == "gin":
        return int(model["hidden"])
    from sciml.data.pretrained_gnns import hu_encoder_file
    from sciml.models.gnn.pretrained import encoder_state

    return encoder_state(hu_encoder_file(model["encoder"])[1])[2]


def check_featurizer(model: Mapping[str, Any], featurizer: str) -> None:
    """Raise unless ``featurizer`` produces the inputs ``model``'s encoder reads."""
    need = "hu" if model["encoder"] != "gin" else None
    if need and featurizer != need:
        raise ValueError(f"model.encoder = {model['encoder']!r} (Hu et al.'s encoder) reads the 'hu' features; set "
                         f"data.featurizer = 'hu' (got {featurizer!r}).")
    if need is None and featurizer == "hu":
        raise ValueError("data.featurizer = 'hu' is the input of Hu et al.'s encoders; with model.encoder = 'gin' use 'simple'.")


def learner_specs(learners: Sequence[str] | Mapping[str, Mapping[str, Any]] = tuple(LEARNERS)) -> dict[str, Any]:
    """The learners of :func:`assay_benchmark`, checked: labels of :data:`LEARNERS` or label ->
    table (:func:`sciml.meta.tables.learner_specs`, with the options of :data:`BODY`).

    Raises:
        ValueError: for an unknown learner, class or key, or inconsistent body options.
    """
    from sciml.meta import DeepKernelGP, FineTune, Learner, MatchingNet, ProbabilityEnsemble, ProtoNet, Scratch
    from sciml.meta.tables import learner_specs as parse

    specs = parse(learners, LEARNERS, options=BODY, choices=BODY_CHOICES)
    for label, spec in specs.items():
        o = spec.options
        if o["batch_statistics"] == "pretrained" and o["init"] != "pretrained":
            raise ValueError(f"learners.{label}.batch_statistics = 'pretrained' needs learners.{label}.init = 'pretrained' (a random "
                             "initialization has no statistics to keep).")
        if issubclass(spec.cls, FineTune) and o["body"] != "frozen":
            raise ValueError(f"learners.{label}: FineTune fine-tunes a head on the pretrained body; set body = 'frozen'.")
        if issubclass(spec.cls, (DeepKernelGP, MatchingNet)) and o["body"] != "frozen":
            raise ValueError(f"learners.{label}: {spec.kind} runs on the frozen pretrained body's cached embeddings here; "
                             "set body = 'frozen'.")
        if issubclass(spec.cls, Scratch) and o["body"] == "frozen":
            raise ValueError(f"learners.{label}: Scratch trains a fresh GIN; body = 'frozen' does not apply.")
        if not issubclass(spec.cls, Learner) and o["body"] == "frozen":
            raise ValueError(f"learners.{label}: {spec.kind} has no model to put on a body.")
        if issubclass(spec.cls, ProtoNet) and "n_way" in spec.args:
            raise ValueError(f"learners.{label}: ProtoNet is 2-way here (actives and inactives); leave n_way out.")
        if issubclass(spec.cls, ProbabilityEnsemble):
            _check_ensemble(label, spec, specs)
    return specs


def _check_ensemble(label: str, spec: Any, specs: Mapping[str, Any]) -> None:
    """An ensemble's members are frozen-body learners on one body, listed before it."""
    from sciml.meta import Learner, ProbabilityEnsemble

    members = spec.args.get("members")
    if not isinstance(members, (list, tuple)) or len(members) < 2:
        raise ValueError(f"learners.{label}.members must list at least two learner labels, got {members!r}.")
    before = list(specs)[: list(specs).index(label)]
    for m in members:
        if m not in before:
            raise ValueError(f"learners.{label}: member {m!r} is not a learner listed before it (learners before it: {before}); "
                             f"list its members among those, or disable it (learners.\"{label}\".enabled = false).")
        other = specs[m]
        if issubclass(other.cls, ProbabilityEnsemble) or not issubclass(other.cls, Learner) or other.options["body"] != "frozen":
            raise ValueError(f"learners.{label}: member {m!r} is not a learner on the frozen body (body = 'frozen'); an ensemble "
                             "averages learners that read the same cached embeddings.")
    weights = {specs[m].options["weights"] for m in members}
    if len(weights) > 1:
        raise ValueError(f"learners.{label}: members sit on different bodies (weights {sorted(weights)}); choose members of one body.")


def _needs_pretrained_body(spec: Any) -> bool:
    from sciml.meta import Learner, Scratch

    if not issubclass(spec.cls, Learner) or issubclass(spec.cls, Scratch):
        return False
    return spec.options["body"] == "frozen" or spec.options["init"] == "pretrained"


def _initial_gin(model: Mapping[str, Any], options: Mapping[str, Any], seed: int, out: int, pretrained: nn.Module | None) -> nn.Module:
    """A GIN with ``out`` head outputs: every body weight copied from ``pretrained`` (when
    given) and a fresh head; with ``batch_statistics = "pretrained"`` its BatchNorm layers
    keep the statistics of pretraining, fixed."""
    from sciml.models.gnn.gin import load_body

    m = dict(model)
    if pretrained is not None and m["norm"] == "batch" and options["batch_statistics"] == "pretrained":
        m["norm"] = "frozen_batch"
    net = build_gin(m, out, seed, released=False)
    return load_body(net, pretrained) if pretrained is not None else net


def train_learner(spec: Any, source: Any, val: list[Task], pretrained: nn.Module | None, *, model: Mapping[str, Any],
                  training: Mapping[str, Any], cache: EmbeddingCache | None = None) -> tuple[Any, Any, Any]:
    """Train one learner of :func:`learner_specs` (all but ``Scratch``, which
    :func:`scratch_results` evaluates).

    Args:
        spec: The learner's :class:`~sciml.meta.tables.LearnerSpec`.
        source: Training episodes (:class:`~sciml.chem.fewshot.BalancedEpisodes`).
        val: Validation episodes from held-out molecules of the training assays.
        pretrained: The multi-task pretrained GIN (needed by a frozen body or ``init =
            "pretrained"``).
        model, training: As :data:`MODEL`, :data:`TRAINING`.
        cache: Embeddings of the frozen pretrained body (:func:`frozen_body_cache`), shared by
            every frozen-body learner; built here when not given.

    Returns:
        ``(trainer, embed, learner)``: the meta-trained learner (``None`` where nothing is
        meta-trained), what turns graphs into the learner's inputs (an
        :class:`~sciml.tasks.EmbeddingCache` or an ``embed`` method; ``None``: it reads graphs,
        see :func:`encode_for`) and the learner that adapts at test time.
    """
    from sciml.chem.fewshot import BalancedEpisodes
    from sciml.meta import ANIL, MAML, DeepKernelGP, FineTune, Learner, MatchingNet, ProtoNet
    from sciml.models import MLP

    tr, o, label = training, spec.options, spec.label
    fit = {"iterations": tr["iterations"], "eval_every": tr["eval_every"], "seed": tr["seed"], "progress": False,
           **{k: v for k, v in spec.fit.items() if k != "shots"}}
    common = {"outer_lr": tr["outer_lr"], "meta_batch_size": tr["meta_batch_size"]}
    if not issubclass(spec.cls, Learner):
        return None, None, spec.build()
    if _needs_pretrained_body(spec) and pretrained is None:
        raise ValueError(f"{label} adapts on the pretrained body: pass the pretrained GIN.")
    is_protonet = issubclass(spec.cls, ProtoNet)
    if o["body"] == "frozen":
        cache = cache if cache is not None else frozen_body_cache(pretrained)
        if issubclass(spec.cls, FineTune):
            torch.manual_seed(tr["seed"])
            return None, cache, spec.build(nn.Linear(pretrained.head.in_features, 1), loss="bce")
        if is_protonet:
            return None, cache, spec.build(nn.Identity(), n_way=2)
        fit_tasks, held = cache.encode(source.tasks), cache.encode(val)
        torch.manual_seed(tr["seed"])
        width, features = pretrained.head.in_features, model["head_features"]
        if issubclass(spec.cls, DeepKernelGP):
            head = spec.build(MLP(width, (), features), task="classification", **common)
        elif issubclass(spec.cls, MatchingNet):
            head = spec.build(MLP(width, (), features), n_way=2, **{"fce_dim": features, **spec.args}, **common)
        else:
            head = spec.build(MLP(width, (), 1), loss="bce", **common)
        head.fit(BalancedEpisodes(fit_tasks, source.shots, queries=source.queries), list(held), **fit)
        return head, cache, head
    init = pretrained if o["init"] == "pretrained" else None
    if is_protonet:
        learner = spec.build(_initial_gin(model, o, tr["seed"], encoder_width(model), init), n_way=2, **common)
        learner.fit(source, val, **fit)
        protos = ProtoNet(nn.Identity(), n_way=2)
        protos.name = label
        return learner, learner.model.eval(), protos  # prototypes average the model's output
    learner = spec.build(_initial_gin(model, o, tr["seed"], 1, init), loss="bce", **common)
    learner.fit(source, val, **fit)
    if issubclass(spec.cls, ANIL):
        head = MAML(copy.deepcopy(learner.model.head), loss="bce", inner_lr=learner.inner_lr, inner_steps=learner.inner_steps)
        head.name = label
        return learner, learner.model.eval().embed, head
    return learner, None, learner


def frozen_body_cache(pretrained: nn.Module) -> EmbeddingCache:
    """The frozen pretrained body (its BatchNorm statistics fixed, each molecule embedded on its
    own) behind an :class:`~sciml.tasks.EmbeddingCache`: every molecule is embedded once for all
    frozen-body learners and all tasks."""
    from sciml.models.gnn.gin import with_frozen_statistics

    return EmbeddingCache(with_frozen_statistics(pretrained))


def ensemble_of(spec: Any, trained: Mapping[str, tuple[Any, nn.Module]], cache: EmbeddingCache, held: TaskSet,
                shots: Sequence[int], seeds: int = 3) -> Any:
    """The :class:`~sciml.meta.ProbabilityEnsemble` of a learner table (``members``, ``rounds``;
    ``weights`` where the table fixes them), otherwise its weights chosen by greedy ensemble
    selection on balanced supports drawn from the held-out molecules of the *training* tasks
    (every size in ``shots``, ``seeds`` draws per task; tasks with too few of the rarer label are
    skipped, :func:`~sciml.chem.fewshot.usable_held_out`).

    Args:
        spec: The ensemble's :class:`~sciml.meta.tables.LearnerSpec`.
        trained: Frozen-body learners of :func:`assay_benchmark` (``bench.learners``).
        cache: The members' shared embeddings of the frozen body.
        held: Held-out molecules of the training tasks (never a test task).
        shots: Support sizes of the selection episodes.
        seeds: Support draws per task and size.

    Returns:
        The ensemble (it reads the embeddings of ``cache``).
    """
    from sciml.chem.fewshot import balanced_support, usable_held_out
    from sciml.meta import ProbabilityEnsemble

    members = {m: trained[m][0] for m in spec.args["members"]}
    ensemble = ProbabilityEnsemble(members, spec.args.get("weights"), rounds=spec.args.get("rounds", 20), name=spec.label)
    if spec.args.get("weights") is None:
        ensemble.fit(encode_for(usable_held_out(held, shots), cache), shots=list(shots), seeds=range(seeds), resample=balanced_support)
    return ensemble


def encode_for(tasks: TaskSet, embed: Any) -> TaskSet:
    """``tasks`` as the learner reads them: ``embed`` from :func:`train_learner` (an
    :class:`~sciml.tasks.EmbeddingCache`, an ``embed`` method, or ``None`` for graphs)."""
    if embed is None:
        return tasks
    return TaskSet(embed.encode(tasks)) if isinstance(embed, EmbeddingCache) else tasks.encoded(embed)


def scratch_results(spec: Any, test: TaskSet, shots: Sequence[int], seeds: Sequence[int], *, model: Mapping[str, Any],
                    **labels: Any) -> pd.DataFrame:
    """Scratch: a fresh GIN initialization per seed (one fixed initialization for every seed
    would measure that initialization's bias, not training from scratch)."""
    from sciml.chem.fewshot import balanced_support
    from sciml.evaluation.metrics import BINARY_PROBABILITY_METRICS
    from sciml.evaluation.protocol import few_shot_results

    frames = []
    for seed in seeds:
        learner = spec.build(build_gin(model, 1, 10_000 + seed, released=False), loss="bce")
        frames.append(few_shot_results(learner, test, shots=shots, steps=[learner.inner_steps], seeds=[seed], metrics=BINARY_PROBABILITY_METRICS,
                                       resample=balanced_support, learner_name=spec.label, **labels))
    return pd.concat(frames, ignore_index=True)


def assay_benchmark(
    train: TaskSet,
    test: TaskSet,
    *,
    learners: Sequence[str] | Mapping[str, Mapping[str, Any]] = tuple(LEARNERS),
    shots: Sequence[int] = (10, 1),
    seeds: int = 10,
    model: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    study: str = "",
    dataset: str = "",
    log: Log = quiet,
) -> BenchmarkResult:
    """Meta-train every learner on the training assays and evaluate it on the test assays.

    Args:
        train: Training assays (:func:`~sciml.chem.fewshot.label_tasks`, binary labels).
        test: Test assays, disjoint from ``train``.
        learners: Labels of :data:`LEARNERS`, or label -> learner table (:func:`learner_specs`),
            in report order.
        shots: k of the k + k supports.
        seeds: Number of support draws per test assay (seeds ``0..seeds-1``).
        model, training: Overrides of :data:`MODEL`, :data:`TRAINING`.
        study, dataset: Labels of the result rows.
        log: Progress callback.

    Returns:
        ROC-AUC rows (metric ``roc_auc``) for every learner, test assay, k and seed. ``learners``
        holds every learner on a frozen body with its encoder (``{label: (learner, encoder)}``,
        e.g. for :func:`frozen_head_prior`); ``details``: ``pretrain_history``, ``inner_steps`` (learner -> (steps, table of
        the choice)), ``held`` (the held-out molecules of the training assays), ``ensembles`` (ensemble label -> its
        selection table, :func:`~sciml.meta.ensemble.greedy_weights`).
    """
    from sciml.chem.fewshot import (
        BalancedEpisodes,
        balanced_support,
        select_inner_steps,
        split_molecules,
        validation_episodes,
    )
    from sciml.chem.pretrain import pretrain_multitask
    from sciml.evaluation.metrics import BINARY_METRICS, BINARY_PROBABILITY_METRICS
    from sciml.evaluation.protocol import few_shot_results
    from sciml.meta import ANIL, MAML, Learner, ProbabilityEnsemble, Scratch

    model, training = {**MODEL, **(model or {})}, {**TRAINING, **(training or {})}
    specs = learner_specs(learners)
    if set(train.names) & set(test.names):
        raise ValueError(f"Assays on both sides of the split: {sorted(set(train.names) & set(test.names))}.")
    tr, shots = training, list(shots)
    fit_tasks, held = split_molecules(train, tr["holdout_fraction"], seed=tr["seed"])
    source = BalancedEpisodes(fit_tasks, shots, queries=tr["queries"])
    val = validation_episodes(held, shots, queries=tr["val_queries"], seed=tr["seed"] + 1)
    seed_list = list(range(seeds))
    labels = {"study": study, "dataset": dataset}
    out = BenchmarkResult(pd.DataFrame(), details={"pretrain_history": [], "inner_steps": {}, "held": held})
    bodies: dict[str, nn.Module] = {}
    caches: dict[str, EmbeddingCache] = {}
    needed = list(dict.fromkeys(spec.options["weights"] for spec in specs.values() if _needs_pretrained_body(spec)))
    if "random" in needed and model["encoder"] == "gin":
        raise ValueError("learners with weights = 'random' ablate a released encoder's pre-training; model.encoder = 'gin' has "
                         "no released weights (it always starts at random).")
    for weights in needed:
        body = build_gin(model, len(fit_tasks), tr["seed"], released=weights == "released")
        what = "multi-task pretraining" + ("" if weights == "released" else " (from random weights)")
        log(f"{what}: {tr['pretrain_epochs']} epochs")
        history = pretrain_multitask(body, fit_tasks, held, tr["pretrain_epochs"], tr["outer_lr"], tr["pretrain_batch_size"],
                                     tr["seed"], tr["pretrain_ema_decay"], progress=False)
        bodies[weights] = body.eval()
        out.histories[what] = history
        out.details["pretrain_history" if weights == "released" else "pretrain_history_random"] = history
        best = max(history, key=lambda r: r["val_roc_auc"])
        log(f"{what}: best held-out ROC-AUC {best['val_roc_auc']:.3f} (training tasks) at epoch {best['iteration']}")
        if any(s.options["body"] == "frozen" and s.options["weights"] == weights for s in specs.values()):
            caches[weights] = frozen_body_cache(body)
    frames = []
    for name, spec in specs.items():
        if issubclass(spec.cls, Scratch):
            log(f"{name}: evaluating (a fresh initialization per seed)")
            frames.append(scratch_results(spec, test, shots, seed_list, model=model, **labels))
            continue
        if issubclass(spec.cls, ProbabilityEnsemble):
            cache = caches[specs[spec.args["members"][0]].options["weights"]]
            ensemble = ensemble_of(spec, out.learners, cache, held, shots)
            out.details.setdefault("ensembles", {})[name] = getattr(ensemble, "selection_", None)
            log(f"{name}: weights {', '.join(f'{m} {w:.2f}' for m, w in ensemble.weights.items())}; evaluating")
            frames.append(few_shot_results(ensemble, encode_for(test, cache), shots=shots, steps=[0], seeds=seed_list,
                                           metrics=BINARY_PROBABILITY_METRICS, resample=balanced_support, learner_name=name, **labels))
            out.learners[name] = (ensemble, cache.encoder)
            continue
        log(f"{name}: training")
        weights = spec.options["weights"]
        trainer, embed, learner = train_learner(spec, source, val, bodies.get(weights), model=model, training=training,
                                                cache=caches.get(weights))
        if getattr(trainer, "history_", None):
            out.histories[name] = trainer.history_
        steps = learner.inner_steps
        if issubclass(spec.cls, (MAML, ANIL)) and tr["step_choices"]:
            steps, table = select_inner_steps(learner, encode_for(held, embed), shots, list(tr["step_choices"]))
            out.details["inner_steps"][name] = (steps, table)
            log(f"{name}: {steps} inner steps at test time (best ROC-AUC on held-out molecules of the training tasks)")
        log(f"{name}: evaluating")
        metrics = BINARY_PROBABILITY_METRICS if isinstance(learner, Learner) else BINARY_METRICS
        frames.append(few_shot_results(learner, encode_for(test, embed), shots=shots, steps=[steps],
                                       seeds=seed_list, metrics=metrics, resample=balanced_support, learner_name=name, **labels))
        if spec.options["body"] == "frozen" and embed is not None:
            learner.inner_steps = steps
            out.learners[name] = (learner, embed.encoder if isinstance(embed, EmbeddingCache) else embed.__self__)
    out.results = pd.concat(frames, ignore_index=True)
    return out


def encoder_origin(encoder: str) -> str:
    """Where the encoder of ``model.encoder = encoder`` starts, in words."""
    return "a GIN from random weights" if encoder == "gin" else f"Hu et al.'s released encoder {encoder}"


def frozen_head_prior(head: Any, encoder: nn.Module, results: pd.DataFrame, dataset: str, featurizer: str, label: str = FROZEN_HEAD,
                      encoder_name: str = "gin") -> Any:
    """A frozen-body learner of :func:`assay_benchmark` (``bench.learners[label]``) as a
    :class:`~sciml.prior.Prior`, with its test ROC-AUC and ECE (mean over test assays and seeds)
    as held-out metrics. ``encoder_name``: ``model.encoder`` of the run (for the provenance)."""
    from sciml.evaluation.protocol import held_out_metrics
    from sciml.prior import Prior
    from sciml.prior.domains.molecules import MoleculeDomain

    return Prior(head, MoleculeDomain(featurizer, label=f"active (1) in a new {dataset}-like assay"), encoder=encoder,
                 encoder_method="embed", metrics=held_out_metrics(results, label),
                 provenance={"encoder": f"{encoder_origin(encoder_name)}, trained multi-task on the training assays (fixed BatchNorm statistics)",
                             "held_out_metrics": "ROC-AUC and expected calibration error on the test assays, mean over assays and seeds"})


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
