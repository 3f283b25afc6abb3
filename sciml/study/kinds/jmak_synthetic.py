"""Study kind ``jmak-synthetic``: calibrate new synthetic alloys from 2-8 measured points.

Meta-train JMAK-Arrhenius priors (MAML, MetaSGD, Reptile) on the isotherms of some alloys of a
literature-grounded family (:class:`~sciml.materials.synthetic_alloys.SyntheticAlloyFamily`),
then calibrate isotherms of new alloys from k points
(:func:`~sciml.evaluation.benchmark.fit_and_evaluate`); compare with bounded ``curve_fit`` of
the isothermal JMAK law from scratch and with the pooled-fit initialization adapted by the
same inner loop (FineTune). A conditional neural process (``class =
"ConditionalNeuralProcess"``) learns the curves without the law: it reads (log time,
temperature) standardized on the training alloys, and its t50 and n are read off its predicted
mean curve; its 90% bands are scored by coverage.

``data.families`` (a list of family names) mixes alloys of several families (``n_alloys`` of
each); learners start from the first family's nominal law, and a ``class = "MixtureOfExperts"``
table meta-learns one copy of its ``expert`` table per family (each from its own family's
nominal law) and a gate (:mod:`sciml.meta.mixture`); the report gives the gate's weights per
held-out family.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from sciml.data.paths import reference_file
from sciml.evaluation.benchmark import fit_and_evaluate
from sciml.evaluation.coverage import predictive_metrics_of
from sciml.evaluation.plots import plot_metric_vs_shots, plot_training_curves
from sciml.evaluation.protocol import held_out_metrics, summarize
from sciml.materials.kinetics import isotherm_descriptor, kinetics_metrics, kinetics_table, prior_centres
from sciml.materials.plots import plot_isotherm_gallery, plot_kinetics_errors
from sciml.materials.synthetic_alloys import SyntheticAlloyFamily, check_families_against_table, time_only
from sciml.meta import ConditionalNeuralProcess, CurveFit, LearnedOptimizer, resolve_learner
from sciml.meta.mixture import MixtureOfExperts
from sciml.meta.stacking import SuperLearner
from sciml.meta.tables import build_learner, build_mixture, build_stack, enabled_learners, is_mixture, is_stack
from sciml.models import ConditionalNeuralProcessNet
from sciml.models.laws import JMAK, JMAKArrhenius
from sciml.prior.domains.law import law_prior
from sciml.study.context import RunContext
from sciml.study.report import markdown_table, slug
from sciml.tasks import TaskSet

DESCRIPTION = "meta-learned JMAK-Arrhenius priors vs curve_fit on a synthetic alloy family"

_GN = {"inner_optimizer": "gauss_newton", "inner_lr": 1.0, "inner_steps": 10, "inner_damping": 0.01, "inner_prior_precision": 0.003}
_META = {"first_order": True, "outer_lr": 0.01, "meta_batch_size": 32, **_GN}
DEFAULTS: dict[str, Any] = {
    "study": {"kind": "jmak-synthetic", "description": ""},
    "data": {"family": "W_recrystallization", "families": [], "n_alloys": 160, "test_fraction": 0.25, "val_fraction": 0.2, "temperatures_per_alloy": 3,
             "points_per_isotherm": 10, "noise_sd": 0.03, "seed": 0},
    "train": {"iterations": 400, "shots": [2, 3, 5, 8], "eval_every": 50, "seed": 0},
    "evaluate": {"shots": [2, 3, 5, 8], "seeds": [0, 1, 2, 3, 4], "example_shots": 3},
    "learners": {
        "MAML": {"class": "MAML", **_META}, "MetaSGD": {"class": "MetaSGD", **_META},
        "Reptile": {"class": "Reptile", "outer_lr": 0.1, "meta_batch_size": 32, **_GN},
        "MAML-SGD": {"class": "MAML", "inner_optimizer": "sgd", "inner_lr": 1.0, "inner_steps": 5, "outer_lr": 0.03, "meta_batch_size": 32},
        "pooled-init": {"class": "FineTune", "outer_lr": 0.03, "meta_batch_size": 32, **_GN},
        "curve_fit": {"class": "CurveFit"},
        "SuperLearner": {"class": "SuperLearner", "learners": ["MAML", "MetaSGD", "Reptile", "pooled-init"], "folds": 4},
        "CNP": {"class": "ConditionalNeuralProcess", "outer_lr": 1e-3, "meta_batch_size": 32},
        "CNP-5000": {"class": "ConditionalNeuralProcess", "outer_lr": 1e-3, "meta_batch_size": 32, "iterations": 5000},
    },
}

BASELINES = ("curve_fit", "pooled-init")
ABLATIONS = ("MAML-SGD",)


def neural_process_for(train: Any) -> ConditionalNeuralProcessNet:
    """A conditional neural process over (time [s], temperature [K]) -> X, with log time, and
    both inputs standardized on the pooled training isotherms."""
    x = torch.cat([t.data.x for t in train])
    y = torch.cat([t.data.y for t in train])
    return ConditionalNeuralProcessNet(2, None, log_inputs=[0], **ConditionalNeuralProcessNet.standardization(x, y, log_inputs=[0]))


def gate_weights_table(learner: MixtureOfExperts, tasks: Any, shots: int, seed: int) -> pd.DataFrame:
    """The gate's weights for each task's ``shots``-point support, drawn as the few-shot protocol
    draws it (:func:`~sciml.evaluation.protocol.split_generator`): columns ``task``, ``family``
    and one per expert."""
    from sciml.evaluation.protocol import split_generator

    rows = []
    for task in tasks:
        support = task.resample(shots, split_generator(seed, task.name, shots))
        rows.append({"task": task.name, "family": task.metadata.get("family", ""), **learner.gate_weights(support)})
    return pd.DataFrame(rows)


def run(ctx: RunContext) -> None:
    """Run the study (see the module docstring)."""
    cfg = ctx.config
    d, tr, ev = cfg["data"], cfg["train"], cfg["evaluate"]
    names = list(d["families"]) or [d["family"]]
    generators = {name: SyntheticAlloyFamily(family=name, temperatures_per_alloy=d["temperatures_per_alloy"],
                                             points_per_isotherm=d["points_per_isotherm"], noise_sd=d["noise_sd"]) for name in names}
    family = generators[names[0]]
    for name, gen in generators.items():
        ctx.add_generated_input(f"synthetic_alloys:{name}" if len(names) > 1 else "synthetic_alloys",
                                {**gen.card(), "n_alloys": d["n_alloys"], "seed": d["seed"]})
    table = reference_file("kinetics/jmak_prior_families.csv")
    if table is not None:
        checked = check_families_against_table(table)
        ctx.add_input(table, role="literature ranges (checked against the generator's)")
        ctx.log(f"family ranges agree with {table} ({len(checked)} families)")
    else:
        ctx.log("SCIML_DATA_DIR not set: using the generator's embedded literature ranges unchecked")
    tasks = TaskSet([t for gen in generators.values() for t in gen.tasks(d["n_alloys"], seed=d["seed"])])
    train_all, test = tasks.split(test_fraction=d["test_fraction"], seed=d["seed"])
    train, val = train_all.split(test_fraction=d["val_fraction"], seed=d["seed"] + 1)
    assert not set(train.groups) & set(test.groups) and not set(val.groups) & set(test.groups)
    ctx.log(f"{len(train)} train / {len(val)} validation / {len(test)} test isotherms; alloys never shared across splits")
    specs = enabled_learners(cfg)
    curve_fits = [label for label, spec in specs.items() if spec["class"].lower() == "curvefit"]

    def make(label: str, spec: dict[str, Any]) -> Any:
        if label in curve_fits:
            return CurveFit(JMAK().double())
        if issubclass(resolve_learner(str(spec["class"])), ConditionalNeuralProcess):
            return build_learner(label, spec, neural_process_for(train))[0]
        if is_mixture(spec):
            return build_mixture(label, spec, cfg["learners"], names,
                                 lambda base, table, fam: build_learner(base, table, generators[fam].nominal_law())[0],
                                 descriptor=isotherm_descriptor)
        if is_stack(spec):
            return build_stack(label, spec, cfg["learners"], lambda base, table: build_learner(base, table, family.nominal_law())[0])
        return build_learner(label, spec, family.nominal_law())[0]

    makers = {label: (lambda label=label, spec=spec: make(label, spec)) for label, spec in specs.items()}
    bench = fit_and_evaluate(
        makers, train, test, val=val, fit={k: tr[k] for k in ("iterations", "shots", "eval_every", "seed")},
        fit_overrides={label: {k: v for k, v in spec.items() if k in ("iterations", "shots", "eval_every")} for label, spec in specs.items()},
        unfitted=curve_fits, test_for={label: time_only(test) for label in curve_fits}, shots=ev["shots"], seeds=ev["seeds"],
        metrics=kinetics_metrics(), learner_metrics=predictive_metrics_of, study=ctx.name, dataset=f"synthetic:{'+'.join(names)}", log=ctx.log)
    ctx.add_benchmark(bench)
    results, order = bench.results, list(specs)
    laws = {label: learner for label, learner in bench.learners.items() if isinstance(getattr(learner, "model", None), JMAKArrhenius)}
    for label, learner in laws.items():
        ctx.save_prior(label, law_prior(learner, train, d["noise_sd"], metrics=held_out_metrics(results, label, "median"),
                                        provenance={"noise": "the generator's measurement noise"}))
    head = kinetics_table(results, order).drop(columns="dataset").sort_values(["k"], kind="stable").reset_index(drop=True)
    ctx.headline = (
        f"Held-out alloys ({len(test.groups)} alloys, {len(test)} isotherms, {len(ev['seeds'])} seeds of random "
        f"k-point designs). Errors against the true parameters of each synthetic alloy; *diverged*: n outside "
        f"0.3-10 or t50 off by more than 10x. Baselines: {', '.join(b for b in BASELINES if b in order)}. "
        + ("MAML-SGD is MAML with the plain gradient-step inner loop of the paper (an ablation of the "
           "Gauss-Newton inner loop the other meta-learners use). " if "MAML-SGD" in order else "")
        + ("CNP rows are conditional neural processes: no law, t50 and n read off the predicted mean curve, *coverage90* their "
           "90% bands; *CNP* has the meta-learners' iteration count, *CNP-5000* 5,000 iterations. "
           if any(label.startswith("CNP") for label in order) else "")
        + "\n\n" + markdown_table(head))
    ks = ev["example_shots"]
    sub = head[(head.k == ks) & ~head.learner.isin(BASELINES + ABLATIONS)]
    if len(sub) and "curve_fit" in order:
        row = sub.sort_values("median t50 error").iloc[0]
        cf = head[(head.learner == "curve_fit") & (head.k == ks)].iloc[0]
        ctx.add_section(f"At k = {ks}", (
            f"Best meta-learner on this table by median t50 error (picked after the fact; every row is above): **{row.learner}**, "
            f"median t50 error {row['median t50 error']:.3f} and {row['diverged']:.1%} diverged, against curve_fit "
            f"{cf['median t50 error']:.3f} and {cf['diverged']:.1%}."))
    summary = summarize(results[results.metric == "t50_rel_error"], by=("learner", "shots"), statistic="median")
    ctx.add_section("Median t50 error with a 95% CI over seeds", "Per seed, the median over held-out isotherms; then mean and "
                    "Student-t interval over seeds.\n\n" + markdown_table(summary.drop(columns=["n_seeds"])))
    if laws:
        ctx.add_section("Meta-learned initializations (the priors' centres)", markdown_table(prior_centres(laws, test[0])))
    if any(isinstance(learner, LearnedOptimizer) for learner in laws.values()):
        _report_inner_steps(ctx, laws, test, ev["example_shots"], ev["seeds"][0])
    for label, learner in bench.learners.items():
        if isinstance(learner, MixtureOfExperts):
            ks_gate = ev["example_shots"]
            weights = gate_weights_table(learner, test, ks_gate, ev["seeds"][0])
            ctx.save_table(f"gate_weights_{slug(label)}", weights)
            mean = weights.drop(columns=["task"]).groupby("family").mean().round(3).reset_index()
            gate = (f"Support gate (leave-one-out errors of each calibrated expert), beta = {learner.beta_:g} fitted on the validation "
                    "alloys" if learner.gate == "support" else
                    "Descriptor gate (logistic regression on the mean log10 time and temperature measured, fitted on the validation alloys)")
            gate += (", the calibrated expert of the largest weight used" if learner.combine == "select" else
                     ", the calibrated experts' curves averaged with these weights")
            ctx.add_section(f"{label}: the gate's weights per held-out family", (
                f"{gate}. Mean weight of each expert over the held-out isotherms of each family, k = {ks_gate} (seed "
                f"{ev['seeds'][0]}); per isotherm in tables/gate_weights_{slug(label)}.csv.\n\n" + markdown_table(mean)))
        if isinstance(learner, SuperLearner):
            ctx.add_section(f"{label}: weights and cross-validated risks", (
                f"Weights of the base learners for each support size k, fitted on out-of-fold predictions of the training alloys "
                f"({learner.folds} folds over alloys: every base learner is meta-trained without the held-out alloys, then "
                f"calibrated on k points of each held-out isotherm). *cv_mse*: mean squared error of X on the rest of those "
                f"isotherms; the stack's own risk refits the weights without each fold in turn. For a stack, t50 and n are read "
                f"off its predicted curve (n: the local Avrami exponent at t50).\n\n" + markdown_table(learner.summary())))
    ctx.save_figure(plot_kinetics_errors(results, order, BASELINES), "error_vs_k",
                    "Held-out alloys: calibration error and divergence vs number of measured points.")
    ctx.save_figure(plot_isotherm_gallery(test, bench.learners, ks, ev["seeds"][0], dashed=BASELINES), "example_calibrations",
                    "Six held-out isotherms calibrated from 3 points (seed 0).")
    ax = plot_training_curves(pd.concat(ctx.histories, ignore_index=True)) if ctx.histories else None
    if ax is not None:
        ctx.save_figure(ax.figure, "training_curves", "Meta-training and validation loss (validation alloys come from the training split).")


def _report_inner_steps(ctx: RunContext, laws: dict[str, Any], test: TaskSet, shots: int, seed: int) -> None:
    """Error of every gradient-calibrated law after 0, 1, ..., twice its trained inner steps."""
    horizon = 2 * max(learner.inner_steps for learner in laws.values())
    steps = list(range(horizon + 1))
    frames = [learner.evaluate(test, shots=[shots], steps=steps, seeds=[seed], metrics=kinetics_metrics(), study=ctx.name,
                               learner_name=label) for label, learner in laws.items()]
    by_step = pd.concat(frames, ignore_index=True)
    ctx.save_table("error_by_inner_step", by_step)
    t50 = by_step[by_step.metric == "t50_rel_error"].groupby(["learner", "steps"]).value.median().unstack("steps")
    trained = ", ".join(f"{label} {learner.inner_steps}" for label, learner in laws.items())
    ctx.add_section("Error after each inner step", (
        f"Median t50 error over the held-out isotherms after 0, 1, ..., {horizon} inner steps from k = {shots} points (seed "
        f"{seed}); each learner was meta-trained for a fixed number of steps ({trained}), so columns past it show how its "
        f"update rule extrapolates. Per isotherm in tables/error_by_inner_step.csv.\n\n"
        + markdown_table(t50.round(3).reset_index().rename(columns=lambda c: f"{c} steps" if isinstance(c, int) else c))))
    ax = plot_metric_vs_shots(by_step, "t50_rel_error", x="steps", log_y=True, title=f"median t50 error, k = {shots}")
    ax.legend(fontsize=7)
    ctx.save_figure(ax.figure, "error_by_inner_step", f"Held-out isotherms: median t50 error after each inner step (k = {shots}).")
