"""The compiled meta-gradient equals the eager one."""

from __future__ import annotations

import pytest
import torch

from sciml.meta import MAML, LearnedOptimizer
from sciml.models import MLP
from tests.conftest import sinusoid_tasks


@pytest.mark.slow
@pytest.mark.parametrize("cls", [MAML, LearnedOptimizer])
def test_compiled_meta_gradient_matches_eager(cls: type) -> None:
    tasks = sinusoid_tasks(5, 5, 6, dtype=torch.float32)
    torch.manual_seed(0)
    eager = cls(MLP(1, (16, 16), 1), inner_lr=0.05, inner_steps=2)
    if isinstance(eager, LearnedOptimizer):
        with torch.no_grad():  # a rule that does something
            for p in eager.rule.parameters():
                p.normal_(0.0, 0.5)
    compiled = cls(MLP(1, (16, 16), 1), inner_lr=0.05, inner_steps=2, compile=True)
    compiled.load_state_dict(eager.state_dict())
    g_eager, l_eager = eager.meta_gradient(tasks)
    g_comp, l_comp = compiled.meta_gradient(tasks)
    assert compiled._compiled is not None
    assert torch.allclose(l_eager, l_comp, atol=1e-6)
    for k in g_eager:
        assert torch.allclose(g_eager[k], g_comp[k], atol=1e-5), k


def _law_tasks() -> list:
    from sciml.tasks import Task, TensorData

    g = torch.Generator().manual_seed(1)
    tasks = []
    for i in range(5):
        t = torch.logspace(1, 4, 8, dtype=torch.float64)
        x = torch.stack([t, torch.full_like(t, 1300.0 + 20 * i)], 1)
        y = (1 - torch.exp(-((t / (300.0 * (i + 1))) ** 1.5))) + 0.01 * torch.randn(8, generator=g, dtype=torch.float64)
        tasks.append(Task(TensorData(x[:4], y[:4]), TensorData(x[4:], y[4:]), name=f"a{i}"))
    return tasks


@pytest.mark.slow
@pytest.mark.parametrize("case", ["MetaSGD", "ProtoNet", "Gauss-Newton MAML"])
def test_compiled_meta_gradient_of_other_learners_matches_eager(case: str) -> None:
    from sciml.meta import MetaSGD, ProtoNet
    from sciml.models import JMAKArrhenius
    from sciml.tasks import Task, TensorData

    def make(**kw):
        torch.manual_seed(0)
        if case == "MetaSGD":
            return MetaSGD(MLP(1, (16, 16), 1), inner_lr=0.05, inner_steps=2, **kw)
        if case == "ProtoNet":
            return ProtoNet(MLP(2, (16,), 8), n_way=3, **kw)
        return MAML(JMAKArrhenius(T_ref=1400.0, k_ref=1e-3, Q=300.0, n=1.2).double(), inner_optimizer="gauss_newton", inner_lr=1.0,
                    inner_steps=3, inner_prior_precision=0.01, **kw)

    if case == "ProtoNet":
        g = torch.Generator().manual_seed(2)
        tasks = [Task(TensorData(torch.randn(6, 2, generator=g), torch.arange(3).repeat(2)),
                      TensorData(torch.randn(9, 2, generator=g), torch.arange(3).repeat(3)), name=f"e{i}") for i in range(4)]
    else:
        tasks = _law_tasks() if case == "Gauss-Newton MAML" else sinusoid_tasks(5, 5, 6, dtype=torch.float32)
    eager, compiled = make(), make(compile=True)
    g_eager, l_eager = eager.meta_gradient(tasks)
    g_comp, l_comp = compiled.meta_gradient(tasks)
    assert compiled._compiled is not None
    assert torch.allclose(l_eager, l_comp, rtol=1e-5, atol=1e-6)
    for k in g_eager:
        assert torch.allclose(g_eager[k], g_comp[k], rtol=1e-4, atol=1e-5), k


@pytest.mark.slow
@pytest.mark.parametrize("cls", ["Reptile", "FineTune"])
def test_compiled_meta_step_matches_eager(cls: str) -> None:
    from sciml.meta import FineTune, Reptile

    tasks = sinusoid_tasks(5, 5, 6, dtype=torch.float32)
    learners = []
    for compile_ in (False, True):
        torch.manual_seed(0)
        make = Reptile if cls == "Reptile" else FineTune
        learner = make(MLP(1, (16, 16), 1), inner_lr=0.05, inner_steps=3, outer_lr=0.1, compile=compile_)
        optimizer = learner._make_optimizer()
        losses = [learner.meta_step(tasks, optimizer) for _ in range(2)]
        learners.append((learner, losses))
    (eager, l_eager), (compiled, l_comp) = learners
    assert compiled._compiled_step is not None and eager._compiled_step is None
    assert l_comp == pytest.approx(l_eager, rel=1e-5)
    for (n, a), b in zip(eager.model.named_parameters(), compiled.model.parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), n


def test_compiled_learner_takes_the_outer_adam_step_fused() -> None:
    """``compile=True`` takes Adam's step fused (the eager default keeps torch's reference
    implementation): the first step moves each parameter by ``-lr * g / (|g| + eps)`` (bias-
    corrected moments ``g`` and ``g^2``, derived by hand), and three steps agree with the
    reference implementation's up to float rounding."""
    torch.manual_seed(0)
    lr = 1e-2
    learners = [MAML(MLP(1, (8,), 1), outer_lr=lr, compile=c) for c in (False, True)]
    learners[1].load_state_dict(learners[0].state_dict())
    opts = [ln._make_optimizer() for ln in learners]
    assert [bool(o.param_groups[0]["fused"]) for o in opts] == [False, True]
    start = {n: p.detach().clone() for n, p in learners[1].meta_parameters().items()}
    steps = [{n: torch.randn_like(p) for n, p in start.items()} for _ in range(3)]
    learners[1]._apply_gradient(steps[0], opts[1])
    for n, p in learners[1].meta_parameters().items():
        g = steps[0][n]
        torch.testing.assert_close(p.detach(), start[n] - lr * g / (g.abs() + 1e-8), rtol=0, atol=1e-7)
    learners[0]._apply_gradient(steps[0], opts[0])
    for grads in steps[1:]:
        for ln, opt in zip(learners, opts):
            ln._apply_gradient(grads, opt)
    for (n, a), b in zip(learners[0].meta_parameters().items(), learners[1].meta_parameters().values()):
        torch.testing.assert_close(b.detach(), a.detach(), rtol=0, atol=1e-7, msg=n)
