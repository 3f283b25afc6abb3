"""Study kind ``crystal-families``: a property of new material families from a few measured
members, with crystal graphs (matbench dielectric: refractive index n).

Compounds are grouped into families (by anion, the most electronegative element, and as a
second grouping by crystal system); learners meta-train on some families and calibrate to each
held-out family from k members (support), judged on every other member (query). Target:
log10(n) (n has a heavy tail); errors are reported in log10(n) and in n.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from sciml.evaluation.conformal import band_coverage
from sciml.evaluation.plots import plot_metric_vs_shots
from sciml.evaluation.protocol import few_shot_results
from sciml.evaluation.tables import summary_table
from sciml.study.context import RunContext
from sciml.study.report import markdown_table
from sciml.tasks import TaskSet

DESCRIPTION = "few-shot refractive index of held-out material families (matbench dielectric, CGCNN)"

DEFAULTS: dict[str, Any] = {
    "study": {"kind": "crystal-families", "description": ""},
    "data": {"task": "dielectric", "radius": 8.0, "max_neighbors": 12, "min_members": 20, "max_structures": 0},
    "groupings": {
        "anion": {"n_test": 5, "splits": [0, 1, 2]},
        "crystal_system": {"n_test": 2, "splits": [0]},
    },
    "protocol": {"shots": [5, 10, 20, 50], "seeds": 3, "min_query": 5},
    "model": {"atom_dim": 64, "layers": 3, "hidden": 128, "norm": "layer"},
    "training": {"iterations": 300, "train_shots": [5, 10], "query_size": 10, "meta_batch_size": 5, "outer_lr": 1e-3,
                 "eval_every": 25, "val_families": 2, "seed": 0},
    "prior": {"learner": "MAML", "grouping": "anion", "level": 0.9},
    "learners": {
        "names": ["support mean", "ridge (composition)", "Scratch", "FineTune", "MAML", "ANIL"],
        "maml_inner_lr": 0.005, "maml_inner_steps": 3, "anil_inner_lr": 0.005, "anil_inner_steps": 5,
        "finetune_inner_lr": 1e-3, "finetune_inner_steps": 30, "scratch_inner_lr": 5e-3, "scratch_inner_steps": 50,
    },
}

MATBENCH_FULL_DATA_MAE_N = {"MODNet": 0.271, "ALIGNN": 0.345, "CGCNN": 0.599, "predict the mean (MAD)": 0.809}
"""matbench v0.1 leaderboard, dielectric, MAE in n over 5-fold CV of all 4,764 structures."""


def _mae_log10(adapted: Any, task: Any) -> float:
    pred = adapted.predict(task.query.x).reshape(-1)
    return float((pred - task.query.y.reshape(-1)).abs().mean())


def _mae_linear(adapted: Any, task: Any) -> float:
    pred = adapted.predict(task.query.x).reshape(-1).double()
    return float((10**pred - 10 ** task.query.y.reshape(-1).double()).abs().mean())


METRICS = {"mae_log10n": _mae_log10, "mae_n": _mae_linear}
"""Metric names of results.csv."""


def _learner(name: str, cfg: dict[str, Any], train: TaskSet, val: TaskSet, ctx: RunContext, label: str) -> Any:
    from sciml.materials.composition import CompositionRidge
    from sciml.meta import ANIL, MAML, FineTune, Scratch
    from sciml.models.cgcnn import CGCNN

    m, tr, lr = cfg["model"], cfg["training"], cfg["learners"]
    if name == "support mean":
        return CompositionRidge(features=False, name=name)
    if name == "ridge (composition)":
        return CompositionRidge()
    torch.manual_seed(tr["seed"])
    model = CGCNN(1, atom_dim=m["atom_dim"], layers=m["layers"], hidden=m["hidden"], cutoff=cfg["data"]["radius"], norm=m["norm"])
    common = {"outer_lr": tr["outer_lr"], "meta_batch_size": tr["meta_batch_size"]}
    fit = {"iterations": tr["iterations"], "shots": tr["train_shots"], "query_size": tr["query_size"], "eval_every": tr["eval_every"],
           "seed": tr["seed"], "progress": False}
    if name == "Scratch":
        return Scratch(model, inner_lr=lr["scratch_inner_lr"], inner_steps=lr["scratch_inner_steps"])
    if name == "FineTune":
        learner = FineTune(model, inner_lr=lr["finetune_inner_lr"], inner_steps=lr["finetune_inner_steps"], **common)
    elif name == "MAML":
        learner = MAML(model, inner_lr=lr["maml_inner_lr"], inner_steps=lr["maml_inner_steps"], **common)
    elif name == "ANIL":
        learner = ANIL(model, inner_lr=lr["anil_inner_lr"], inner_steps=lr["anil_inner_steps"], **common)
    else:
        raise ValueError(f"Unknown learner {name!r}; choose from {DEFAULTS['learners']['names']}.")
    learner.fit(train, val, **fit)
    ctx.add_history(f"{name} {label}", learner.history_)
    return learner


def _band_widths(learner: Any, val: TaskSet, protocol: dict[str, Any], level: float) -> dict[int, float]:
    """Split-conformal half-widths (log10 n) per k from calibrations on the validation families."""
    from sciml.evaluation import conformal_halfwidths

    out = {}
    for k in protocol["shots"]:
        usable = [t for t in val if len(t) >= k + protocol["min_query"]]
        if not usable:
            raise ValueError(f"No validation family has {k} + {protocol['min_query']} members for the prior's {k}-shot band; "
                             "lower protocol.shots or raise training.val_families.")
        out.update(conformal_halfwidths(learner, usable, [k], level=level, seeds=range(protocol["seeds"])))
    return out


def _save_prior(ctx: RunContext, learner: Any, widths: dict[int, float], results: pd.DataFrame, label: str) -> None:
    from sciml.evaluation.protocol import held_out_metrics
    from sciml.prior import Prior
    from sciml.prior.domains.crystals import CrystalDomain

    d, level = ctx.config["data"], ctx.config["prior"]["level"]
    domain = CrystalDomain(f"{d['task']} target (refractive index n)", "1", "log10", d["radius"], d["max_neighbors"])
    prior = Prior(learner, domain, noise={"kind": "conformal", "level": level, "halfwidth": {str(k): v for k, v in widths.items()},
                                          "unit": "log10(n)"},
                  metrics=held_out_metrics(results, results.learner.iloc[0]),
                  provenance={"split": label, "band": "split-conformal half-widths from the validation families of the split"})
    ctx.save_prior(f"{d['task']}-{results.learner.iloc[0].lower()}", prior)
    cover = results[results.metric == "coverage90"].groupby("shots").value.mean()
    ctx.add_section("Prior saved: band coverage on the test families", (
        f"{results.learner.iloc[0]} ({label}) is saved as the study's prior with a {level:.0%} split-conformal band whose "
        "half-width (log10 n) is measured per k on the split's validation families: "
        + ", ".join(f"k={k}: +-{w:.3f}" for k, w in widths.items())
        + ". Share of test-family members inside the band (results.csv metric `coverage90`): "
        + ", ".join(f"k={k}: {v:.3f}" for k, v in cover.items()) + "."))


def _families(ctx: RunContext, grouping: str, df: pd.DataFrame, rows: list[int]) -> list[str]:
    from sciml.materials.families import anion_of, crystal_system_of

    if grouping == "anion":
        return [anion_of(df.structure.iloc[r]) for r in rows]
    if grouping == "crystal_system":
        ctx.log("crystal systems (spglib, symprec 0.1 A)")
        return [crystal_system_of(df.structure.iloc[r]) for r in rows]
    raise ValueError(f"Unknown grouping {grouping!r}; use 'anion' or 'crystal_system'.")


def run(ctx: RunContext) -> None:
    """Run the study."""
    from pathlib import Path

    from sciml.data.matbench import load_matbench
    from sciml.materials.crystal_graph import featurize_structures_cached
    from sciml.materials.families import family_splits, family_tasks

    cfg = ctx.config
    d, p, tr = cfg["data"], cfg["protocol"], cfg["training"]
    df = load_matbench(d["task"])
    path = Path(df.attrs["path"])
    ctx.add_input(path, role=f"matbench {d['task']}")
    if d["max_structures"]:  # a seeded subset, for quick checks
        df = df.iloc[np.sort(np.random.default_rng(0).permutation(len(df))[: d["max_structures"]])].reset_index(drop=True)
    key = f"{df.attrs['sha256']}|{d['max_structures']}"
    graphs = featurize_structures_cached(df.structure.tolist(), df.id.tolist(), key, d["radius"], d["max_neighbors"])
    ctx.log(f"{len(graphs.graphs)} crystal graphs, {len(graphs.skipped)} structures skipped, "
            f"{graphs.short_atoms} atoms with fewer than {d['max_neighbors']} neighbours within {d['radius']} A")
    target = df[df.attrs["target"]].to_numpy()[graphs.rows]
    frames, split_lines, family_lines = [], [], []
    for grouping, gcfg in cfg["groupings"].items():
        if not gcfg["splits"]:
            continue
        labels = _families(ctx, grouping, df, graphs.rows)
        tasks = family_tasks(graphs.graphs, target, labels, d["min_members"], transform=np.log10, units="log10(n)")
        left_out = sorted(set(labels) - set(tasks.names))
        family_lines.append(f"- {grouping}: {len(tasks)} families with >= {d['min_members']} members: "
                            + ", ".join(f"{t.name} ({t.metadata['members']})" for t in tasks)
                            + f"; {len(left_out)} smaller families left out")
        need = max(p["shots"]) + p["min_query"]
        candidates = [t.name for t in tasks if len(t) >= need]  # test families serve every k, so rows compare across k
        family_lines.append(f"  - test families are drawn from the {len(candidates)} with >= {need} members: {', '.join(candidates)}")
        for split_seed, (_, test_names) in zip(gcfg["splits"], family_splits(candidates, gcfg["n_test"], gcfg["splits"])):
            train_names = [n for n in tasks.names if n not in test_names]
            assert not set(train_names) & set(test_names)
            rng = np.random.default_rng(tr["seed"] + 1000 + split_seed)
            val_names = sorted(rng.choice(train_names, tr["val_families"], replace=False).tolist())
            fit_names = [n for n in train_names if n not in val_names]
            train, val, test = tasks.select_groups(fit_names), tasks.select_groups(val_names), tasks.select_groups(test_names)
            label = f"{grouping} split {split_seed}"
            split_lines.append(f"- {label}: train {', '.join(fit_names)}; validation (early stopping) {', '.join(val_names)}; "
                               f"test {', '.join(test_names)}")
            for name in cfg["learners"]["names"]:
                ctx.log(f"{label}: {name}")
                learner = _learner(name, cfg, train, val, ctx, label)
                saving = name == cfg["prior"]["learner"] and grouping == cfg["prior"]["grouping"] and not ctx.priors
                widths = _band_widths(learner, val, p, cfg["prior"]["level"]) if saving else {}
                for k in p["shots"]:
                    metrics = {**METRICS, "coverage90": band_coverage(widths[k])} if saving else METRICS
                    res = few_shot_results(learner, test, shots=[k], steps=[getattr(learner, "inner_steps", 0)],
                                           seeds=range(p["seeds"]), metrics=metrics, study=ctx.name, dataset=f"{d['task']}:{label}",
                                           learner_name=name)
                    frames.append(res.assign(grouping=grouping, split=split_seed))
                if saving:
                    _save_prior(ctx, learner, widths, pd.concat(frames[-len(p["shots"]):]), label)
    results = pd.concat(frames, ignore_index=True)
    ctx.add_results(results.drop(columns=["grouping", "split"]))
    _report(ctx, results, split_lines, family_lines, graphs)


def _report(ctx: RunContext, results: pd.DataFrame, split_lines: list[str], family_lines: list[str], graphs: Any) -> None:
    parts = []
    for grouping, grp in results.groupby("grouping", sort=False):
        table = summary_table(grp[grp.metric.isin(list(METRICS))], columns=("metric", "shots"))
        parts.append(f"**{grouping}** (mean over the support draws of the per-draw mean over held-out families of every "
                     "split, and 95% CI over draws):\n\n" + markdown_table(table))
    ref = ", ".join(f"{k} {v}" for k, v in MATBENCH_FULL_DATA_MAE_N.items())
    anion = results[(results.grouping == "anion") & (results.metric == "mae_n")]
    wins = []
    if len(anion):
        per_k = anion.groupby(["shots", "learner"]).value.mean().unstack("learner")
        for k, row in per_k.iterrows():
            wins.append(f"k={k}: best {row.idxmin()} ({row.min():.3f}), support mean {row.get('support mean', float('nan')):.3f}")
    ctx.headline = (
        "Few-shot MAE on held-out families. The target is "
        "log10(n): n is heavy-tailed (a few compounds above n = 5 dominate squared errors), so training and the first metric "
        "use log10(n); `mae_n` converts predictions back to n. For scale, matbench's full-data MAE in n (5-fold CV on all "
        f"structures, no family shift): {ref}.\n\n" + "\n\n".join(parts)
        + ("\n\nBest per k (anion families, MAE in n):\n\n" + "\n".join(f"- {w}" for w in wins) if wins else "")
    )
    per_family = results[results.metric == "mae_n"].groupby(["grouping", "task", "learner", "shots"], sort=False).value.mean()
    per_family = per_family.unstack("shots").reset_index()
    per_family.columns = [c if isinstance(c, str) else f"k={c}" for c in per_family.columns]
    ctx.add_section("MAE in n per held-out family", markdown_table(per_family, floatfmt=".3f"))
    ctx.add_section("Families and splits", "\n".join(family_lines + split_lines) + (
        f"\n\nStructures skipped: {len(graphs.skipped)}; atoms with fewer than 12 neighbours inside the radius "
        f"(kept with the neighbours they have): {graphs.short_atoms}."))
    _plot(ctx, results)


def _plot(ctx: RunContext, results: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groupings = list(dict.fromkeys(results.grouping))
    fig, axes = plt.subplots(1, len(groupings), figsize=(6 * len(groupings), 4), squeeze=False)
    for ax, grouping in zip(axes[0], groupings):
        plot_metric_vs_shots(results[results.grouping == grouping], "mae_n", ax=ax, statistic="mean",
                             baselines=("support mean", "ridge (composition)"), title=f"grouping: {grouping}")
        for name in ("CGCNN", "MODNet"):
            ax.axhline(MATBENCH_FULL_DATA_MAE_N[name], color="gray", lw=0.8, ls=":")
            ax.text(ax.get_xlim()[0], MATBENCH_FULL_DATA_MAE_N[name], f"{name}, full data", fontsize=6, va="bottom")
        ax.set_ylabel("MAE in n, held-out families")
        ax.legend(fontsize=7)
    ctx.save_figure(fig, "mae_vs_k", "MAE in n vs k on held-out families (dotted: matbench full-data MAE for scale).")
