"""Probability ensembles and greedy ensemble selection, against hand-derived answers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from sciml.meta import MatchingNet, ProtoNet
from sciml.meta.contract import FewShotLearner
from sciml.meta.ensemble import (
    ProbabilityEnsemble,
    greedy_weights,
    mean_roc_auc,
    validation_probabilities,
)
from sciml.models import MLP
from sciml.tasks import Task, TensorData
from sciml.testing import LearnerConformance
from tests.meta.cases import blob_tasks


class _Fixed:
    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits

    def predict(self, x: Any) -> torch.Tensor:
        return self.logits[: len(x)]


class _FixedLearner(FewShotLearner):
    """Predicts the same logits whatever the support: a known output to average."""

    def __init__(self, logits: torch.Tensor, inner_steps: int = 0) -> None:
        self.logits, self.inner_steps = logits, inner_steps
        self.asked: list[int] = []

    def fit(self, train_tasks: Any = None, val_tasks: Any = None, **kwargs: Any) -> _FixedLearner:
        return self

    def adapt_many(self, supports: Sequence[Any], steps: Sequence[int]) -> list[list[_Fixed]]:
        self.asked += list(steps)
        return [[_Fixed(self.logits) for _ in steps] for _ in supports]


def test_weighted_average_of_probabilities_by_hand() -> None:
    a = _FixedLearner(torch.tensor([0.0, 0.0]))  # p = 0.5
    b = _FixedLearner(torch.tensor([math.log(3.0), -math.log(3.0)]), inner_steps=7)  # p = 0.75, 0.25
    ensemble = ProbabilityEnsemble({"a": a, "b": b}, {"a": 1.0, "b": 3.0})
    assert ensemble.weights == {"a": 0.25, "b": 0.75}
    (adapted,) = ensemble.adapt_many([None], [0])[0]
    p = adapted.predict_proba(torch.zeros(2, 1))
    expected = torch.tensor([0.25 * 0.5 + 0.75 * 0.75, 0.25 * 0.5 + 0.75 * 0.25], dtype=torch.float64)
    assert torch.allclose(p[:, 1], expected) and torch.allclose(p.sum(-1), torch.ones(2, dtype=torch.float64))
    logits = adapted.predict(torch.zeros(2, 1))
    assert torch.allclose(logits[:, 1] - logits[:, 0], torch.log(expected / (1 - expected)))  # the binary log-odds
    assert b.asked == [7] and a.asked == [0]  # each member adapts with its own inner steps


def test_zero_weight_members_take_no_part() -> None:
    a, b = _FixedLearner(torch.zeros(2)), _FixedLearner(torch.ones(2))
    ensemble = ProbabilityEnsemble({"a": a, "b": b}, {"a": 0.0, "b": 2.0})
    assert ensemble.weights == {"a": 0.0, "b": 1.0}
    (adapted,) = ensemble.adapt_many([None], [0])[0]
    assert torch.allclose(adapted.predict_proba(torch.zeros(2, 1))[:, 1], torch.sigmoid(torch.ones(2)).double())
    assert a.asked == []  # never adapted


@pytest.mark.parametrize(("weights", "match"), [({"c": 1.0}, "not in the ensemble"), ({"a": -1.0, "b": 2.0}, ">= 0"),
                                                ({"a": 0.0, "b": 0.0}, "not all 0"), ({"a": float("nan")}, "finite")])
def test_bad_weights_are_refused(weights: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ProbabilityEnsemble({"a": _FixedLearner(torch.zeros(1)), "b": _FixedLearner(torch.zeros(1))}, weights)


def _episode(p_positive: list[float], y: list[int]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p_positive, dtype=float)
    return np.stack([1 - p, p], axis=1), np.asarray(y)


def test_greedy_selection_finds_the_complementary_pair() -> None:
    # "a" ranks episode 1 right and is flat on episode 2; "b" the other way round: each alone has
    # mean ROC-AUC 0.75, their average ranks both episodes right (1.0); "c" ranks both backwards.
    y = [1, 1, 0, 0]
    episodes = {
        "a": [_episode([0.9, 0.8, 0.2, 0.1], y), _episode([0.5, 0.5, 0.5, 0.5], y)],
        "b": [_episode([0.5, 0.5, 0.5, 0.5], y), _episode([0.9, 0.8, 0.2, 0.1], y)],
        "c": [_episode([0.1, 0.2, 0.8, 0.9], y), _episode([0.1, 0.2, 0.8, 0.9], y)],
    }
    weights, table = greedy_weights(episodes, rounds=2)
    assert weights == {"a": 0.5, "b": 0.5, "c": 0.0}
    assert table[table["round"] == 0].score.tolist() == [0.75, 0.75, 0.0]
    assert table[table["round"] > 0].added.tolist() == ["a", "b"]  # tie at round 1 goes to the first named
    assert table.score.iloc[-1] == 1.0


def test_greedy_selection_refuses_members_validated_on_other_episodes() -> None:
    episodes = {"a": [_episode([0.9, 0.1], [1, 0])], "b": [_episode([0.9, 0.1], [0, 1])]}
    with pytest.raises(ValueError, match="other episodes"):
        greedy_weights(episodes)


def test_fit_scores_match_a_direct_evaluation() -> None:
    torch.manual_seed(0)
    tasks = blob_tasks(n=24, separation=1.5)
    proto = ProtoNet(torch.nn.Identity(), n_way=2)
    flipped = ProtoNet(MLP(2, (), 2), n_way=2)
    with torch.no_grad():  # a fixed map that swaps the two features' signs: prototypes still work
        flipped.model.head.weight.copy_(-torch.eye(2))
        flipped.model.head.bias.zero_()
    ensemble = ProbabilityEnsemble({"proto": proto, "flipped": flipped}, rounds=3).fit(tasks, shots=3, seeds=[0, 1], per_class=True)
    table = ensemble.selection_
    alone = table[table["round"] == 0].set_index("added")
    direct = proto.evaluate(tasks, shots=[3], seeds=[0, 1], per_class=True, metrics={"roc_auc": _auc})
    assert alone.loc["proto", "score"] == pytest.approx(direct.groupby("seed").value.mean().mean())
    assert sum(ensemble.weights.values()) == pytest.approx(1.0)
    episodes = validation_probabilities(ensemble, tasks, shots=[3], seeds=[0, 1],
                                        resample=lambda t, k, g: t.resample(k, g, per_class=True))
    assert mean_roc_auc(episodes) == pytest.approx(ensemble.selection_.score.iloc[-1])


def _auc(adapted: Any, task: Task) -> float:
    from sciml.evaluation.metrics import class_probabilities, roc_auc

    return roc_auc(class_probabilities(adapted.predict(task.query.x))[:, 1], task.query.y)


class TestProbabilityEnsemble(LearnerConformance):
    per_class = True
    fit_kwargs: ClassVar[dict[str, Any]] = {"seeds": [0, 1]}

    def make_learner(self) -> ProbabilityEnsemble:
        return ProbabilityEnsemble({"proto": ProtoNet(MLP(2, (8,), 4), n_way=2),
                                    "matching": MatchingNet(MLP(2, (8,), 4), n_way=2, fce_dim=4, fce_steps=2)}, {"proto": 1, "matching": 2})

    def make_tasks(self) -> list[Task]:
        return blob_tasks(n=24, separation=1.5)

    def bad_support(self, task: Task) -> TensorData:
        return TensorData(task.data.x[:4], torch.tensor([0, 1, 2, 1]))  # a label >= n_way
