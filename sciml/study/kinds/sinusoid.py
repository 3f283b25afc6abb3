"""Study kind ``sinusoid``: the regression benchmark of Finn et al. (2017), as a published anchor.

One model per K (5, 10, 20 support points), MLP 1-40-40-1 with ReLU, one inner SGD step of
0.01, meta-batch 25, Adam 1e-3; evaluated on fixed test tasks with 100 query points after 1
and 10 inner steps. Published MSEs are placed beside ours, marked as published.

A conditional neural process (``class = "ConditionalNeuralProcess"``) gets Garnelo et al.'s
encoder-decoder network instead of the MLP, and the same tasks, meta-batch, optimizer and
iteration count (equal training budget); it calibrates without gradient steps, so its rows are
the same under every inner-step count. Learners with a predictive distribution also report its
negative log-likelihood and the coverage of their 90% bands.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sciml.data.sinusoid import PUBLISHED_MSE as PUBLISHED
from sciml.data.sinusoid import SinusoidTasks
from sciml.evaluation.benchmark import fit_and_evaluate
from sciml.evaluation.coverage import predictive_metrics_of
from sciml.evaluation.plots import plot_training_curves
from sciml.evaluation.tables import regression_table
from sciml.meta import ConditionalNeuralProcess, resolve_learner
from sciml.meta.tables import build_learner, enabled_learners
from sciml.models import MLP, ConditionalNeuralProcessNet
from sciml.study.context import RunContext
from sciml.study.report import markdown_table

DESCRIPTION = "sinusoid regression of Finn et al. (2017): MAML and Meta-SGD beside published MSEs"

DEFAULTS: dict[str, Any] = {
    "study": {"kind": "sinusoid", "description": ""},
    "data": {"test_tasks": 600, "query": 100, "test_seed": 1234},
    "train": {"iterations": 20000, "shots": [5, 10, 20], "seed": 0},
    "evaluate": {"steps": [1, 10]},
    "learners": {
        "MAML": {"class": "MAML", "inner_lr": 0.01, "inner_steps": 1, "outer_lr": 1e-3, "meta_batch_size": 25},
        "MetaSGD": {"class": "MetaSGD", "inner_lr": 0.01, "inner_steps": 1, "outer_lr": 1e-3, "meta_batch_size": 25},
        "pretrained": {"class": "FineTune", "inner_optimizer": "sgd", "inner_lr": 0.01, "inner_steps": 1, "outer_lr": 1e-3, "meta_batch_size": 25},
        "CNP": {"class": "ConditionalNeuralProcess", "outer_lr": 1e-3, "meta_batch_size": 25},
        "LearnedOptimizer": {"class": "LearnedOptimizer", "inner_lr": 0.01, "inner_steps": 1, "outer_lr": 1e-3, "meta_batch_size": 25,
                             "enabled": False},
    },
}
PREDICTIVE_METRICS = ("nll", "coverage90")


def network_for(spec: dict[str, Any]) -> Any:
    """Garnelo et al.'s 1-D network (width 128) for a conditional neural process, else Finn
    et al.'s MLP 1-40-40-1."""
    if issubclass(resolve_learner(str(spec["class"])), ConditionalNeuralProcess):
        return ConditionalNeuralProcessNet(1, 1)
    return MLP(1, (40, 40), 1)


def run(ctx: RunContext) -> None:
    """Run the study (see the module docstring)."""
    cfg = ctx.config
    d, tr, ev = cfg["data"], cfg["train"], cfg["evaluate"]
    frames = []
    ctx.add_generated_input("sinusoid", {"family": "A sin(x - phi), A~U[0.1,5], phi~U[0,pi], x~U[-5,5]", **d})
    for k in tr["shots"]:
        test = SinusoidTasks(shots=k, query=d["query"]).fixed_tasks(d["test_tasks"], seed=d["test_seed"] + k)
        specs = enabled_learners(cfg)
        bench = fit_and_evaluate(
            {label: (lambda label=label, spec=spec: build_learner(label, spec, network_for(spec))[0]) for label, spec in specs.items()},
            SinusoidTasks(shots=k, query=k), test, fit={"iterations": tr["iterations"], "seed": tr["seed"] + k}, init_seed=tr["seed"],
            fit_overrides={label: {"iterations": spec["iterations"]} for label, spec in specs.items() if "iterations" in spec},
            shots=[k], steps=ev["steps"], query_size=d["query"], study=ctx.name, dataset="sinusoid", learner_metrics=predictive_metrics_of,
            log=lambda m, k=k: ctx.log(f"K={k}: {m}"))
        for label, learner in bench.learners.items():
            ctx.add_history(f"{label} K={k}", learner.history_)
            ctx.save_learner(f"{label}-K{k}", learner)
        frames.append(bench.results[bench.results.metric.isin(("mse", *PREDICTIVE_METRICS))])
    results = pd.concat(frames, ignore_index=True)
    ctx.add_results(results)
    table = regression_table(results[results.metric == "mse"], PUBLISHED)
    ctx.headline = (
        f"Mean query MSE over {d['test_tasks']} fixed test tasks ({d['query']} query points each); "
        f"{tr['iterations']} meta-iterations per model (Finn et al. trained 70,000). *published*: Li et al. "
        "(2017, Meta-SGD, Table 1) as recalled, unverified here, 1 inner step at test. *pretrained* is the "
        "pooled-regression baseline fine-tuned with the same inner step. A CNP takes no inner steps: its rows repeat under "
        "each step count.\n\n" + markdown_table(table)
    )
    predictive = results[results.metric.isin(PREDICTIVE_METRICS) & (results.steps == min(ev["steps"]))]
    if len(predictive):
        band = predictive.pivot_table(index=["learner", "shots"], columns="metric", values="value", aggfunc="mean").reset_index()
        ctx.add_section("Predictive distributions", (
            "Mean over the test tasks of the negative log-likelihood of the query targets (nats per point) and of the share "
            "of them inside the 90% band (aim: 0.90).\n\n" + markdown_table(band.round(3))))
    ax = plot_training_curves(pd.concat(ctx.histories, ignore_index=True), metrics=["train_loss"], window=200)
    ax.set_ylabel("post-adaptation query MSE (rolling mean)")
    ctx.save_figure(ax.figure, "training_curves", "Meta-training loss per learner and K.")
