"""Study kind ``jmak-tungsten``: calibrate a new tungsten grade from a few experiments.

Leave-one-material-out over the tungsten recrystallization data (`load_recrystallization`):
for every held-out material, the priors are learned on the other materials only; the held-out
material is calibrated from k = 2, 3, 5, 8 of its points (random, or the k earliest) and judged
on its other points and against the fit to all its points. Methods: bounded curve_fit from
scratch, the linearized Avrami plot, the pooled-prior MAP (empirical Bayes), and meta-learned
priors (MAML, MetaSGD, Reptile) with a Gauss-Newton inner loop. Uncertainty: Laplace posterior
(90% predictive bands, coverage on held-out points). ``suggest_next`` is compared with random
and equally spaced next measurements.

The ``dataset`` column of results.csv names the design: ``tungsten:random``,
``tungsten:early`` or ``tungsten:sequential`` (the suggest-next experiment).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

from sciml.data.recrystallization import load_recrystallization
from sciml.evaluation.plots import plot_metric_vs_shots
from sciml.evaluation.protocol import few_shot_results, held_out_metrics, split_generator
from sciml.materials.avrami import AvramiPlot
from sciml.materials.kinetics import kinetics_metrics
from sciml.materials.recrystallization import (
    DESIGNS,
    early_design,
    fit_reference,
    isotherm_tasks,
    material_tasks,
    reference_t50,
)
from sciml.meta import CurveFit, Learner
from sciml.models.laws import JMAK, JMAKArrhenius
from sciml.prior.domains.law import law_prior
from sciml.study.context import RunContext
from sciml.study.learners import build_learner, enabled_learners
from sciml.study.report import markdown_table
from sciml.tasks import Task, TaskSet

DESCRIPTION = "leave-one-material-out JMAK calibration of real tungsten grades from 2-8 points, with 90% bands"

_GN = {"inner_optimizer": "gauss_newton", "inner_lr": 1.0, "inner_steps": 10, "inner_damping": 0.01, "inner_prior_precision": 0.01}
METRICS = ("t50_rel_error", "n_rel_error", "rmse_X", "diverged", "coverage90")

DEFAULTS: dict[str, Any] = {
    "study": {"kind": "jmak-tungsten", "description": ""},
    "data": {"undocumented_time_unit": ""},
    "model": {"T_ref_K": 1573.15, "k_ref": 1e-4, "Q_kJmol": 400.0, "n": 1.5},
    "train": {"iterations": 300, "shots": [2, 3, 5, 8], "query_size": 20, "seed": 0},
    "evaluate": {"shots": [2, 3, 5, 8], "designs": ["random", "early"], "seeds": list(range(10)), "level": 0.9},
    "suggest": {"learner": "MAML", "start_shots": 3, "added": 5, "seeds": [0, 1, 2, 3, 4]},
    "report": {"show_learner": "MAML", "headline_shots": 3},
    "isotherm": {
        "enabled": True,
        "shots": [2, 3, 4],
        "designs": ["random", "early"],
        "seeds": list(range(10)),
        "query_size": 3,
        "learners": {
            "MAML": {"class": "MAML", "first_order": True, "outer_lr": 0.01, "meta_batch_size": 16, **_GN},
            "MAML (JMAK with t0)": {"class": "MAML", "incubation": True, "first_order": True, "outer_lr": 0.01, "meta_batch_size": 16, **_GN},
            "pooled-prior MAP": {"class": "PriorMAP"},
            "curve_fit": {"class": "CurveFit"},
            "Avrami plot": {"class": "AvramiPlot"},
        },
    },
    "learners": {
        "MAML": {"class": "MAML", "first_order": True, "outer_lr": 0.01, "meta_batch_size": 8, **_GN},
        "MetaSGD": {"class": "MetaSGD", "first_order": True, "outer_lr": 0.01, "meta_batch_size": 8, **_GN},
        "Reptile": {"class": "Reptile", "outer_lr": 0.1, "meta_batch_size": 8, **_GN},
        "pooled-prior MAP": {"class": "PriorMAP"},
        "curve_fit": {"class": "CurveFit"},
        "Avrami plot": {"class": "AvramiPlot"},
    },
}

BASELINES = ("curve_fit", "Avrami plot", "pooled-prior MAP")


def _law(cfg: dict[str, Any]) -> JMAKArrhenius:
    m = cfg["model"]
    return JMAKArrhenius(T_ref=m["T_ref_K"], k_ref=m["k_ref"], Q=m["Q_kJmol"], n=m["n"]).double()


def _with_reference(task: Task, law: JMAK | JMAKArrhenius, ref: dict[str, float]) -> Task:
    """The task with the full-data fit's n and t50 (a list over the material's temperatures,
    or one value for an isotherm) in its metadata, for the kinetics metrics."""
    meta = dict(task.metadata)
    if "temperatures_K" in meta:
        t50 = reference_t50(law, ref, meta["temperatures_K"])
    else:
        t50 = reference_t50(law, ref, [meta["temperature_K"]])[0]
    meta.update(n=math.exp(ref["log_n"]), t50_s=t50, reference_fit=ref)
    return Task(task.support, task.query, name=task.name, group=task.group, metadata=meta)


def _pooled_noise_sd(refs: dict[str, dict[str, float]], names: Any) -> float:
    """RMS residual of the full-data fits of the tasks ``names``: the noise level [1]."""
    return float(np.sqrt(np.mean([refs[n]["rmse"] ** 2 for n in names])))


def _fit_and_evaluate(
    ctx: RunContext,
    learner: Learner,
    label: str,
    train: TaskSet,
    test: list[Task],
    *,
    iterations: int,
    train_shots: list[int],
    query_size: int,
    shots: list[int],
    designs: list[str],
    seeds: list[int],
    noise_sd: float,
    temperature_key: str,
    level: str,
) -> list[pd.DataFrame]:
    """Fit ``learner`` on the training tasks, then calibrate every test task under every design
    (random: ``seeds`` draws; early: one) and judge it with the kinetics metrics and coverage."""
    cfg = ctx.config
    learner.fit(train, iterations=iterations, shots=train_shots, query_size=query_size, seed=cfg["train"]["seed"], progress=False)
    metrics = {**kinetics_metrics(temperature_key=temperature_key), "coverage90": _coverage_metric(learner, noise_sd, cfg["evaluate"]["level"])}
    return [
        few_shot_results(
            learner, test, shots=shots, steps=[learner.inner_steps], seeds=seeds if design == "random" else [0], metrics=metrics,
            resample=DESIGNS[design], study=ctx.name, dataset=f"{level}:{design}", learner_name=label,
        )
        for design in designs
    ]


def _coverage_metric(learner: Learner, noise_sd: float, level: float) -> Any:
    def coverage(ad: Any, task: Task) -> float:
        if any(not torch.isfinite(v).all() for v in ad.params.values()):
            return float("nan")
        post = learner.posterior(ad, task.support, noise_sd)
        _, lo, hi = post.predict(task.query.x.double(), level=level)
        y = task.query.y.double()
        return float(((y >= lo) & (y <= hi)).double().mean())

    return coverage


def _isothermal_law(cfg: dict[str, Any], incubation: bool = False) -> JMAK:
    m = cfg["model"]
    return JMAK(k=m["k_ref"], n=m["n"], incubation=incubation, t0=60.0).double()


def _make_learner(label: str, spec: dict[str, Any], cfg: dict[str, Any], isothermal: bool = False) -> Learner:
    cls = spec["class"].lower()
    spec = dict(spec)
    incubation = bool(spec.pop("incubation", False))
    law = _isothermal_law(cfg, incubation) if isothermal else _law(cfg)
    if cls == "curvefit":
        return CurveFit(law)
    if cls == "avramiplot":
        return AvramiPlot(law)
    learner, _ = build_learner(label, spec, law)
    return learner


def _run_isotherm_level(ctx: RunContext, df: pd.DataFrame) -> pd.DataFrame:
    """The same protocol with one isotherm a task and the isothermal JMAK law."""
    cfg, iso = ctx.config, ctx.config["isotherm"]
    tasks = isotherm_tasks(df)
    refs = {t.name: fit_reference(t, _isothermal_law(cfg)) for t in tasks}
    min_len = max(iso["shots"]) + iso["query_size"]
    frames = []
    for held_out, train_all, test in tasks.leave_one_group_out():
        train = TaskSet(t for t in train_all if len(t) >= min_len)
        noise_sd = _pooled_noise_sd(refs, train_all.names)
        test_tasks = [_with_reference(t, _isothermal_law(cfg), refs[t.name]) for t in test]
        ctx.log(f"isotherm level, held out {held_out} ({len(test_tasks)} isotherms); {len(train)} training isotherms")
        for label, spec in iso["learners"].items():
            torch.manual_seed(cfg["train"]["seed"])
            learner = _make_learner(label, spec, cfg, isothermal=True)
            frames += _fit_and_evaluate(
                ctx, learner, label, train, test_tasks, iterations=cfg["train"]["iterations"], train_shots=iso["shots"],
                query_size=iso["query_size"], shots=iso["shots"], designs=iso["designs"], seeds=iso["seeds"],
                noise_sd=noise_sd, temperature_key="temperature_K", level="tungsten-isotherm",
            )
    return pd.concat(frames, ignore_index=True)


def _suggest_experiment(
    learner: Learner, task: Task, noise_sd: float, law: JMAKArrhenius, cfg: dict[str, Any], ctx: RunContext
) -> pd.DataFrame:
    """Sequential design: from the earliest points, add measurements by suggest_next, at random,
    or equally spaced in log time; record the t50 error after each addition."""
    s = cfg["suggest"]
    metric = kinetics_metrics(temperature_key="temperatures_K")["t50_rel_error"]
    temps = task.metadata["temperatures_K"]
    t_mid = float(np.median(temps))
    rows = []
    for strategy in ("suggest_next", "random", "equally spaced"):
        for seed in s["seeds"] if strategy == "random" else [0]:
            split = early_design(task, s["start_shots"])
            support, pool = split.support, split.query
            g = torch.Generator().manual_seed(seed)
            order = torch.argsort(pool.x[:, 0].log())
            grid = [int(order[round(q)]) for q in np.linspace(0, len(order) - 1, s["added"])]
            for step in range(s["added"] + 1):
                ad = learner.adapt(support)
                current = split.with_split(support, pool)
                rows.append((ctx.name, "tungsten:sequential", f"{cfg['suggest']['learner']}/{strategy}",
                             task.name, task.group, len(support), learner.inner_steps, seed, "t50_rel_error", metric(ad, current)))
                if step == s["added"] or len(pool) == 0:
                    break
                if strategy == "suggest_next":
                    post = learner.posterior(ad, support, noise_sd)
                    ranking = post.suggest_next(pool.x.double(), lambda p: law.t50(t_mid, p))
                    pick = int(ranking.iloc[0]["index"])
                elif strategy == "random":
                    pick = int(torch.randint(len(pool), (1,), generator=g))
                else:
                    target = float(split.query.x[grid[step], 0])
                    pick = int(torch.argmin((pool.x[:, 0].log() - math.log(max(target, 1e-6))).abs()))
                keep = torch.ones(len(pool), dtype=torch.bool)
                keep[pick] = False
                support = support.concat(pool.subset([pick]))
                pool = pool.subset(torch.nonzero(keep).flatten())
    return pd.DataFrame(rows, columns=["study", "dataset", "learner", "task", "group", "shots", "steps", "seed", "metric", "value"])


def run(ctx: RunContext) -> None:
    """Run the study (see the module docstring)."""
    cfg = ctx.config
    ev = cfg["evaluate"]
    unit = cfg["data"]["undocumented_time_unit"] or None
    with warnings.catch_warnings():  # the exclusions are logged below and listed in the report
        warnings.simplefilter("ignore", UserWarning)
        df = load_recrystallization(undocumented_time_unit=unit)
    for dataset, path in df.attrs["files"].items():
        ctx.add_input(path, role=dataset)
    excluded = df.attrs.get("excluded", {})
    tasks = material_tasks(df)
    law = _law(cfg)
    refs = {t.name: fit_reference(t, law) for t in tasks}
    ctx.log(f"{len(tasks)} materials ({len(df)} points); left out: {', '.join(excluded) or 'none'}")
    specs = enabled_learners(cfg)
    order = list(specs)
    frames, shown, sequential = [], {}, []
    for held_out, train, test in tasks.leave_one_group_out():
        assert held_out not in train.groups
        noise_sd = _pooled_noise_sd(refs, train.names)
        test_task = _with_reference(test[0], law, refs[held_out])
        ctx.log(f"held out {held_out}: priors from {', '.join(train.names)}; noise sd {noise_sd:.3f}")
        for label, spec in specs.items():
            torch.manual_seed(cfg["train"]["seed"])
            learner = _make_learner(label, spec, cfg)
            frames += _fit_and_evaluate(
                ctx, learner, label, train, [test_task], iterations=spec.get("iterations", cfg["train"]["iterations"]),
                train_shots=cfg["train"]["shots"], query_size=cfg["train"]["query_size"], shots=ev["shots"],
                designs=ev["designs"], seeds=ev["seeds"], noise_sd=noise_sd, temperature_key="temperatures_K", level="tungsten",
            )
            if learner.history_:
                ctx.add_history(f"{label} (without {held_out})", learner.history_)
            if label == cfg["report"]["show_learner"]:
                shown[held_out] = (learner, test_task, noise_sd)
            if label == cfg["suggest"]["learner"]:
                sequential.append(_suggest_experiment(learner, test_task, noise_sd, law, cfg, ctx))
    if cfg["isotherm"]["enabled"]:
        frames.append(_run_isotherm_level(ctx, df))
    results = pd.concat(frames + sequential, ignore_index=True)
    ctx.add_results(results)
    _report(ctx, results, order, excluded)
    _plots(ctx, results, order, shown, law)
    label = cfg["suggest"]["learner"]
    final = _make_learner(label, specs[label], cfg)
    final.fit(tasks, iterations=cfg["train"]["iterations"], shots=cfg["train"]["shots"], query_size=cfg["train"]["query_size"],
              seed=cfg["train"]["seed"], progress=False)
    metrics = held_out_metrics(results[results.learner == label], label, statistic="median")
    ctx.save_prior("tungsten-jmak-arrhenius", law_prior(
        final, tasks, _pooled_noise_sd(refs, refs), metrics=metrics,
        provenance={"trained_on": "every documented tungsten material", "held_out_metrics": "leave-one-material-out runs of "
                    f"{label} (medians over materials and draws)"}))


def _headline(results: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    rows = []
    main = results[results.dataset.isin(["tungsten:random", "tungsten:early"])]
    for (dataset, learner, shots), grp in main.groupby(["dataset", "learner", "shots"], sort=False):
        v = grp.set_index("metric").value
        rows.append({
            "design": dataset.split(":")[1], "learner": learner, "k": int(shots),
            "median t50 error": float(v.loc[["t50_rel_error"]].median()),
            "median n error": float(v.loc[["n_rel_error"]].median()),
            "median RMSE X": float(v.loc[["rmse_X"]].median()),
            "diverged": float(v.loc[["diverged"]].mean()),
            "coverage90": float(np.nanmean(v.loc[["coverage90"]].to_numpy(dtype=float))) if v.loc[["coverage90"]].notna().any() else float("nan"),
            "calibrations": int((grp.metric == "diverged").sum()),
        })
    out = pd.DataFrame(rows)
    out["o"] = out.learner.map({n: i for i, n in enumerate(order)})
    return out.sort_values(["design", "k", "o"]).drop(columns="o")


def _report(ctx: RunContext, results: pd.DataFrame, order: list[str], excluded: dict[str, str]) -> None:
    head = _headline(results, order)
    k = ctx.config["report"]["headline_shots"]
    ctx.headline = (
        "Leave-one-material-out: each material is calibrated by priors learned on the other materials only. "
        "Errors of t50 (mean over the material's temperatures) and n against the fit to all of the material's "
        "points; RMSE of X and 90% coverage on the material's other points; *diverged*: n outside 0.3-10 or t50 "
        "off by more than 10x at any temperature (failed calibrations count as diverged with infinite error). "
        f"Random design: {len(ctx.config['evaluate']['seeds'])} draws per material; early design: the k earliest "
        "points.\n\n" + markdown_table(head)
    )
    sub = head[head.k == k]
    lines = []
    for design in sub.design.unique():
        d = sub[sub.design == design].set_index("learner")
        metas = [n for n in d.index if n not in BASELINES]
        best = min(metas, key=lambda n: d.loc[n, "median t50 error"]) if metas else None
        if best is None:
            continue
        parts = [(f"**{design} design, k = {k}**: best meta-learner on this table (picked after the fact; every row is above) {best}: median t50 error {d.loc[best, 'median t50 error']:.3f}, "
                 f"{d.loc[best, 'diverged']:.0%} diverged, 90% coverage {d.loc[best, 'coverage90']:.2f}.")]
        for base in ("curve_fit", "pooled-prior MAP"):
            if base in d.index:
                parts.append(f"{base}: {d.loc[base, 'median t50 error']:.3f}, {d.loc[base, 'diverged']:.0%} diverged, coverage {d.loc[base, 'coverage90']:.2f}.")
        cov = d.loc[best, "coverage90"]
        parts.append("The 90% bands are " + ("calibrated (coverage within 0.80-0.95)." if 0.8 <= cov <= 0.95 else f"not calibrated (coverage {cov:.2f}, target 0.80-0.95)."))
        lines.append(" ".join(parts))
    ctx.add_section(f"At k = {k}", "\n\n".join(lines))
    seq = results[results.dataset == "tungsten:sequential"]
    if len(seq):
        tab = seq.groupby(["learner", "shots"]).value.median().unstack("shots")
        ctx.add_section(
            "Which experiment next",
            "Median t50 error (over held-out materials; random: also over 5 seeds) after adding measurements one at a "
            "time to the 3 earliest points, chosen by `suggest_next` (largest expected reduction of the posterior "
            "variance of log t50 at the material's median temperature), at random, or equally spaced in log time; "
            "the candidates are the material's measured points.\n\n" + markdown_table(tab.reset_index()),
        )
    iso = results[results.dataset.str.startswith("tungsten-isotherm")]
    if len(iso):
        iso_head = _headline(iso.assign(dataset=iso.dataset.str.replace("tungsten-isotherm", "tungsten")), list(ctx.config["isotherm"]["learners"]))
        ctx.add_section(
            "Isotherm level (one isotherm a task, isothermal JMAK)",
            "The same leave-one-material-out protocol with every isotherm a task (the material's isotherms are all "
            "held out together) and the isothermal JMAK law, with and without an incubation time; errors against the "
            "JMAK fit to all points of the isotherm. results.csv: dataset `tungsten-isotherm:<design>`.\n\n"
            + markdown_table(iso_head),
        )
    if excluded:
        ctx.add_section("Data left out", "\n".join(f"- {k}: {v}" for k, v in excluded.items()))


def _plots(ctx: RunContext, results: pd.DataFrame, order: list[str], shown: dict[str, Any], law: JMAKArrhenius) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = results[results.dataset.isin(["tungsten:random", "tungsten:early"])]
    designs = list(main.dataset.unique())
    for metric, title, fname in (("t50_rel_error", "median t50 error", "error_vs_k"), ("coverage90", "mean 90% coverage", "coverage_vs_k")):
        fig, axes = plt.subplots(1, len(designs), figsize=(6 * len(designs), 4), squeeze=False)
        for ax, design in zip(axes[0], designs):
            plot_metric_vs_shots(
                main[main.dataset == design], metric, ax=ax, statistic="median" if metric != "coverage90" else "mean",
                learners=order, baselines=BASELINES, log_y=metric == "t50_rel_error",
                title=f"{design.split(':')[1]} design: {title}",
            )
            if metric == "coverage90":
                ax.axhspan(0.8, 0.95, color="green", alpha=0.1)
        axes[0, 0].legend(fontsize=7)
        ctx.save_figure(fig, fname, f"{title} vs number of measured points, held-out materials.")

    if shown:
        fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.8), squeeze=False, sharey=True)
        for ax, (name, (learner, task, noise_sd)) in zip(axes[0], shown.items()):
            split = task.resample(3, split_generator(0, task.name, 3))
            ad = learner.adapt(split.support)
            post = learner.posterior(ad, split.support, noise_sd)
            temps = task.metadata["temperatures_K"]
            colors = plt.cm.viridis(np.linspace(0, 0.9, len(temps)))
            x_all = task.data.x
            for T, c in zip(temps, colors):
                sel = x_all[:, 1] == T
                tt = x_all[sel, 0].clamp_min(1.0)
                grid = torch.logspace(float(tt.min().log10()) - 0.3, float(tt.max().log10()) + 0.3, 100, dtype=torch.float64)
                xg = torch.stack([grid, torch.full_like(grid, T)], 1)
                mean, lo, hi = post.predict(xg, level=0.9)
                ax.fill_between(grid, lo.clamp(0, 1), hi.clamp(0, 1), color=c, alpha=0.2)
                ax.plot(grid, mean, color=c, label=f"{T - 273.15:.0f} C")
                ax.plot(tt, task.data.y[sel], "o", mfc="none", color=c, ms=4)
            ax.plot(split.support.x[:, 0].clamp_min(1.0), split.support.y, "k*", ms=10, label="3 measured")
            ax.set_xscale("log")
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("time [s]")
            ax.legend(fontsize=6)
        axes[0, 0].set_ylabel("recrystallized fraction X")
        fig.tight_layout()
        ctx.save_figure(fig, "calibrated_k3", f"Each held-out material calibrated by {ctx.config['report']['show_learner']} from 3 random points (stars), with 90% predictive bands; circles: all measured points.")

    seq = results[results.dataset == "tungsten:sequential"]
    if len(seq):
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, grp in seq.groupby("learner"):
            med = grp.groupby("shots").value.median()
            ax.plot(med.index, med.values, marker="o", label=name.split("/")[1])
        ax.set_yscale("log")
        ax.set_xlabel("measured points (3 earliest + added)")
        ax.set_ylabel("median t50 error")
        ax.legend()
        ax.grid(alpha=0.3)
        ctx.save_figure(fig, "suggest_next", "t50 error as measurements are added: suggest_next vs random vs equally spaced in log time.")

