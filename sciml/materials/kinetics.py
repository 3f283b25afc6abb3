"""Kinetics helpers: t50 and n of an adapted JMAK-type law, and calibration metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from sciml.evaluation.metrics import rmse
from sciml.models.laws import JMAK, JMAKArrhenius

DIVERGENCE_N_RANGE = (0.3, 10.0)
DIVERGENCE_T50_FACTOR = 10.0


def adapted_t50(adapted: Any, temperature_K: float, columns: int | None = None) -> float:
    """Time to half transformation [s] of an adapted JMAK or JMAKArrhenius law at
    ``temperature_K`` (ignored for isothermal JMAK); of a weighted combination of such laws
    (:class:`~sciml.meta.stacking.StackedPredictor`) or of any other predictor of the
    transformed fraction (e.g. a conditional neural process), read off its predicted curve
    (:func:`curve_t50`).

    Args:
        adapted: The calibrated predictor.
        temperature_K: Temperature [K].
        columns: For a predictor that is not a law: the inputs it reads, ``1`` (time [s],
            shape ``[n, 1]``) or ``2`` (time [s], temperature [K]); a law knows its own.
    """
    model = getattr(adapted, "model", None)
    if isinstance(model, JMAKArrhenius):
        return float(model.t50(temperature_K, dict(adapted.params)))
    if isinstance(model, JMAK):
        return float(adapted.physical_params()["t50"].value)
    return curve_t50(_curve(adapted, _reader(adapted, columns), temperature_K))


def adapted_n(adapted: Any, temperature_K: float | None = None, columns: int | None = None) -> float:
    """Avrami exponent of an adapted JMAK-type law; of any other predictor (a combination of
    laws, a conditional neural process), the local exponent at its t50
    (:func:`curve_avrami_exponent`, at ``temperature_K``; ``columns`` as in
    :func:`adapted_t50`)."""
    if isinstance(getattr(adapted, "model", None), (JMAK, JMAKArrhenius)):
        return float(adapted.physical_params()["n"].value)
    reader = _reader(adapted, columns)
    if temperature_K is None and reader[0]:
        raise ValueError("The Avrami exponent of a curve that depends on the temperature needs temperature_K.")
    curve = _curve(adapted, reader, temperature_K)
    return curve_avrami_exponent(curve, curve_t50(curve))


def _component_law(adapted: Any) -> Any:
    """The law of a combination's components (all must be one JMAK-type law), or ``None``."""
    parts = getattr(adapted, "adapted", None)
    if not isinstance(parts, dict) or not parts:
        return None
    laws = {type(getattr(p, "model", None)) for p in parts.values()}
    if len(laws) != 1 or not issubclass(next(iter(laws)), (JMAK, JMAKArrhenius)):
        return None
    return next(iter(parts.values())).model


def _reader(adapted: Any, columns: int | None) -> tuple[bool, Any]:
    """How ``adapted`` reads inputs: ``(with temperature column, dtype)``, from its law, from
    its components' law, or from ``columns`` for any other predictor."""
    law = _component_law(adapted)
    if law is not None:
        return isinstance(law, JMAKArrhenius), next(law.parameters()).dtype
    if columns not in (1, 2) or not hasattr(adapted, "predict"):
        raise TypeError(f"{type(adapted).__name__} is neither a JMAK-type law nor a combination of them: give columns=1 "
                        "(time) or 2 (time, temperature) to read t50 and n off its predicted curve.")
    params = [v for v in getattr(adapted, "params", {}).values() if v.is_floating_point()]
    return columns == 2, params[0].dtype if params else None


def law_inputs(adapted: Any, t: Any, temperature_K: float | None, columns: int | None = None) -> Any:
    """Inputs ``[n]`` (isothermal JMAK) or ``[n, 2]`` (time [s], temperature [K]) at times ``t``
    [s], laid out and typed as ``adapted`` reads them: an adapted law, a combination of laws,
    or any other predictor of the kinetics task's inputs (``columns`` as in :func:`adapted_t50`)."""
    law = getattr(adapted, "model", None)
    if isinstance(law, (JMAK, JMAKArrhenius)):
        return _inputs((isinstance(law, JMAKArrhenius), next(law.parameters()).dtype), t, temperature_K)
    return _inputs(_reader(adapted, columns), t, temperature_K)


def _inputs(reader: tuple[bool, Any], t: Any, temperature_K: float | None) -> Any:
    two_columns, dtype = reader
    times = torch.as_tensor(t, dtype=torch.float64)
    x = torch.stack([times, torch.full_like(times, float(temperature_K))], 1) if two_columns else times
    return x if dtype is None else x.to(dtype)


def _curve(adapted: Any, reader: tuple[bool, Any], temperature_K: float | None) -> Any:
    """``X(t)`` [t in s, array] of ``adapted`` (read as ``reader`` says) at ``temperature_K``."""

    def x_of(t: np.ndarray) -> np.ndarray:
        return np.asarray(adapted.predict(_inputs(reader, t, temperature_K)).detach().double().reshape(-1))

    return x_of


T50_SEARCH_S = (1e-3, 1e13)
"""Times [s] searched for the half-transformation time of a predicted curve."""


def curve_t50(curve: Any, rounds: int = 5) -> float:
    """The time [s] where a non-decreasing curve ``X(t)`` first reaches 0.5: a log-spaced scan of
    :data:`T50_SEARCH_S`, then ``rounds`` scans of 33 points inside the bracket (each shrinks it
    32-fold), then linear interpolation in log time. ``nan`` if it never does."""
    log_t = np.linspace(*np.log(T50_SEARCH_S), 321)
    for _ in range(rounds + 1):
        x = curve(np.exp(log_t))
        above = np.flatnonzero(x >= 0.5)
        if len(above) == 0:
            return float("nan")
        i = int(above[0])
        if i == 0:
            return float(np.exp(log_t[0]))
        lo, hi, x_lo, x_hi = log_t[i - 1], log_t[i], x[i - 1], x[i]
        log_t = np.linspace(lo, hi, 33)
    return float(np.exp(lo + (hi - lo) * (0.5 - x_lo) / (x_hi - x_lo))) if x_hi > x_lo else float(np.exp(hi))


def curve_avrami_exponent(curve: Any, t: float, step: float = 1e-3) -> float:
    """Local Avrami exponent ``d ln(-ln(1 - X)) / d ln t`` of a curve at time ``t`` [s] (central
    difference in log time); for a JMAK curve it is ``n`` at every time."""
    if not math.isfinite(t):
        return float("nan")
    x = np.clip(curve(np.array([t * math.exp(-step), t * math.exp(step)])), 1e-12, 1 - 1e-12)
    y = np.log(-np.log1p(-x))
    return float((y[1] - y[0]) / (2 * step))


def is_diverged(n: float, t50: float, t50_true: float) -> bool:
    """A calibration diverged if ``n`` is outside 0.3-10 or t50 is off by more than 10x."""
    lo, hi = DIVERGENCE_N_RANGE
    ratio = t50 / t50_true
    return not (lo <= n <= hi) or not (1 / DIVERGENCE_T50_FACTOR <= ratio <= DIVERGENCE_T50_FACTOR) or math.isnan(ratio)


def input_columns(task: Any) -> int:
    """Input columns of a kinetics task: ``2`` for (time [s], temperature [K]) rows ``[n, 2]``,
    else ``1`` (times)."""
    x = task.query.x
    return 2 if x.ndim == 2 and x.shape[1] == 2 else 1


def _first_temperature(task: Any, temperature_key: str) -> float | None:
    temps = task.metadata.get(temperature_key)
    return temps[0] if isinstance(temps, (list, tuple)) else temps


def _pairs(task: Any, t50_key: str, temperature_key: str) -> list[tuple[float, float]]:
    temps, t50s = task.metadata[temperature_key], task.metadata[t50_key]
    if isinstance(temps, (list, tuple)):
        return list(zip(temps, t50s))
    return [(temps, t50s)]


def kinetics_metrics(t50_key: str = "t50_s", n_key: str = "n", temperature_key: str = "temperature_K") -> dict[str, Any]:
    """Metrics against a task's reference parameters in its metadata (truth or full-data fit):
    ``t50_rel_error``, ``n_rel_error``, ``diverged`` (0/1) and ``rmse_X`` on the query.

    ``metadata[temperature_key]`` and ``metadata[t50_key]`` may be lists (a material measured
    at several temperatures): the t50 error is then the mean over them, and the calibration
    diverged if t50 is off by more than 10x at any of them. A failed calibration (NaN
    parameters) counts as diverged with infinite errors.
    """

    def _nan_to_inf(v: float) -> float:
        return float("inf") if math.isnan(v) else v

    def t50_err(ad: Any, task: Any) -> float:
        cols = input_columns(task)
        errs = [abs(adapted_t50(ad, temp, cols) / ref - 1.0) for temp, ref in _pairs(task, t50_key, temperature_key)]
        return _nan_to_inf(sum(errs) / len(errs))

    def n_err(ad: Any, task: Any) -> float:
        n = adapted_n(ad, _first_temperature(task, temperature_key), input_columns(task))
        return _nan_to_inf(abs(n / task.metadata[n_key] - 1.0))

    def diverged(ad: Any, task: Any) -> float:
        cols = input_columns(task)
        n = adapted_n(ad, _first_temperature(task, temperature_key), cols)
        return float(any(is_diverged(n, adapted_t50(ad, temp, cols), ref) for temp, ref in _pairs(task, t50_key, temperature_key)))

    def rmse_x(ad: Any, task: Any) -> float:
        return _nan_to_inf(rmse(ad.predict(task.query.x), task.query.y))

    return {"t50_rel_error": t50_err, "n_rel_error": n_err, "diverged": diverged, "rmse_X": rmse_x}


def kinetics_table(results: pd.DataFrame, order: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, learner, k): median t50, n and RMSE-of-X errors, the share of
    diverged calibrations and, where the results hold it, the mean 90% coverage.

    Args:
        results: Few-shot results with the :func:`kinetics_metrics` (and ``coverage90``).
        order: Learner order of the rows (default: first appearance).
    """
    rows = []
    for (dataset, learner, shots), grp in results.groupby(["dataset", "learner", "shots"], sort=False):
        v = grp.set_index("metric").value
        row = {"dataset": dataset, "learner": learner, "k": int(shots),
               "median t50 error": float(v.loc[["t50_rel_error"]].median()),
               "median n error": float(v.loc[["n_rel_error"]].median()),
               "median RMSE X": float(v.loc[["rmse_X"]].median()),
               "diverged": float(v.loc[["diverged"]].mean())}
        if "coverage90" in v.index:
            cov = v.loc[["coverage90"]].to_numpy(dtype=float)
            row["coverage90"] = float(np.nanmean(cov)) if np.isfinite(cov).any() else float("nan")
        row["calibrations"] = int((grp.metric == "diverged").sum())
        rows.append(row)
    out = pd.DataFrame(rows)
    order = list(order) if order is not None else list(dict.fromkeys(out.learner))
    out["o"] = out.learner.map({n: i for i, n in enumerate(order)})
    return out.sort_values(["dataset", "k", "o"], kind="stable").drop(columns="o").reset_index(drop=True)


def design_table(results: pd.DataFrame, order: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`kinetics_table` with a ``design`` column taken from ``dataset`` values
    ``<name>:<design>``, sorted by design and k."""
    head = kinetics_table(results, order)
    head.insert(0, "design", head.pop("dataset").str.split(":").str[1])
    return head.sort_values(["design", "k"], kind="stable").reset_index(drop=True)


def calibration_verdicts(head: pd.DataFrame, k: int, baselines: Sequence[str], compare: Sequence[str] = ("curve_fit", "pooled-prior MAP"),
                         target: tuple[float, float] = (0.8, 0.95)) -> list[str]:
    """One markdown paragraph per design of a :func:`design_table`: the best meta-learner at
    ``k`` (by median t50 error, picked after the fact), the ``compare`` baselines, and whether
    its 90% bands are calibrated (coverage inside ``target``)."""
    lines = []
    for design, d in head[head.k == k].groupby("design", sort=False):
        d = d.set_index("learner")
        metas = [n for n in d.index if n not in baselines]
        if not metas:
            continue
        best = min(metas, key=lambda n: d.loc[n, "median t50 error"])
        parts = [(f"**{design} design, k = {k}**: best meta-learner on this table (picked after the fact; every row is above) {best}: "
                  f"median t50 error {d.loc[best, 'median t50 error']:.3f}, {d.loc[best, 'diverged']:.0%} diverged, 90% coverage "
                  f"{d.loc[best, 'coverage90']:.2f}.")]
        parts += [f"{b}: {d.loc[b, 'median t50 error']:.3f}, {d.loc[b, 'diverged']:.0%} diverged, coverage {d.loc[b, 'coverage90']:.2f}."
                  for b in compare if b in d.index]
        cov = d.loc[best, "coverage90"]
        parts.append("The 90% bands are " + (f"calibrated (coverage within {target[0]:.2f}-{target[1]:.2f})." if target[0] <= cov <= target[1]
                                             else f"not calibrated (coverage {cov:.2f}, target {target[0]:.2f}-{target[1]:.2f})."))
        lines.append(" ".join(parts))
    return lines


def prior_centres(learners: dict[str, Any], task: Any) -> pd.DataFrame:
    """The physical parameters (with units) of each meta-learned law before adaptation (its
    prior's centre), one row per learner; ``task`` only supplies the input dtype."""
    return pd.DataFrame([{"learner": label, **{f"{k} [{q.unit}]": float(q.value) for k, q in learner.adapt(task, steps=0).physical_params().items()}}
                         for label, learner in learners.items()])


def isotherm_descriptor(support: Any) -> np.ndarray:
    """What a support set of kinetics measurements says about its material before any fit, for
    a mixture-of-experts gate (:class:`~sciml.meta.mixture.MixtureOfExperts`): the mean log10
    time [s] measured and, where the inputs hold it, the mean temperature [K].

    Args:
        support: Data with ``x`` ``[n, 2]`` (time [s], temperature [K]) or ``[n]`` (time [s]).

    Returns:
        ``[2]`` (log10 time, temperature) or ``[1]`` (log10 time).

    Raises:
        ValueError: for a non-positive time.
    """
    x = torch.as_tensor(support.x).detach().double()
    time = x[:, 0] if x.ndim == 2 else x
    if (time <= 0).any():
        raise ValueError("Times must be positive (seconds) to describe an isotherm on a log scale.")
    out = [float(torch.log10(time).mean())]
    if x.ndim == 2 and x.shape[1] > 1:
        out.append(float(x[:, 1].mean()))
    return np.array(out)
