"""Few-shot classification of new signal classes: episodes over held-out classes, the learners
that read light-curve features or folded shapes, and one class split as a benchmark.

Example:
    >>> from sciml.astro.benchmark import class_split_benchmark
    >>> bench = class_split_benchmark(features, phase, y, train_classes=[0, 1, 2, 3], test_classes=[4, 5, 6],
    ...                               learners=["nearest-centroid", "ProtoNet-MLP"], n_way=3, shots=[1, 5])
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn

from sciml.evaluation.benchmark import BenchmarkResult, Log, quiet
from sciml.meta import Learner
from sciml.tasks import EpisodeSampler, Task, TaskSet, TensorData

LEARNERS: dict[str, dict[str, Any]] = {
    "nearest-centroid": {"class": "ProtoNet", "model": "none"},
    "ProtoNet-MLP": {"class": "ProtoNet", "model": "mlp"},
    "ProtoNet-MLP (augmented)": {"class": "ProtoNet", "model": "mlp", "augment": True},
    "SiameseNet-MLP": {"class": "SiameseNet", "model": "mlp"},
    "ProtoNet-CNN": {"class": "ProtoNet", "model": "cnn"},
    "ProtoNet-CNN (sim+real)": {"class": "ProtoNet", "model": "cnn", "pretrain": "simulated"},
    "MAML-MLP": {"class": "MAML", "model": "mlp", "loss": "cross_entropy", "inner_lr": 0.1, "inner_steps": 5, "first_order": True,
                 "meta_batch_size": 4},
    "FineTune-MLP": {"class": "FineTune", "model": "mlp", "loss": "cross_entropy", "inner_lr": 1e-2, "inner_steps": 50,
                     "meta_batch_size": 1},
    "ProtoNet-MLP (supervised)": {"class": "ProtoNet", "model": "mlp", "pretrain": "supervised", "iterations": 0},
    "MatchingNet-MLP": {"class": "MatchingNet", "model": "mlp"},
    "RelationNet-MLP": {"class": "RelationNet", "model": "mlp"},
    "ProtoNet-hybrid": {"class": "ProtoNet", "model": "hybrid"},
    "ProtoNet-hybrid (supervised)": {"class": "ProtoNet", "model": "hybrid", "pretrain": "supervised", "iterations": 0},
    "ProtoNet-hybrid (supervised, transductive)": {"class": "ProtoNet", "model": "hybrid", "pretrain": "supervised", "iterations": 0,
                                                   "transductive_steps": 1},
    "ProtoNet-MLP (fitted sims)": {"class": "ProtoNet", "model": "mlp", "fitted_sims": True},
    "ProtoNet-hybrid (supervised, fitted sims)": {"class": "ProtoNet", "model": "hybrid", "pretrain": "supervised", "iterations": 0,
                                                  "fitted_sims": True},
}
"""The learner tables :func:`signal_learner` builds by default (label -> ``class``, arguments
and the options of :data:`SIGNAL_OPTIONS`; :mod:`sciml.meta.tables`). ``nearest-centroid``
learns nothing (the floor)."""

FEATURE_LEARNERS = ("nearest-centroid", "ProtoNet-MLP", "SiameseNet-MLP", "MAML-MLP", "FineTune-MLP", "ProtoNet-MLP (supervised)",
                    "MatchingNet-MLP", "RelationNet-MLP")
"""The learners of :data:`LEARNERS` that read features."""

SIGNAL_OPTIONS: dict[str, Any] = {"model": "mlp", "pretrain": "none", "pretrain_epochs": 100, "augment": False, "fitted_sims": False}
"""Learner options. ``model``: ``"none"`` (the standardized features as they are), ``"mlp"``
(an MLP on the standardized features, 64-64 hidden), ``"cnn"`` (a
:class:`~sciml.models.PhaseCNN` on the folded shape) or ``"hybrid"`` (a
:class:`~sciml.models.FeaturePhaseEncoder`: features and folded shape together); a metric
learner's model (``ProtoNet``, ``SiameseNet``, ``RelationNet``, ``MatchingNet``) embeds in 32
dimensions, a ``FineTune``'s classifies the training classes, any other learner's the episode's
classes. ``pretrain``: ``"simulated"`` first trains on episodes of simulated classes (folded
shapes only), ``"supervised"`` first trains a metric learner's encoder with a linear classifier
over the training classes pooled for ``pretrain_epochs`` epochs
(:func:`sciml.meta.supervised.pretrain_embedding`), ``"none"`` does neither. Then ``FineTune``
trains on the training classes pooled, the others on 5-shot episodes (``iterations = 0``: no
episodic training). ``augment``: train on the augmented copies of the training classes' curves
too (:mod:`sciml.astro.augment`; the benchmark must be given them), never test on them.
``fitted_sims``: train on curves simulated by a simulator fitted to the training classes too
(:mod:`sciml.astro.fitted_simulator`; the benchmark must be given a function that makes them)."""

EXTRA_TRAINING = ("augment", "fitted_sims")
"""The options of :data:`SIGNAL_OPTIONS` that add curves of the training classes to a learner's
training set (never to its test episodes)."""

METRIC_LEARNERS = ("ProtoNet", "MatchingNet")
"""Learner classes (and their subclasses) whose model is an embedding compared across the
support, so one trained learner serves any number of classes per episode."""

EMBEDDING_DIM = 32
"""Embedding width of the metric learners' models."""


def signal_specs(learners: Sequence[str] | Mapping[str, Mapping[str, Any]] = tuple(LEARNERS)) -> dict[str, Any]:
    """The learners of the signal benchmarks, checked: labels of :data:`LEARNERS` or label ->
    table (:func:`sciml.meta.tables.learner_specs`, with the options of :data:`SIGNAL_OPTIONS`).

    Raises:
        ValueError: for an unknown learner, class, key or option value.
    """
    from sciml.meta import Learner, ProtoNet
    from sciml.meta.tables import learner_specs

    specs = learner_specs(learners, LEARNERS, options=SIGNAL_OPTIONS,
                          choices={"model": ("none", "mlp", "cnn", "hybrid"), "pretrain": ("none", "simulated", "supervised"),
                                   "augment": (False, True), "fitted_sims": (False, True)})
    for label, spec in specs.items():
        o = spec.options
        if not issubclass(spec.cls, Learner):
            raise TypeError(f"learners.{label}: {spec.kind} does not take a model; the signal benchmarks need a Learner class.")
        if o["pretrain"] == "simulated" and o["model"] != "cnn":
            raise ValueError(f"learners.{label}: pretrain = 'simulated' needs model = 'cnn' (simulated classes have folded shapes only).")
        if o["pretrain"] == "supervised" and (not is_metric(spec.cls) or o["model"] == "none"):
            raise ValueError(f"learners.{label}: pretrain = 'supervised' trains an embedding; it suits a metric learner "
                             f"({', '.join(METRIC_LEARNERS)} or a subclass) with a model other than 'none'.")
        if int(o["pretrain_epochs"]) < 1:
            raise ValueError(f"learners.{label}: pretrain_epochs must be >= 1, got {o['pretrain_epochs']}.")
        if o["model"] == "none" and not issubclass(spec.cls, ProtoNet):
            raise ValueError(f"learners.{label}: model = 'none' has nothing to train; it suits ProtoNet only (nearest centroid).")
        if "n_way" in spec.args:
            raise ValueError(f"learners.{label}: n_way comes from the episodes; leave it out of the table.")
    return specs


def is_metric(cls: type) -> bool:
    """Whether a learner class is (a subclass of) one of :data:`METRIC_LEARNERS`."""
    import sciml.meta

    return any(issubclass(cls, getattr(sciml.meta, name)) for name in METRIC_LEARNERS)


def episodes(x: torch.Tensor, y: torch.Tensor, classes: Sequence[int], n_way: int, shots: int, queries: int, count: int, seed: int,
             prefix: str = "episode") -> list[Task]:
    """``count`` seeded ``n_way``-way episodes over ``classes``: ``shots`` support and
    ``queries`` query examples per class, labels ``0..n_way-1`` (``metadata["classes"]``
    maps them back to ``classes``)."""
    sampler = EpisodeSampler(x, y, list(classes), n_way=n_way, k_shot=shots, n_query=queries)
    g = torch.Generator().manual_seed(seed)
    return [sampler.sample(g, name=f"{prefix}-{i:04d}") for i in range(count)]


def pooled_task(x: torch.Tensor, y: torch.Tensor, classes: Sequence[int]) -> TaskSet:
    """Every example of ``classes`` in one task, relabelled ``0..len(classes)-1`` (supervised
    pre-training of ``FineTune``)."""
    keep = torch.isin(y, torch.tensor(list(classes)))
    relabel = {c: i for i, c in enumerate(classes)}
    data = TensorData(x[keep], torch.tensor([relabel[int(v)] for v in y[keep]]))
    return TaskSet([Task(data, TensorData.empty_like(data), name="pooled")])


def signal_learner(spec: Any, n_way: int, n_train_classes: int, feat_dim: int, seed: int, n_bins: int = 64) -> tuple[Learner, str]:
    """A fresh learner (initialized from ``seed``) and the input it reads (``features``,
    ``phase`` or ``hybrid``: the features and the folded shape side by side).

    Args:
        spec: A label of :data:`LEARNERS` or a :class:`~sciml.meta.tables.LearnerSpec` of
            :func:`signal_specs`.
        n_way: Classes per episode.
        n_train_classes: Training classes (the outputs of a ``FineTune`` classifier).
        feat_dim: Feature columns.
        seed: Seed of the initialization.
        n_bins: Phase bins of the folded shapes (``model = "hybrid"``).
    """
    from sciml.meta import FineTune
    from sciml.models import MLP, FeaturePhaseEncoder, PhaseCNN

    if isinstance(spec, str):
        spec = signal_specs([spec])[spec]
    kind = spec.options["model"]
    torch.manual_seed(seed)
    metric = is_metric(spec.cls)
    out = EMBEDDING_DIM if metric else n_train_classes if issubclass(spec.cls, FineTune) else n_way
    if kind == "none":
        model: nn.Module = nn.Identity()
    elif kind == "cnn":
        model = PhaseCNN(out_features=out)
    elif kind == "hybrid":
        model = FeaturePhaseEncoder(feat_dim, n_bins, out_features=out)
    else:
        model = MLP(feat_dim, (64, 64), out)
    if metric:
        learner = spec.build(model, n_way=n_way, outer_lr=1e-3, embedding_dim=out if kind != "none" else feat_dim)
    else:
        learner = spec.build(model, outer_lr=1e-3)
    return learner, {"cnn": "phase", "hybrid": "hybrid"}.get(kind, "features")


def train_on_classes(learner: Learner, spec: Any, x: torch.Tensor, y: torch.Tensor, classes: Sequence[int], *, n_way: int, queries: int,
                     iterations: int, seed: int, episodic_seed: int | None = None) -> Learner:
    """Train a :func:`signal_learner` on the training classes: supervised pre-training of the
    embedding where the table asks for it, then 5-shot episodes (drawn from ``episodic_seed``,
    default ``seed``), or one pooled task for ``FineTune``; a learner with ``model = "none"`` is
    returned untrained. A table's ``iterations`` overrides ``iterations`` (0: no episodic
    training)."""
    from sciml.meta import FineTune

    iterations = spec.fit.get("iterations", iterations)
    if spec.options["pretrain"] == "supervised":
        from sciml.meta.supervised import pretrain_embedding

        keep = torch.isin(y, torch.tensor(list(classes)))
        pretrain_embedding(learner.model, x[keep], y[keep], embedding_dim=EMBEDDING_DIM, epochs=int(spec.options["pretrain_epochs"]),
                           seed=seed)
    if iterations == 0:
        return learner
    if isinstance(learner, FineTune):
        return learner.fit(pooled_task(x, y, classes), iterations=iterations, seed=seed, progress=False)
    if spec.options["model"] != "none":
        learner.fit(EpisodeSampler(x, y, list(classes), n_way, 5, queries), iterations=iterations,
                    seed=seed if episodic_seed is None else episodic_seed, progress=False)
    return learner


def confusion_table(learner: Learner, tasks: Sequence[Task], names: Sequence[str]) -> pd.DataFrame:
    """Row-normalized confusion over the query examples of ``tasks`` (episodes of
    :func:`episodes`), with class names."""
    rows = []
    for ep, (ad,) in zip(tasks, learner.adapt_many([t.support for t in tasks], [learner.inner_steps])):
        pred = ad.predict(ep.query.x).argmax(-1)
        cls = ep.metadata["classes"]
        rows += [(names[cls[t]], names[cls[p]]) for t, p in zip(ep.query.y.tolist(), pred.tolist())]
    return pd.crosstab(pd.Series([r[0] for r in rows], name="true"), pd.Series([r[1] for r in rows], name="predicted"), normalize="index")


def class_splits(classes: Sequence[str], n_train: int, seeds: Sequence[int]) -> list[tuple[list[str], list[str]]]:
    """Seeded splits of class names into ``(train, test)``, ``n_train`` training classes each
    (both sides sorted)."""
    import numpy as np

    if not 0 < n_train < len(classes):
        raise ValueError(f"n_train must be between 1 and {len(classes) - 1} for {len(classes)} classes, got {n_train}.")
    perms = [np.random.default_rng(seed).permutation(len(classes)) for seed in seeds]
    return [(sorted(classes[i] for i in perm[:n_train]), sorted(classes[i] for i in perm[n_train:])) for perm in perms]


def validation_split(train_classes: Sequence[str], n_validation: int, split: int) -> tuple[list[str], list[str]]:
    """Validation classes drawn from a split's training classes, for choices that must not read
    the test classes.

    Args:
        train_classes: The split's training classes (names).
        n_validation: How many of them become validation classes.
        split: The split's number; seeds the draw, so each split draws its own classes.

    Returns:
        ``(training, validation)`` class names, disjoint, together ``train_classes``, each sorted.

    Raises:
        ValueError: unless ``1 <= n_validation`` and at least two training classes remain (the
            study's ``episodes.validate``).
    """
    if not 1 <= n_validation <= len(train_classes) - 2:
        raise ValueError(f"n_validation (episodes.validate in a study) must be between 1 and {len(train_classes) - 2}: the "
                         f"learners train on the {len(train_classes)} training classes minus the validation ones, at least "
                         f"two; got {n_validation}.")
    ((train, validation),) = class_splits(list(train_classes), len(train_classes) - n_validation, [split])
    return train, validation


def _input_views(features: torch.Tensor, phase: torch.Tensor) -> dict[str, torch.Tensor]:
    """What each kind of :func:`signal_learner` reads: ``features``, ``phase`` or ``hybrid`` (both side by side)."""
    return {"features": features, "phase": phase, "hybrid": torch.cat([features, phase], dim=1)}


def class_split_benchmark(
    features: torch.Tensor,
    phase: torch.Tensor,
    y: torch.Tensor,
    train_classes: Sequence[int],
    test_classes: Sequence[int],
    *,
    learners: Sequence[str] | Mapping[str, Mapping[str, Any]] = tuple(LEARNERS),
    n_way: int = 5,
    shots: Sequence[int] = (1, 5),
    queries: int = 15,
    test_episodes: int = 600,
    iterations: int = 1500,
    seed: int = 0,
    episode_seed: int | None = None,
    episode_prefix: str = "",
    simulated: tuple[torch.Tensor, torch.Tensor] | None = None,
    augmented: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    fitted_sims: Callable[[list[int]], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None,
    rare_classes: Sequence[int] = (),
    names: Sequence[str] = (),
    confusion_of: str | None = None,
    study: str = "",
    dataset: str = "",
    log: Log = quiet,
) -> BenchmarkResult:
    """Train every learner on the training classes; evaluate on episodes of the test classes.

    Args:
        features: Light-curve features ``[n, d]``; standardized here on the training classes
            only (the :class:`~sciml.models.Standardize` is kept in ``details["scale"]``).
        phase: Folded, resampled curves ``[n, bins]``.
        y: Class index per curve ``[n]``.
        train_classes, test_classes: Disjoint class indices.
        learners: Labels of :data:`LEARNERS`, or label -> learner table (:func:`signal_specs`).
        n_way, shots, queries: Episode shape (queries per class).
        test_episodes: Episodes per k.
        iterations: Meta-training iterations.
        seed: Seed of initialization and training.
        episode_seed: Seed of the test episodes (default ``seed + 1000``).
        episode_prefix: Prefix of the test episodes' names (``<prefix>k<k>-<i>``).
        simulated: ``(phase, y)`` of simulated classes for learners with ``pretrain =
            "simulated"``.
        augmented: ``(features, phase, y)`` of augmented copies of the curves
            (:func:`sciml.astro.dataset.augmented_pool`) for learners with ``augment = true``:
            their copies of training classes join the training set (standardized with the real
            curves' statistics); copies of test classes are never read.
        fitted_sims: ``fitted_sims(train_classes) -> (features, phase, y)`` of curves
            simulated by a simulator fitted to exactly those classes
            (:func:`sciml.astro.dataset.fitted_simulated_pool`), for learners with
            ``fitted_sims = true``; called once, with the training classes only.
        rare_classes: Extra novel classes probed 1-shot by the metric learners (``dataset``
            ``<dataset>:rare-classes``; the string before ``:`` of ``dataset`` is kept).
        names: Class names (for the confusion table).
        confusion_of: A learner whose confusion over the largest k is kept (``details["confusion"]``).
        study, dataset: Labels of the result rows (``group`` is the split's name, the part of
            ``dataset`` after ``:``).
        log: Progress callback.

    Returns:
        ``accuracy`` and ``ece`` rows per episode; every trained learner by label.
    """
    from sciml.evaluation.metrics import CLASSIFICATION_METRICS
    from sciml.evaluation.protocol import few_shot_results
    from sciml.models import Standardize

    specs = signal_specs(learners)
    if set(train_classes) & set(test_classes):
        raise ValueError(f"Classes on both sides of the split: {sorted(set(train_classes) & set(test_classes))}.")
    scale = Standardize.fitted(features[torch.isin(y, torch.tensor(list(train_classes)))])
    features = scale(features)
    inputs = _input_views(features, phase)
    extra: dict[str, tuple[dict[str, torch.Tensor], torch.Tensor]] = {}
    train = torch.tensor(list(train_classes))
    if augmented is not None:
        a_feat, a_phase, a_y = augmented
        a_keep = torch.isin(a_y, train)  # copies of test classes are dropped here
        extra["augment"] = (_input_views(scale(a_feat[a_keep]), a_phase[a_keep]), a_y[a_keep])
    if fitted_sims is not None and any(spec.options["fitted_sims"] for spec in specs.values()):
        s_feat, s_phase, s_y = fitted_sims(list(train_classes))
        if not torch.isin(s_y, train).all():
            raise ValueError(f"fitted_sims returned curves of classes {sorted(set(s_y[~torch.isin(s_y, train)].tolist()))}, which are not "
                             "training classes; simulate the training classes only.")
        extra["fitted_sims"] = (_input_views(scale(s_feat), s_phase), s_y)
    ep_seed = seed + 1000 if episode_seed is None else episode_seed
    group = dataset.split(":")[-1]
    out, frames = BenchmarkResult(pd.DataFrame(), details={"scale": scale}), []
    for label, spec in specs.items():
        log(f"{dataset}: {label}")
        learner, kind = signal_learner(spec, n_way, len(train_classes), features.shape[1], seed, n_bins=phase.shape[1])
        x = inputs[kind]
        if spec.options["pretrain"] == "simulated":
            if simulated is None:
                raise ValueError(f"{label} needs simulated=(phase, y) of simulated classes.")
            sim_phase, sim_y = simulated
            learner.fit(EpisodeSampler(sim_phase, sim_y, sorted(set(sim_y.tolist())), n_way, 5, queries), iterations=iterations,
                        seed=seed, progress=False)
        x_fit, y_fit = x, y
        for option in EXTRA_TRAINING:
            if not spec.options[option]:
                continue
            if option not in extra:
                raise ValueError(f"{label} trains on {'augmented copies' if option == 'augment' else 'fitted simulations'} of the curves: "
                                 f"pass {'augmented=(features, phase, y)' if option == 'augment' else 'fitted_sims=<function>'}.")
            views, extra_y = extra[option]
            x_fit, y_fit = torch.cat([x_fit, views[kind]]), torch.cat([y_fit, extra_y])
        train_on_classes(learner, spec, x_fit, y_fit, train_classes, n_way=n_way, queries=queries, iterations=iterations, seed=seed,
                         episodic_seed=seed + 1)
        out.learners[label] = learner
        if learner.history_:
            out.histories[label] = learner.history_
        for k in shots:
            eps = episodes(x, y, test_classes, n_way, k, queries, test_episodes, ep_seed, f"{episode_prefix}k{k}")
            res = few_shot_results(learner, eps, shots=[k], steps=[learner.inner_steps], seeds=[0], metrics=CLASSIFICATION_METRICS,
                                   per_class=True, study=study, dataset=dataset, learner_name=label)
            frames.append(res.assign(group=group))
            if label == confusion_of and k == max(shots):
                out.details["confusion"] = confusion_table(learner, eps, names)
        if rare_classes and is_metric(type(learner)):
            rare_way = min(n_way, len(rare_classes))
            eps = episodes(x, y, rare_classes, rare_way, 1, 5, test_episodes, seed + 7, "rare")
            probe = learner
            if rare_way != n_way:  # the same trained embedding, fewer classes per episode
                probe = copy.deepcopy(learner)
                probe.n_way = rare_way
            frames.append(few_shot_results(probe, eps, shots=[1], steps=[0], seeds=[0], metrics=CLASSIFICATION_METRICS, per_class=True,
                                           study=study, dataset=f"{dataset.split(':')[0]}:rare-classes", learner_name=label))
    out.results = pd.concat(frames, ignore_index=True)
    return out


def light_curve_prior(learner: Learner, scale: nn.Module, results: pd.DataFrame, n_bins: int, provenance: dict[str, Any]) -> Any:
    """A prototype learner that reads features (or features and folded shape, a
    :class:`~sciml.models.FeaturePhaseEncoder`) with its standardization as a
    :class:`~sciml.prior.Prior`. An inductive learner is expected: a transductive one's
    predictions would depend on which curves a user classifies together."""
    from sciml.evaluation.protocol import held_out_metrics
    from sciml.meta import ProtoNet
    from sciml.models import FeaturePhaseEncoder, PhaseCNN, Standardize
    from sciml.prior import Prior
    from sciml.prior.domains.light_curves import LightCurveDomain

    name = results.learner.iloc[0]
    if not isinstance(learner, ProtoNet) or isinstance(learner.model, PhaseCNN):
        raise TypeError(f"A light-curve prior needs a ProtoNet learner that reads features, got {name!r}.")
    if getattr(learner, "transductive_steps", 0):
        raise ValueError(f"{name!r} is transductive; save an inductive learner as a prior.")
    if not isinstance(learner.model, FeaturePhaseEncoder):
        return Prior(learner, LightCurveDomain(n_bins=n_bins), encoder=scale, metrics=held_out_metrics(results, name), provenance=provenance)
    # features standardized, the folded shape (already unit amplitude) passed through
    both = Standardize(learner.model.n_features + n_bins)
    with torch.no_grad():
        both.mean[:learner.model.n_features] = scale.mean
        both.std[:learner.model.n_features] = scale.std
    return Prior(learner, LightCurveDomain(n_bins=n_bins, inputs="features+phase"), encoder=both, metrics=held_out_metrics(results, name),
                 provenance=provenance)


def pool_tensors(pool: Any, names: Sequence[str] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """``(features [N, d], phase [N, bins], y [N], class names)`` of a featurized curve pool
    (:class:`~sciml.astro.dataset.CurvePool`); ``y`` indexes the sorted class names, or the
    given ``names`` (e.g. those of the real curves, for their augmented copies), in which case
    curves of other classes are left out."""
    import numpy as np

    if names is None:
        names = sorted(set(pool.labels))
    keep = np.isin(pool.labels, list(names))
    y = torch.tensor([list(names).index(v) for v in pool.labels[keep]], dtype=torch.long)
    return (torch.tensor(pool.features[keep], dtype=torch.float32), torch.tensor(pool.phase[keep], dtype=torch.float32), y,
            list(names))


def simulated_classes(per_class: int, n_bins: int, seed: int, log: Log = quiet) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, Any]]:
    """Simulated curves of every simulated class (RR Lyrae from Sesar et al.'s templates where
    the data are present, else from Fourier ranges), as ``((phase, y), description)``."""
    from sciml.astro.dataset import simulated_pool
    from sciml.astro.simulate import SesarTemplates
    from sciml.data.astro import load_sesar_templates

    try:
        templates = SesarTemplates(*load_sesar_templates("g"))
    except FileNotFoundError as err:
        templates = None
        log(f"RR Lyrae templates unavailable ({err}); simulating RR Lyrae from Fourier ranges")
    sim = simulated_pool(per_class=per_class, n_bins=n_bins, seed=seed, rrlyrae=templates)
    _, phase, y, names = pool_tensors(sim)
    card = {"classes": names, "per_class": per_class, "seed": seed, "rrlyrae": "Sesar et al. 2010 g-band templates" if templates else "Fourier ranges"}
    return (phase, y), card


def held_out_examples_benchmark(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    test_fraction: float = 0.5,
    learners: Sequence[str] | Mapping[str, Mapping[str, Any]] = FEATURE_LEARNERS,
    shots: Sequence[int] = (1, 5, 10),
    queries: int = 15,
    test_episodes: int = 600,
    iterations: int = 1000,
    seed: int = 0,
    study: str = "",
    dataset: str = "",
    log: Log = quiet,
) -> BenchmarkResult:
    """Few-shot classification when the classes are shared but the examples are new (e.g.
    pulsar candidates): a stratified ``test_fraction`` of the examples is held out, features
    are standardized on the rest, and every learner is trained on the rest and evaluated on
    ``len(classes)``-way episodes of the held-out examples.

    Args:
        x: Features ``[n, d]``.
        y: Class index per example ``[n]`` (0..c-1).
        test_fraction: Share of each class held out.
        learners: Labels of :data:`LEARNERS` or label -> learner table (:func:`signal_specs`),
            reading features (``model`` ``"none"`` or ``"mlp"``).
        shots, queries, test_episodes, iterations, seed: As :func:`class_split_benchmark`.
        study, dataset: Labels of the result rows.
        log: Progress callback.

    Returns:
        ``accuracy`` and ``ece`` rows per episode; every learner by label; ``details``:
        ``n_test`` (held-out examples) and ``scale`` (the :class:`~sciml.models.Standardize`
        fitted on the training examples).
    """
    import numpy as np

    from sciml.evaluation.metrics import CLASSIFICATION_METRICS
    from sciml.evaluation.protocol import few_shot_results
    from sciml.models import Standardize

    specs = signal_specs(learners)
    phase_readers = [label for label, spec in specs.items() if spec.options["model"] in ("cnn", "hybrid")]
    if phase_readers:
        raise ValueError(f"Learners {phase_readers} read folded shapes; this benchmark has features only (model = 'mlp' or 'none').")
    augmenting = [label for label, spec in specs.items() if any(spec.options[o] for o in EXTRA_TRAINING)]
    if augmenting:
        raise ValueError(f"Learners {augmenting} train on augmented or simulated light curves; this benchmark has feature tables only "
                         "(augment = false, fitted_sims = false).")
    y_np = y.numpy()
    classes = sorted(set(y_np.tolist()))
    rng = np.random.default_rng(seed)
    test_mask = np.zeros(len(y_np), dtype=bool)
    for c in classes:
        idx = np.flatnonzero(y_np == c)
        test_mask[rng.choice(idx, int(len(idx) * test_fraction), replace=False)] = True
    tr, te = torch.tensor(~test_mask), torch.tensor(test_mask)
    scale = Standardize.fitted(x[tr])
    out, frames = BenchmarkResult(pd.DataFrame(), details={"n_test": int(test_mask.sum()), "scale": scale}), []
    xs = scale(x)
    for label, spec in specs.items():
        log(label)
        learner, _ = signal_learner(spec, len(classes), len(classes), xs.shape[1], seed)
        train_on_classes(learner, spec, xs[tr], y[tr], classes, n_way=len(classes), queries=queries, iterations=iterations, seed=seed)
        out.learners[label] = learner
        for k in shots:
            eps = episodes(xs[te], y[te], classes, len(classes), k, queries, test_episodes, seed + 2000 + k, f"k{k}")
            frames.append(few_shot_results(learner, eps, shots=[k], steps=[learner.inner_steps], seeds=[0], metrics=CLASSIFICATION_METRICS,
                                           per_class=True, study=study, dataset=dataset, learner_name=label))
    out.results = pd.concat(frames, ignore_index=True)
    return out


def feature_prior(learner: Learner, scale: nn.Module, results: pd.DataFrame, columns: Sequence[str], units: Sequence[str], label: str,
                  provenance: dict[str, Any]) -> Any:
    """A feature-based prototype learner with its standardization as a feature-table
    :class:`~sciml.prior.Prior` (:class:`~sciml.prior.domains.features.FeatureDomain`)."""
    from sciml.evaluation.protocol import held_out_metrics
    from sciml.meta import ProtoNet
    from sciml.prior import Prior
    from sciml.prior.domains.features import FeatureDomain

    name = results.learner.iloc[0]
    if not isinstance(learner, ProtoNet):
        raise TypeError(f"A feature-table prior needs a ProtoNet learner, got {name!r}.")
    return Prior(learner, FeatureDomain(columns, units, label), encoder=scale, metrics=held_out_metrics(results, name), provenance=provenance)
