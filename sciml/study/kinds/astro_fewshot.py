"""Study kinds ``asas-fewshot`` and ``htru2-fewshot``: new signal classes from a few examples.

ASAS: 5-way K-shot episodes (K = 1, 5; 15 queries per class) whose classes are split: the
learners meta-train on 8 of the classes with at least 20 members and are tested on the other 7
(several stated splits); rarer classes serve as extra novel-class probes. HTRU2: 2-way K-shot
episodes (pulsar vs not) on held-out candidates. Learners: nearest centroid on standardized
features (no learning), ProtoNet (MLP on features, 1-D CNN on phase-folded curves), MAML, a
pretrained-then-fine-tuned classifier, and ProtoNet pretrained on simulated classes first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from sciml.evaluation.metrics import CLASSIFICATION_METRICS
from sciml.evaluation.plots import plot_confusion, plot_metric_vs_shots
from sciml.evaluation.protocol import few_shot_results
from sciml.evaluation.tables import summary_table
from sciml.meta import MAML, FineTune, Learner, ProtoNet
from sciml.models import MLP, PhaseCNN, Standardize
from sciml.study.context import RunContext
from sciml.study.report import markdown_table
from sciml.tasks import EpisodeSampler, Task, TaskSet, TensorData

DESCRIPTION = "few-shot classification of new variable-star classes (ASAS) and pulsars (HTRU2)"

_COMMON = {
    "n_way": 5,
    "shots": [1, 5],
    "queries": 15,
    "test_episodes": 600,
    "iterations": 1500,
    "seed": 0,
    "min_members": 20,
    "train_classes": 8,
    "splits": [0, 1, 2],
    "learners": ["nearest-centroid", "ProtoNet-MLP", "ProtoNet-CNN", "ProtoNet-CNN (sim+real)", "MAML-MLP", "FineTune-MLP"],
}

_ASAS_ONLY = {"prior": "ProtoNet-MLP"}
"""ASAS saves this learner (trained on the first class split) as its prior."""

DEFAULTS_ASAS: dict[str, Any] = {
    "study": {"kind": "asas-fewshot", "description": ""},
    "data": {"max_curves": 0, "n_bins": 64},
    "episodes": {**_COMMON, **_ASAS_ONLY},
}


def _episodes(x: torch.Tensor, y: torch.Tensor, classes: list[int], n_way: int, k: int, q: int, n: int, seed: int, prefix: str) -> list[Task]:
    sampler = EpisodeSampler(x, y, classes, n_way=n_way, k_shot=k, n_query=q)
    g = torch.Generator().manual_seed(seed)
    return [sampler.sample(g, name=f"{prefix}-{i:04d}") for i in range(n)]


def _pooled_task(x: torch.Tensor, y: torch.Tensor, classes: list[int]) -> TaskSet:
    keep = torch.isin(y, torch.tensor(classes))
    relabel = {c: i for i, c in enumerate(classes)}
    yy = torch.tensor([relabel[int(v)] for v in y[keep]])
    data = TensorData(x[keep], yy)
    return TaskSet([Task(data, TensorData.empty_like(data), name="pooled")])


def _learner(name: str, n_way: int, n_train_classes: int, feat_dim: int, phase_bins: int, seed: int) -> tuple[Learner, str]:
    """A fresh learner (initialized from ``seed``) and the input it reads (``features`` or ``phase``)."""
    torch.manual_seed(seed)
    if name == "nearest-centroid":
        return ProtoNet(nn.Identity(), n_way=n_way), "features"
    if name == "ProtoNet-MLP":
        return ProtoNet(MLP(feat_dim, (64, 64), 32), n_way=n_way, outer_lr=1e-3), "features"
    if name.startswith("ProtoNet-CNN"):
        return ProtoNet(PhaseCNN(out_features=32), n_way=n_way, outer_lr=1e-3), "phase"
    if name == "MAML-MLP":
        return MAML(MLP(feat_dim, (64, 64), n_way), loss="cross_entropy", inner_lr=0.1, inner_steps=5, first_order=True,
                    outer_lr=1e-3, meta_batch_size=4), "features"
    if name == "FineTune-MLP":
        return FineTune(MLP(feat_dim, (64, 64), n_train_classes), loss="cross_entropy", inner_lr=1e-2, inner_steps=50,
                        outer_lr=1e-3, meta_batch_size=1), "features"
    raise ValueError(f"Unknown learner {name!r}")


def run_asas(ctx: RunContext) -> None:
    """Run the ASAS study."""
    from sciml.astro.dataset import asas_pool, simulated_pool

    e, d = ctx.config["episodes"], ctx.config["data"]
    pool = asas_pool(n_bins=d["n_bins"], max_curves=d["max_curves"] or None)
    from sciml.data.astro import asas_files

    for path in asas_files().values():
        ctx.add_input(path, role="ASAS")
    ctx.log(f"{len(pool.names)} curves featurized, {len(pool.skipped)} left out")
    common = pool.classes(e["min_members"])
    rare = [c for c in pool.classes(1 + 5) if c not in common]
    names = sorted(set(pool.labels))
    y = torch.tensor([names.index(v) for v in pool.labels])
    feats = torch.tensor(pool.features, dtype=torch.float32)
    phase = torch.tensor(pool.phase, dtype=torch.float32)
    templates = None
    try:
        from sciml.astro.simulate import SesarTemplates
        from sciml.data.astro import load_sesar_templates

        templates = SesarTemplates(*load_sesar_templates("g"))
    except FileNotFoundError as err:
        ctx.log(f"RR Lyrae templates unavailable ({err}); simulating RR Lyrae from Fourier ranges")
    sim = simulated_pool(per_class=60, n_bins=pool.phase.shape[1], seed=e["seed"], rrlyrae=templates)
    sim_names = sorted(set(sim.labels))
    sim_y = torch.tensor([sim_names.index(v) for v in sim.labels])
    sim_phase = torch.tensor(sim.phase, dtype=torch.float32)
    ctx.add_generated_input("simulated_classes", {"classes": sim_names, "per_class": 60, "seed": e["seed"],
                                                  "rrlyrae": "Sesar et al. 2010 g-band templates" if templates else "Fourier ranges"})
    frames, split_lines, confusions = [], [], []
    for split in e["splits"]:
        perm = np.random.default_rng(split).permutation(len(common))
        train_cls = sorted(common[i] for i in perm[: e["train_classes"]])
        test_cls = sorted(common[i] for i in perm[e["train_classes"]:])
        split_lines.append(f"- split {split}: train {', '.join(train_cls)}; test {', '.join(test_cls)}")
        tr_idx, te_idx = [names.index(c) for c in train_cls], [names.index(c) for c in test_cls]
        assert not set(tr_idx) & set(te_idx)
        mask = torch.isin(y, torch.tensor(tr_idx))
        std = Standardize.fitted(feats[mask])
        x_feat = std(feats)
        inputs = {"features": x_feat, "phase": phase}
        for label in e["learners"]:
            ctx.log(f"split {split}: {label}")
            learner, kind = _learner(label, e["n_way"], len(tr_idx), x_feat.shape[1], phase.shape[1], e["seed"])
            x = inputs[kind]
            if label.endswith("(sim+real)"):
                learner.fit(EpisodeSampler(sim_phase, sim_y, list(range(len(sim_names))), e["n_way"], 5, e["queries"]),
                            iterations=e["iterations"], seed=e["seed"], progress=False)
            if isinstance(learner, FineTune):
                learner.fit(_pooled_task(x, y, tr_idx), iterations=e["iterations"], seed=e["seed"], progress=False)
            elif label != "nearest-centroid":
                learner.fit(EpisodeSampler(x, y, tr_idx, e["n_way"], 5, e["queries"]), iterations=e["iterations"],
                            seed=e["seed"] + 1, progress=False)
            if learner.history_:
                ctx.add_history(f"{label} split {split}", learner.history_)
            for k in e["shots"]:
                eps = _episodes(x, y, te_idx, e["n_way"], k, e["queries"], e["test_episodes"], e["seed"] + 1000 + split, f"s{split}k{k}")
                res = few_shot_results(learner, eps, shots=[k], steps=[learner.inner_steps], seeds=[0], metrics=CLASSIFICATION_METRICS,
                                       per_class=True, study=ctx.name, dataset=f"asas:split{split}", learner_name=label)
                frames.append(res.assign(group=f"split{split}"))
                if split == e["splits"][0] and k == max(e["shots"]) and label == "ProtoNet-CNN":
                    confusions.append(_confusion(learner, eps, names))
            if split == e["splits"][0] and label == e["prior"]:
                _save_prior(ctx, learner, std, pd.concat(frames[-len(e["shots"]):]), d["n_bins"], split)
            if split == e["splits"][0] and rare and label in ("nearest-centroid", "ProtoNet-MLP"):
                n_way = min(e["n_way"], len(rare))
                rare_idx = [names.index(c) for c in rare]
                eps = _episodes(x, y, rare_idx, n_way, 1, 5, e["test_episodes"], e["seed"] + 7, "rare")
                probe = learner if n_way == e["n_way"] else _learner(label, n_way, len(tr_idx), x_feat.shape[1], phase.shape[1], e["seed"])[0]
                res = few_shot_results(probe, eps, shots=[1], steps=[0], seeds=[0], metrics=CLASSIFICATION_METRICS,
                                       per_class=True, study=ctx.name, dataset="asas:rare-classes", learner_name=label)
                frames.append(res)
    results = pd.concat(frames, ignore_index=True)
    ctx.add_results(results)
    main = results[results.dataset.str.contains("split")]
    table = summary_table(main.sort_values("metric", kind="stable"), unit="row")
    summ = summary_table(results, rows=("dataset", "learner"), unit="row")
    ctx.headline = (
        f"5-way K-shot episodes on held-out classes: {e['test_episodes']} episodes per class split and K, "
        f"{len(e['splits'])} splits; mean and 95% CI over all {e['test_episodes'] * len(e['splits'])} episodes. The floor is "
        "nearest centroid on standardized features, with no learning (an independent measurement of it on this data "
        "gave 0.561 at 1-shot and 0.727 at 5-shot).\n\n" + markdown_table(table)
    )
    ctx.add_section("Per split and for the rare-class probe, with 95% CI over episodes", markdown_table(summ))
    ctx.add_section("Class splits", "\n".join(split_lines) + f"\n\nRare classes probed (1-shot, {min(e['n_way'], len(rare))}-way): {', '.join(rare)}")
    if pool.skipped:
        ctx.add_section("Curves left out", f"{len(pool.skipped)} of {len(pool.skipped) + len(pool.names)}:\n\n" + "\n".join(f"- {k}: {v}" for k, v in list(pool.skipped.items())[:50]))
    _plots(ctx, results, pool, names, confusions)


def _save_prior(ctx: RunContext, learner: Learner, scale: nn.Module, results: pd.DataFrame, n_bins: int, split: int) -> None:
    """Save a feature-based prototype learner with its standardization (training classes only)."""
    from sciml.evaluation.protocol import held_out_metrics
    from sciml.prior import Prior
    from sciml.prior.domains.light_curves import LightCurveDomain

    if not isinstance(learner, ProtoNet) or isinstance(learner.model, PhaseCNN):
        raise TypeError(f"episodes.prior must name a feature-based ProtoNet learner, got {results.learner.iloc[0]!r}.")
    name = results.learner.iloc[0]
    prior = Prior(learner, LightCurveDomain(n_bins=n_bins), encoder=scale, metrics=held_out_metrics(results, name),
                  provenance={"split": f"class split {split}", "held_out_metrics": "5-way accuracy on episodes of the split's "
                              "held-out classes"})
    ctx.save_prior(f"asas-{name.lower()}", prior)


def _confusion(learner: Learner, episodes: list[Task], names: list[str]) -> pd.DataFrame:
    rows = []
    for ep, (ad,) in zip(episodes, learner.adapt_many([t.support for t in episodes], [learner.inner_steps])):
        pred = ad.predict(ep.query.x).argmax(-1)
        cls = ep.metadata["classes"]
        for t, p in zip(ep.query.y.tolist(), pred.tolist()):
            rows.append((names[cls[t]], names[cls[p]]))
    return pd.crosstab(pd.Series([r[0] for r in rows], name="true"), pd.Series([r[1] for r in rows], name="predicted"), normalize="index")


def _plots(ctx: RunContext, results: pd.DataFrame, pool: Any, names: list[str], confusions: list[pd.DataFrame]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sciml.astro.plots import plot_gallery

    acc = results[(results.metric == "accuracy") & results.dataset.str.contains("split")]
    ax = plot_metric_vs_shots(acc, "accuracy", statistic="mean", baselines=("nearest-centroid",), title="accuracy, held-out classes")
    ax.legend(fontsize=7)
    ctx.save_figure(ax.figure, "accuracy_vs_k", "Accuracy vs K on held-out classes (mean over splits and episodes).")
    if confusions:
        ax = plot_confusion(confusions[0])
        ctx.save_figure(ax.figure, "confusion_novel", "ProtoNet-CNN, split 0, 5-shot: confusion over the novel classes (rows sum to 1).")
    fig = plot_gallery(pool, classes=15)
    ctx.save_figure(fig, "gallery", "Phase-folded, resampled curves (brightness up, unit amplitude), up to 12 per class.")
    plt.close("all")


DEFAULTS_HTRU2: dict[str, Any] = {
    "study": {"kind": "htru2-fewshot", "description": ""},
    "episodes": {"shots": [1, 5, 10], "queries": 15, "test_episodes": 600, "iterations": 1000, "seed": 0, "test_fraction": 0.5,
                 "learners": ["nearest-centroid", "ProtoNet-MLP", "MAML-MLP", "FineTune-MLP"]},
}


def run_htru2(ctx: RunContext) -> None:
    """Run the HTRU2 study: 2-way K-shot on held-out candidates (the two classes are shared:
    HTRU2 has only pulsars and non-pulsars, so the novelty is in the candidates, not the classes)."""
    from sciml.data.astro import HTRU2_SHA256, HTRU2_URL, load_htru2
    from sciml.data.download import fetch

    e = ctx.config["episodes"]
    x_np, y_np = load_htru2()
    ctx.add_input(fetch("astro/htru2/HTRU_2.csv", HTRU2_URL, HTRU2_SHA256), role="HTRU2")
    rng = np.random.default_rng(e["seed"])
    test_mask = np.zeros(len(y_np), dtype=bool)
    for c in (0, 1):
        idx = np.flatnonzero(y_np == c)
        test_mask[rng.choice(idx, int(len(idx) * e["test_fraction"]), replace=False)] = True
    x = torch.tensor(x_np, dtype=torch.float32)
    y = torch.tensor(y_np)
    std = Standardize.fitted(x[~test_mask])
    xs = std(x)
    tr, te = torch.tensor(~test_mask), torch.tensor(test_mask)
    frames = []
    for label in e["learners"]:
        ctx.log(label)
        learner, _ = _learner(label, 2, 2, xs.shape[1], 0, e["seed"])
        if isinstance(learner, FineTune):
            learner.fit(_pooled_task(xs[tr], y[tr], [0, 1]), iterations=e["iterations"], seed=e["seed"], progress=False)
        elif label != "nearest-centroid":
            learner.fit(EpisodeSampler(xs[tr], y[tr], [0, 1], 2, 5, e["queries"]), iterations=e["iterations"], seed=e["seed"], progress=False)
        for k in e["shots"]:
            eps = _episodes(xs[te], y[te], [0, 1], 2, k, e["queries"], e["test_episodes"], e["seed"] + 2000 + k, f"k{k}")
            frames.append(few_shot_results(learner, eps, shots=[k], steps=[learner.inner_steps], seeds=[0], metrics=CLASSIFICATION_METRICS,
                                           per_class=True, study=ctx.name, dataset="htru2:held-out-candidates", learner_name=label))
    results = pd.concat(frames, ignore_index=True)
    ctx.add_results(results)
    pivot = summary_table(results.sort_values("metric", kind="stable"), unit="row")
    ctx.headline = (
        f"2-way K-shot (pulsar vs not) on held-out candidates ({int(test_mask.sum())} of {len(y_np)}), {e['test_episodes']} "
        "episodes per K, 15 queries per class; mean and 95% CI over episodes.\n\n" + markdown_table(pivot)
    )
    ax = plot_metric_vs_shots(results, "accuracy", statistic="mean", baselines=("nearest-centroid",), title="HTRU2 accuracy")
    ax.legend(fontsize=7)
    ctx.save_figure(ax.figure, "accuracy_vs_k", "HTRU2: accuracy vs K.")
