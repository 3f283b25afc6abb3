"""Fatigue crack growth: a Forman prior from literature constants, calibrated on a few da/dN points.

A table of Forman constants (one row per alloy, no data) gives a Gaussian prior over the law's
unconstrained parameters (:meth:`~sciml.meta.PriorMAP.fit_samples`); a new alloy is calibrated
by MAP from a few measured rates. :func:`calibrate_from_few_points` judges that against
``curve_fit`` of the same points on one alloy's da/dN table.

What the data allow: one alloy (AA7050-T7451) has a da/dN table, and it is a smoothed curve per
stress ratio rather than coupon measurements; the 22 others have constants only. So there is no
leave-one-material-out protocol to run, only this one held-out alloy; the numbers are a
demonstration, not a benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
import torch

from sciml.evaluation.coverage import posterior_band_coverage
from sciml.evaluation.metrics import rmse
from sciml.evaluation.protocol import few_shot_results
from sciml.meta import CurveFit, PriorMAP
from sciml.models.laws.forman import Forman
from sciml.tasks import Task, TensorData

if TYPE_CHECKING:
    from sciml.prior import Prior


def forman_samples(constants: pd.DataFrame, law: Forman) -> torch.Tensor:
    """Unconstrained parameters ``[m, 3]`` (``log10_g_ref``, ``log_n``, ``log_Kc``) of each row of
    a Forman table (columns ``C``, ``n``, ``Kc``, as :func:`~sciml.data.fatigue.load_forman_parameters`)."""
    missing = sorted({"C", "n", "Kc"} - set(constants.columns))
    if missing:
        raise KeyError(f"The Forman table needs columns C, n and Kc; missing {missing}.")
    rows = [[math.log10(r.C) + r.n * math.log10(law.delta_K_ref), math.log(r.n), math.log(r.Kc)] for r in constants.itertuples()]
    return torch.tensor(rows, dtype=torch.float64)


def literature_prior(constants: pd.DataFrame, noise_sd: float, law: Forman | None = None, **kwargs: float) -> PriorMAP:
    """A :class:`~sciml.meta.PriorMAP` over Forman's parameters from a table of constants.

    Args:
        constants: Forman constants, one row per alloy (columns ``C``, ``n``, ``Kc``).
        noise_sd: Scatter of log10 da/dN the calibration assumes [decades].
        law: The law (default ``Forman()``, reference Delta K = 10 MPa sqrt(m)).
        kwargs: ``shrinkage``, ``min_sd`` of :class:`~sciml.meta.PriorMAP`.
    """
    law = (law or Forman()).double()
    return PriorMAP(law, **kwargs).fit_samples(forman_samples(constants, law), noise_sd)


def literature_law_prior(constants: pd.DataFrame, noise_sd: float, law: Forman | None = None, **kwargs: float) -> Prior:
    """:func:`literature_prior` as a :class:`~sciml.prior.Prior` a user saves, serves and
    calibrates on their own table of rates in any units.

    The table has columns ``delta K`` (``[MPa sqrt(m)]`` or ``[ksi sqrt(in)]``), ``R`` and
    ``da/dN`` (``[m/cycle]``, ``[mm/cycle]`` or ``[in/cycle]``); see
    :data:`~sciml.prior.domains.law.FORMAN_SCHEMA`. Predictions come as log10 da/dN [m/cycle]
    with a band, and as da/dN [m/cycle].

    Args:
        constants: Forman constants, one row per alloy (columns ``C``, ``n``, ``Kc``; a
            ``material`` column names them in the provenance).
        noise_sd: Scatter of log10 da/dN the calibration assumes [decades].
        law: The law (default ``Forman()``).
        kwargs: ``shrinkage``, ``min_sd`` of :class:`~sciml.meta.PriorMAP`.

    Example:
        >>> prior = literature_law_prior(load_forman_parameters(), noise_sd=0.2)
        >>> prior.save("priors/forman-aluminium")
        >>> cal = prior.calibrate(pd.DataFrame({"delta K [ksi sqrt(in)]": [8, 15, 25], "R": [0.1] * 3,
        ...                                     "da/dN [in/cycle]": [2e-6, 2e-5, 2e-4]}))
    """
    from sciml.prior.domains.law import law_prior

    learner = literature_prior(constants, noise_sd, law, **kwargs)
    alloys = list(constants.material) if "material" in constants else []
    return law_prior(learner, [], noise_sd, name="forman-literature",
                     provenance={"source": f"Forman constants of {len(constants)} alloys" + (f": {', '.join(alloys)}" if alloys else ""),
                                 "noise_sd": "assumed, not estimated from data"})


def crack_growth_task(df: pd.DataFrame) -> Task:
    """One alloy's rates as a task: ``x [n, 2]`` = (Delta K [MPa sqrt(m)], R), ``y [n]`` =
    log10 da/dN [m/cycle] (columns of :func:`~sciml.data.fatigue.load_crack_growth`)."""
    if not (df.dadn > 0).all():
        raise ValueError("da/dN must be positive (m/cycle) to take its log; drop zero rates (below threshold).")
    x = torch.tensor(df[["delta_K", "R"]].to_numpy(dtype=float).copy(), dtype=torch.float64)
    y = torch.tensor(df.dadn.map(math.log10).to_numpy(dtype=float), dtype=torch.float64)
    data = TensorData(x, y)
    name = str(df.material.iloc[0]) if "material" in df else "alloy"
    return Task(data, TensorData.empty_like(data), name=name, group=name, metadata={"units": {"delta_K": "MPa sqrt(m)", "R": "1",
                                                                                               "y": "log10 m/cycle"}})


def calibrate_from_few_points(task: Task, constants: pd.DataFrame, *, noise_sd: float = 0.2, shots: Sequence[int] = (2, 3, 5, 8),
                              seeds: Sequence[int] = tuple(range(20)), level: float = 0.9) -> pd.DataFrame:
    """The literature prior's MAP against ``curve_fit`` on k random points of ``task``.

    Args:
        task: The held-out alloy (:func:`crack_growth_task`).
        constants: The other alloys' Forman constants (leave the held-out alloy's family out).
        noise_sd: Assumed scatter of log10 da/dN [decades] for the prior's MAP and both bands.
        shots, seeds, level: Numbers of points, draws, band level.

    Returns:
        Rows in :data:`~sciml.evaluation.RESULT_COLUMNS` with metrics ``rmse_log10_dadn``
        (decades, on the other points) and ``coverage90``; learners ``literature-prior MAP``,
        ``curve_fit`` and, at k = 0, ``literature prior mean``.
    """
    prior = literature_prior(constants, noise_sd)
    metrics = {"rmse_log10_dadn": lambda ad, t: rmse(ad.predict(t.query.x), t.query.y)}
    frames = []
    for label, learner in (("literature-prior MAP", prior), ("curve_fit", CurveFit(Forman().double()))):
        frames.append(few_shot_results(learner, [task], shots=list(shots), steps=[learner.inner_steps], seeds=seeds,
                                       metrics={**metrics, "coverage90": posterior_band_coverage(learner, noise_sd, level)},
                                       learner_name=label, dataset="crack-growth:random"))
    with torch.no_grad():
        mean_rmse = float(rmse(prior.model(task.support.x), task.support.y))
    frames.append(pd.DataFrame([{"study": "", "dataset": "crack-growth:random", "learner": "literature prior mean", "task": task.name,
                                 "group": task.group, "shots": 0, "steps": 0, "seed": 0, "metric": "rmse_log10_dadn",
                                 "value": mean_rmse}]))
    return pd.concat(frames, ignore_index=True)
