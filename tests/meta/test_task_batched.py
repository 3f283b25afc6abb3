"""The task-batched meta-gradient: where it applies, and equal to a plain per-task autograd
reference where it does (the MAML, ANIL and MetaSGD cases are in test_gradients.py)."""

from __future__ import annotations

import pytest
import torch

from sciml import settings
from sciml.meta import MAML, LearnedOptimizer
from sciml.meta.functional import cross_entropy_loss
from sciml.meta.task_batched import task_batched_inputs
from sciml.models import MLP
from sciml.tasks import Task, TensorData
from tests.conftest import sinusoid_tasks
from tests.meta.reference import reference_maml_gradient


def _mlp(**kwargs) -> MLP:
    torch.manual_seed(0)
    return MLP(1, (8, 8), 1, activation="tanh", **kwargs).double()


def test_forward_tasks_is_forward_with_each_tasks_parameters() -> None:
    models = [MLP(3, (5, 4), 2, activation="silu").double() for _ in range(4)]
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    stacked = {n: torch.stack([dict(m.named_parameters())[n] for m in models]) for n, _ in models[0].named_parameters()}
    out = models[0].forward_tasks(stacked, x)
    assert out.shape == (4, 7, 2)
    for b, m in enumerate(models):
        torch.testing.assert_close(out[b], m(x[b]), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="BatchNorm"):
        MLP(3, (5,), 2, batchnorm=True).forward_tasks(stacked, x)


def test_it_applies_only_to_the_plain_inner_loop_on_same_shaped_tasks() -> None:
    tasks = sinusoid_tasks(4, 5, 6)
    sx, _, qx, qy = task_batched_inputs(MAML(_mlp()), tasks)
    assert sx.shape == (4, 5, 1) and qy.shape == (4, 6, 1) and sx.dtype == torch.float64  # in the learner's dtype
    torch.testing.assert_close(qx[2], tasks[2].query.x.double())
    assert task_batched_inputs(MAML(_mlp()), tasks[:1]) is None  # one task: nothing to batch
    assert task_batched_inputs(MAML(_mlp(batchnorm=True)), tasks) is None  # batch statistics couple the examples
    assert task_batched_inputs(MAML(_mlp(), inner_optimizer="gauss_newton"), tasks) is None
    assert task_batched_inputs(LearnedOptimizer(_mlp()), tasks) is None  # its own inner step
    assert task_batched_inputs(MAML(_mlp()), sinusoid_tasks(4, 5, 6, ragged=True)) is None
    with settings.task_batched_models(False):
        assert task_batched_inputs(MAML(_mlp()), tasks) is None


@pytest.mark.parametrize("first_order", [False, True])
def test_classification_meta_gradient_matches_the_reference(first_order: bool) -> None:
    g = torch.Generator().manual_seed(3)
    tasks = [Task(TensorData(torch.randn(6, 2, generator=g, dtype=torch.float64), torch.randint(0, 3, (6,), generator=g)),
                  TensorData(torch.randn(9, 2, generator=g, dtype=torch.float64), torch.randint(0, 3, (9,), generator=g)), name=f"t{i}")
             for i in range(5)]
    torch.manual_seed(0)
    learner = MAML(MLP(2, (8,), 3).double(), loss="cross_entropy", inner_lr=0.3, inner_steps=2, first_order=first_order)
    assert task_batched_inputs(learner, tasks) is not None
    got, _ = learner.meta_gradient(tasks)
    names = [n for n, _ in learner.model.named_parameters()]
    ref = reference_maml_gradient(learner.model, tasks, loss=cross_entropy_loss, lrs={n: 0.3 for n in names}, steps=2,
                                  first_order=first_order, adapt_names=names)
    for n in names:
        torch.testing.assert_close(got[n], ref[n], rtol=1e-9, atol=1e-12)


def test_stack_tasks_refuses_what_cannot_be_stacked() -> None:
    from sciml.meta.functional import stack_tasks

    tasks = sinusoid_tasks(3, 4, 5, dtype=torch.float32)
    sx, sy, _, qy = stack_tasks(tasks, torch.float64, torch.device("cpu"))
    assert sx.dtype == qy.dtype == torch.float64 and sx.shape == (3, 4, 1)
    torch.testing.assert_close(sy[1], tasks[1].support.y.double())
    mixed = [*tasks[:2], Task(TensorData(tasks[2].support.x.double(), tasks[2].support.y.double()), tasks[2].query, name="m")]
    assert stack_tasks(mixed, torch.float64, torch.device("cpu")) is None  # dtypes differ
    empty = [Task(TensorData(t.support.x[:0], t.support.y[:0]), t.query, name=t.name) for t in tasks]
    assert stack_tasks(empty, torch.float64, torch.device("cpu")) is None  # the per-task path names the problem
    labels = [Task(TensorData(t.support.x, torch.zeros(4, dtype=torch.long)), TensorData(t.query.x, torch.ones(5, dtype=torch.long)),
                   name=t.name) for t in tasks]
    assert stack_tasks(labels, torch.float64, torch.device("cpu"))[1].dtype == torch.long  # class indices stay integers
