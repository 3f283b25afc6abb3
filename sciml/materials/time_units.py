"""Undocumented time units, inferred from the evidence under a prior learned on documented sources.

A published kinetics curve whose time axis has no unit is not lost: each candidate unit (s,
min, h) turns the same numbers into a different physical time, hence into a different rate.
Under a prior over the law's parameters learned from sources that document their unit, the
evidence (Laplace marginal likelihood, :func:`sciml.meta.evidence.log_evidence`) of the source's
measurements under each unit gives the posterior probability of that unit. A source whose
posterior is split is left out; the validation hides the unit of each documented source in turn.

Tasks here are materials as built by :func:`~sciml.materials.recrystallization.material_tasks`:
``x [n, 2]`` = (time, temperature [K]), ``y [n]`` = transformed fraction; for a source of
unknown unit the time column holds the numbers as printed in the source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from sciml.data.recrystallization import SECONDS_PER
from sciml.meta.evidence import log_evidence
from sciml.tasks import Task, TensorData

SECONDS_PER_UNIT: dict[str, float] = {unit: SECONDS_PER[unit] for unit in ("s", "min", "h")}
"""Seconds per candidate time unit (the loader's own conversion factors)."""

FitPrior = Callable[[Sequence[Task]], Any]
"""Learns a prior from training tasks and returns the fitted learner (e.g.
``lambda tasks: PriorMAP(law).fit(tasks)``)."""


def _check_units(units: Sequence[str]) -> tuple[str, ...]:
    units = tuple(units)
    unknown = [u for u in units if u not in SECONDS_PER_UNIT]
    if unknown or len(units) < 2 or len(set(units)) != len(units):
        raise ValueError(f"units must be two or more distinct names from {sorted(SECONDS_PER_UNIT)}; got {list(units)}.")
    return units


def rescale_time(task: Task, factor: float) -> Task:
    """The task with its time column (``x[:, 0]``, support and query) multiplied by ``factor``.

    Raises:
        ValueError: for a non-positive factor or inputs without a time column.
    """
    if not factor > 0:
        raise ValueError(f"factor must be positive, got {factor}.")

    def scaled(data: TensorData) -> TensorData:
        if data.x.ndim != 2 or data.x.shape[1] < 1:
            raise ValueError(f"Task {task.name!r}: expected inputs [n, 2] (time, temperature), got shape {tuple(data.x.shape)}.")
        x = data.x.clone()
        x[:, 0] = x[:, 0] * factor
        return TensorData(x, data.y)

    return Task(scaled(task.support), scaled(task.query), name=task.name, group=task.group, metadata=dict(task.metadata))


def time_unit_posterior(learner: Any, task: Task, *, noise_sd: float | None = None, units: Sequence[str] = ("s", "min", "h"),
                        prior_probabilities: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Posterior probability of each time unit for one source's measurements.

    Args:
        learner: A fitted learner with a proper Gaussian prior (e.g. :class:`~sciml.meta.PriorMAP`).
        task: The source; ``task.support.x[:, 0]`` holds the times as printed (unit unknown).
        noise_sd: Measurement noise of the targets; default: the learner's ``noise_sd_``.
        units: Candidate units (names of :data:`SECONDS_PER_UNIT`).
        prior_probabilities: Prior probability of each unit (default: equal).

    Returns:
        One row per unit: ``unit``, ``seconds_per_unit``, ``log_evidence`` [nats],
        ``probability``, in the order of ``units``.
    """
    units = _check_units(units)
    noise = float(noise_sd if noise_sd is not None else getattr(learner, "noise_sd_", float("nan")))
    if not noise > 0:
        raise ValueError("noise_sd is needed: pass it, or use a learner that estimates it (PriorMAP after fit()).")
    prior = {u: 1.0 / len(units) for u in units} if prior_probabilities is None else dict(prior_probabilities)
    if set(prior) != set(units) or any(not p > 0 for p in prior.values()):
        raise ValueError(f"prior_probabilities must give a positive probability to each of {list(units)}; got {prior}.")
    rows = []
    for unit in units:
        scaled = rescale_time(task, SECONDS_PER_UNIT[unit])
        rows.append({"unit": unit, "seconds_per_unit": SECONDS_PER_UNIT[unit],
                     "log_evidence": log_evidence(learner, scaled.support, noise)})
    table = pd.DataFrame(rows)
    log_post = torch.tensor(table.log_evidence.to_numpy(), dtype=torch.float64) + torch.tensor(
        [math.log(prior[u] / sum(prior.values())) for u in units], dtype=torch.float64)
    table["probability"] = torch.softmax(log_post, 0).numpy()
    return table


def _row(name: str, posterior: pd.DataFrame, threshold: float) -> dict[str, Any]:
    best = posterior.loc[posterior.probability.idxmax()]
    decided = float(best.probability) >= threshold
    return {"source": name, **{f"p_{r.unit}": float(r.probability) for r in posterior.itertuples()},
            "inferred": str(best.unit), "probability": float(best.probability), "used": decided}


def infer_time_units(fit_prior: FitPrior, documented: Sequence[Task], undocumented: Sequence[Task], *, threshold: float = 0.9,
                     units: Sequence[str] = ("s", "min", "h"), noise_sd: float | None = None) -> pd.DataFrame:
    """Infer the time unit of each undocumented source under a prior learned on the documented ones.

    Args:
        fit_prior: Learns the prior from the documented tasks (times in seconds).
        documented: Sources with known units, times in seconds.
        undocumented: Sources with unknown units, times as printed.
        threshold: A source is used (``used``) only when its most probable unit has at least
            this posterior probability; otherwise the evidence is split and it is left out.
        units: Candidate units.
        noise_sd: Measurement noise (default: the fitted learner's ``noise_sd_``).

    Returns:
        One row per undocumented source: ``source``, ``p_<unit>`` for each unit, ``inferred``
        (the most probable unit), ``probability`` (its posterior probability), ``used``.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}.")
    learner = fit_prior(list(documented))
    rows = [_row(t.name, time_unit_posterior(learner, t, noise_sd=noise_sd, units=units), threshold) for t in undocumented]
    return pd.DataFrame(rows)


def unit_recovery(fit_prior: FitPrior, documented: Sequence[Task], true_units: Mapping[str, str], *, threshold: float = 0.9,
                  units: Sequence[str] = ("s", "min", "h"), noise_sd: float | None = None) -> pd.DataFrame:
    """Validate the inference: hide the unit of each documented source in turn.

    Each source's times are converted back to the unit its paper used, its unit is inferred
    under a prior learned on the *other* documented sources only, and compared with the truth.

    Args:
        fit_prior: Learns the prior from training tasks (times in seconds).
        documented: Sources with known units, times in seconds (at least three).
        true_units: The documented unit of each source, by task name.
        threshold, units, noise_sd: As in :func:`infer_time_units`.

    Returns:
        One row per source: the columns of :func:`infer_time_units` plus ``true_unit`` and
        ``recovered`` (most probable unit == true unit). The recovery rate is
        ``recovered.mean()``; among the sources that would be used, ``recovered[used].mean()``.
    """
    tasks = list(documented)
    if len(tasks) < 3:
        raise ValueError(f"unit_recovery needs at least three documented sources (two to learn a prior from); got {len(tasks)}.")
    missing = [t.name for t in tasks if t.name not in true_units]
    if missing:
        raise ValueError(f"true_units has no unit for {missing}.")
    rows = []
    for i, task in enumerate(tasks):
        truth = true_units[task.name]
        if truth not in SECONDS_PER_UNIT:
            raise ValueError(f"{task.name}: unknown unit {truth!r}; expected one of {sorted(SECONDS_PER_UNIT)}.")
        hidden = rescale_time(task, 1.0 / SECONDS_PER_UNIT[truth])
        row = infer_time_units(fit_prior, tasks[:i] + tasks[i + 1:], [hidden], threshold=threshold, units=units, noise_sd=noise_sd).iloc[0]
        rows.append({**row.to_dict(), "true_unit": truth, "recovered": row.inferred == truth})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class UnitInference:
    """Tungsten recrystallization data with the undocumented time units inferred.

    Attributes:
        data: :func:`~sciml.data.load_recrystallization`'s table holding the documented sources
            and the undocumented ones whose unit was decided, in their inferred units;
            ``attrs["excluded"]`` gives each left-out source and why (with its probabilities).
        inference: :func:`infer_time_units` on the undocumented sources.
        recovery: :func:`unit_recovery` on the documented sources.
    """

    data: pd.DataFrame
    inference: pd.DataFrame
    recovery: pd.DataFrame


def recrystallization_with_inferred_units(fit_prior: FitPrior, *, threshold: float = 0.9,
                                          units: Sequence[str] = ("s", "min", "h")) -> UnitInference:
    """Load the tungsten recrystallization data, inferring the undocumented time units.

    The prior is learned on the sources that document their unit; each undocumented source is
    used in its most probable unit when that unit's posterior probability reaches
    ``threshold`` and left out otherwise. Fractions outside [0, 1] beyond the digitization
    tolerance are clipped (``fractions_clipped`` in the tasks of
    :func:`~sciml.materials.recrystallization.material_tasks` with ``clip_fractions=True``).

    Args:
        fit_prior: Learns the prior from material tasks (e.g. ``lambda t: PriorMAP(law).fit(t)``).
        threshold: Posterior probability a unit needs for its source to be used.
        units: Candidate units.

    Returns:
        The :class:`UnitInference`.
    """
    import warnings

    from sciml.data.recrystallization import documented_time_units, load_recrystallization, undocumented_sources
    from sciml.materials.recrystallization import material_tasks

    hidden = undocumented_sources()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # exclusions are reported in attrs["excluded"]
        documented = list(material_tasks(load_recrystallization(), clip_fractions=True))
        printed = material_tasks(load_recrystallization({name: "s" for name in hidden}), clip_fractions=True)  # seconds: x1, as printed
    inference = infer_time_units(fit_prior, documented, [t for t in printed if t.name in hidden], threshold=threshold, units=units)
    recovery = unit_recovery(fit_prior, documented, documented_time_units(), threshold=threshold, units=units)
    used = {r.source: r.inferred for r in inference.itertuples() if r.used}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = load_recrystallization(used)
    for r in inference.itertuples():
        probabilities = ", ".join(f"p({u}) = {getattr(r, f'p_{u}'):.3g}" for u in units)
        if r.used:
            data.attrs.setdefault("inferred", {})[r.source] = f"time unit inferred: {r.inferred} ({probabilities})"
        else:
            data.attrs["excluded"][r.source] += f"; evidence split between units ({probabilities}), left out"
    return UnitInference(data, inference, recovery)
