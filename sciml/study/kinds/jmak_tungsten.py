"""Study kind ``jmak-tungsten``: calibrate a new tungsten grade from a few experiments.

Config -> :func:`sciml.materials.benchmark.leave_one_group_out` (once per material, once per
isotherm) -> results and report. Every held-out material is calibrated from k of its points
(random, or the k earliest) by priors learned on the other materials only, and judged on its
other points and against the fit to all its points; ``suggest_next`` is compared with random
and equally spaced next measurements.

Your own materials: ``data.table`` is the path of a CSV with columns ``material``, time and
temperature with their units in the header (``time [h]``, ``temperature [C]``) and ``X``
(:func:`~sciml.data.recrystallization.load_kinetics_table`). The ``dataset`` column of
results.csv names the design: ``tungsten:random``, ``tungsten:early`` or ``tungsten:sequential``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sciml.data.recrystallization import load_kinetics_source
from sciml.evaluation.benchmark import BenchmarkResult
from sciml.materials.benchmark import fit_law_prior, leave_one_group_out
from sciml.materials.kinetics import calibration_verdicts, design_table
from sciml.materials.plots import plot_calibrated_materials, plot_metric_by_design, plot_sequential_design
from sciml.materials.recrystallization import isotherm_tasks, material_tasks, pooled_noise_sd
from sciml.meta.tables import build_learner, enabled_learners
from sciml.models.laws import JMAK, JMAKArrhenius
from sciml.study.context import RunContext
from sciml.study.report import markdown_table

DESCRIPTION = "leave-one-material-out JMAK calibration of real tungsten grades from 2-8 points, with 90% bands"

_GN = {"inner_optimizer": "gauss_newton", "inner_lr": 1.0, "inner_steps": 10, "inner_damping": 0.01, "inner_prior_precision": 0.01}
_META = {"first_order": True, "outer_lr": 0.01, **_GN}
_BASELINES = {"pooled-prior MAP": {"class": "PriorMAP"}, "curve_fit": {"class": "CurveFit"}, "Avrami plot": {"class": "AvramiPlot"}}
DEFAULTS: dict[str, Any] = {
    "study": {"kind": "jmak-tungsten", "description": ""},
    "data": {"undocumented_time_unit": "", "table": ""},
    "model": {"T_ref_K": 1573.15, "k_ref": 1e-4, "Q_kJmol": 400.0, "n": 1.5},
    "train": {"iterations": 300, "shots": [2, 3, 5, 8], "query_size": 20, "seed": 0},
    "evaluate": {"shots": [2, 3, 5, 8], "designs": ["random", "early"], "seeds": list(range(10)), "level": 0.9},
    "suggest": {"learner": "MAML", "start_shots": 3, "added": 5, "seeds": [0, 1, 2, 3, 4]},
    "report": {"show_learner": "MAML", "headline_shots": 3},
    "isotherm": {
        "enabled": True, "shots": [2, 3, 4], "designs": ["random", "early"], "seeds": list(range(10)), "query_size": 3,
        "learners": {"MAML": {"class": "MAML", "meta_batch_size": 16, **_META},
                     "MAML (JMAK with t0)": {"class": "MAML", "incubation": True, "meta_batch_size": 16, **_META}, **_BASELINES},
    },
    "learners": {"MAML": {"class": "MAML", "meta_batch_size": 8, **_META}, "MetaSGD": {"class": "MetaSGD", "meta_batch_size": 8, **_META},
                 "Reptile": {"class": "Reptile", "outer_lr": 0.1, "meta_batch_size": 8, **_GN}, **_BASELINES},
}

BASELINES = tuple(_BASELINES)


def _law(cfg: dict[str, Any], isothermal: bool = False, incubation: bool = False) -> JMAK | JMAKArrhenius:
    m = cfg["model"]
    if isothermal:
        return JMAK(k=m["k_ref"], n=m["n"], incubation=incubation, t0=60.0).double()
    return JMAKArrhenius(T_ref=m["T_ref_K"], k_ref=m["k_ref"], Q=m["Q_kJmol"], n=m["n"]).double()


def _factories(cfg: dict[str, Any], specs: dict[str, Any], isothermal: bool = False) -> dict[str, Any]:
    return {label: (lambda label=label, spec=spec: build_learner(label, spec, _law(cfg, isothermal, bool(spec.get("incubation"))))[0])
            for label, spec in specs.items()}


def run(ctx: RunContext) -> None:
    """Run the study (see the module docstring)."""
    cfg = ctx.config
    ev, tr, iso = cfg["evaluate"], cfg["train"], cfg["isotherm"]
    df = load_kinetics_source(cfg["data"]["table"], cfg["data"]["undocumented_time_unit"] or None, warn=False)  # exclusions: in the report
    for dataset, path in df.attrs["files"].items():
        ctx.add_input(path, role=dataset)
    excluded = df.attrs.get("excluded", {})
    tasks = material_tasks(df)
    ctx.log(f"{len(tasks)} materials ({len(df)} points); left out: {', '.join(excluded) or 'none'}")
    specs = enabled_learners(cfg)
    fit = {k: tr[k] for k in ("iterations", "shots", "query_size", "seed")}
    bench = leave_one_group_out(
        tasks, _factories(cfg, specs), law=_law(cfg), fit=fit, shots=ev["shots"], designs=ev["designs"], seeds=ev["seeds"],
        level=ev["level"], fit_overrides={k: {"iterations": v["iterations"]} for k, v in specs.items() if "iterations" in v},
        keep=cfg["report"]["show_learner"], sequential={**cfg["suggest"]}, dataset="tungsten", study=ctx.name, log=ctx.log)
    frames = [bench.results]
    if iso["enabled"]:
        iso_bench = leave_one_group_out(
            isotherm_tasks(df), _factories(cfg, iso["learners"], isothermal=True), law=_law(cfg, isothermal=True),
            fit={**fit, "shots": iso["shots"], "query_size": iso["query_size"]}, shots=iso["shots"], designs=iso["designs"],
            seeds=iso["seeds"], level=ev["level"], temperature_key="temperature_K", min_train_points=max(iso["shots"]) + iso["query_size"],
            dataset="tungsten-isotherm", study=ctx.name, log=ctx.log)
        frames.append(iso_bench.results)
        bench.histories.update({f"isotherm level: {k}": v for k, v in iso_bench.histories.items()})
    results = pd.concat([*frames, bench.details["sequential"]], ignore_index=True)
    ctx.add_benchmark(BenchmarkResult(results, bench.histories))
    order = list(specs)
    _report(ctx, results, order, excluded)
    main = results[results.dataset.isin(["tungsten:random", "tungsten:early"])]
    for metric, title, name, stat in (("t50_rel_error", "median t50 error", "error_vs_k", "median"),
                                      ("coverage90", "mean 90% coverage", "coverage_vs_k", "mean")):
        fig = plot_metric_by_design(main, metric, title, order=order, baselines=BASELINES, statistic=stat)
        ctx.save_figure(fig, name, f"{title} vs number of measured points, held-out materials.")
    if bench.details["kept"]:
        ctx.save_figure(plot_calibrated_materials(bench.details["kept"]), "calibrated_k3", f"Each held-out material calibrated by "
                        f"{cfg['report']['show_learner']} from 3 random points (stars), with 90% predictive bands; circles: all measured points.")
    if len(bench.details["sequential"]):
        ctx.save_figure(plot_sequential_design(None, bench.details["sequential"]).figure, "suggest_next",
                        "t50 error as measurements are added: suggest_next vs random vs equally spaced in log time.")
    label = cfg["suggest"]["learner"]
    refs = bench.details["references"]
    ctx.save_prior("tungsten-jmak-arrhenius", fit_law_prior(
        _factories(cfg, {label: specs[label]})[label](), tasks, fit, pooled_noise_sd(refs, refs), results, label,
        {"trained_on": "every documented tungsten material", "held_out_metrics": f"leave-one-material-out runs of {label} (medians over "
         "materials and draws)"}))


def _report(ctx: RunContext, results: pd.DataFrame, order: list[str], excluded: dict[str, str]) -> None:
    head = design_table(results[results.dataset.isin(["tungsten:random", "tungsten:early"])], order)
    k = ctx.config["report"]["headline_shots"]
    ctx.headline = (
        "Leave-one-material-out: each material is calibrated by priors learned on the other materials only. "
        "Errors of t50 (mean over the material's temperatures) and n against the fit to all of the material's "
        "points; RMSE of X and 90% coverage on the material's other points; *diverged*: n outside 0.3-10 or t50 "
        "off by more than 10x at any temperature (failed calibrations count as diverged with infinite error). "
        f"Random design: {len(ctx.config['evaluate']['seeds'])} draws per material; early design: the k earliest "
        "points.\n\n" + markdown_table(head)
    )
    lines = calibration_verdicts(head, k, BASELINES)
    ctx.add_section(f"At k = {k}", "\n\n".join(lines))
    seq = results[results.dataset == "tungsten:sequential"]
    if len(seq):
        tab = seq.groupby(["learner", "shots"]).value.median().unstack("shots")
        ctx.add_section("Which experiment next", (
            "Median t50 error (over held-out materials; random: also over 5 seeds) after adding measurements one at a "
            "time to the 3 earliest points, chosen by `suggest_next` (largest expected reduction of the posterior "
            "variance of log t50 at the material's median temperature), at random, or equally spaced in log time; "
            "the candidates are the material's measured points.\n\n" + markdown_table(tab.reset_index())))
    iso = results[results.dataset.str.startswith("tungsten-isotherm")]
    if len(iso):
        iso_head = design_table(iso, list(ctx.config["isotherm"]["learners"]))
        ctx.add_section("Isotherm level (one isotherm a task, isothermal JMAK)", (
            "The same leave-one-material-out protocol with every isotherm a task (the material's isotherms are all "
            "held out together) and the isothermal JMAK law, with and without an incubation time; errors against the "
            "JMAK fit to all points of the isotherm. results.csv: dataset `tungsten-isotherm:<design>`.\n\n" + markdown_table(iso_head)))
    if excluded:
        ctx.add_section("Data left out", "\n".join(f"- {k}: {v}" for k, v in excluded.items()))
