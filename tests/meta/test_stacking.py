"""SuperLearner: convex weights against a brute-force reference, and folds over tasks that do not
leak a task's own points into its weights or risks."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn", reason="SuperLearner's folds need scikit-learn: pip install 'sciml[stacking]'")

from sciml.meta import CurveFit, PriorMAP
from sciml.meta.contract import FewShotLearner
from sciml.meta.stacking import SuperLearner, convex_weights
from sciml.models.laws import JMAKArrhenius
from sciml.tasks import Task, TensorData
from sciml.testing import LearnerConformance
from tests.conftest import sinusoid_tasks
from tests.meta.test_conformance import _jmak_tasks


class _Constant:
    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((len(x),), self.value, dtype=torch.float64)


class _Nearest:
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.y[torch.cdist(x.reshape(-1, 1).double(), self.x.reshape(-1, 1).double()).argmin(1)]


class SupportMean(FewShotLearner):
    """Predicts the support's mean target."""

    name = "support mean"

    def fit(self, train_tasks: Any = None, val_tasks: Any = None, **kwargs: Any) -> SupportMean:
        return self

    def adapt_many(self, supports: Sequence[Any], steps: Sequence[int]) -> list[list[Any]]:
        return [[_Constant(float(getattr(s, "support", s).y.mean())) for _ in steps] for s in supports]


class TaskLookup(FewShotLearner):
    """Memorizes the training points. A support whose inputs it met in a training task is
    answered from that task's remembered points (nearest input); any other support gets its mean.
    It is only good when a task's own points leak into meta-training."""

    name = "task lookup"
    fitted_groups: ClassVar[list[set[str]]] = []

    def fit(self, train_tasks: Any = None, val_tasks: Any = None, **kwargs: Any) -> TaskLookup:
        tasks = list(train_tasks)
        TaskLookup.fitted_groups.append({t.group for t in tasks})
        self.memory = [(t.data.x.reshape(-1), t.data.y.reshape(-1)) for t in tasks]
        return self

    def adapt_many(self, supports: Sequence[Any], steps: Sequence[int]) -> list[list[Any]]:
        out = []
        for s in supports:
            data = getattr(s, "support", s)
            sx = data.x.reshape(-1)
            hits = [int(torch.isin(sx, x).sum()) for x, _ in self.memory]
            best = int(np.argmax(hits))
            known = hits[best] > 0
            out.append([_Nearest(*self.memory[best]) if known else _Constant(float(data.y.mean())) for _ in steps])
        return out


def _learners() -> dict[str, FewShotLearner]:
    return {"support mean": SupportMean(), "task lookup": TaskLookup()}


def test_convex_weights_match_a_brute_force_search_over_the_simplex() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    z = np.stack([y + rng.normal(0, s, 200) for s in (0.5, 1.0, 2.0)], 1) + np.array([0.3, -0.2, 0.1])
    w = convex_weights(z, y)
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    grid = [np.array([a, b, 1 - a - b]) / 1.0 for a, b in itertools.product(np.linspace(0, 1, 201), repeat=2) if a + b <= 1 + 1e-12]
    best = min(grid, key=lambda g: ((z @ g - y) ** 2).mean())
    assert ((z @ w - y) ** 2).mean() <= ((z @ best - y) ** 2).mean() + 1e-9
    np.testing.assert_allclose(w, best, atol=0.01)


def test_an_exact_mixture_is_recovered_and_a_useless_learner_gets_no_weight() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=100), rng.normal(size=100)
    z = np.stack([a, b, -(0.25 * a + 0.75 * b)], 1)  # the third is anti-correlated with the truth
    np.testing.assert_allclose(convex_weights(z, 0.25 * a + 0.75 * b), [0.25, 0.75, 0.0], atol=1e-10)


def _task_risk(stack: SuperLearner, tasks: list[Task], shots: int) -> float:
    errors = []
    for i, task in enumerate(tasks):
        split = task.resample(shots, torch.Generator().manual_seed(10_000 + i))
        errors.append(((stack.adapt(split.support).predict(split.query.x) - split.query.y.reshape(-1)) ** 2).numpy())
    return float(np.concatenate(errors).mean())


def _point_fold_risk(tasks: list[Task], shots: int, folds: int = 4) -> float:
    """The leaky procedure: folds over the points of every task, so a held-out point's task is
    met (through its other points) during meta-training."""
    gen = torch.Generator().manual_seed(0)
    fold_of = [torch.randperm(len(t.data), generator=gen) % folds for t in tasks]
    z, y, fold = [], [], []
    for f in range(folds):
        train = [Task(TensorData(t.data.x[fo != f], t.data.y[fo != f]), TensorData.empty_like(t.data), name=t.name, group=t.group)
                 for t, fo in zip(tasks, fold_of)]
        fitted = {n: copy.deepcopy(p).fit(train, shots=shots) for n, p in _learners().items()}
        for t, tr, fo in zip(tasks, train, fold_of):
            support = TensorData(tr.data.x[:shots], tr.data.y[:shots])
            query = TensorData(t.data.x[fo == f], t.data.y[fo == f])
            z.append(np.stack([fitted[n].adapt(support).predict(query.x).numpy() for n in fitted], 1))
            y.append(query.y.reshape(-1).numpy())
            fold.append(np.full(len(query), f))
    z, y, fold = np.concatenate(z), np.concatenate(y), np.concatenate(fold)
    stacked = np.empty_like(y)
    for f in range(folds):
        stacked[fold == f] = z[fold == f] @ convex_weights(z[fold != f], y[fold != f])
    return float(((stacked - y) ** 2).mean())


def test_folds_over_tasks_give_an_honest_risk_where_folds_over_points_are_optimistic() -> None:
    train, test = sinusoid_tasks(100, 5, 35, seed=0), sinusoid_tasks(100, 5, 35, seed=1)
    TaskLookup.fitted_groups.clear()
    stack = SuperLearner(_learners(), folds=4).fit(train, shots=5)
    # every fold was meta-trained without the group it held out (4 groups), then on all
    assert [len(g) for g in TaskLookup.fitted_groups] == [3, 3, 3, 3, 4]
    true_risk = _task_risk(stack, test, shots=5)
    leaky = _point_fold_risk(train, shots=5)
    assert 0.75 < stack.cv_risk_[5]["SuperLearner"] / true_risk < 1.33, (stack.cv_risk_, true_risk)
    assert leaky < 0.3 * true_risk, (leaky, true_risk)
    assert set(stack.weights_[5]) == {"support mean", "task lookup"} and sum(stack.weights_[5].values()) == pytest.approx(1.0)
    assert set(stack.cv_risk_[5]) == {"support mean", "task lookup", "SuperLearner"}


def test_each_support_size_gets_its_own_weights() -> None:
    stack = SuperLearner(_learners(), folds=2).fit(sinusoid_tasks(8, 5, 20), shots=[2, 6])
    assert sorted(stack.weights_) == [2, 6]
    assert stack.weights_for(1) is stack.weights_[2] and stack.weights_for(5) is stack.weights_[2]
    assert stack.weights_for(6) is stack.weights_[6] and stack.weights_for(40) is stack.weights_[6]


def test_bad_configurations_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="at least 2 base learners"):
        SuperLearner({"one": SupportMean()})
    with pytest.raises(TypeError, match="not a sciml.meta.FewShotLearner"):
        SuperLearner({"a": SupportMean(), "b": object()})
    with pytest.raises(ValueError, match="folds must be at least 2"):
        SuperLearner(_learners(), folds=1)
    tasks = sinusoid_tasks(4, 5, 5)
    with pytest.raises(ValueError, match="needs shots="):
        SuperLearner(_learners()).fit(tasks)
    one_group = [Task(t.support, t.query, name=t.name, group="alloy") for t in tasks]
    with pytest.raises(ValueError, match="at least 2 groups"):
        SuperLearner(_learners()).fit(one_group, shots=3)
    with pytest.raises(RuntimeError, match="not fitted"):
        SuperLearner(_learners()).adapt(tasks[0].support)


class TestSuperLearnerOfLaws(LearnerConformance):
    fit_kwargs: ClassVar[dict[str, Any]] = {}

    def make_learner(self) -> SuperLearner:
        law = JMAKArrhenius(T_ref=1573.15, k_ref=1e-4, Q=400.0).double()
        return SuperLearner({"curve_fit": CurveFit(law), "prior_map": PriorMAP(law)}, folds=2)

    def make_tasks(self) -> list[Task]:
        return _jmak_tasks(arrhenius=True)

    def bad_support(self, task: Task) -> TensorData:
        return TensorData(task.data.x[:3], task.data.y[:3].reshape(-1, 1))
