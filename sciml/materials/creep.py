"""Creep rupture life of a new material from a few tests: tasks, metrics and the
leave-one-material-out protocol.

A task is one material tested by one source (:func:`creep_tasks`): inputs (temperature [K],
stress [MPa]), target ``log10`` rupture time [h]. The protocol (:func:`leave_one_material_out`)
holds out each material group in turn (an alloy and product form, so the same alloy from another
laboratory never trains the prior that judges it), learns on the other groups, calibrates every
held-out data set from k of its tests and judges the prediction of its other tests.

Example:
    >>> from sciml.data.creep import load_creep_rupture
    >>> from sciml.meta import PriorMAP
    >>> from sciml.models.laws import LarsonMiller
    >>> bench = leave_one_material_out(creep_tasks(load_creep_rupture()),
    ...                                {"prior MAP": lambda train: PriorMAP(LarsonMiller().double())}, fit={"seed": 0})
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from sciml.evaluation.benchmark import BenchmarkResult, Log, quiet
from sciml.tasks import Task, TaskSet

DIVERGED_DECADES = 1.0
"""A calibration diverged if its predictions are off by more than this many decades of life on
average (a factor of 10), or are not finite."""
UNITS = {"temperature_K": "K", "stress_MPa": "MPa", "log10_rupture_time_h": "log10(h)"}


def creep_tasks(frame: pd.DataFrame, dtype: torch.dtype = torch.float64) -> TaskSet:
    """One task per data set of :func:`~sciml.data.creep.load_creep_rupture` (every test in its
    support, for resampling), grouped by material group.

    Shapes:
        - ``x``: ``[n, 2]``: temperature [K], stress [MPa]
        - ``y``: ``[n]``: ``log10`` rupture time [h]
    """
    missing = {"dataset", "group", "temperature_K", "stress_MPa", "rupture_time_h"} - set(frame.columns)
    if missing:
        raise ValueError(f"creep_tasks needs the columns of load_creep_rupture(); missing {sorted(missing)}.")
    if not (frame.rupture_time_h > 0).all():
        raise ValueError("rupture_time_h must be > 0 hours in every row (a run-out or an unreadable life is not a rupture).")
    df = frame.assign(log10_rupture_time_h=np.log10(frame.rupture_time_h))
    return TaskSet.from_dataframe(df, x=["temperature_K", "stress_MPa"], y="log10_rupture_time_h", units=UNITS, group="group",
                                  task="dataset", dtype=dtype)


def norton_tasks(frame: pd.DataFrame, dtype: torch.dtype = torch.float64) -> TaskSet:
    """One task per data set with minimum creep rates (tests without one left out), each its
    own group (the sources that report rates test one material group, so a source is what is
    held out).

    Shapes:
        - ``x``: ``[n, 2]``: temperature [K], stress [MPa]
        - ``y``: ``[n]``: ``log10`` minimum creep rate [1/h]
    """
    if "min_creep_rate_per_h" not in frame.columns:
        raise ValueError("norton_tasks needs the min_creep_rate_per_h column of load_creep_rupture().")
    rated = frame[frame.min_creep_rate_per_h.notna()]
    if not (rated.min_creep_rate_per_h > 0).all():
        raise ValueError("min_creep_rate_per_h must be > 0 1/h where given (its log10 is the target).")
    df = rated.assign(log10_min_creep_rate_per_h=np.log10(rated.min_creep_rate_per_h), source=rated.dataset)
    return TaskSet.from_dataframe(df, x=["temperature_K", "stress_MPa"], y="log10_min_creep_rate_per_h",
                                  units={"temperature_K": "K", "stress_MPa": "MPa", "log10_min_creep_rate_per_h": "log10(1/h)"},
                                  group="source", task="dataset", dtype=dtype)


def life_errors(adapted: Any, task: Task) -> torch.Tensor:
    """Absolute errors ``[m]`` of the predicted ``log10`` rupture life on the task's query tests."""
    with torch.no_grad():
        pred = torch.as_tensor(adapted.predict(task.query.x)).reshape(-1).double()
    return (pred - task.query.y.reshape(-1).double()).abs()


def creep_metrics(learner: Any = None, noise_sd: float | None = None, level: float = 0.9, target: str = "life") -> dict[str, Callable[[Any, Task], float]]:
    """``log10_life_error`` (mean absolute error of ``log10`` rupture life [decades] over the
    query tests; infinite if any prediction is not finite; ``log10_rate_error`` with
    ``target="rate"`` for minimum creep rates), ``diverged`` (0/1, see :data:`DIVERGED_DECADES`)
    and, given a learner with a Laplace posterior and the noise sd, ``coverage90``: the share
    of query targets inside the ``level`` predictive band."""

    def error(ad: Any, task: Task) -> float:
        e = life_errors(ad, task)
        return float(e.mean()) if bool(torch.isfinite(e).all()) else math.inf

    def diverged(ad: Any, task: Task) -> float:
        return float(not error(ad, task) <= DIVERGED_DECADES)

    metrics: dict[str, Callable[[Any, Task], float]] = {f"log10_{target}_error": error, "diverged": diverged}
    if learner is not None and noise_sd is not None:
        from sciml.evaluation.coverage import posterior_band_coverage

        metrics[f"coverage{100 * level:g}"] = posterior_band_coverage(learner, noise_sd, level)
    return metrics


def full_fit_rmse(task: Task, law: Any) -> float:
    """RMS residual [decades] of a bounded least-squares fit of ``law`` to all of a task's tests."""
    from sciml.meta import CurveFit

    fitter = CurveFit(copy.deepcopy(law).double())
    x, y = fitter._tensors(task.data)
    r = fitter.adapt(task.data).predict(x).reshape(-1) - y.reshape(-1)
    return float((r**2).mean().sqrt())


def pooled_fit(tasks: Sequence[Task], law: Any) -> Any:
    """A copy of ``law`` (float64) fitted by bounded least squares to every test of ``tasks``
    pooled: the one curve that ignores which material a test belongs to."""
    from sciml.meta import CurveFit
    from sciml.tasks import TensorData

    fitter = CurveFit(copy.deepcopy(law).double())
    data = TensorData(torch.cat([t.data.x for t in tasks]).double(), torch.cat([t.data.y for t in tasks]).double())
    fitted = copy.deepcopy(law).double()
    with torch.no_grad():
        for name, value in fitter.adapt(data).params.items():
            fitted.get_parameter(name).copy_(value)
    return fitted


def leave_one_material_out(
    tasks: TaskSet,
    learners: Mapping[str, Callable[[TaskSet], Any]],
    *,
    fit: Mapping[str, Any],
    law: Any = None,
    shots: Sequence[int] = (2, 3, 5),
    seeds: Sequence[int] = tuple(range(10)),
    bands: Sequence[str] | None = None,
    level: float = 0.9,
    fit_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    dataset: str = "creep",
    study: str = "",
    target: str = "life",
    log: Log = quiet,
) -> BenchmarkResult:
    """Hold out each material group in turn; learn on the others; calibrate and judge the held-out data sets.

    Args:
        tasks: :func:`creep_tasks` (or :func:`norton_tasks`, with ``target="rate"`` and a
            :class:`~sciml.models.laws.Norton` ``law``).
        learners: Label -> a function of the training data sets returning a fresh learner
            (called after seeding torch with ``fit["seed"]``; e.g. a law started at
            :func:`pooled_fit` of the training data).
        fit: ``fit`` arguments of every learner (``iterations``, ``shots``, ``seed``, ...);
            training data sets with no more tests than the largest training ``shots`` are left
            out of that learner's training (they can still be held out and judged).
        law: The law whose full fits to the training data sets give the noise sd of the bands
            (default: a Larson-Miller law with ``C`` free).
        shots: Numbers of tests k a held-out data set is calibrated from; a data set joins at k
            only if it has at least k + 1 tests (one to judge).
        seeds: Seeds of the random draws of k tests.
        bands: Labels whose ``coverage90`` is scored (Laplace bands around a calibration);
            default: every learner that calibrates to the support (``CurveFit``, or inner
            steps > 0), not a fixed curve such as an uncalibrated pooled fit.
        level: Band level.
        fit_overrides: Label -> ``fit`` arguments that differ for that learner.
        dataset, study: Labels of the result rows.
        target: ``"life"`` or ``"rate"``: names the error metric (:func:`creep_metrics`).
        log: Progress callback.

    Returns:
        Result rows (metrics of :func:`creep_metrics`) for every learner, held-out data set, k
        and seed; ``details["noise_sd"]``: the noise sd per held-out group (from the training
        groups only); ``details["skipped"]``: ``(data set, k)`` pairs with too few tests.
    """
    from sciml.evaluation.protocol import few_shot_results
    from sciml.models.laws import LarsonMiller

    law = LarsonMiller() if law is None else law
    rmse = {t.name: full_fit_rmse(t, law) for t in tasks}
    frames = []
    out = BenchmarkResult(pd.DataFrame(), details={"noise_sd": {}, "skipped": [], "full_fit_rmse": rmse})
    for held_out, train, test in tasks.leave_one_group_out():
        assert not set(train.groups) & set(test.groups)
        noise_sd = out.details["noise_sd"][held_out] = pooled_rmse(rmse[n] for n in train.names)
        log(f"held out {held_out} ({len(test)} data set(s)): learning on {len(train)} data sets; noise sd {noise_sd:.3f} decades")
        for label, make in learners.items():
            torch.manual_seed(int(fit.get("seed", 0)))
            kwargs = {**fit, **(fit_overrides or {}).get(label, {})}
            learner = make(train)
            learner.fit(_trainable(train, kwargs.get("shots")), **kwargs, progress=False)
            if learner.history_:
                out.histories[f"{label} (without {held_out})"] = learner.history_
            scored = _calibrates(learner) if bands is None else label in bands
            metrics = creep_metrics(learner, noise_sd, level, target) if scored else creep_metrics(target=target)
            for k in shots:
                eligible = [t for t in test if len(t) > k]
                out.details["skipped"] += [(t.name, k) for t in test if len(t) <= k]
                if eligible:
                    frames.append(few_shot_results(learner, eligible, shots=[k], steps=[learner.inner_steps], seeds=seeds, metrics=metrics,
                                                   study=study, dataset=dataset, learner_name=label))
    out.details["skipped"] = sorted(set(out.details["skipped"]))
    out.results = pd.concat(frames, ignore_index=True)
    return out


def _calibrates(learner: Any) -> bool:
    from sciml.meta import CurveFit

    return isinstance(learner, CurveFit) or getattr(learner, "inner_steps", 0) > 0


def _trainable(train: TaskSet, shots: int | Sequence[int] | None) -> TaskSet:
    """The training data sets that can be resampled at every training support size (at least
    one test beyond the largest)."""
    if shots is None:
        return train
    largest = shots if isinstance(shots, int) else max(shots)
    return TaskSet(t for t in train if len(t) > largest)


def creep_table(results: pd.DataFrame, order: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (learner, k): median and mean ``log10`` life error [decades] over
    calibrations, the share diverged, the mean 90% coverage where scored, and the count."""
    rows = []
    for (learner, k), grp in results.groupby(["learner", "shots"], sort=False):
        err = grp[grp.metric == "log10_life_error"].value
        cov = grp[grp.metric == "coverage90"].value.dropna()
        rows.append({"learner": learner, "k": int(k), "median log10 life error": float(err.median()),
                     "mean log10 life error": float(err[np.isfinite(err)].mean()), "diverged": float(grp[grp.metric == "diverged"].value.mean()),
                     "coverage90": float(cov.mean()) if len(cov) else float("nan"), "calibrations": len(err)})
    out = pd.DataFrame(rows)
    if order is not None:
        out["_o"] = out.learner.map({n: i for i, n in enumerate(order)})
        out = out.sort_values(["k", "_o"]).drop(columns="_o")
    return out.reset_index(drop=True)


def noise_sd(tasks: Sequence[Task], law: Any = None) -> float:
    """Measurement noise [decades of rupture life] of a creep prior: the RMS over ``tasks`` of
    each data set's full-fit residual (:func:`full_fit_rmse`; default law: Larson-Miller, ``C`` free)."""
    from sciml.models.laws import LarsonMiller

    law = LarsonMiller() if law is None else law
    return pooled_rmse(full_fit_rmse(t, law) for t in tasks)


def pooled_rmse(rmses: Iterable[float]) -> float:
    """The RMS of per-data-set RMS residuals: each data set weighs the same, whatever its size."""
    values = list(rmses)
    return float(math.sqrt(sum(r**2 for r in values) / len(values)))


def creep_prior(learner: Any, tasks: TaskSet, fit: Mapping[str, Any], results: pd.DataFrame | None = None, label: str = "",
                provenance: Mapping[str, Any] | None = None) -> Any:
    """Meta-train ``learner`` (on a Larson-Miller law) on every creep data set and wrap it as a
    :class:`~sciml.prior.Prior` a user calibrates on their own table of tests.

    The prior reads a table with temperature, stress and rupture time columns in any units
    (``"stress [ksi]"``, ``"temperature [F]"``, ``"rupture time [min]"``; see
    :data:`~sciml.prior.domains.law.LARSON_MILLER_SCHEMA`); its noise is :func:`noise_sd` of
    ``tasks``.

    Args:
        learner: A fresh learner whose model is a :class:`~sciml.models.laws.LarsonMiller`.
        tasks: :func:`creep_tasks`; data sets with no more tests than the largest training
            ``shots`` are left out of training, as in :func:`leave_one_material_out`.
        fit: ``fit`` arguments (``iterations``, ``shots``, ``seed``, ...).
        results: Rows of a :func:`leave_one_material_out` run; ``label``'s medians become the
            prior's held-out metrics.
        label: The learner's label in ``results``.
        provenance: Extra provenance fields.

    Example:
        >>> from sciml.prior import load_prior
        >>> prior = load_prior("runs/creep-rupture/<run>/priors/tungsten-creep-larson-miller")
        >>> cal = prior.calibrate(pd.DataFrame({"temperature [C]": [1650, 1650, 1925], "stress [ksi]": [10, 5, 3],
        ...                                     "rupture time [h]": [2.1, 40.0, 18.0]}))
        >>> cal.predict(pd.DataFrame({"temperature [C]": [1800], "stress [ksi]": [4]}))  # log10 life and life [h] with bands
    """
    from sciml.evaluation.protocol import held_out_metrics
    from sciml.models.laws import LarsonMiller
    from sciml.prior.domains.law import law_prior

    if not isinstance(learner.model, LarsonMiller):
        raise TypeError(f"creep_prior needs a learner of a LarsonMiller law, got {type(learner.model).__name__}.")

    torch.manual_seed(int(fit.get("seed", 0)))
    learner.fit(_trainable(tasks, fit.get("shots")), **fit, progress=False)
    metrics = {} if results is None else held_out_metrics(results[results.learner == label], label, "median")
    return law_prior(learner, tasks, noise_sd(tasks), metrics=metrics, provenance=dict(provenance or {}))
