"""Super Learner stacking of few-shot learners, with folds over tasks.

The Super Learner (van der Laan, Polley & Hubbard, 2007) combines base learners with weights
fitted on their cross-validated predictions. In the few-shot setting a prediction is made for a
task the learner has not seen, from a few of its points, so the cross-validation must hold out
whole tasks: every base learner is meta-trained on the other folds' tasks, then calibrated on a
``shots``-point support of each held-out task and scored on the rest of that task. Folds over
points instead of tasks would let a learner meet a task's other points during meta-training and
would make every risk, and the weights, optimistic.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sciml.meta.contract import FewShotLearner


def _group_folds(groups: Sequence[str], folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    try:
        from sklearn.model_selection import GroupKFold
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("SuperLearner's folds need scikit-learn: pip install 'sciml[stacking]'.") from err
    n_groups = len(set(groups))
    if n_groups < 2:
        raise ValueError(f"SuperLearner needs tasks from at least 2 groups to hold some out; got {n_groups}.")
    index = np.arange(len(groups))
    return list(GroupKFold(n_splits=min(folds, n_groups)).split(index, groups=list(groups)))


def _as_column(pred: Any, name: str, task: str, rows: int) -> np.ndarray:
    """``[rows]`` float64 predictions of one learner on one query, checked."""
    out = torch.as_tensor(pred).detach().double().cpu().numpy()
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != (rows,):
        raise ValueError(f"SuperLearner stacks scalar regression outputs; {name} predicted shape {out.shape} for the "
                         f"{rows} query points of task {task!r}.")
    if not np.isfinite(out).all():
        raise ValueError(f"{name} predicted NaN or infinite values on task {task!r}: fix or drop that base learner.")
    return out


def convex_weights(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weights ``w`` ``[m]`` with ``w >= 0`` and ``sum(w) = 1`` that minimize the squared error
    ``|z w - y|^2`` of ``y`` ``[n]`` on the columns of ``z`` ``[n, m]`` (the Super Learner's
    convex combination).

    Solved exactly for the sign constraints by non-negative least squares, with the sum
    constraint as an extra row weighted far above the data (its violation is then below 1e-8
    and removed by rescaling). Non-negative least squares without that row, rescaled afterwards,
    is a different and worse combination when the columns have offsets.
    """
    from scipy.optimize import nnls

    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ValueError(f"z must be [n, m] and y [n]; got {z.shape} and {y.shape}.")
    scale = 1e5 * np.sqrt(len(y)) * max(float(np.abs(z).max()), float(np.abs(y).max()), 1e-12)
    a = np.vstack([z, np.full((1, z.shape[1]), scale)])
    b = np.concatenate([y, [scale]])
    w, _ = nnls(a, b, maxiter=50 * z.shape[1])
    if w.sum() <= 0:
        w = np.zeros(z.shape[1])
        w[int(np.argmin(((z - y[:, None]) ** 2).mean(0)))] = 1.0
    return w / w.sum()


@dataclass
class StackedPredictor:
    """A task's calibrated base learners and their weights; ``predict(x)`` is the weighted sum.

    Attributes:
        adapted: Each base learner calibrated on the support (learners of weight 0 are left out).
        weights: The stack's weights, by learner name.
        steps: The step count this predictor was requested for.
    """

    adapted: dict[str, Any]
    weights: dict[str, float]
    steps: int = 0

    def components(self, x: Any) -> dict[str, torch.Tensor]:
        """Each calibrated base learner's prediction ``[n]`` on ``x``, by name."""
        return {name: torch.as_tensor(ad.predict(x)).reshape(-1) for name, ad in self.adapted.items()}

    def predict(self, x: Any) -> torch.Tensor:
        """``sum_j w_j f_j(x)``, shape ``[n]``."""
        parts = self.components(x)
        return sum(self.weights[name] * p.double() for name, p in parts.items()).to(next(iter(parts.values())).dtype)


class SuperLearner(FewShotLearner):
    """Stacked few-shot regression: base learners combined with convex weights fitted on
    out-of-fold predictions, folds over task groups (``Task.group``), never over the points of
    one task.

    ``fit`` meta-trains a copy of every base learner on each fold's training tasks, calibrates it
    on a ``shots``-point support of every held-out task (the same support for every learner) and
    collects its predictions on the rest of the task; the weights are the non-negative weights
    summing to one that fit those predictions to the targets best (:func:`convex_weights`). The base learners are
    then meta-trained once more on all tasks, and calibration combines them with those weights.

    After ``fit``, by support size (``shots``):

    * ``weights_[k]``: weight of each base learner.
    * ``cv_risk_[k]``: cross-validated mean squared error of each base learner and of the stack
      (``"SuperLearner"``); the stack's risk refits the weights without each fold in turn, so
      it is itself out of fold.
    * ``fitted_``: the base learners meta-trained on all tasks.

    Args:
        learners: Unfitted base learners by name (each is copied, never changed).
        folds: Folds over task groups (fewer if there are fewer groups).
        seed: Seed of the supports drawn from held-out tasks.
        query_size: Query points scored per held-out task (default: all but the support).
    """

    name = "SuperLearner"
    inner_steps = 0

    def __init__(self, learners: Mapping[str, FewShotLearner], *, folds: int = 5, seed: int = 0, query_size: int | None = None) -> None:
        if len(learners) < 2:
            raise ValueError(f"SuperLearner stacks at least 2 base learners; got {len(learners)}.")
        for name, learner in learners.items():
            if not isinstance(learner, FewShotLearner):
                raise TypeError(f"Base learner {name!r} is a {type(learner).__name__}, not a sciml.meta.FewShotLearner.")
        if folds < 2:
            raise ValueError(f"folds must be at least 2, got {folds}.")
        self.learners = dict(learners)
        self.folds = int(folds)
        self.seed = int(seed)
        self.query_size = query_size

    def _held_out_split(self, task: Any, index: int, shots: int, per_class: bool) -> Any:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        return task.resample(shots, generator, query_size=self.query_size, per_class=per_class)

    def out_of_fold(self, tasks: Sequence[Any], shots: Sequence[int], per_class: bool = False,
                    **fit_kwargs: Any) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Out-of-fold predictions of every base learner, for every support size.

        Args:
            tasks: Training tasks.
            shots: Support sizes drawn from each held-out task (one stack of weights each).
            per_class: Draw ``shots`` points per class.
            **fit_kwargs: Passed to every base learner's ``fit`` (with ``shots`` and ``per_class``).

        Returns:
            ``{shots: (z [points, learners], y [points], fold [points])}``: predictions in the
            order of :attr:`learners`, targets, and the fold that held each point's task out.
        """
        tasks = list(tasks)
        parts: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {int(k): [] for k in shots}
        for f, (train, held) in enumerate(_group_folds([t.group for t in tasks], self.folds)):
            fitted = {name: copy.deepcopy(proto).fit([tasks[i] for i in train], shots=list(shots), per_class=per_class, **fit_kwargs)
                      for name, proto in self.learners.items()}
            for k, collected in parts.items():
                for i in held:
                    split = self._held_out_split(tasks[i], int(i), k, per_class)
                    rows = len(split.query)
                    y = _as_column(split.query.y, "the targets", tasks[i].name, rows)
                    z = np.stack([_as_column(learner.adapt(split.support).predict(split.query.x), name, tasks[i].name, rows)
                                  for name, learner in fitted.items()], 1)
                    collected.append((z, y, np.full(rows, f)))
        return {k: tuple(np.concatenate(c) for c in zip(*v)) for k, v in parts.items()}

    def fit(self, train_tasks: Any = None, val_tasks: Any = None, *, shots: int | Sequence[int] | None = None, per_class: bool = False,
            **kwargs: Any) -> SuperLearner:
        """Fit the weights on out-of-fold predictions, then meta-train every base learner on all
        ``train_tasks``. ``shots`` (required): the support size(s) the stack will be calibrated
        with, one set of weights each; a support is combined with the weights of the largest
        fitted size not above its own (the smallest if it is below all). ``val_tasks`` and
        ``kwargs`` go to the base learners' ``fit``. Returns ``self``."""
        if shots is None:
            raise ValueError("SuperLearner.fit needs shots=: the support size(s) its weights are fitted for.")
        shots = sorted({int(shots)} if isinstance(shots, int) else {int(k) for k in shots})
        tasks = list(train_tasks)
        names = list(self.learners)
        self.weights_: dict[int, dict[str, float]] = {}
        self.cv_risk_: dict[int, dict[str, float]] = {}
        for k, (z, y, fold) in self.out_of_fold(tasks, shots, per_class, **kwargs).items():
            stacked = np.empty_like(y)
            for f in np.unique(fold):
                inside = fold != f
                stacked[~inside] = z[~inside] @ convex_weights(z[inside], y[inside])
            self.weights_[k] = dict(zip(names, convex_weights(z, y).tolist()))
            self.cv_risk_[k] = {**{n: float(((z[:, j] - y) ** 2).mean()) for j, n in enumerate(names)},
                                self.name: float(((stacked - y) ** 2).mean())}
        self.fitted_ = {name: copy.deepcopy(proto).fit(tasks, val_tasks, shots=shots, per_class=per_class, **kwargs)
                        for name, proto in self.learners.items()}
        self.history_: list[dict[str, float]] = []  # each base learner keeps its own training curve
        return self

    def _require_fitted(self) -> None:
        if not hasattr(self, "fitted_"):
            raise RuntimeError("SuperLearner is not fitted: call fit(train_tasks, shots=...) first.")

    def summary(self) -> Any:
        """A ``pandas.DataFrame`` with one row per (support size, learner): ``shots``, ``learner``,
        ``weight`` (``nan`` for the stack itself) and ``cv_mse`` (cross-validated, out of fold)."""
        import pandas as pd

        self._require_fitted()
        return pd.DataFrame([{"shots": k, "learner": name, "weight": self.weights_[k].get(name, float("nan")), "cv_mse": risk}
                             for k, risks in self.cv_risk_.items() for name, risk in risks.items()])

    def weights_for(self, support_size: int) -> dict[str, float]:
        """The weights fitted for the largest support size not above ``support_size`` (the
        smallest fitted size if all are above)."""
        self._require_fitted()
        below = [k for k in self.weights_ if k <= support_size]
        return self.weights_[max(below) if below else min(self.weights_)]

    def adapt_many(self, supports: Sequence[Any], steps: Sequence[int]) -> list[list[StackedPredictor]]:
        """One :class:`StackedPredictor` per support, with the weights of its size
        (:meth:`weights_for`); every base learner adapts with its own chosen step count (the same
        predictor is returned for every entry of ``steps``)."""
        out = []
        for support in supports:
            data = getattr(support, "support", support)
            weights = {n: w for n, w in self.weights_for(len(data)).items() if w > 0}
            adapted = {n: self.fitted_[n].adapt(data) for n in weights}
            out.append([StackedPredictor(adapted, weights, int(k)) for k in steps])
        return out
