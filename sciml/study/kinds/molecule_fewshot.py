"""Study kind ``molecule-fewshot``: few-shot molecular property prediction (Tox21, SIDER).

The standard protocol: one task per label column, the published column split, support = k
positives + k negatives, query = every other labelled molecule of the test task, ROC-AUC
averaged over the test tasks, 10 seeds. Model selection (early stopping of every trained
learner, the pretraining epoch, the number of test-time inner steps) looks only at molecules
held out of the *training* tasks.

A GIN is first trained supervised on the training tasks (one output per task, weights averaged
over optimizer steps); its body is the FineTune encoder and, with ``learners.init = "pretrained"``
(default), the starting point of MAML, ANIL and ProtoNet (``"random"`` starts them from scratch,
as the published MAML did).

Your own assays: ``data.dataset`` may be the path of a CSV with a ``smiles`` column and one 0/1
column per assay (blank where not measured), with ``data.train_assays`` and ``data.test_assays``
naming the columns on each side.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from sciml.chem.pretrain import pretrain_multitask
from sciml.evaluation.metrics import BINARY_METRICS
from sciml.evaluation.plots import plot_bars
from sciml.evaluation.protocol import few_shot_results
from sciml.evaluation.tables import summary_table
from sciml.models.gnn.gin import load_body
from sciml.study.context import RunContext
from sciml.study.report import markdown_table
from sciml.tasks import Task, TaskSet
from sciml.tasks.taskset import encode_tasks

DESCRIPTION = "few-shot molecular property prediction on Tox21 / SIDER with a GIN (standard column split)"

DEFAULTS: dict[str, Any] = {
    "study": {"kind": "molecule-fewshot", "description": ""},
    "data": {"dataset": "tox21", "featurizer": "simple", "holdout_fraction": 0.2, "train_assays": [], "test_assays": []},
    "model": {"hidden": 300, "layers": 5, "norm": "batch", "pooling": "mean", "dropout": 0.0},
    "protocol": {"shots": [10, 1], "seeds": 10},
    "training": {"iterations": 300, "pretrain_epochs": 40, "pretrain_batch_size": 128, "pretrain_ema_decay": 0.99, "meta_batch_size": 9, "queries": 8, "val_queries": 32,
                 "eval_every": 50, "seed": 0, "outer_lr": 1e-3},
    "learners": {
        "names": ["MAML", "ANIL", "MAML head (frozen body)", "ProtoNet", "FineTune", "Scratch", "kNN-Tanimoto"],
        "init": "pretrained",
        "batch_statistics": "task",
        "maml_inner_lr": 0.05, "maml_inner_steps": 1,
        "anil_inner_lr": 0.05, "anil_inner_steps": 1,
        "finetune_inner_lr": 0.01, "finetune_inner_steps": 50,
        "scratch_inner_lr": 0.005, "scratch_inner_steps": 30,
        "knn_neighbours": 3,
        "step_choices": [1, 3, 10],
    },
}

PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {
    "tox21": {"MAML": (80.21, 75.74), "ProtoNet": (74.98, 65.58), "Siamese": (80.40, 65.00), "EGNN": (81.21, 79.44),
              "Pre-GNN": (82.14, 81.68), "Meta-MGNN": (82.97, 82.13), "PAR (pretrained)": (84.93, 83.01)},
    "sider": {"MAML": (70.43, 67.81), "ProtoNet": (64.54, 57.50), "EGNN": (72.87, 70.79), "Pre-GNN": (73.96, 73.24),
              "Meta-MGNN": (75.43, 73.36), "PAR (pretrained)": (78.08, 74.46)},
}
"""Published ROC-AUC (%), (10-shot, 1-shot), as tabulated by Wang et al. (2021, PAR); those
numbers were selected on the test tasks."""


def _gin(m: dict[str, Any], out: int, seed: int) -> nn.Module:
    from sciml.models.gnn import GIN

    torch.manual_seed(seed)
    return GIN(out, hidden=m["hidden"], layers=m["layers"], norm=m["norm"], pooling=m["pooling"], dropout=m["dropout"])


def _pretrained_body(cfg: dict[str, Any], fit: TaskSet, held: TaskSet, ctx: RunContext) -> tuple[nn.Module, list[dict[str, float]]]:
    """A GIN with one output per training task, trained by :func:`_pretrain_multitask`
    (training tasks only; early stopping on their held-out molecules)."""
    m, tr = cfg["model"], cfg["training"]
    model = _gin(m, len(fit), tr["seed"])
    ctx.log(f"multi-task pretraining: {tr['pretrain_epochs']} epochs")
    history = pretrain_multitask(model, fit, held, tr["pretrain_epochs"], tr["outer_lr"], tr["pretrain_batch_size"], tr["seed"],
                                  tr["pretrain_ema_decay"], progress=False)
    ctx.add_history("multi-task pretraining", history)
    best = max(history, key=lambda r: r["val_roc_auc"])
    ctx.log(f"multi-task pretraining: best held-out ROC-AUC {best['val_roc_auc']:.3f} (training tasks) at epoch {best['iteration']}")
    return model.eval(), history


def _initial_gin(cfg: dict[str, Any], out: int, pretrained: nn.Module | None) -> nn.Module:
    """A GIN with ``out`` head outputs: every body weight copied from ``pretrained`` (when
    given) and a freshly initialized head. With ``learners.batch_statistics = "pretrained"``
    its BatchNorm layers keep the statistics of pretraining, fixed
    (:class:`~sciml.models.norm.FrozenBatchNorm`)."""
    m = dict(cfg["model"])
    if pretrained is not None and m["norm"] == "batch" and cfg["learners"]["batch_statistics"] == "pretrained":
        m["norm"] = "frozen_batch"
    model = _gin(m, out, cfg["training"]["seed"])
    return load_body(model, pretrained) if pretrained is not None else model


FROZEN_HEAD = "MAML head (frozen body)"
"""The learner saved as the study's prior: the pretrained body frozen with its BatchNorm
statistics (each molecule embedded on its own) and a meta-learned logistic head."""


def _train(name: str, cfg: dict[str, Any], source: Any, val: list[Task], pretrained: nn.Module | None) -> tuple[Any, str]:
    """A trained learner and what it is evaluated on (``graphs`` or ``embeddings``)."""
    from sciml.chem.fewshot import BalancedEpisodes
    from sciml.chem.fingerprints import TanimotoKNN
    from sciml.meta import ANIL, MAML, FineTune, ProtoNet
    from sciml.models import MLP
    from sciml.models.gnn.gin import with_frozen_statistics

    m, tr, lr = cfg["model"], cfg["training"], cfg["learners"]
    fit = {"iterations": tr["iterations"], "eval_every": tr["eval_every"], "seed": tr["seed"], "progress": False}
    common = {"outer_lr": tr["outer_lr"], "meta_batch_size": tr["meta_batch_size"]}
    init = pretrained if lr["init"] == "pretrained" else None
    if name == "kNN-Tanimoto":
        return TanimotoKNN(neighbours=lr["knn_neighbours"]), "graphs"
    if name == "MAML":
        learner = MAML(_initial_gin(cfg, 1, init), loss="bce", inner_lr=lr["maml_inner_lr"], inner_steps=lr["maml_inner_steps"], **common)
        learner.fit(source, val, **fit)
        return learner, "graphs"
    if name == "ANIL":
        learner = ANIL(_initial_gin(cfg, 1, init), loss="bce", inner_lr=lr["anil_inner_lr"], inner_steps=lr["anil_inner_steps"], **common)
        learner.fit(source, val, **fit)
        head = MAML(copy.deepcopy(learner.model.head), loss="bce", inner_lr=lr["anil_inner_lr"], inner_steps=lr["anil_inner_steps"])
        head.name = "ANIL"
        return (learner, learner.model.eval().embed, head), "embeddings"
    if name == "ProtoNet":
        learner = ProtoNet(_initial_gin(cfg, m["hidden"], init), n_way=2, **common)
        learner.fit(source, val, **fit)
        protos = ProtoNet(nn.Identity(), n_way=2)
        protos.name = "ProtoNet"
        return (learner, learner.model.eval(), protos), "embeddings"  # prototypes average the model's output
    if name == FROZEN_HEAD:
        assert pretrained is not None
        encoder = with_frozen_statistics(pretrained)
        fit_tasks, held = source.tasks.encoded(encoder.embed), encode_tasks(val, encoder.embed)
        torch.manual_seed(tr["seed"])
        head = MAML(MLP(m["hidden"], (), 1), loss="bce", inner_lr=lr["anil_inner_lr"], inner_steps=lr["anil_inner_steps"], **common)
        head.fit(BalancedEpisodes(fit_tasks, source.shots, queries=source.queries), held, **fit)
        return (head, encoder.embed, head), "embeddings"
    if name == "FineTune":
        assert pretrained is not None
        torch.manual_seed(tr["seed"])
        head = nn.Linear(m["hidden"], 1)
        tuned = FineTune(head, loss="bce", inner_lr=lr["finetune_inner_lr"], inner_steps=lr["finetune_inner_steps"])
        return (None, pretrained.embed, tuned), "embeddings"
    raise ValueError(f"Unknown learner {name!r}; choose from {DEFAULTS['learners']['names']}.")


def _scratch_results(cfg: dict[str, Any], test: TaskSet, shots: list[int], seeds: list[int], **kw: Any) -> pd.DataFrame:
    """Scratch: a fresh GIN initialization per seed (one fixed initialization for every seed
    would measure that initialization's bias, not training from scratch)."""
    from sciml.chem.fewshot import balanced_support
    from sciml.meta import Scratch

    m, lr = cfg["model"], cfg["learners"]
    frames = []
    for seed in seeds:
        learner = Scratch(_gin(m, 1, 10_000 + seed), loss="bce", inner_lr=lr["scratch_inner_lr"], inner_steps=lr["scratch_inner_steps"])
        frames.append(few_shot_results(learner, test, shots=shots, steps=[learner.inner_steps], seeds=[seed], metrics=BINARY_METRICS,
                                       resample=balanced_support, learner_name="Scratch", **kw))
    return pd.concat(frames, ignore_index=True)


def _load(d: dict[str, Any]) -> tuple[pd.DataFrame, str, Any]:
    """The assay table, its name and its train/test column split: a MoleculeNet name with its
    standard split, or the path of a user's CSV (``smiles`` plus 0/1 assay columns) with
    ``data.train_assays`` and ``data.test_assays``."""
    from sciml.chem.fewshot import column_split, protocol_split
    from sciml.data import load_moleculenet
    from sciml.data.moleculenet import load_assay_table

    if str(d["dataset"]).lower().endswith(".csv"):
        if not d["train_assays"] or not d["test_assays"]:
            raise ValueError("A user's assay table needs data.train_assays and data.test_assays (lists of its column names).")
        df = load_assay_table(d["dataset"])
        return df, Path(d["dataset"]).stem, lambda tasks: column_split(tasks, d["train_assays"], d["test_assays"])
    dataset = d["dataset"].lower()
    return load_moleculenet(dataset), dataset, lambda tasks: protocol_split(tasks, dataset)


def run(ctx: RunContext) -> None:
    """Run the study."""
    from sciml.chem.dataset import featurize_cached
    from sciml.chem.fewshot import (
        BalancedEpisodes,
        balanced_support,
        label_tasks,
        select_inner_steps,
        split_molecules,
        validation_episodes,
    )
    cfg = ctx.config
    d, p, tr = cfg["data"], cfg["protocol"], cfg["training"]
    if cfg["learners"]["init"] not in ("pretrained", "random"):
        raise ValueError(f"learners.init must be 'pretrained' or 'random', got {cfg['learners']['init']!r}.")
    if cfg["learners"]["batch_statistics"] not in ("task", "pretrained"):
        raise ValueError("learners.batch_statistics must be 'task' (each batch normalized with its own statistics) or "
                         f"'pretrained' (the fixed statistics of multi-task pretraining), got {cfg['learners']['batch_statistics']!r}.")
    if cfg["learners"]["batch_statistics"] == "pretrained" and cfg["learners"]["init"] != "pretrained":
        raise ValueError("learners.batch_statistics = 'pretrained' needs learners.init = 'pretrained' (a random "
                         "initialization has no statistics to keep).")
    df, dataset, split = _load(d)
    ctx.add_input(Path(df.attrs["path"]), role=dataset)
    mols = featurize_cached(df.smiles.tolist(), d["featurizer"], df.attrs["sha256"])
    ctx.log(f"{dataset}: {len(mols.graphs)} molecules featurized, {len(mols.skipped)} SMILES skipped")
    tasks = label_tasks(df, mols)
    train, test = split(tasks)
    assert not set(train.names) & set(test.names)
    fit_tasks, held = split_molecules(train, d["holdout_fraction"], seed=tr["seed"])
    shots = list(p["shots"])
    source = BalancedEpisodes(fit_tasks, shots, queries=tr["queries"])
    val = validation_episodes(held, shots, queries=tr["val_queries"], seed=tr["seed"] + 1)
    seeds = list(range(p["seeds"]))
    names = cfg["learners"]["names"]
    needs_body = bool({"FineTune", FROZEN_HEAD} & set(names)) or (cfg["learners"]["init"] == "pretrained" and {"MAML", "ANIL", "ProtoNet"} & set(names))
    pretrained, pretrained_history = _pretrained_body(cfg, fit_tasks, held, ctx) if needs_body else (None, [])
    frames, chosen, prior = [], {}, None
    for name in names:
        if name == "Scratch":
            ctx.log(f"{name}: evaluating (a fresh initialization per seed)")
            frames.append(_scratch_results(cfg, test, shots, seeds, study=ctx.name, dataset=dataset))
            continue
        ctx.log(f"{name}: training")
        trained, on = _train(name, cfg, source, val, pretrained)
        if on == "embeddings":
            trainer, embed, learner = trained
            if getattr(trainer, "history_", None):
                ctx.add_history(name, trainer.history_)
            eval_tasks = test.encoded(embed)
        else:
            learner = trained
            if getattr(learner, "history_", None):
                ctx.add_history(name, learner.history_)
            eval_tasks = test
        steps = learner.inner_steps
        if name in ("MAML", "ANIL", FROZEN_HEAD) and cfg["learners"]["step_choices"]:
            steps, table = select_inner_steps(learner, held.encoded(embed) if on == "embeddings" else held, shots,
                                              list(cfg["learners"]["step_choices"]))
            chosen[name] = (steps, table)
            ctx.log(f"{name}: {steps} inner steps at test time (best ROC-AUC on held-out molecules of the training tasks)")
        ctx.log(f"{name}: evaluating")
        res = few_shot_results(learner, eval_tasks, shots=shots, steps=[steps], seeds=seeds, metrics=BINARY_METRICS,
                               resample=balanced_support, study=ctx.name, dataset=dataset, learner_name=name)
        frames.append(res)
        if name == FROZEN_HEAD:
            prior = (learner, embed.__self__, steps)
    results = pd.concat(frames, ignore_index=True)
    ctx.add_results(results)
    if prior is not None:
        _save_prior(ctx, prior, results, dataset, d["featurizer"])
    _report(ctx, results, dataset, train, test, held, mols, shots, pretrained_history, chosen)


def _save_prior(ctx: RunContext, trained: tuple[Any, nn.Module, int], results: pd.DataFrame, dataset: str, featurizer: str) -> None:
    """Save the frozen-body prior with the inner steps chosen on training tasks and its test
    ROC-AUC (mean over test tasks and seeds) as held-out metrics."""
    from sciml.evaluation.protocol import held_out_metrics
    from sciml.prior import Prior
    from sciml.prior.domains.molecules import MoleculeDomain

    head, encoder, steps = trained
    head.inner_steps = steps
    prior = Prior(head, MoleculeDomain(featurizer, label=f"active (1) in a new {dataset}-like assay"), encoder=encoder,
                  encoder_method="embed", metrics=held_out_metrics(results, FROZEN_HEAD),
                  provenance={"encoder": "GIN pretrained multi-task on the training assays (fixed BatchNorm statistics)",
                              "held_out_metrics": "ROC-AUC on the test assays, mean over assays and seeds"})
    ctx.save_prior(f"{dataset}-{FROZEN_HEAD.split()[0].lower()}-head", prior)


def _setup_note(cfg: dict[str, Any]) -> str:
    """How our learners were set up, where it differs from the published baselines."""
    note = []
    if cfg["learners"]["init"] == "pretrained":
        note.append("Our MAML, ANIL and ProtoNet start from a GIN trained (supervised, multi-task) on the labels of the "
                    "training tasks only, with no outside data; the published MAML and ProtoNet rows started from a random "
                    "initialization, and Pre-GNN, Meta-MGNN and PAR from self-supervised pretraining on 2 million ZINC molecules.")
    if cfg["model"]["norm"] == "batch" and cfg["learners"]["batch_statistics"] == "pretrained":
        note.append("BatchNorm with the fixed statistics of multi-task pretraining for MAML, ANIL and ProtoNet: each "
                    "molecule is scored on its own, in adaptation and prediction alike.")
    elif cfg["model"]["norm"] == "batch":
        note.append("BatchNorm as in Hu et al.: MAML normalizes with the statistics of the batch at hand (the support set "
                    "while adapting, the whole query set of thousands of molecules while predicting); ANIL and ProtoNet "
                    "embed each test task's molecules in one batch; FineTune's frozen body uses the running statistics "
                    "of pretraining.")
    return " ".join(note)


def _report(ctx: RunContext, results: pd.DataFrame, dataset: str, train: TaskSet, test: TaskSet, held: TaskSet, mols: Any,
            shots: list[int], pretrained_history: list[dict[str, float]], chosen: dict[str, tuple[int, pd.DataFrame]]) -> None:
    table = summary_table(results, columns=("shots",), scale=100, digits=2)
    long = table.attrs["long"]
    cols = [str(k) for k in sorted(shots, reverse=True)]
    table = table.rename(columns={"learner": "method"}).assign(method=lambda t: "**" + t.method + "** (ours)")
    pub = PUBLISHED.get(dataset, {})
    published = pd.DataFrame([{"method": f"{name} (published)", "10": f"{a:.2f}", "1": f"{b:.2f}"} for name, (a, b) in pub.items()])
    table = pd.concat([table, published], ignore_index=True)[["method", *cols]].rename(columns={c: f"{c}-shot" for c in cols})
    n_seeds = int(results.seed.nunique())
    best = long[long.shots == max(shots)].sort_values("mean", ascending=False).iloc[0]
    gap_lines = []
    if pub:
        for ref in ("Meta-MGNN", "PAR (pretrained)", "MAML"):
            if ref in pub:
                gap_lines.append(f"- {ref}: published {pub[ref][0]:.2f}; our best {max(shots)}-shot ({best.learner}) "
                                 f"{best['mean']:.2f}, gap {pub[ref][0] - best['mean']:+.2f} points")
    published_note = (" **The published numbers were selected on the test tasks** (Wang et al. 2021, PAR, Table 2), so they "
                      f"are optimistic by an unknown margin. {_setup_note(ctx.config)}") if pub else ""
    gaps = "\n\nGaps to the published rows (positive: the published number is higher):\n\n" + "\n".join(gap_lines) if pub else ""
    ctx.headline = (
        f"ROC-AUC (%) on the {len(test)} test tasks ({', '.join(test.names)}), mean and 95% CI over {n_seeds} seeds (each seed: "
        "mean over test tasks of the ROC-AUC on every labelled molecule outside the support). Support = k positives + "
        "k negatives. Model selection (early stopping, inner steps) used only molecules held out of the training tasks."
        f"{published_note}\n\n" + markdown_table(table) + gaps
    )
    per_task = results.groupby(["learner", "shots", "task"], sort=False).value.agg(["mean", "std"]).reset_index()
    per_task[["mean", "std"]] *= 100
    ctx.add_section("Per test task (ROC-AUC %, mean and std over seeds)", markdown_table(per_task, floatfmt=".2f"))
    ctx.add_section("Protocol", "\n".join([
        f"- training tasks ({len(train)}): {', '.join(train.names)}",
        f"- test tasks ({len(test)}): {', '.join(test.names)}",
        f"- held-out molecules of the training tasks for early stopping: {sum(len(t) for t in held)} labels",
        f"- molecules featurized: {len(mols.graphs)}; SMILES RDKit could not parse (skipped, listed in the log): {len(mols.skipped)}",
    ] + [f"  - row {r}: {msg}" for r, msg in list(mols.skipped.items())[:20]]))
    selection = []
    if pretrained_history:
        best = max(pretrained_history, key=lambda r: r["val_roc_auc"])
        decay = ctx.config["training"]["pretrain_ema_decay"]
        averaging = f"weights averaged with EMA decay {decay}" if decay else "no weight averaging"
        selection.append(
            f"- Multi-task pretraining (GIN with one output per training task, masked BCE over every labelled entry of the "
            f"fit split, {averaging}): best mean ROC-AUC on the held-out molecules of the training tasks {100 * best['val_roc_auc']:.2f} "
            f"at epoch {best['iteration']} of {len(pretrained_history)}; that state is the FineTune body and, with "
            "`learners.init = \"pretrained\"`, the starting point of MAML, ANIL and ProtoNet.")
    for name, (steps, table) in chosen.items():
        row = ", ".join(f"{int(r.steps)} steps: {r.val_roc_auc:.2f}" for r in table.itertuples())
        selection.append(f"- {name}: {steps} inner steps at test time, chosen by ROC-AUC (%) on balanced supports drawn "
                         f"from the held-out molecules of the training tasks ({row}).")
    if selection:
        ctx.add_section("Model selection (training tasks only)", "\n".join(selection))
    _plot(ctx, long, dataset)


def _plot(ctx: RunContext, long: pd.DataFrame, dataset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    refs = {f"{name} 10-shot (published)": a for name, (a, _) in PUBLISHED.get(dataset, {}).items() if name in ("MAML", "PAR (pretrained)", "Meta-MGNN")}
    fig, ax = plt.subplots(figsize=(7, 4))
    plot_bars(long, ax=ax, references=refs, ylabel="ROC-AUC (%), test tasks")
    ax.set_ylim(min(45.0, float((long["mean"] - long["half"].fillna(0)).min()) - 3), 90)
    ctx.save_figure(fig, "roc_auc", f"{dataset}: ROC-AUC per learner and k (bars: mean over seeds, whiskers: 95% CI); dashed: published 10-shot.")
