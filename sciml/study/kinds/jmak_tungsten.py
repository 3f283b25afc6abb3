"""Study kind ``jmak-tungsten``: calibrate a new tungsten grade from a few experiments.

Leave-one-material-out over the tungsten recrystallization data (`load_recrystallization`):
for every held-out material, the priors are learned on the other materials only; the held-out
material is calibrated from k = 2, 3, 5, 8 of its points (random, or the k earliest) and judged
on its other points and against the fit to all its points. Methods: bounded curve_fit from
scratch, the linearized Avrami plot, the pooled-prior MAP (empirical Bayes), and meta-learned
priors (MAML, MetaSGD, Reptile) with a Gauss-Newton inner loop. Uncertainty: Laplace posterior
(90% predictive bands, coverage on held-out points). ``suggest_next`` is compared with random
and equally spaced next measurements.

Your own materials: ``data.table`` is the path of a CSV with columns ``material``, time and
temperature with their units in the header (``time [h]``, ``temperature [C]``) and ``X``
(:func:`~sciml.data.recrystallization.load_kinetics_table`).

The ``dataset`` column of results.csv names the design: ``tungsten:random``,
``tungsten:early`` or ``tungsten:sequential`` (the suggest-next experiment).
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
import torch

from sciml.data.recrystallization import load_kinetics_table, load_recrystallization
from sciml.evaluation.coverage import posterior_band_coverage
from sciml.evaluation.plots import plot_metric_vs_shots
from sciml.evaluation.protocol import few_shot_results, held_out_metrics, split_generator
from sciml.materials.avrami import AvramiPlot
from sciml.materials.design import sequential_design
from sciml.materials.kinetics import kinetics_metrics, kinetics_table
from sciml.materials.plots import plot_material_calibration, plot_sequential_design
from sciml.materials.recrystallization import (
    DESIGNS,
    fit_reference,
    isotherm_tasks,
    material_tasks,
    pooled_noise_sd,
    with_reference,
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
    "data": {"undocumented_time_unit": "", "table": ""},
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
    metrics = {**kinetics_metrics(temperature_key=temperature_key), "coverage90": posterior_band_coverage(learner, noise_sd, cfg["evaluate"]["level"])}
    return [
        few_shot_results(
            learner, test, shots=shots, steps=[learner.inner_steps], seeds=seeds if design == "random" else [0], metrics=metrics,
            resample=DESIGNS[design], study=ctx.name, dataset=f"{level}:{design}", learner_name=label,
        )
        for design in designs
    ]


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
        noise_sd = pooled_noise_sd(refs, train_all.names)
        test_tasks = [with_reference(t, _isothermal_law(cfg), refs[t.name]) for t in test]
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


def run(ctx: RunContext) -> None:
    """Run the study (see the module docstring)."""
    cfg = ctx.config
    ev = cfg["evaluate"]
    unit = cfg["data"]["undocumented_time_unit"] or None
    if cfg["data"]["table"]:
        df = load_kinetics_table(cfg["data"]["table"])
    else:
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
        noise_sd = pooled_noise_sd(refs, train.names)
        test_task = with_reference(test[0], law, refs[held_out])
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
                s = cfg["suggest"]
                seq = sequential_design(learner, test_task, noise_sd, start_shots=s["start_shots"], added=s["added"], seeds=s["seeds"])
                sequential.append(pd.DataFrame({
                    "study": ctx.name, "dataset": "tungsten:sequential", "learner": label + "/" + seq.strategy, "task": test_task.name,
                    "group": test_task.group, "shots": seq.shots, "steps": learner.inner_steps, "seed": seq.seed,
                    "metric": "t50_rel_error", "value": seq.t50_rel_error}))
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
        final, tasks, pooled_noise_sd(refs, refs), metrics=metrics,
        provenance={"trained_on": "every documented tungsten material", "held_out_metrics": "leave-one-material-out runs of "
                    f"{label} (medians over materials and draws)"}))


def _headline(results: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    main = results[results.dataset.isin(["tungsten:random", "tungsten:early"])]
    head = kinetics_table(main, order)
    head.insert(0, "design", head.pop("dataset").str.split(":").str[1])
    return head.sort_values(["design", "k"], kind="stable").reset_index(drop=True)


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
            post = learner.posterior(learner.adapt(split.support), split.support, noise_sd)
            plot_material_calibration(ax, post, task, split.support, title=name)
        axes[0, 0].set_ylabel("recrystallized fraction X")
        fig.tight_layout()
        ctx.save_figure(fig, "calibrated_k3", f"Each held-out material calibrated by {ctx.config['report']['show_learner']} from 3 random points (stars), with 90% predictive bands; circles: all measured points.")

    seq = results[results.dataset == "tungsten:sequential"]
    if len(seq):
        fig, ax = plt.subplots(figsize=(6, 4))
        plot_sequential_design(ax, seq.assign(strategy=seq.learner.str.split("/").str[1], t50_rel_error=seq.value))
        ctx.save_figure(fig, "suggest_next", "t50 error as measurements are added: suggest_next vs random vs equally spaced in log time.")
