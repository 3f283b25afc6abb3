"""Mixture of experts: one expert prior per task family, combined for a new task by a gate
learned across tasks.

A scientist with kinetics of steels, tungsten and metallic glasses can meta-learn one prior
over all of them, which must stretch to cover every family, or one prior per family, which is
sharp but must be chosen. A mixture of experts meta-learns one expert per family (on that
family's tasks only) and a gate that weighs the calibrated experts for a new task:

- ``gate = "support"``: from the support itself. Each expert is scored by leave-one-out on the
  support: calibrated on all points but one, it predicts the one left out (a support of one
  point is scored by the expert's uncalibrated prediction, its prior centre). The weights are
  ``softmax(-beta * sse_e)`` over experts ``e`` (``sse``: the sum of squared left-out errors),
  so the expert that calibrates to these measurements and predicts them best dominates. The one
  parameter ``beta`` is fitted across gate tasks (the validation tasks, else the training tasks)
  to minimize the mixture's error on their held-out points.
- ``gate = "descriptor"``: from a task descriptor computed from the support (for kinetics,
  the temperature and the time scale measured: :func:`sciml.materials.kinetics.isotherm_descriptor`).
  A multinomial logistic regression (scikit-learn), fitted across gate tasks, predicts which
  expert calibrates each task best; its class probabilities are the weights.

A calibrated mixture predicts ``sum_e w_e f_e(x)`` (``combine = "mix"``: a
:class:`~sciml.meta.stacking.StackedPredictor` with the gate's weights) or is the calibrated
expert of the largest weight (``combine = "select"``: for a physical law, the calibrated law
itself, with its parameters, instead of an average of curves); :meth:`MixtureOfExperts.gate_weights`
reports the weights per task.

Example:
    >>> moe = MixtureOfExperts({"steel": maml_steel, "tungsten": maml_w}, gate="support")
    >>> moe.fit(train_tasks, val_tasks, iterations=400, shots=[2, 3, 5])
    >>> moe.gate_weights(new_support)            # {"steel": 0.97, "tungsten": 0.03}
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from sciml.meta.contract import FewShotLearner
from sciml.meta.stacking import StackedPredictor

GATES = ("support", "descriptor")
"""The gates :class:`MixtureOfExperts` offers."""

COMBINES = ("mix", "select")
"""How :class:`MixtureOfExperts` combines its calibrated experts."""

BETA_GRID = tuple(float(b) for b in np.concatenate([[0.0], np.geomspace(1e-2, 1e5, 36)]))
"""Candidate inverse temperatures of the support gate (0: equal weights)."""


def _mse(pred: Any, y: torch.Tensor) -> float:
    p = torch.as_tensor(pred).detach().double().reshape(-1)
    return float(((p - y.detach().double().reshape(-1)) ** 2).mean())


class MixtureOfExperts(FewShotLearner):
    """One expert learner per task family and a learned gate (see the module docstring).

    Args:
        experts: Family name -> a fresh learner; ``fit`` trains each on the tasks of its
            family only.
        gate: ``"support"`` or ``"descriptor"``.
        family_key: The task metadata entry naming each training task's family.
        descriptor: For ``gate = "descriptor"``: ``descriptor(support data) -> [d]`` numbers
            describing a task from its support.
        gate_shots: Support size of the gate tasks (the rest of each task scores the experts).
        seed: Seed of the gate tasks' support draws.
        combine: ``"mix"`` (the weighted sum of the calibrated experts' predictions) or
            ``"select"`` (the calibrated expert of the largest weight).
    """

    name = "MixtureOfExperts"

    def __init__(self, experts: Mapping[str, FewShotLearner], *, gate: str = "support", family_key: str = "family",
                 descriptor: Callable[[Any], Sequence[float]] | None = None, gate_shots: int = 3, seed: int = 0,
                 combine: str = "mix") -> None:
        if len(experts) < 2:
            raise ValueError(f"A mixture needs at least 2 experts (one per family); got {len(experts)}.")
        if gate not in GATES:
            raise ValueError(f"Unknown gate {gate!r}; choose from {GATES}.")
        if gate == "descriptor" and descriptor is None:
            raise ValueError("gate = 'descriptor' needs descriptor=<function of the support data -> numbers>.")
        if combine not in COMBINES:
            raise ValueError(f"Unknown combine {combine!r}; choose from {COMBINES}.")
        if gate_shots < 1:
            raise ValueError(f"gate_shots must be >= 1, got {gate_shots}.")
        self.experts = dict(experts)
        self.gate, self.family_key, self.descriptor = gate, family_key, descriptor
        self.gate_shots, self.seed, self.combine = int(gate_shots), int(seed), combine
        self.inner_steps = 0

    def _by_family(self, tasks: Sequence[Any], role: str) -> dict[str, list[Any]]:
        groups: dict[str, list[Any]] = {name: [] for name in self.experts}
        for task in tasks:
            family = task.metadata.get(self.family_key)
            if family not in groups:
                raise ValueError(f"{role} task {task.name!r} has {self.family_key} = {family!r}, which has no expert; experts: "
                                 f"{sorted(self.experts)}.")
            groups[family].append(task)
        return groups

    def fit(self, train_tasks: Any = None, val_tasks: Any = None, **kwargs: Any) -> MixtureOfExperts:
        """Meta-train each expert on its family's training (and validation) tasks, then fit the
        gate on the validation tasks (the training tasks if there are none). ``kwargs`` go to
        every expert's ``fit``. Returns ``self``.

        Raises:
            ValueError: for a task whose family has no expert, or an expert without tasks.
        """
        from sciml.tasks import TaskSet

        train_tasks = list(train_tasks)  # read once: a generator is accepted too
        val_tasks = list(val_tasks) if val_tasks is not None else []
        train = self._by_family(train_tasks, "training")
        empty = [name for name, tasks in train.items() if not tasks]
        if empty:
            raise ValueError(f"Experts {empty} have no training tasks; every expert needs tasks of its family.")
        val = self._by_family(val_tasks, "validation")
        self.fitted_ = {
            name: copy.deepcopy(proto).fit(TaskSet(train[name]), TaskSet(val[name]) if val.get(name) else None, **kwargs)
            for name, proto in self.experts.items()
        }
        self.history_: list[dict[str, float]] = []
        scores, losses, features = self._gate_table(val_tasks or train_tasks)
        if self.gate == "support":
            risks = [self._mixture_risk(b, scores) for b in BETA_GRID]
            self.beta_ = BETA_GRID[int(np.argmin(risks))]
            self.gate_risk_ = dict(zip(BETA_GRID, risks))
        else:
            self._fit_descriptor_gate(features, losses)
        return self

    def _split(self, task: Any, index: int) -> tuple[Any, Any]:
        data = task.data
        if len(data) <= self.gate_shots:
            raise ValueError(f"Gate task {task.name!r} has {len(data)} points; it needs more than gate_shots = {self.gate_shots}.")
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(self.seed * 100_003 + index))
        return data.subset(order[: self.gate_shots]), data.subset(order[self.gate_shots:])

    def _gate_table(self, tasks: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per gate task and expert: the support score ``[T, E]`` (:meth:`support_scores`), the
        calibrated expert's query error ``[T, E]``, and the descriptors ``[T, d]`` (empty
        without a descriptor)."""
        splits = [self._split(task, i) for i, task in enumerate(tasks)]
        supports = [sup for sup, _ in splits]
        scores = self.support_scores(supports) if self.gate == "support" else np.zeros((len(tasks), len(self.fitted_)))
        preds = []
        for expert in self.fitted_.values():
            adapted = expert.adapt_many(supports, [expert.inner_steps])
            preds.append([torch.as_tensor(ad[0].predict(q.x)).detach().double().reshape(-1).numpy() for ad, (_, q) in zip(adapted, splits)])
        self._query_preds = [np.stack([p[i] for p in preds], 1) for i in range(len(tasks))]
        self._query_y = [q.y.detach().double().reshape(-1).numpy() for _, q in splits]
        losses = np.array([[float(((p[:, j] - y) ** 2).mean()) for j in range(p.shape[1])] for p, y in zip(self._query_preds, self._query_y)])
        losses[~np.isfinite(losses)] = np.inf
        feats = (np.array([np.asarray(self.descriptor(sup), dtype=float).reshape(-1) for sup in supports]) if self.descriptor is not None
                 else np.empty(0))
        return scores, losses, feats

    def support_scores(self, supports: Sequence[Any]) -> np.ndarray:
        """Each expert's sum of squared leave-one-out errors on each support ``[S, E]``, in the
        order of ``experts`` (a one-point support: the squared error of the uncalibrated
        expert); ``inf`` where an expert fails."""
        self._require_fitted()
        held, rest, owner = [], [], []
        for i, sup in enumerate(supports):
            n = len(sup)
            for j in range(n) if n > 1 else []:
                held.append(sup.subset(torch.tensor([j])))
                rest.append(sup.subset(torch.tensor([m for m in range(n) if m != j])))
                owner.append(i)
        out = np.zeros((len(supports), len(self.fitted_)))
        single = [i for i, sup in enumerate(supports) if len(sup) == 1]
        for e, expert in enumerate(self.fitted_.values()):
            if rest:
                for (ad,), point, i in zip(expert.adapt_many(rest, [expert.inner_steps]), held, owner):
                    out[i, e] += _mse(ad.predict(point.x), point.y)
            for i in single:
                out[i, e] = _mse(expert.adapt(supports[i], steps=0).predict(supports[i].x), supports[i].y)
        out[~np.isfinite(out)] = np.inf
        return out

    @staticmethod
    def _softmax(logits: np.ndarray) -> np.ndarray:
        """Softmax over the last axis; ``-inf`` logits (failed experts) get weight 0."""
        z = np.where(np.isnan(logits), -np.inf, logits)
        z = np.where(np.isneginf(z).all(axis=-1, keepdims=True), 0.0, z)  # every expert failed: equal weights
        z = z - np.max(z, axis=-1, keepdims=True)
        w = np.exp(z)
        return w / w.sum(axis=-1, keepdims=True)

    def _weights_from_scores(self, beta: float, scores: np.ndarray) -> np.ndarray:
        """``softmax(-beta * scores)`` (equal weights among the finite scores for ``beta = 0``)."""
        finite = np.isfinite(scores)
        return self._softmax(np.where(finite, -beta * np.where(finite, scores, 0.0), -np.inf))

    def _mixture_risk(self, beta: float, scores: np.ndarray) -> float:
        """Mean squared error of the gated mixture on the gate tasks' held-out points."""
        weights = self._weights_from_scores(beta, scores)
        return float(np.mean([((np.nan_to_num(p, nan=0.0, posinf=0.0, neginf=0.0) @ w - y) ** 2).mean()
                              for p, w, y in zip(self._query_preds, weights, self._query_y)]))

    def _fit_descriptor_gate(self, features: np.ndarray, losses: np.ndarray) -> None:
        try:
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("The descriptor gate needs scikit-learn: pip install 'sciml[stacking]'.") from err
        best = np.argmin(losses, axis=1)
        self.best_counts_ = {name: int((best == j).sum()) for j, name in enumerate(self.fitted_)}
        if len(set(best.tolist())) == 1:
            self.classifier_ = None
            self.constant_ = np.eye(len(self.fitted_))[best[0]]
            return
        self.classifier_ = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(features, best)

    def _require_fitted(self) -> None:
        if not hasattr(self, "fitted_"):
            raise RuntimeError("MixtureOfExperts is not fitted: call fit(train_tasks) first.")

    def gate_weights_many(self, supports: Sequence[Any]) -> np.ndarray:
        """The gate's weights ``[S, E]`` for support sets (a ``Task`` stands for its support),
        experts in the order of ``experts``."""
        self._require_fitted()
        data = [getattr(sup, "support", sup) for sup in supports]
        if self.gate == "support":
            return self._weights_from_scores(self.beta_, self.support_scores(data))
        if self.classifier_ is None:
            return np.tile(self.constant_, (len(data), 1))
        proba = self.classifier_.predict_proba(np.stack([np.asarray(self.descriptor(d), dtype=float).reshape(-1) for d in data]))
        out = np.zeros((len(data), len(self.fitted_)))
        out[:, self.classifier_[-1].classes_] = proba
        return out

    def gate_weights(self, support: Any) -> dict[str, float]:
        """The gate's weight of each expert for one support set, by expert name."""
        self._require_fitted()
        return dict(zip(self.fitted_, self.gate_weights_many([support])[0].tolist()))

    def adapt_many(self, supports: Sequence[Any], steps: Sequence[int]) -> list[list[Any]]:
        """Per support: every expert calibrated with its own step count and combined with the
        gate's weights (``combine = "mix"``; experts of weight 0 left out), or the calibrated
        expert of the largest weight (``"select"``); the same predictor for every entry of
        ``steps``."""
        data = [getattr(sup, "support", sup) for sup in supports]
        weights = self.gate_weights_many(data)
        if self.combine == "select":
            names, pick = list(self.fitted_), weights.argmax(axis=1)
            chosen = {e: [i for i in range(len(data)) if pick[i] == e] for e in set(pick.tolist())}
            out: list[list[Any]] = [[] for _ in data]
            for e, rows in chosen.items():
                expert = self.fitted_[names[e]]
                for i, (ad,) in zip(rows, expert.adapt_many([data[i] for i in rows], [expert.inner_steps])):
                    out[i] = [ad for _ in steps]
            return out
        adapted = {name: [ad[0] for ad in expert.adapt_many(data, [expert.inner_steps])] for name, expert in self.fitted_.items()}
        out = []
        for i in range(len(data)):
            w = {name: float(weights[i, e]) for e, name in enumerate(self.fitted_) if weights[i, e] > 0}
            out.append([StackedPredictor({name: adapted[name][i] for name in w}, w, int(k)) for k in steps])
        return out
