"""Headline tables: mean and 95% confidence interval per cell, one summary for every report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and Student-t half-width of the ``confidence`` interval of the mean (NaN half-width
    for fewer than two finite values)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan")
    if len(v) < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.5 + confidence / 2, len(v) - 1) * stats.sem(v))


def summary_table(
    results: pd.DataFrame,
    *,
    rows: Sequence[str] = ("learner",),
    columns: Sequence[str] = ("metric", "shots"),
    unit: str = "seed",
    scale: float = 1.0,
    digits: int = 3,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean and confidence interval of every (rows x columns) cell of a results table.

    Args:
        results: A results table (:data:`~sciml.evaluation.RESULT_COLUMNS`).
        rows: Columns that index the table's rows.
        columns: Columns that index its columns (named ``"<metric> k=<shots>"`` for the
            default, else joined by spaces).
        unit: What the interval is over: ``"seed"`` (tasks averaged within each seed first, as
            for ``summarize``) or ``"row"`` (every results row is a unit, e.g. an episode).
        scale: Multiply values first (100 for percent).
        digits: Decimals shown.
        confidence: Interval level.

    Returns:
        One row per ``rows`` combination (in order of appearance), cells ``"mean +- half"``,
        and a long table in ``attrs["long"]`` with ``mean``, ``half``, ``n``.
    """
    if unit not in ("seed", "row"):
        raise ValueError(f"unit must be 'seed' or 'row', got {unit!r}.")
    keys = [*rows, *columns]
    data = results.assign(value=results.value.astype(float) * scale)
    if unit == "seed":
        data = data.groupby([*keys, "seed"], sort=False).value.mean().reset_index()
    long = []
    for key, grp in data.groupby(keys, sort=False):
        m, h = mean_ci(grp.value.to_numpy(), confidence)
        long.append((*(key if isinstance(key, tuple) else (key,)), m, h, int(grp.value.notna().sum())))
    long_df = pd.DataFrame(long, columns=[*keys, "mean", "half", "n"])

    def label(row: pd.Series) -> str:
        if tuple(columns) == ("metric", "shots"):
            return f"{row['metric']} k={int(row['shots'])}"
        return " ".join(str(row[c]) for c in columns)

    long_df["column"] = long_df.apply(label, axis=1)
    long_df["cell"] = [f"{m:.{digits}f} +- {h:.{digits}f}" if np.isfinite(h) else f"{m:.{digits}f}" for m, h in zip(long_df["mean"], long_df.half)]
    wide = long_df.pivot_table(index=list(rows), columns="column", values="cell", aggfunc="first", sort=False)
    wide = wide[list(dict.fromkeys(long_df.column))].reset_index()
    wide.columns.name = None
    wide.attrs["long"] = long_df.drop(columns=["column", "cell"])
    return wide


def regression_table(results: pd.DataFrame, published: Mapping[tuple[str, int], float] | None = None, published_steps: int = 1) -> pd.DataFrame:
    """Mean query error per (learner, k, inner steps) with a 95% interval over tasks, beside
    published numbers.

    Args:
        results: Rows of one metric (e.g. ``mse``), one row per task.
        published: ``(learner, k) -> value`` from a cited source.
        published_steps: The inner-step count the published numbers were measured at.

    Returns:
        Columns ``learner``, ``K``, ``inner steps``, ``MSE (ours)`` (``diverged`` where not
        finite), ``95% CI over tasks`` and ``published``.
    """
    import math

    rows = []
    for (learner, shots, steps), grp in results.groupby(["learner", "shots", "steps"]):
        mse = float(grp.value.mean())
        finite = math.isfinite(mse)
        rows.append({"learner": learner, "K": int(shots), "inner steps": int(steps), "MSE (ours)": f"{mse:.3g}" if finite else "diverged",
                     "95% CI over tasks": f"+-{float(grp.value.sem() * 1.96):.3f}" if finite else "",
                     "published": (published or {}).get((learner, int(shots)), float("nan")) if steps == published_steps else float("nan")})
    return pd.DataFrame(rows).sort_values(["inner steps", "K", "learner"])


def per_task_table(results: pd.DataFrame, keys: Sequence[str] = ("learner", "shots", "task"), scale: float = 1.0,
                   wide: bool = False) -> pd.DataFrame:
    """Mean and std of ``value`` per ``keys`` (times ``scale``), or with ``wide`` the mean with
    one ``k=<shots>`` column per support size."""
    if wide:
        out = results.groupby([k for k in keys if k != "shots"] + ["shots"], sort=False).value.mean().mul(scale).unstack("shots").reset_index()
        out.columns = [c if isinstance(c, str) else f"k={c}" for c in out.columns]
        return out
    out = results.groupby(list(keys), sort=False).value.agg(["mean", "std"]).reset_index()
    out[["mean", "std"]] *= scale
    return out
