"""Study kind ``experiment-design``: which measurement next, learned across alloys or greedy.

A design policy (:class:`~sciml.materials.learned_design.DesignPolicy`) is meta-trained by policy
gradients on design episodes of synthetic alloys (start from a material's earliest points, add
measurements one at a time among its candidate points, recalibrate after each; reward: minus the
mean ln t50 error after each addition) and selected on validation alloys. It is compared with
``suggest_next`` (greedy variance reduction of ln t50), random and equally spaced choices on
held-out synthetic alloys (error against the truth) and, never having seen them, on the real
tungsten materials, each held out in turn with the calibrating prior learned on the others (error
against the fit to all of the material's points). ``results.csv``: datasets
``synthetic:sequential`` and ``tungsten:sequential``, learners ``<learner>/<strategy>``, metrics
``t50_rel_error`` and (synthetic alloys) ``t50_log_error``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

from sciml.evaluation.benchmark import BenchmarkResult
from sciml.materials.design import design_tables, paired_wins, sequential_design, sequential_rows
from sciml.materials.learned_design import DesignPolicy, train_design_policy
from sciml.materials.plots import plot_sequential_design
from sciml.materials.synthetic_alloys import SyntheticAlloyFamily
from sciml.meta.tables import build_learner
from sciml.study.context import RunContext
from sciml.study.report import markdown_table

DESCRIPTION = "learned experiment design (policy gradients across synthetic alloys) vs suggest_next, random and equally spaced"

_GN = {"inner_optimizer": "gauss_newton", "inner_lr": 1.0, "inner_steps": 10, "inner_damping": 0.01, "inner_prior_precision": 0.01}
DEFAULTS: dict[str, Any] = {
    "study": {"kind": "experiment-design", "description": ""},
    "data": {"family": "W_recrystallization", "train_alloys": 60, "val_alloys": 20, "test_alloys": 40, "seed": 0},
    "learner": {"class": "MAML", "meta_batch_size": 8, "first_order": True, "outer_lr": 0.01, **_GN},
    "train": {"iterations": 300, "shots": [2, 3, 5, 8], "query_size": 10, "seed": 0},
    "design": {"start_shots": 3, "added": 5, "random_seeds": [0, 1, 2, 3, 4], "within": 0.2},
    "policy": {"hidden": 16, "greedy_weight": 2.0, "iterations": 150, "tasks_per_iteration": 4, "rollouts": 4, "lr": 0.01,
               "eval_every": 10, "seed": 0},
    "tungsten": {"enabled": True, "unit_threshold": 0.9, "T_ref_K": 1573.15, "k_ref": 1e-4, "Q_kJmol": 400.0, "n": 1.5},
}
LEARNER = "MAML"


def _verdict(median: pd.DataFrame, where: str) -> str:
    if "learned" not in median.index:
        return ""
    cols = [c for c in median.columns if c != median.columns[0]]
    wins = [c for c in cols if median.loc["learned", c] < median.loc["suggest_next", c]]
    return (f"{where}: the learned policy's median t50 error is below suggest_next's at {len(wins)} of {len(cols)} "
            f"measurement counts ({', '.join(str(c) for c in wins) or 'none'}).")


def run(ctx: RunContext) -> None:
    """Run the study (see the module docstring)."""
    cfg = ctx.config
    data, tr, de, po = cfg["data"], cfg["train"], cfg["design"], cfg["policy"]
    family = SyntheticAlloyFamily(data["family"])
    seed = data["seed"]
    train, val, test = (family.material_tasks(data[f"{part}_alloys"], seed=seed + i) for i, part in enumerate(("train", "val", "test")))
    ctx.add_generated_input(f"synthetic:{data['family']}", {**family.card(), "alloys": {"train": data["train_alloys"], "seed": seed,
                            "val": data["val_alloys"], "val_seed": seed + 1, "test": data["test_alloys"], "test_seed": seed + 2}})
    fit = {k: tr[k] for k in ("iterations", "shots", "query_size", "seed")}
    torch.manual_seed(tr["seed"])
    learner = build_learner(LEARNER, dict(cfg["learner"]), family.nominal_law().double())[0]
    ctx.log(f"{LEARNER} prior on {len(train)} synthetic alloys")
    learner.fit(train, **fit, progress=False)
    noise_sd = family.noise_sd
    policy = DesignPolicy(hidden=po["hidden"], greedy_weight=po["greedy_weight"], seed=po["seed"])
    ctx.log(f"design policy: {po['iterations']} policy-gradient steps on {len(train)} alloys, selected on {len(val)}")
    train_design_policy(policy, learner, train, noise_sd, val_tasks=val, start_shots=de["start_shots"], added=de["added"],
                        iterations=po["iterations"], tasks_per_iteration=po["tasks_per_iteration"], rollouts=po["rollouts"],
                        lr=po["lr"], eval_every=po["eval_every"], seed=po["seed"], progress=False)
    if ctx.writer:
        policy.save(ctx.run_dir / "policies" / "design-policy")
    design = {"start_shots": de["start_shots"], "added": de["added"], "seeds": de["random_seeds"], "policy": policy}
    ctx.log(f"designs of {len(test)} held-out synthetic alloys")
    synthetic = pd.concat([sequential_rows(sequential_design(learner, t, noise_sd, **design), t, LEARNER, study=ctx.name, dataset="synthetic:sequential",
                                           steps=learner.inner_steps, metrics=("t50_rel_error", "t50_log_error"))
                           for t in test], ignore_index=True)
    frames = [synthetic]
    tungsten = None
    if cfg["tungsten"]["enabled"]:
        tungsten = _tungsten(ctx, design)
        frames.append(tungsten)
    results = pd.concat(frames, ignore_index=True)
    history = [dict(r) for r in policy.history_]
    ctx.add_benchmark(BenchmarkResult(results, {"design policy": history}))
    _report(ctx, policy, synthetic, tungsten, len(train), len(val), noise_sd)


def _tungsten(ctx: RunContext, design: dict[str, Any]) -> pd.DataFrame:
    """Leave one tungsten material out: the calibrating prior from the other materials, then
    every strategy (the policy trained on synthetic alloys only) on the held-out one."""
    from sciml.materials.benchmark import leave_one_group_out
    from sciml.materials.recrystallization import material_tasks
    from sciml.materials.time_units import recrystallization_with_inferred_units
    from sciml.meta import PriorMAP
    from sciml.models.laws import JMAKArrhenius
    from sciml.tasks import TaskSet

    cfg = ctx.config
    w, tr = cfg["tungsten"], cfg["train"]
    law = JMAKArrhenius(T_ref=w["T_ref_K"], k_ref=w["k_ref"], Q=w["Q_kJmol"], n=w["n"]).double()
    ctx.log("tungsten: inferring the undocumented time units, then each material held out in turn")
    inferred = recrystallization_with_inferred_units(lambda tasks: PriorMAP(law).fit(tasks), threshold=w["unit_threshold"])
    for dataset, path in inferred.data.attrs["files"].items():
        ctx.add_input(path, role=dataset)
    tasks = TaskSet(t for t in material_tasks(inferred.data, clip_fractions=True) if len(t) > design["start_shots"])
    fit = {k: tr[k] for k in ("iterations", "shots", "query_size", "seed")}
    bench = leave_one_group_out(tasks, {LEARNER: lambda: build_learner(LEARNER, dict(cfg["learner"]), law)[0]}, law=law, fit=fit,
                                shots=(), designs=(), min_train_points=max(tr["shots"]) + tr["query_size"],
                                sequential={"learner": LEARNER, **design}, dataset="tungsten", study=ctx.name, log=ctx.log)
    rows = bench.details["sequential"]
    return rows.assign(steps=rows.steps.astype(int))


def _report(ctx: RunContext, policy: DesignPolicy, synthetic: pd.DataFrame, tungsten: pd.DataFrame | None, n_train: int, n_val: int,
            noise_sd: float) -> None:
    de, po = ctx.config["design"], ctx.config["policy"]
    within = de["within"]
    s_med, s_share = design_tables(synthetic, within)
    lines = [_verdict(s_med, "Held-out synthetic alloys")]
    paired = "Learned against `suggest_next`, alloy by alloy (smaller, equal or larger t50 error):\n\n"
    parts = ["**Held-out synthetic alloys** (error against the true t50), median t50 error:\n\n" + markdown_table(s_med.reset_index()),
             f"Share of alloys with t50 within {within:.0%}:\n\n" + markdown_table(s_share.reset_index()),
             paired + markdown_table(paired_wins(synthetic))]
    if tungsten is not None and len(tungsten):
        t_med, t_share = design_tables(tungsten, within)
        lines.append(_verdict(t_med, "Tungsten materials"))
        parts += ["**Tungsten materials** (error against the fit to all of the material's points), median t50 error:\n\n"
                  + markdown_table(t_med.reset_index()),
                  f"Share of materials with t50 within {within:.0%}:\n\n" + markdown_table(t_share.reset_index()),
                  paired.replace("alloy by alloy", "material by material") + markdown_table(paired_wins(tungsten)),
                  "A material with fewer points than 3 + 5 runs out of candidates: the columns past its size leave it out."]
    chosen = policy.selected_iteration_
    ctx.headline = (
        f"From each material's {de['start_shots']} earliest points, {de['added']} measurements are added one at a time among its "
        "measured points, the law recalibrated (MAML prior, Gauss-Newton inner loop) after each. Strategies: the learned policy "
        f"(policy gradients on {n_train} synthetic alloys, selected on {n_val} others: iteration {chosen} of {po['iterations']}"
        f"{', the untrained greedy start' if chosen == 0 else ''}), `suggest_next` (largest expected reduction of the variance "
        "of ln t50 at the material's median temperature), random (5 draws) and equally spaced in log time. The policy never "
        "saw a test alloy or any tungsten material.\n\n" + "\n\n".join(parts) + "\n\n" + " ".join(line for line in lines if line))
    weights = pd.DataFrame([{"feature": k, "weight": v} for k, v in policy.weights().items()])
    ctx.save_table("policy_weights", weights)
    ctx.add_section("The policy", (
        "Score of a candidate: `w . f + MLP(f)` over the features below (`sciml.materials.learned_design.DESIGN_FEATURES`); the "
        "untrained policy is `suggest_next` (weight "
        f"{po['greedy_weight']:g} on `log_variance_share`, MLP output zero). REINFORCE with a leave-one-out baseline: "
        f"{po['tasks_per_iteration']} alloys x {po['rollouts']} sampled episodes per step, reward minus the mean ln t50 error "
        f"after each addition (each capped at ln 10); the state with the lowest validation error (checked every "
        f"{po['eval_every']} steps) is kept. Noise sd of the Laplace posteriors: {noise_sd:g} on the synthetic alloys (the "
        "generator's); on tungsten, the RMS residual of the training materials' full fits. Linear "
        "weights after training (the constant `budget_left` cancels in the softmax over candidates: only the MLP can use it):\n\n"
        + markdown_table(weights) + "\n\nThe trained policy is saved in `policies/design-policy` "
        "(`sciml.materials.learned_design.DesignPolicy.load`), to pass as `policy=` to `sciml.materials.design.sequential_design` "
        "or `design_episode` with your own learner and candidate points."))
    ctx.save_figure(plot_sequential_design(None, synthetic[synthetic.metric == "t50_rel_error"]).figure, "design_synthetic",
                    "Median t50 error vs measured points, held-out synthetic alloys.")
    if tungsten is not None and len(tungsten):
        ctx.save_figure(plot_sequential_design(None, tungsten[tungsten.metric == "t50_rel_error"]).figure, "design_tungsten",
                        "Median t50 error vs measured points, tungsten materials (leave one material out).")
    _plot_training(ctx, policy)


def _plot_training(ctx: RunContext, policy: DesignPolicy) -> None:
    import matplotlib.pyplot as plt

    hist = pd.DataFrame(policy.history_)
    fig, ax = plt.subplots(figsize=(6, 4))
    train = hist.dropna(subset=["train_log_error"]) if "train_log_error" in hist else hist.iloc[:0]
    if len(train):
        ax.plot(train.iteration, train.train_log_error.rolling(10, min_periods=1).mean(), label="training episodes (rolling mean of 10)")
    val = hist.dropna(subset=["val_log_error"])
    ax.plot(val.iteration, val.val_log_error, "o-", label="validation alloys (best-scored designs)")
    ax.axvline(policy.selected_iteration_ or 0, color="gray", ls=":", label="selected")
    ax.set_xlabel("policy-gradient step")
    ax.set_ylabel("mean ln t50 error after each addition")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ctx.save_figure(fig, "policy_training", "Design policy training: episode error and validation error.")
