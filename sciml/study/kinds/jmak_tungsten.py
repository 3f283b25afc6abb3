"""Study kind ``jmak-tungsten``: calibrate a new tungsten grade from a few experiments.

Config -> :func:`sciml.materials.benchmark.leave_one_group_out` (once per material, once per
isotherm) -> results and report. Every held-out material is calibrated from k of its points
(random, or the k earliest) by priors learned on the other materials only, and judged on its
other points and against the fit to all its points; ``suggest_next`` is compared with random
and equally spaced next measurements.

Time units: ``data.undocumented_time_unit = "infer"`` infers the unit of each source that does
not document it (:func:`~sciml.materials.time_units.recrystallization_with_inferred_units`, under
the pooled prior of the documented sources; a source is used when its most probable unit reaches
``data.unit_threshold``), validated by hiding each documented unit in turn; ``""`` leaves those
sources out; ``"h"``, ``"min"`` or ``"s"`` assumes that unit for all of them.

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
from sciml.materials.benchmark import fit_law_prior, leave_one_group_out, pretrained_on_synthetic
from sciml.materials.hierarchy import leave_one_isotherm_out
from sciml.materials.kinetics import calibration_verdicts, design_table
from sciml.materials.plots import plot_calibrated_materials, plot_metric_by_design, plot_sequential_design
from sciml.materials.recrystallization import isotherm_tasks, material_tasks, pooled_noise_sd
from sciml.materials.time_units import UnitInference, recrystallization_with_inferred_units
from sciml.meta import PriorMAP
from sciml.meta.tables import build_learner, enabled_learners
from sciml.models.laws import JMAK, GeneralizedLogistic, JMAKArrhenius
from sciml.study.context import RunContext
from sciml.study.report import markdown_table
from sciml.tasks import TaskSet

DESCRIPTION = "leave-one-material-out JMAK calibration of real tungsten grades from 2-8 points, with 90% bands"

_GN = {"inner_optimizer": "gauss_newton", "inner_lr": 1.0, "inner_steps": 10, "inner_damping": 0.01, "inner_prior_precision": 0.01}
_META = {"first_order": True, "outer_lr": 0.01, **_GN}
_BASELINES = {"pooled-prior MAP": {"class": "PriorMAP"}, "curve_fit": {"class": "CurveFit"}, "Avrami plot": {"class": "AvramiPlot"}}
_GL_BASELINES = {"pooled-prior MAP (generalized logistic)": {"class": "PriorMAP", "model": "generalized-logistic"},
                 "curve_fit (generalized logistic)": {"class": "CurveFit", "model": "generalized-logistic"}}
LAWS = ("jmak-arrhenius", "generalized-logistic")
"""Values of a learner table's ``model`` key: the law it calibrates (JMAK-Arrhenius by default)."""
DEFAULTS: dict[str, Any] = {
    "study": {"kind": "jmak-tungsten", "description": ""},
    "data": {"undocumented_time_unit": "", "unit_threshold": 0.9, "table": ""},
    "model": {"T_ref_K": 1573.15, "k_ref": 1e-4, "Q_kJmol": 400.0, "n": 1.5},
    "train": {"iterations": 300, "shots": [2, 3, 5, 8], "query_size": 20, "seed": 0},
    "evaluate": {"shots": [2, 3, 5, 8], "designs": ["random", "early"], "seeds": list(range(10)), "level": 0.9},
    "suggest": {"learner": "MAML", "start_shots": 3, "added": 5, "seeds": [0, 1, 2, 3, 4]},
    "report": {"show_learner": "MAML", "headline_shots": 3},
    "known_material": {"enabled": True, "shots": [1, 2, 3], "seeds": list(range(10))},
    "isotherm": {
        "enabled": True, "shots": [2, 3, 4], "designs": ["random", "early"], "seeds": list(range(10)), "query_size": 3,
        "learners": {"MAML": {"class": "MAML", "meta_batch_size": 16, **_META},
                     "MAML (JMAK with t0)": {"class": "MAML", "incubation": True, "meta_batch_size": 16, **_META}, **_BASELINES},
    },
    "learners": {"MAML": {"class": "MAML", "meta_batch_size": 8, **_META},
                 "MAML (synthetic pre-training)": {"class": "MAML", "meta_batch_size": 8, **_META, "pretrain_alloys": 200},
                 "MetaSGD": {"class": "MetaSGD", "meta_batch_size": 8, **_META},
                 "Reptile": {"class": "Reptile", "outer_lr": 0.1, "meta_batch_size": 8, **_GN}, **_BASELINES, **_GL_BASELINES},
}

BASELINES = tuple(_BASELINES) + tuple(_GL_BASELINES)


def _law(cfg: dict[str, Any], isothermal: bool = False, incubation: bool = False,
         model: str = "jmak-arrhenius") -> JMAK | JMAKArrhenius | GeneralizedLogistic:
    m = cfg["model"]
    if model not in LAWS:
        raise ValueError(f"Unknown law {model!r} in a learner table's 'model' key; choose from {list(LAWS)}.")
    if model == "generalized-logistic":
        if isothermal:
            raise ValueError("The generalized logistic law needs (time, temperature) inputs: use it at the material level only.")
        return GeneralizedLogistic(T_ref=m["T_ref_K"]).double()
    if isothermal:
        return JMAK(k=m["k_ref"], n=m["n"], incubation=incubation, t0=60.0).double()
    return JMAKArrhenius(T_ref=m["T_ref_K"], k_ref=m["k_ref"], Q=m["Q_kJmol"], n=m["n"]).double()


PRETRAIN_KEYS = ("pretrain_alloys", "pretrain_iterations")
"""Learner-table options: meta-train first on this many synthetic tungsten alloys
(``SyntheticAlloyFamily("W_recrystallization").material_tasks``, seed 0; the same for every
held-out material, never any real data) for ``pretrain_iterations`` (default: ``train.iterations``),
then on the training materials as usual. Material level only."""


def _factories(cfg: dict[str, Any], specs: dict[str, Any], isothermal: bool = False) -> dict[str, Any]:
    factories = {}
    for label, spec in specs.items():
        table = {k: v for k, v in spec.items() if k not in PRETRAIN_KEYS}
        law = (lambda spec=spec: _law(cfg, isothermal, bool(spec.get("incubation")), spec.get("model") or "jmak-arrhenius"))
        make = (lambda label=label, table=table, law=law: build_learner(label, table, law())[0])
        if spec.get("pretrain_alloys"):
            tr = cfg["train"]
            make = pretrained_on_synthetic(make, int(spec["pretrain_alloys"]), {
                "iterations": int(spec.get("pretrain_iterations", tr["iterations"])), "shots": tr["shots"],
                "query_size": tr["query_size"], "seed": tr["seed"]})
        factories[label] = make
    return factories


def run(ctx: RunContext) -> None:
    """Run the study (see the module docstring)."""
    cfg = ctx.config
    ev, tr, iso = cfg["evaluate"], cfg["train"], cfg["isotherm"]
    df = _load(ctx)
    for dataset, path in df.attrs["files"].items():
        ctx.add_input(path, role=dataset)
    excluded = df.attrs.get("excluded", {})
    tasks = material_tasks(df, clip_fractions=True)
    clipped = {t.name: t.metadata["fractions_clipped"] for t in tasks if t.metadata["fractions_clipped"]}
    ctx.log(f"{len(tasks)} materials ({len(df)} points); left out: {', '.join(excluded) or 'none'}")
    min_points = max(tr["shots"]) + tr["query_size"]  # a meta-training episode draws a support and a query of fixed sizes
    too_small = {t.name: len(t) for t in tasks if len(t) < min_points}
    specs = enabled_learners(cfg)
    fit = {k: tr[k] for k in ("iterations", "shots", "query_size", "seed")}
    bench = leave_one_group_out(
        tasks, _factories(cfg, specs), law=_law(cfg), fit=fit, shots=ev["shots"], designs=ev["designs"], seeds=ev["seeds"],
        level=ev["level"], min_train_points=min_points, fit_overrides={k: {"iterations": v["iterations"]} for k, v in specs.items() if "iterations" in v},
        keep=cfg["report"]["show_learner"], sequential={**cfg["suggest"]}, dataset="tungsten", study=ctx.name, log=ctx.log)
    frames = [bench.results]
    if iso["enabled"]:
        iso_bench = leave_one_group_out(
            isotherm_tasks(df, clip_fractions=True), _factories(cfg, iso["learners"], isothermal=True), law=_law(cfg, isothermal=True),
            fit={**fit, "shots": iso["shots"], "query_size": iso["query_size"]}, shots=iso["shots"], designs=iso["designs"],
            seeds=iso["seeds"], level=ev["level"], temperature_key="temperature_K", min_train_points=max(iso["shots"]) + iso["query_size"],
            dataset="tungsten-isotherm", study=ctx.name, log=ctx.log)
        frames.append(iso_bench.results)
        bench.histories.update({f"isotherm level: {k}": v for k, v in iso_bench.histories.items()})
    known = cfg["known_material"]
    if known["enabled"]:
        ctx.log("a new isotherm of a known material: each isotherm held out in turn")
        frames.append(leave_one_isotherm_out(tasks, _law(cfg), shots=known["shots"], seeds=known["seeds"], level=ev["level"],
                                             study=ctx.name, dataset="tungsten-known-material", log=ctx.log))
    results = pd.concat([*frames, bench.details["sequential"]], ignore_index=True)
    ctx.add_benchmark(BenchmarkResult(results, bench.histories))
    order = list(specs)
    _report(ctx, results, order, excluded, clipped, too_small, min_points)
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
    trainable = TaskSet(t for t in tasks if t.name not in too_small)
    ctx.save_prior("tungsten-jmak-arrhenius", fit_law_prior(
        _factories(cfg, {label: specs[label]})[label](), trainable, fit, pooled_noise_sd(refs, refs), results, label,
        {"trained_on": "tungsten materials " + ", ".join(trainable.names), "held_out_metrics": f"leave-one-material-out runs of {label} (medians over "
         "materials and draws)"}))


def _load(ctx: RunContext) -> pd.DataFrame:
    """The study's data: a user's table, or the tungsten sources with their time units resolved."""
    data = ctx.config["data"]
    unit = data["undocumented_time_unit"]
    if unit != "infer" or data["table"]:
        return load_kinetics_source(data["table"], unit or None, warn=False)  # exclusions: in the report
    ctx.log("inferring the undocumented time units under the documented sources' pooled prior")
    inferred = recrystallization_with_inferred_units(lambda tasks: PriorMAP(_law(ctx.config)).fit(tasks), threshold=data["unit_threshold"])
    _report_units(ctx, inferred)
    return inferred.data


def _report_units(ctx: RunContext, inferred: UnitInference) -> None:
    threshold = ctx.config["data"]["unit_threshold"]
    rec, inf = inferred.recovery, inferred.inference
    ctx.save_table("time_unit_recovery", rec)
    ctx.save_table("time_unit_inference", inf)
    cols = ["source", *[c for c in inf.columns if c.startswith("p_")], "inferred", "used"]
    ctx.add_section("Time units", (
        "Sources that do not document their time unit are not dropped: under the pooled-prior MAP's Gaussian prior learned "
        "on the documented sources (JMAK-Arrhenius), the Laplace evidence of each source's measurements is computed with "
        "its printed times read as s, min or h (equal prior odds), giving the posterior probability of each unit. A source "
        f"is used in its most probable unit when that probability is at least {threshold:g}, and left out otherwise.\n\n"
        f"**Validation** (each documented source's unit hidden in turn, prior from the other documented sources only): "
        f"recovered {int(rec.recovered.sum())} of {len(rec)} ({rec.recovered.mean():.0%}); "
        f"{int(rec.used.sum())} of {len(rec)} decided at the threshold, of which {int(rec.recovered[rec.used].sum())} correctly.\n\n"
        + markdown_table(rec[["source", "true_unit", *cols[1:]]]) + "\n\n**Undocumented sources**:\n\n" + markdown_table(inf[cols])
        + "\n\nTables: `tables/time_unit_recovery.csv`, `tables/time_unit_inference.csv`. The probabilities rest on a prior "
        "learned from few materials: they say which unit the documented grades make plausible, not what the paper used."))


def _report(ctx: RunContext, results: pd.DataFrame, order: list[str], excluded: dict[str, str], clipped: dict[str, int],
            too_small: dict[str, int], min_points: int) -> None:
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
    known = results[results.dataset.str.startswith("tungsten-known-material")]
    if len(known):
        ctx.add_section("A new isotherm of a known material (family -> material -> isotherm)", (
            "Each isotherm of each material is held out in turn while the material's other isotherms are known. The "
            "family prior (pooled-prior MAP) and the isotherms' scatter around their material's Arrhenius law are learned "
            "from the other materials only; the material's other isotherms turn the family prior into the material's "
            "posterior, widened by that scatter (`sciml.materials.hierarchy.condition_on_material`). The held-out isotherm is "
            "then calibrated from k random points by MAP under it, under the family prior alone (the isotherm treated as a "
            "stranger), or by an isothermal JMAK fit of the k points; k = 0 is the prediction before any point of the "
            "isotherm. Errors against the isothermal fit to all of the isotherm's points; 90% coverage on its other points. "
            "results.csv: dataset `tungsten-known-material:random`.\n\n" + markdown_table(design_table(known, list(known.learner.unique())))))
    if excluded:
        ctx.add_section("Data left out", "\n".join(f"- {k}: {v}" for k, v in excluded.items()))
    if too_small:
        ctx.add_section("Materials too small to learn from", (
            f"Material-level meta-training episodes draw {min_points} points of a material (support and query), so at the "
            "material level these materials are held out and judged (at each k below their size) but not trained on, by any "
            "method (the isotherm level trains on their isotherms that are large enough):\n\n"
            + "\n".join(f"- {k}: {v} points" for k, v in too_small.items())))
    if clipped:
        ctx.add_section("Data repaired", "Transformed fractions outside [0, 1] by more than the 0.02 digitization tolerance, "
                        "clipped into [0, 1]:\n\n" + "\n".join(f"- {k}: {v} value(s)" for k, v in clipped.items()))
