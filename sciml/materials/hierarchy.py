"""A new isotherm of a known material: the material's other isotherms condition the prior.

Three levels (family -> material -> isotherm), each Gaussian in the unconstrained parameters of
JMAK-Arrhenius (``log_k_ref``, ``log_Q``, ``log_n``):

1. the family (population) prior, estimated from other materials' fits
   (:class:`~sciml.meta.PriorMAP`);
2. the material's posterior given its other isotherms (Laplace, around the MAP under 1.);
3. the isotherm's own scatter around its material's Arrhenius law: isotherms of one material do
   not fall exactly on one Arrhenius line and one ``n`` (:func:`isotherm_scatter`).

The prior of a new isotherm is 2. widened by 3. (:func:`condition_on_material`); a few points
of the isotherm then calibrate it by MAP under that prior. :func:`leave_one_isotherm_out` holds
out each isotherm of each material in turn and compares this with the same calibration under
the family prior alone (the isotherm treated as a stranger) and with a fit of the isotherm's
points alone.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence

import pandas as pd
import torch

from sciml.evaluation.benchmark import Log, quiet
from sciml.evaluation.protocol import RESULT_COLUMNS, few_shot_results
from sciml.meta import CurveFit, PriorMAP
from sciml.meta.adapted import Adapted
from sciml.models.laws import JMAK, JMAKArrhenius
from sciml.tasks import Task, TaskSet, TensorData


def split_isotherms(task: Task) -> list[Task]:
    """A material task (``x [n, 2]`` = time [s], temperature [K]) split into one task per
    temperature, inputs kept as ``[n, 2]``; metadata ``temperature_K``."""
    x, y = task.support.x, task.support.y
    out = []
    for temp in torch.unique(x[:, 1]).tolist():
        rows = x[:, 1] == temp
        data = TensorData(x[rows], y[rows])
        out.append(Task(data, TensorData.empty_like(data), name=f"{task.name}@{temp:.0f}K", group=task.group,
                        metadata={**task.metadata, "temperature_K": float(temp)}))
    return out


def _isothermal_law(iso: Task) -> JMAK:
    """Isothermal JMAK started at a rate of one over the geometric mean of the isotherm's
    measurement times (the design, not the measured fractions)."""
    t = iso.support.x[:, 0].double()
    t = t[t > 0]
    return JMAK(k=float(torch.exp(-t.log().mean())) if t.numel() else 1e-3).double()


def _isotherm_reference(iso: Task) -> dict[str, float]:
    """Isothermal JMAK fit to all of an isotherm's points: ``log_k``, ``log_n``, ``t50_s``, ``n``."""
    from sciml.materials.recrystallization import fit_reference, reference_t50

    law = _isothermal_law(iso)
    times = TensorData(iso.support.x[:, 0], iso.support.y)
    ref = fit_reference(Task(times, TensorData.empty_like(times), name=iso.name), law)
    (t50,) = reference_t50(law, ref, [iso.metadata["temperature_K"]])
    return {**ref, "n": math.exp(ref["log_n"]), "t50_s": t50}


def isotherm_scatter(tasks: Sequence[Task], law: JMAKArrhenius, min_points: int = 4) -> dict[str, float]:
    """Standard deviation of isotherms around their material's JMAK-Arrhenius fit.

    For every material with at least two isotherms of ``min_points`` points, the isothermal fit
    of each isotherm gives ``ln k`` and ``ln n``; their deviations from the material's fit to all
    its points at that temperature are pooled, with the degrees of freedom the material fit
    spends (two for the rate line, one for ``n``) taken out.

    Args:
        tasks: Material tasks (:func:`~sciml.materials.recrystallization.material_tasks`).
        law: The law of the material fits.
        min_points: Fewest points an isotherm needs to enter.

    Returns:
        ``{"log_k_ref": sd of ln k [ln(1/s)], "log_n": sd of ln n}``.

    Raises:
        ValueError: when no material has two usable isotherms.
    """
    return _pooled_scatter([_scatter_terms(task, law, min_points) for task in tasks], min_points)


def _scatter_terms(task: Task, law: JMAKArrhenius, min_points: int) -> tuple[list[float], list[float], int, int]:
    """One material's squared deviations of ``ln k`` and ``ln n`` (one per usable isotherm) and
    their degrees of freedom; empty for a material with fewer than two usable isotherms."""
    from sciml.materials.recrystallization import fit_reference

    isotherms = [iso for iso in split_isotherms(task) if len(iso) >= min_points]
    if len(isotherms) < 2:
        return [], [], 0, 0
    mat = fit_reference(task, law)
    params = {k: torch.tensor(v, dtype=torch.float64) for k, v in mat.items() if k not in ("sse", "rmse")}
    fitted = copy.deepcopy(law).double()
    sq_k, sq_n = [], []
    for iso in isotherms:
        ref = _isotherm_reference(iso)
        ln_k_material = float(fitted.log_rate(torch.tensor(iso.metadata["temperature_K"], dtype=torch.float64), params))
        sq_k.append((ref["log_k"] - ln_k_material) ** 2)
        sq_n.append((ref["log_n"] - mat["log_n"]) ** 2)
    return sq_k, sq_n, len(isotherms) - min(2, len(isotherms) - 1), len(isotherms) - 1


def _pooled_scatter(terms: Sequence[tuple[list[float], list[float], int, int]], min_points: int) -> dict[str, float]:
    """Pool :func:`_scatter_terms` of several materials (summed in their order)."""
    sq_k = sq_n = 0.0
    dof_k = dof_n = 0
    for k_terms, n_terms, dk, dn in terms:
        for v in k_terms:
            sq_k += v
        for v in n_terms:
            sq_n += v
        dof_k, dof_n = dof_k + dk, dof_n + dn
    if not dof_k:
        raise ValueError(f"isotherm_scatter needs a material with two or more isotherms of at least {min_points} points.")
    return {"log_k_ref": math.sqrt(sq_k / dof_k), "log_n": math.sqrt(sq_n / dof_n)}


def condition_on_material(population: PriorMAP, known: TensorData, scatter: Mapping[str, float]) -> PriorMAP:
    """The prior of a new isotherm of a material whose other isotherms are ``known``.

    Args:
        population: The family prior (fitted :class:`~sciml.meta.PriorMAP` of JMAK-Arrhenius).
        known: The material's measurements at other temperatures, ``x [n, 2]``, ``y [n]``.
        scatter: Isotherm-level standard deviation by parameter name (:func:`isotherm_scatter`).

    Returns:
        A :class:`~sciml.meta.PriorMAP` centred on the material's MAP estimate, with covariance
        the material's Laplace posterior covariance plus the isotherm scatter; its noise level is
        the population's. The population learner is not changed.

    Raises:
        ValueError: for an unfitted population prior, no known points, or unknown parameters.
    """
    from sciml.meta.evidence import map_estimate

    if population.prior_cov_ is None or population.noise_sd_ is None:
        raise ValueError("condition_on_material needs a fitted population prior: call PriorMAP.fit(other materials) first.")
    if not len(known):
        raise ValueError("condition_on_material needs the material's known isotherms; none were given.")
    names = tuple(population._adapt_names)
    unknown = sorted(set(scatter) - set(names))
    if unknown:
        raise ValueError(f"scatter names {unknown}, which are not parameters of the law ({list(names)}).")
    noise = population.noise_sd_
    mode = map_estimate(population, known, noise)
    cov = population.posterior(mode, known, noise).cov.clone()
    for i, name in enumerate(names):
        cov[i, i] += float(scatter.get(name, 0.0)) ** 2
    material = copy.deepcopy(population)
    with torch.no_grad():
        for name, param in material.model.named_parameters():
            if name in mode.params:
                param.copy_(mode.params[name].to(param.dtype))
    material.prior_mean_ = torch.stack([mode.params[n].double().reshape(()) for n in names])
    material.prior_cov_ = cov
    return material


def _prediction_rows(learner: PriorMAP, task: Task, *, study: str, dataset: str, label: str, level: float) -> list[tuple]:
    """Metrics of the prior's own prediction (no point of the isotherm measured): shots = 0."""
    from sciml.materials.kinetics import kinetics_metrics
    from sciml.meta.posterior import LaplacePosterior

    params = {k: v.detach() for k, v in learner.model.named_parameters()}
    adapted = Adapted(learner.model, params, dict(learner.model.named_buffers()), learner=label)
    judged = Task(TensorData.empty_like(task.support), task.support, name=task.name, group=task.group, metadata=dict(task.metadata))
    metrics = kinetics_metrics(temperature_key="temperature_K")
    rows = [(study, dataset, label, task.name, task.group, 0, 0, 0, name, float(fn(adapted, judged))) for name, fn in metrics.items()]
    # the band of the prior itself: its covariance, no measurement to condition on
    post = LaplacePosterior(copy.deepcopy(learner.model).double(), {k: v.double() for k, v in params.items()},
                            tuple(learner._adapt_names), learner.prior_cov_.double(), float(learner.noise_sd_))
    _, lo, hi = post.predict(task.support.x.double(), level=level)
    y = task.support.y.double()
    rows.append((study, dataset, label, task.name, task.group, 0, 0, 0, "coverage90", float(((y >= lo) & (y <= hi)).double().mean())))
    return rows


def leave_one_isotherm_out(
    tasks: TaskSet,
    law: JMAKArrhenius,
    *,
    shots: Sequence[int] = (1, 2, 3),
    seeds: Sequence[int] = tuple(range(10)),
    level: float = 0.9,
    min_points: int = 4,
    study: str = "",
    dataset: str = "known-material",
    log: Log = quiet,
) -> pd.DataFrame:
    """Calibrate each isotherm of each material from k of its points, knowing the material's
    other isotherms, against the same isotherm treated as a stranger.

    For every material with two or more isotherms and every isotherm of it with more than
    ``max(shots)`` points: the family prior and the isotherm scatter are learned from the other
    materials only; three calibrations from the same k random points are judged against the
    isothermal JMAK fit to all of the isotherm's points (t50 and n at its temperature) and on its
    other points (RMSE of X, 90% band coverage):

    - ``material-conditioned prior``: MAP under :func:`condition_on_material` (also at k = 0:
      the prediction from the other isotherms alone);
    - ``family prior (stranger)``: MAP under the family prior;
    - ``curve_fit (isotherm only)``: bounded isothermal JMAK fit of the k points, started at
      a rate of one over the geometric mean of the isotherm's measurement times.

    Args:
        tasks: Material tasks (:func:`~sciml.materials.recrystallization.material_tasks`).
        law: JMAK-Arrhenius (the prior's law and starting point).
        shots: Numbers of the isotherm's measured points.
        seeds: Seeds of the random draws.
        level: Band level of ``coverage90``.
        min_points: Fewest points of an isotherm for the scatter estimate.
        study, dataset: Labels of the result rows (``dataset`` gets ``:random``).
        log: Progress callback.

    Returns:
        Rows in :data:`~sciml.evaluation.RESULT_COLUMNS`; ``task`` names the isotherm,
        ``group`` its material.
    """
    from sciml.evaluation.coverage import posterior_band_coverage
    from sciml.materials.kinetics import kinetics_metrics
    from sciml.materials.recrystallization import random_design

    frames: list[pd.DataFrame] = []
    label_data = f"{dataset}:random"
    metrics = kinetics_metrics(temperature_key="temperature_K")
    terms = {t.name: _scatter_terms(t, law, min_points) for t in tasks}  # each material's fits once, pooled per fold
    for held_out, others, test in tasks.leave_one_group_out():
        material = test[0]
        isotherms = split_isotherms(material)
        if len(isotherms) < 2:
            continue
        family = PriorMAP(copy.deepcopy(law).double()).fit(list(others))
        scatter = _pooled_scatter([terms[t.name] for t in others], min_points)
        log(f"{held_out}: {len(isotherms)} isotherms; family prior from {len(others)} materials; isotherm scatter "
            f"sd(ln k) {scatter['log_k_ref']:.2f}, sd(ln n) {scatter['log_n']:.2f}")
        for i, iso in enumerate(isotherms):
            ks = [k for k in shots if len(iso) > k]
            if not ks:
                continue
            ref = _isotherm_reference(iso)
            iso = Task(iso.support, iso.query, name=iso.name, group=iso.group,
                       metadata={**iso.metadata, "t50_s": ref["t50_s"], "n": ref["n"]})
            known = [other for j, other in enumerate(isotherms) if j != i]
            known_data = TensorData(torch.cat([t.support.x for t in known]), torch.cat([t.support.y for t in known]))
            conditioned = condition_on_material(family, known_data, scatter)
            times = TensorData(iso.support.x[:, 0], iso.support.y)
            iso_times = Task(times, TensorData.empty_like(times), name=iso.name, group=iso.group, metadata=dict(iso.metadata))
            noise = float(family.noise_sd_)
            runs = (("material-conditioned prior", conditioned, iso), ("family prior (stranger)", family, iso),
                    ("curve_fit (isotherm only)", CurveFit(_isothermal_law(iso)), iso_times))
            for label, learner, task in runs:
                frames.append(few_shot_results(
                    learner, [task], shots=ks, steps=[learner.inner_steps], seeds=seeds,
                    metrics={**metrics, "coverage90": posterior_band_coverage(learner, noise, level)}, resample=random_design,
                    study=study, dataset=label_data, learner_name=label))
            for label, learner in (("material-conditioned prior", conditioned), ("family prior (stranger)", family)):
                frames.append(pd.DataFrame(_prediction_rows(learner, iso, study=study, dataset=label_data, label=label, level=level),
                                           columns=RESULT_COLUMNS))
    if not frames:
        raise ValueError("No material has two or more isotherms with enough points: nothing to hold out.")
    return pd.concat(frames, ignore_index=True)
