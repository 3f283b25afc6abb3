"""Metrics on predictions (pure functions of tensors) and their per-task wrappers."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

TaskMetric = Callable[[Any, Any], float]
"""``metric(adapted, task) -> float``: judges an adapted model on ``task.query``."""


def mse(pred: Tensor, y: Tensor) -> float:
    """Mean squared error."""
    return float(((pred.reshape(y.shape) - y) ** 2).mean())


def mae(pred: Tensor, y: Tensor) -> float:
    """Mean absolute error."""
    return float((pred.reshape(y.shape) - y).abs().mean())


def rmse(pred: Tensor, y: Tensor) -> float:
    """Root mean squared error."""
    return mse(pred, y) ** 0.5


def r2(pred: Tensor, y: Tensor) -> float:
    """Coefficient of determination (NaN when ``y`` is constant)."""
    ss_res = float(((pred.reshape(y.shape) - y) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Share of argmax predictions equal to the class indices ``y``."""
    return float((logits.argmax(-1) == y).to(torch.float64).mean())


def roc_auc(scores: Tensor, y: Tensor) -> float:
    """Area under the ROC curve of scores ``[n]`` for binary labels ``[n]`` (ties averaged);
    NaN when only one class is present."""
    s = scores.reshape(-1).double()
    yb = y.reshape(-1).bool()
    n_pos, n_neg = int(yb.sum()), int((~yb).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = torch.as_tensor(rankdata(s.numpy()))
    return float((ranks[yb].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_calibration_error(probs: Tensor, y: Tensor, n_bins: int = 15) -> float:
    """Expected calibration error (equal-width confidence bins) of class probabilities
    ``[n, C]`` against class indices ``[n]``."""
    conf, pred = probs.max(-1)
    correct = (pred == y).double()
    edges = torch.linspace(0, 1, n_bins + 1, dtype=conf.dtype)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += float(inside.double().mean()) * abs(float(conf[inside].double().mean()) - float(correct[inside].mean()))
    return ece


def on_query(fn: Callable[[Tensor, Tensor], float]) -> TaskMetric:
    """Wrap ``fn(prediction, target)`` into a metric of the adapted model on the query set."""

    def metric(adapted: Any, task: Any) -> float:
        return fn(adapted.predict(task.query.x), task.query.y)

    metric.__name__ = getattr(fn, "__name__", "metric")
    return metric


def _proba_metric(fn: Callable[[Tensor, Tensor], float]) -> TaskMetric:
    def metric(adapted: Any, task: Any) -> float:
        return fn(adapted.predict_proba(task.query.x), task.query.y)

    return metric


def _auc_metric(adapted: Any, task: Any) -> float:
    out = adapted.predict(task.query.x)
    score = out[:, 1] - out[:, 0] if out.ndim == 2 and out.shape[1] == 2 else out.reshape(-1)
    return roc_auc(score, task.query.y)


REGRESSION_METRICS: dict[str, TaskMetric] = {"mse": on_query(mse), "mae": on_query(mae)}
CLASSIFICATION_METRICS: dict[str, TaskMetric] = {
    "accuracy": on_query(accuracy),
    "ece": _proba_metric(expected_calibration_error),
}
def class_probabilities(out: Tensor) -> Tensor:
    """Class probabilities ``[n, C]`` (float64) from a classifier's output: one logit per row
    (``[n]`` or ``[n, 1]``, binary, sigmoid) or ``C >= 2`` logits / log-probabilities per row
    ``[n, C]`` (softmax)."""
    if out.ndim == 2 and out.shape[1] >= 2:
        return torch.softmax(out.double(), dim=-1)
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        p = torch.sigmoid(out.reshape(-1).double())
        return torch.stack([1 - p, p], dim=-1)
    raise ValueError(f"A classifier outputs one logit per row ([n] or [n, 1]) or C logits ([n, C]); got {list(out.shape)}.")


def binary_probabilities(out: Tensor) -> Tensor:
    """Class probabilities ``[n, 2]`` from a binary model's output: one logit per row
    (``[n]`` or ``[n, 1]``, sigmoid) or two logits / log-probabilities ``[n, 2]`` (softmax)."""
    if out.ndim == 2 and out.shape[1] > 2:
        raise ValueError(f"A binary model outputs [n], [n, 1] or [n, 2]; got {list(out.shape)}.")
    return class_probabilities(out)


def _binary_ece_metric(adapted: Any, task: Any) -> float:
    return expected_calibration_error(binary_probabilities(adapted.predict(task.query.x)), task.query.y.reshape(-1).long())


BINARY_METRICS: dict[str, TaskMetric] = {"roc_auc": _auc_metric}
"""Metrics of any binary scorer (ranking only)."""
BINARY_PROBABILITY_METRICS: dict[str, TaskMetric] = {**BINARY_METRICS, "ece": _binary_ece_metric}
"""Metrics of a binary model whose output is a logit (or two): ROC-AUC and the expected
calibration error of its probabilities."""
