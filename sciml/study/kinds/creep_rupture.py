"""Study kind ``creep-rupture``: a new tungsten material's rupture life from 2-5 creep tests.

Leave one material group out (:func:`~sciml.materials.creep.leave_one_material_out`) over the
creep-rupture data sets of :func:`~sciml.data.creep.load_creep_rupture`: priors over the
Larson-Miller law are learned on the other groups, each held-out data set is calibrated from k
random tests and judged on its other tests (``log10_life_error`` in decades, ``diverged``,
``coverage90`` of the Laplace bands). Baselines: the per-material Larson-Miller fit on the same k
tests (``C = 20``, and with ``C`` free) and the pooled fit of every training test.

The learner named in ``prior.learner`` is trained on every data set and saved as a prior
(``priors/tungsten-creep-<learner>/``) that calibrates a user's own table of tests in any units
(:func:`~sciml.materials.creep.creep_prior`).

Learner tables take two domain options: ``model`` (``"larson-miller"``: ``C`` free;
``"larson-miller-C20"``: ``C = 20`` held fixed) and ``init`` (``"nominal"``: the law's default
start; ``"pooled"``: the pooled least-squares fit of the training groups).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sciml.data.creep import load_creep_rupture
from sciml.evaluation.plots import plot_metric_vs_shots
from sciml.materials.creep import creep_prior, creep_table, creep_tasks, leave_one_material_out, pooled_fit
from sciml.meta.tables import learner_specs
from sciml.models.laws import LarsonMiller
from sciml.study.context import RunContext
from sciml.study.report import markdown_table, slug

DESCRIPTION = "tungsten creep rupture: Larson-Miller priors vs per-material fits, leave one material out"

_GN = {"inner_optimizer": "gauss_newton", "inner_lr": 1.0, "inner_steps": 10, "inner_damping": 0.01, "inner_prior_precision": 0.01}
DEFAULTS: dict[str, Any] = {
    "study": {"kind": "creep-rupture", "description": ""},
    "train": {"iterations": 300, "shots": [2, 3], "seed": 0},
    "evaluate": {"shots": [2, 3, 5], "seeds": list(range(10)), "level": 0.9, "headline_shots": 3},
    "learners": {
        "per-material fit (C = 20)": {"class": "CurveFit", "model": "larson-miller-C20"},
        "per-material fit (C free)": {"class": "CurveFit"},
        "pooled fit": {"class": "FineTune", "init": "pooled", "inner_steps": 0, "iterations": 0},
        "pooled fit + Gauss-Newton": {"class": "FineTune", "init": "pooled", "iterations": 0, **_GN},
        "pooled-prior MAP": {"class": "PriorMAP"},
        "MAML": {"class": "MAML", "init": "pooled", "first_order": True, "outer_lr": 0.05, "meta_batch_size": 8, **_GN},
    },
    "prior": {"learner": "pooled-prior MAP"},
}
BASELINES = ("per-material fit (C = 20)", "per-material fit (C free)", "pooled fit")
MODELS = {"larson-miller": "C free", "larson-miller-C20": "C = 20 held fixed"}
INITS = {"nominal": "the law's default start", "pooled": "the pooled fit of the training groups"}


def law_for(options: dict[str, Any], train: Any) -> LarsonMiller:
    """The Larson-Miller law of a learner table's domain options, started where ``init`` says."""
    law = LarsonMiller(fit_C=options["model"] != "larson-miller-C20").double()
    return pooled_fit(train, law) if options["init"] == "pooled" else law


def run(ctx: RunContext) -> None:
    """Run the study (see the module docstring)."""
    cfg = ctx.config
    tr, ev = cfg["train"], cfg["evaluate"]
    specs = learner_specs(cfg["learners"], options={"model": "larson-miller", "init": "nominal"}, choices={"model": MODELS, "init": INITS})
    frame = load_creep_rupture()
    for dataset, path in frame.attrs["files"].items():
        ctx.add_input(path, role=dataset)
    cells = frame.attrs["cells"]
    tasks = creep_tasks(frame)
    ctx.log(f"{len(tasks)} data sets, {len(frame)} tests, {len(tasks.groups)} material groups; "
            f"{(cells.action == 'rejected').sum()} tests or cells rejected, {(cells.action == 'repaired').sum()} cells repaired")
    fit = {k: tr[k] for k in ("iterations", "shots", "seed")}
    bench = leave_one_material_out(
        tasks, {label: (lambda train, spec=spec: spec.build(law_for(dict(spec.options), train))) for label, spec in specs.items()},
        fit=fit, shots=ev["shots"], seeds=ev["seeds"], level=ev["level"],
        fit_overrides={label: dict(spec.fit) for label, spec in specs.items()}, dataset="tungsten-creep", study=ctx.name, log=ctx.log)
    ctx.add_benchmark(bench)
    order = list(specs)
    head = creep_table(bench.results, order)
    ctx.headline = (
        f"Leave one material group out ({len(tasks.groups)} groups, {len(tasks)} data sets): every held-out data set is "
        f"calibrated from k random tests ({len(ev['seeds'])} draws) by priors learned on the other groups only, and judged on "
        "its other tests. *log10 life error*: mean absolute error of log10 rupture life [decades] over those tests (0.3 = a "
        "factor of 2); *diverged*: off by more than a factor of 10 on average; *coverage90*: share of the other tests inside "
        "the 90% Laplace band (learners that calibrate). Baselines: "
        f"{', '.join(b for b in BASELINES if b in order)}.\n\n" + markdown_table(head.round(3)))
    k = ev["headline_shots"]
    _verdict(ctx, head, k)
    ctx.add_section("Data: units and repaired or rejected cells", _data_section(frame, cells))
    skipped = bench.details["skipped"]
    if skipped:
        ctx.add_section("Too few tests", "A data set joins at k only with at least k + 1 tests: "
                        + ", ".join(f"{name} (k = {kk})" for name, kk in skipped) + " left out there.")
    noise = pd.DataFrame({"held-out group": list(bench.details["noise_sd"]), "noise sd [decades]": list(bench.details["noise_sd"].values())})
    ctx.add_section("Noise of the bands", "RMS residual of the full Larson-Miller fits (C free) of the training data sets, per held-out "
                    "group: the measurement noise of the Laplace bands.\n\n" + markdown_table(noise.round(3)))
    fig = plot_metric_vs_shots(bench.results, "log10_life_error", learners=order, baselines=BASELINES,
                               title="held-out materials: median log10 life error").figure
    ctx.save_figure(fig, "error_vs_k", "Median log10 rupture-life error vs number of tests, held-out material groups.")
    label = cfg["prior"]["learner"]
    if label not in specs:
        raise ValueError(f"prior.learner = {label!r} is not a learner of this study; learners: {order}.")
    spec = specs[label]
    ctx.log(f"training the saved prior ({label}) on all {len(tasks)} data sets")
    ctx.save_prior(f"tungsten-creep-{slug(label)}", creep_prior(
        spec.build(law_for(dict(spec.options), tasks)), tasks, {**fit, **spec.fit}, bench.results, label,
        {"trained_on": "tungsten creep data sets " + ", ".join(tasks.names),
         "held_out_metrics": f"leave-one-material-group-out runs of {label} (medians over data sets and draws)"}))


def _verdict(ctx: RunContext, head: pd.DataFrame, k: int) -> None:
    at = head[head.k == k]
    if not len(at) or "per-material fit (C = 20)" not in set(at.learner):
        return
    ref = at[at.learner == "per-material fit (C = 20)"].iloc[0]
    others = at[~at.learner.isin(BASELINES)].sort_values("median log10 life error")
    lines = [(f"Per-material Larson-Miller fit (C = 20) on the same {k} tests: median error {ref['median log10 life error']:.3f} "
              f"decades, {ref['diverged']:.1%} diverged, 90% coverage {ref['coverage90']:.2f}.")]
    for _, row in others.iterrows():
        below = row["median log10 life error"] < ref["median log10 life error"]
        lines.append(f"- {row.learner}: {row['median log10 life error']:.3f} decades ({'below' if below else 'not below'} the per-material "
                     f"fit), {row['diverged']:.1%} diverged, coverage {row['coverage90']:.2f}.")
    ctx.add_section(f"At k = {k}", "\n".join(lines))


def _data_section(frame: pd.DataFrame, cells: pd.DataFrame) -> str:
    sets = frame.groupby(["group", "dataset"], sort=False).agg(tests=("row", "size"), T_min_K=("temperature_K", "min"),
                                                                T_max_K=("temperature_K", "max"), stress_min_MPa=("stress_MPa", "min"),
                                                                stress_max_MPa=("stress_MPa", "max")).reset_index()
    shown = (cells[cells.action != "missing"].groupby(["dataset", "column", "action", "reason"], sort=False)
             .agg(cells=("row", "size"), rows=("row", _rows), example=("raw", "first")).reset_index())
    return ("Temperatures converted to kelvin (from C or F), stresses to MPa (from psi, ksi or kg/mm^2), rupture times to hours. "
            "Every cell of a column read that had to be repaired, and every test rejected, is listed (`sciml.data.creep`; empty "
            "optional cells are not listed; *rows*: 0 is the file's first data row).\n\n" + markdown_table(sets.round(0)) + "\n\n" + markdown_table(shown))


def _rows(rows: pd.Series) -> str:
    shown = ", ".join(map(str, rows.iloc[:10]))
    return shown + (f", ... ({len(rows)} in all)" if len(rows) > 10 else "")
