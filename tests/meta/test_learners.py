"""Learner behaviour: immutability of adaptation, BatchNorm isolation, checkpoints, errors."""

from __future__ import annotations

import math

import pytest
import torch

from sciml import settings
from sciml.evaluation import RESULT_COLUMNS
from sciml.meta import ANIL, MAML, CurveFit, FineTune, Learner, MetaSGD, ProtoNet, Reptile, Scratch, resolve_learner
from sciml.models import JMAK, MLP
from sciml.tasks import EpisodeSampler, TaskSet, TensorData
from tests.conftest import sinusoid_tasks


def _snapshot(learner: Learner) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in learner.meta_parameters().items()}


@pytest.mark.parametrize("cls", [MAML, ANIL, MetaSGD, Reptile, FineTune, Scratch])
def test_adapt_never_mutates_meta_parameters(cls: type[Learner]) -> None:
    torch.manual_seed(0)
    learner = cls(MLP(1, (8,), 1).double(), inner_steps=3)
    before = _snapshot(learner)
    task = sinusoid_tasks(1, 5, 5)[0]
    adapted = learner.adapt(task, steps=5)
    for k, v in learner.meta_parameters().items():
        assert torch.equal(v.detach(), before[k]), k
    changed = any(not torch.equal(adapted.params[n], before[n]) for n in adapted.params)
    assert changed, "adaptation should move at least one parameter"
    # later meta-training does not reach into an earlier Adapted
    frozen = {k: v.clone() for k, v in adapted.params.items()}
    learner.fit(TaskSet(sinusoid_tasks(4, 5, 5)), iterations=2, progress=False)
    assert all(torch.equal(adapted.params[k], frozen[k]) for k in frozen)
    with pytest.raises(TypeError):
        adapted.params["head.bias"] = torch.zeros(1)  # type: ignore[index]


def test_batchnorm_statistics_never_leak_across_tasks() -> None:
    torch.manual_seed(0)
    model = MLP(1, (8,), 1, batchnorm=True).double()
    learner = MAML(model, inner_lr=0.05, inner_steps=1)
    assert "per-task" in learner.batchnorm_policy
    tasks = sinusoid_tasks(3, 5, 5)
    shifted = [tasks[0], tasks[1].with_split(TensorData(tasks[1].support.x * 100, tasks[1].support.y), tasks[1].query), tasks[2]]
    a = learner.adapt_many([t.support for t in tasks], [1])
    b = learner.adapt_many([t.support for t in shifted], [1])
    # changing task 1's data changes nothing about tasks 0 and 2 in the same vmapped batch
    for i in (0, 2):
        for k in a[i][0].params:
            assert torch.allclose(a[i][0].params[k], b[i][0].params[k], atol=1e-12)
    learner.fit(TaskSet(tasks), iterations=3, progress=False)
    assert all("running" not in n for n, _ in model.named_buffers())


def test_save_load_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    learner = MetaSGD(MLP(1, (8,), 1), inner_lr=0.02, inner_steps=2, meta_batch_size=3)
    learner.fit(TaskSet(sinusoid_tasks(5, 5, 5, dtype=torch.float32)), iterations=5, progress=False)
    learner.save(tmp_path / "ckpt")
    state = torch.load(tmp_path / "ckpt" / "state.pt", weights_only=True)
    assert any(k.startswith("meta.inner_lr:") for k in state)
    loaded = MetaSGD.load(tmp_path / "ckpt")
    assert loaded.get_config() == learner.get_config()
    assert len(loaded.history_) == 5
    task = sinusoid_tasks(1, 5, 5, seed=9, dtype=torch.float32)[0]
    x = task.query.x
    assert torch.equal(loaded.adapt(task).predict(x), learner.adapt(task).predict(x))
    with pytest.raises(TypeError, match="holds a MetaSGD"):
        MAML.load(tmp_path / "ckpt")


def test_custom_model_needs_model_argument_to_load(tmp_path) -> None:
    model = torch.nn.Linear(1, 1)
    MAML(model).save(tmp_path)
    with pytest.raises(ValueError, match="pass model="):
        Learner.load(tmp_path)
    assert isinstance(Learner.load(tmp_path, model=torch.nn.Linear(1, 1)), MAML)


def test_fit_learns_and_early_stopping_keeps_best() -> None:
    torch.manual_seed(0)
    train, val = TaskSet(sinusoid_tasks(40, 10, 10, dtype=torch.float32)).split(test_fraction=0.25)
    learner = MAML(MLP(1, (40, 40), 1), inner_lr=0.01, outer_lr=3e-3, meta_batch_size=10)
    fixed_val = [t.resample(10, torch.Generator().manual_seed(i)) for i, t in enumerate(val)]
    before = learner._validation_loss(fixed_val)
    learner.fit(train, val, iterations=150, eval_every=25, progress=False)
    vals = [r["val_loss"] for r in learner.history_ if "val_loss" in r]
    assert len(vals) == 6
    assert learner.best_iteration_ == 25 * (1 + vals.index(min(vals)))
    assert learner._validation_loss(list(val)) == pytest.approx(min(vals), rel=1e-5)
    assert learner._validation_loss(fixed_val) < 0.9 * before  # meta-training learned something about new tasks


def test_fit_requires_support_and_query() -> None:
    t = sinusoid_tasks(3, 5, 5)
    only_support = [x.with_split(x.data, TensorData.empty_like(x.data)) for x in t]
    learner = MAML(MLP(1, (4,), 1).double())
    with pytest.raises(ValueError, match="shots="):
        learner.fit(only_support, iterations=1, progress=False)
    learner.fit(only_support, iterations=1, shots=5, progress=False)  # resampling works


def test_errors_on_bad_configuration() -> None:
    with pytest.raises(TypeError, match="nn.Module"):
        MAML("not a model")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="match no parameter"):
        ANIL(MLP(1, (4,), 1), adapt_params=["decoder"])
    with pytest.raises(ValueError, match="Unknown loss"):
        MAML(MLP(1, (4,), 1), loss="hinge")
    with pytest.raises(ValueError, match="Unknown learner"):
        resolve_learner("mamba")
    assert resolve_learner("meta-sgd") is MetaSGD


def test_adapt_rejects_bad_support_for_a_law() -> None:
    learner = MAML(JMAK())
    with pytest.raises(ValueError, match="time must be >= 0"):
        learner.adapt(TensorData(torch.tensor([-1.0, 10.0]), torch.tensor([0.0, 0.5])))
    with pytest.raises(ValueError, match="divide by 100"):
        learner.adapt(TensorData(torch.tensor([1.0, 10.0]), torch.tensor([10.0, 50.0])))
    with pytest.raises(ValueError, match="NaN"):
        TensorData(torch.tensor([1.0, float("nan")]), torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="empty"):
        learner.adapt(TensorData(torch.zeros(0), torch.zeros(0)))


def test_divergence_is_reported_not_swallowed() -> None:
    learner = MAML(MLP(1, (8,), 1), inner_lr=1e8, inner_steps=5)
    with pytest.raises(FloatingPointError, match="lower inner_lr"):
        learner.fit(TaskSet(sinusoid_tasks(4, 5, 5, dtype=torch.float32)), iterations=5, progress=False)


def test_evaluate_returns_tidy_table_same_points_for_every_learner() -> None:
    tasks = TaskSet(sinusoid_tasks(4, 6, 6, dtype=torch.float32))
    torch.manual_seed(0)
    a = MAML(MLP(1, (8,), 1)).evaluate(tasks, shots=[3, 5], steps=[0, 2], seeds=[0, 1], study="s", dataset="d")
    assert list(a.columns) == RESULT_COLUMNS
    assert len(a) == 4 * 2 * 2 * 2 * 2
    assert set(a.metric) == {"mse", "mae"}
    # steps=0 of MAML equals the unadapted model: identical for two learners sharing the model
    torch.manual_seed(0)
    b = Reptile(MLP(1, (8,), 1)).evaluate(tasks, shots=[3, 5], steps=[0], seeds=[0, 1])
    merged = a[a.steps == 0].merge(b, on=["task", "shots", "seed", "metric"])
    assert torch.allclose(torch.tensor(merged.value_x.values), torch.tensor(merged.value_y.values))


def test_curve_fit_recovers_jmak_parameters() -> None:
    t = torch.logspace(1, 4, 12, dtype=torch.float64)
    y = 1 - torch.exp(-((2e-3 * t) ** 1.8))
    fitter = CurveFit(JMAK().double())
    ad = fitter.adapt(TensorData(t, y))
    p = ad.physical_params()
    assert ad.extras["converged"]
    assert float(p["n"]) == pytest.approx(1.8, rel=1e-4)
    assert float(p["k"]) == pytest.approx(2e-3, rel=1e-4)


def test_protonet_classifies_separable_episodes() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(8).repeat_interleave(20)
    centers = torch.randn(8, 4, generator=g) * 4
    x = centers[y] + torch.randn(160, 4, generator=g)
    sampler = EpisodeSampler(x, y, classes=range(8), n_way=4, k_shot=3, n_query=5)
    torch.manual_seed(0)
    learner = ProtoNet(MLP(4, (16,), 8), n_way=4, outer_lr=3e-3)
    learner.fit(sampler, iterations=50, progress=False)
    episodes = sampler.sample_batch(10, g)
    res = learner.evaluate(episodes, shots=[3], steps=[0], per_class=True)
    acc = res[res.metric == "accuracy"].value.mean()
    assert acc > 0.9
    with settings.vmap_tasks(False):
        res2 = learner.evaluate(episodes, shots=[3], steps=[0], per_class=True)
    assert res.value.to_numpy() == pytest.approx(res2.value.to_numpy(), abs=1e-6)
    assert math.isfinite(res[res.metric == "ece"].value.mean())


def test_task_of_wrong_type_is_rejected() -> None:
    with pytest.raises(TypeError, match="Task, TensorData or GraphData"):
        MAML(MLP(1, (4,), 1)).adapt((torch.zeros(3, 1), torch.zeros(3, 1)))  # type: ignore[arg-type]
