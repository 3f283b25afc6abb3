"""Mixture of experts: one expert per family trained on that family only, a gate that picks the
right expert from the support (leave-one-out) or from a descriptor, the learner contract, and
clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sciml.meta import MAML
from sciml.meta.mixture import MixtureOfExperts
from sciml.tasks import Task, TensorData
from sciml.testing import LearnerConformance

pytest.importorskip("sklearn", reason="the descriptor gate needs scikit-learn: pip install 'sciml[stacking]'")


def _family_tasks(n_tasks: int = 8, n: int = 10, seed: int = 0) -> list[Task]:
    """Family "up": y = s x with s in [1.5, 2.5]; family "down": y = -s x. Same inputs."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n_tasks):
        for family, sign in (("up", 1.0), ("down", -1.0)):
            x = torch.rand(n, 1, generator=g) * 2 - 1
            slope = sign * (1.5 + torch.rand((), generator=g))
            y = slope * x + 0.02 * torch.randn(n, 1, generator=g)
            data = TensorData(x, y)
            out.append(Task(data, TensorData.empty_like(data), name=f"{family}{seed}-{i}", metadata={"family": family}))
    return out


def _expert() -> MAML:
    # a weak inner loop: the expert's prior decides its predictions
    return MAML(nn.Linear(1, 1), inner_lr=0.01, inner_steps=1, meta_batch_size=4, first_order=True, outer_lr=0.05)


def _moe(gate: str = "support", **kwargs: object) -> MixtureOfExperts:
    torch.manual_seed(0)
    return MixtureOfExperts({"up": _expert(), "down": _expert()}, gate=gate, **kwargs)


def _query_mse(adapted: object, task: Task) -> float:
    return float(((adapted.predict(task.query.x).reshape(-1) - task.query.y.reshape(-1)) ** 2).mean())


def test_each_expert_learns_its_family_and_the_support_gate_picks_it() -> None:
    moe = _moe().fit(_family_tasks(seed=0), _family_tasks(seed=1), iterations=150, shots=3, progress=False)
    up, down = moe.fitted_["up"], moe.fitted_["down"]
    assert float(up.model.weight.detach()) > 1.5 and float(down.model.weight.detach()) < -1.5  # trained on their own family only
    assert moe.beta_ > 0  # a sharper gate than equal weights lowers the validation error
    for task in _family_tasks(n_tasks=6, seed=2):
        split = task.resample(3, torch.Generator().manual_seed(0))
        w = moe.gate_weights(split.support)
        family = task.metadata["family"]
        assert w[family] > 0.9, (task.name, w)
        mixed = _query_mse(moe.adapt(split.support), split)
        right = _query_mse(moe.fitted_[family].adapt(split.support), split)
        wrong = _query_mse(moe.fitted_["down" if family == "up" else "up"].adapt(split.support), split)
        assert mixed < 1.2 * right + 1e-3 and mixed < 0.1 * wrong


def test_leave_one_out_scores_match_a_hand_computed_loop() -> None:
    moe = _moe().fit(_family_tasks(seed=0), iterations=20, shots=3, progress=False)
    support = _family_tasks(seed=3)[0].data.subset(torch.arange(4))
    expected = []
    for expert in moe.fitted_.values():
        total = 0.0
        for j in range(4):
            keep = torch.tensor([m for m in range(4) if m != j])
            pred = expert.adapt(support.subset(keep)).predict(support.x[j:j + 1])
            total += float(((pred - support.y[j:j + 1]) ** 2).mean())
        expected.append(total)
    np.testing.assert_allclose(moe.support_scores([support])[0], expected, rtol=1e-5)


def test_the_descriptor_gate_learns_which_expert_calibrates_best() -> None:
    def shifted(seed: int) -> list[Task]:  # the families measured in different input ranges
        return [t.with_split(TensorData(t.support.x + (3.0 if t.metadata["family"] == "down" else 0.0), t.support.y), t.query)
                for t in _family_tasks(seed=seed)]

    moe = _moe("descriptor", descriptor=lambda data: [float(data.x.mean())])
    moe.fit(shifted(0), shifted(1), iterations=100, shots=3, progress=False)
    assert moe.best_counts_["up"] > 0 and moe.best_counts_["down"] > 0
    for task in shifted(4)[:6]:
        w = moe.gate_weights(task.data.subset(torch.arange(3)))
        assert w[task.metadata["family"]] > 0.8, (task.name, w)


def test_bad_input_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="at least 2 experts"):
        MixtureOfExperts({"up": _expert()})
    with pytest.raises(ValueError, match="Unknown gate"):
        MixtureOfExperts({"up": _expert(), "down": _expert()}, gate="oracle")
    with pytest.raises(ValueError, match="descriptor="):
        MixtureOfExperts({"up": _expert(), "down": _expert()}, gate="descriptor")
    with pytest.raises(RuntimeError, match="not fitted"):
        _moe().gate_weights(_family_tasks()[0].support)
    sideways = [t for t in _family_tasks() if t.metadata["family"] == "up"]
    with pytest.raises(ValueError, match="no training tasks"):
        _moe().fit(sideways, iterations=2, shots=3, progress=False)
    stranger = Task(sideways[0].support, sideways[0].query, name="x", metadata={"family": "sideways"})
    with pytest.raises(ValueError, match="has no expert"):
        _moe().fit([*_family_tasks(), stranger], iterations=2, shots=3, progress=False)


def test_a_mixture_table_names_an_expert_table() -> None:
    from sciml.meta.tables import build_mixture

    tables = {"MAML": {"class": "MAML", "inner_lr": 0.01}, "moe": {"class": "MixtureOfExperts", "expert": "MAML", "gate": "support"}}
    moe = build_mixture("moe", tables["moe"], tables, ["up", "down"], lambda label, table, family: _expert())
    assert sorted(moe.experts) == ["down", "up"] and moe.gate == "support"
    with pytest.raises(ValueError, match="expert = <the label"):
        build_mixture("moe", {"class": "MixtureOfExperts", "expert": "MAMLL"}, tables, ["up", "down"], lambda *a: _expert())
    with pytest.raises(ValueError, match="at least 2 families"):
        build_mixture("moe", tables["moe"], tables, ["up"], lambda *a: _expert())


class TestMixtureConformance(LearnerConformance):
    def make_learner(self) -> MixtureOfExperts:
        return MixtureOfExperts({"up": _expert(), "down": _expert()})

    def make_tasks(self) -> list[Task]:
        return _family_tasks(n_tasks=3)

    def bad_support(self, task: Task) -> TensorData:
        return TensorData(task.data.x[:3], task.data.y[:3].reshape(-1))  # [n] against the model's [n, 1]


def test_select_returns_the_calibrated_expert_of_the_largest_weight() -> None:
    moe = _moe(combine="select").fit(_family_tasks(seed=0), _family_tasks(seed=1), iterations=150, shots=3, progress=False)
    tasks = _family_tasks(n_tasks=3, seed=5)
    supports = [t.data.subset(torch.arange(3)) for t in tasks]
    for task, support, (adapted,) in zip(tasks, supports, moe.adapt_many(supports, [0])):
        own = moe.fitted_[task.metadata["family"]].adapt(support)
        torch.testing.assert_close(adapted.predict(task.data.x), own.predict(task.data.x))  # the expert itself, not a mix
    with pytest.raises(ValueError, match="Unknown combine"):
        MixtureOfExperts({"up": _expert(), "down": _expert()}, combine="average")


def test_tasks_may_come_from_a_generator() -> None:
    tasks = _family_tasks(seed=0)
    moe = _moe().fit((t for t in tasks), iterations=5, shots=3, progress=False)  # read once, gate fitted on the same tasks
    assert sorted(moe.fitted_) == ["down", "up"] and np.isfinite(list(moe.gate_risk_.values())).all()
