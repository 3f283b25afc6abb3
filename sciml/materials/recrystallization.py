"""Recrystallization tasks at two levels, support designs and reference fits."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import pandas as pd
import torch

from sciml.meta.curve_fit import CurveFit
from sciml.models.laws import JMAK, JMAKArrhenius
from sciml.tasks import Task, TaskSet, TensorData

UNITS = {"time_s": "s", "temperature_K": "K", "X": "1"}


FRACTION_TOLERANCE = 0.02
"""How far digitized fractions may stray outside [0, 1] (the laws' own tolerance)."""


def _fractions(rows: pd.DataFrame, clip: bool) -> tuple[torch.Tensor, int]:
    """X as a tensor, and how many values were clipped into [0, 1]."""
    x = torch.tensor(rows.X.to_numpy(dtype=float), dtype=torch.float64)
    outside = (x < -FRACTION_TOLERANCE) | (x > 1 + FRACTION_TOLERANCE)
    if not clip:
        if bool(outside.any()):
            name = rows.dataset.iloc[0]
            raise ValueError(
                f"{name}: {int(outside.sum())} transformed fractions lie outside [0, 1] by more than {FRACTION_TOLERANCE} "
                f"(range {float(x.min()):.3f} to {float(x.max()):.3f}), beyond digitization error. Pass clip_fractions=True to "
                "clip them into [0, 1] (the number clipped is kept in each task's metadata), or leave the data set out."
            )
        return x, 0
    return torch.where(outside, x.clamp(0.0, 1.0), x), int(outside.sum())  # within the tolerance: kept as read


def isotherm_tasks(df: pd.DataFrame, clip_fractions: bool = False) -> TaskSet:
    """One task per (data set, temperature): ``x`` = time [s] ``[n]``, ``y`` = X ``[n]``; the
    group is the material (data set), so a material's isotherms stay on one side of a split.

    Args:
        df: Output of :func:`sciml.data.load_recrystallization`.
        clip_fractions: Clip fractions that lie outside [0, 1] by more than
            :data:`FRACTION_TOLERANCE` into [0, 1] (metadata ``fractions_clipped`` counts them)
            instead of refusing the data set; fractions within the tolerance are kept as read.

    Raises:
        ValueError: for fractions outside [0, 1] beyond the tolerance, unless clipped.
    """
    tasks = []
    for (dataset, temp), rows in df.groupby(["dataset", "temperature_K"], sort=True):
        rows = rows.sort_values("time_s")
        x = torch.tensor(rows.time_s.to_numpy(dtype=float), dtype=torch.float64)
        y, clipped = _fractions(rows, clip_fractions)
        data = TensorData(x, y)
        tasks.append(
            Task(data, TensorData.empty_like(data), name=f"{dataset}@{temp:.0f}K", group=str(dataset),
                 metadata={"units": {"time": "s", "X": "1"}, "temperature_K": float(temp), "fractions_clipped": clipped,
                           "material": rows.material.iloc[0], "source_paper": rows.source_paper.iloc[0]})
        )
    return TaskSet(tasks)


def material_tasks(df: pd.DataFrame, clip_fractions: bool = False) -> TaskSet:
    """One task per data set across its temperatures: ``x`` = (time [s], temperature [K])
    ``[n, 2]``, ``y`` = X ``[n]``. ``clip_fractions``: as in :func:`isotherm_tasks`."""
    tasks = []
    for dataset, rows in df.groupby("dataset", sort=True):
        rows = rows.sort_values(["temperature_K", "time_s"])
        x = torch.tensor(rows[["time_s", "temperature_K"]].to_numpy(dtype=float).copy(), dtype=torch.float64)
        y, clipped = _fractions(rows, clip_fractions)
        data = TensorData(x, y)
        temps = sorted(float(t) for t in rows.temperature_K.unique())
        tasks.append(
            Task(data, TensorData.empty_like(data), name=str(dataset), group=str(dataset),
                 metadata={"units": {"time": "s", "temperature": "K", "X": "1"}, "temperatures_K": temps, "fractions_clipped": clipped,
                           "material": rows.material.iloc[0], "source_paper": rows.source_paper.iloc[0]})
        )
    return TaskSet(tasks)


def random_design(task: Task, shots: int, generator: torch.Generator) -> Task:
    """``shots`` measurements drawn at random; the others are held out."""
    return task.resample(shots, generator)


def early_design(task: Task, shots: int, generator: torch.Generator | None = None) -> Task:
    """The ``shots`` earliest measurements (experiments stopped early); the others are held
    out. Deterministic: ties in time are broken by position."""
    data = task.data
    t = data.x[:, 0] if data.x.ndim == 2 else data.x
    order = torch.argsort(t, stable=True)
    if len(order) <= shots:
        raise ValueError(f"Task {task.name!r} has {len(order)} points: too few for {shots} early points plus a query.")
    return task.with_split(data.subset(order[:shots]), data.subset(order[shots:]))


DESIGNS = {"random": random_design, "early": early_design}


def fit_reference(task: Task, law: JMAK | JMAKArrhenius, starts: Sequence[float] = (0.7, 1.5, 3.0)) -> dict[str, float]:
    """Bounded least-squares fit of ``law`` to *all* of a task's points (several starting
    exponents; the best fit wins): the reference that few-point calibrations are judged against.

    Returns:
        The fitted unconstrained parameters by name, plus ``sse`` and ``rmse``.
    """
    best: dict[str, float] | None = None
    for n0 in starts:
        fitter = CurveFit(copy.deepcopy(law).double(), start={"log_n": math.log(n0)})
        x, y = fitter._tensors(task.data)
        ad = fitter.adapt(task.data)
        r = ad.predict(x).reshape(-1) - y.reshape(-1)
        sse = float((r**2).sum())
        if best is None or sse < best["sse"]:
            best = {**{k: float(v) for k, v in ad.params.items()}, "sse": sse, "rmse": (sse / len(r)) ** 0.5}
    assert best is not None
    return best


def reference_t50(law: JMAK | JMAKArrhenius, params: dict[str, float], temperatures_K: Sequence[float]) -> list[float]:
    """t50 [s] of a fitted law at each temperature (isothermal JMAK: the same value)."""
    p = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items() if k not in ("sse", "rmse")}
    law = copy.deepcopy(law).double()
    if isinstance(law, JMAKArrhenius):
        return [float(law.t50(T, p)) for T in temperatures_K]
    return [float(law.physical_params(p)["t50"].value)] * len(temperatures_K)


def with_reference(task: Task, law: JMAK | JMAKArrhenius, ref: dict[str, float]) -> Task:
    """The task with the full-data fit's ``n`` and ``t50_s`` (a list over the material's
    temperatures, or one value for an isotherm) in its metadata, for
    :func:`~sciml.materials.kinetics.kinetics_metrics`."""
    meta = dict(task.metadata)
    if "temperatures_K" in meta:
        t50 = reference_t50(law, ref, meta["temperatures_K"])
    else:
        t50 = reference_t50(law, ref, [meta["temperature_K"]])[0]
    meta.update(n=math.exp(ref["log_n"]), t50_s=t50, reference_fit=ref)
    return Task(task.support, task.query, name=task.name, group=task.group, metadata=meta)


def pooled_noise_sd(refs: dict[str, dict[str, float]], names: Sequence[str]) -> float:
    """Measurement noise of a family [1]: the RMS residual of the full-data fits
    (:func:`fit_reference`) of the tasks ``names``."""
    return float(math.sqrt(sum(refs[n]["rmse"] ** 2 for n in names) / len(names)))
