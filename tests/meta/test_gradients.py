"""Meta-gradients: vmapped = looped = a plain torch.autograd.grad reference (float64)."""

from __future__ import annotations

import pytest
import torch

from sciml import settings
from sciml.meta import ANIL, MAML, FineTune, MetaSGD, ProtoNet, Reptile
from sciml.meta.functional import mse_loss
from sciml.models import MLP, JMAKArrhenius
from sciml.tasks import EpisodeSampler, Task, TensorData
from tests.conftest import sinusoid_tasks
from tests.meta.reference import reference_maml_gradient

TOL = 1e-10


def _mlp() -> MLP:
    torch.manual_seed(0)
    return MLP(1, (16, 16), 1, activation="tanh").double()


def _assert_close(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for k, value in a.items():
        assert torch.allclose(value, b[k], atol=TOL, rtol=1e-8), (k, (value - b[k]).abs().max())


def _both_paths(learner, tasks):
    """The meta-gradient by the default path (task-batched where it applies), by ``vmap`` and
    task by task: all equal."""
    g_default, l_default = learner.meta_gradient(tasks)
    with settings.task_batched_models(False):
        g_vmap, l_vmap = learner.meta_gradient(tasks)
    with settings.vmap_tasks(False):
        g_loop, l_loop = learner.meta_gradient(tasks)
    assert torch.allclose(l_vmap, l_loop, atol=TOL) and torch.allclose(l_default, l_loop, atol=TOL)
    _assert_close(g_vmap, g_loop)
    _assert_close(g_default, g_loop)
    return g_default


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("ragged", [False, True])
def test_maml_matches_reference(first_order: bool, ragged: bool) -> None:
    tasks = sinusoid_tasks(5, 5, 6, ragged=ragged)
    learner = MAML(_mlp(), inner_lr=0.05, inner_steps=3, first_order=first_order)
    got = _both_paths(learner, tasks)
    names = [n for n, _ in learner.model.named_parameters()]
    ref = reference_maml_gradient(
        learner.model, tasks, loss=mse_loss, lrs={n: 0.05 for n in names}, steps=3, first_order=first_order, adapt_names=names
    )
    _assert_close(got, ref)


def test_second_order_differs_from_first_order() -> None:
    tasks = sinusoid_tasks(4, 5, 6)
    so, _ = MAML(_mlp(), inner_lr=0.1, inner_steps=2).meta_gradient(tasks)
    fo, _ = MAML(_mlp(), inner_lr=0.1, inner_steps=2, first_order=True).meta_gradient(tasks)
    assert max(float((so[k] - fo[k]).abs().max()) for k in so) > 1e-4


@pytest.mark.parametrize("first_order", [False, True])
def test_anil_matches_reference(first_order: bool) -> None:
    tasks = sinusoid_tasks(4, 5, 6)
    learner = ANIL(_mlp(), inner_lr=0.1, inner_steps=2, first_order=first_order)
    assert learner._adapt_names == ["head.weight", "head.bias"]
    got = _both_paths(learner, tasks)
    ref = reference_maml_gradient(
        learner.model, tasks, loss=mse_loss, lrs={"head.weight": 0.1, "head.bias": 0.1}, steps=2,
        first_order=first_order, adapt_names=["head.weight", "head.bias"],
    )
    _assert_close(got, ref)


def test_metasgd_matches_reference() -> None:
    tasks = sinusoid_tasks(4, 5, 6)
    learner = MetaSGD(_mlp(), inner_lr=0.05, inner_steps=2)
    with torch.no_grad():  # make the step sizes differ per element
        for p in learner.inner_lrs.values():
            p.uniform_(0.01, 0.1)
    got = _both_paths(learner, tasks)
    lrs = {n: t.detach().clone().requires_grad_(True) for n, t in learner.learned_step_sizes().items()}
    names = list(lrs)
    ref = reference_maml_gradient(
        learner.model, tasks, loss=mse_loss, lrs=lrs, steps=2, first_order=False, adapt_names=names,
        extra={f"inner_lr:{n}": lrs[n] for n in names},
    )
    _assert_close(got, ref)


def test_law_meta_gradient_matches_reference() -> None:
    g = torch.Generator().manual_seed(1)
    tasks = []
    for i in range(6):
        t = torch.logspace(1, 4, 8, dtype=torch.float64)
        T = torch.full_like(t, 1300.0 + 20 * i)
        x = torch.stack([t, T], 1)
        y = (1 - torch.exp(-((t / (300.0 * (i + 1))) ** 1.5))).clamp(0, 1)
        y = y + 0.01 * torch.randn(8, generator=g, dtype=torch.float64)
        tasks.append(Task(TensorData(x[:4], y[:4]), TensorData(x[4:], y[4:]), name=f"a{i}"))
    law = JMAKArrhenius(T_ref=1400.0, k_ref=1e-3, Q=300.0, n=1.2).double()
    learner = MAML(law, inner_lr=0.3, inner_steps=3)
    got = _both_paths(learner, tasks)
    names = [n for n, _ in law.named_parameters()]
    with settings.validate_inputs(False):
        ref = reference_maml_gradient(law, tasks, loss=mse_loss, lrs={n: 0.3 for n in names}, steps=3, first_order=False, adapt_names=names)
    _assert_close(got, ref)


def test_reptile_update_matches_manual_loop() -> None:
    tasks = sinusoid_tasks(4, 5, 6)
    learner = Reptile(_mlp(), inner_lr=0.02, inner_steps=3, outer_lr=0.5)
    before = {n: p.detach().clone() for n, p in learner.model.named_parameters()}
    phis = []
    for t in tasks:
        fast = {n: p.clone().requires_grad_(True) for n, p in before.items()}
        for _ in range(3):
            out = torch.func.functional_call(learner.model, fast, (t.data.x,))
            gr = torch.autograd.grad(mse_loss(out, t.data.y), list(fast.values()))
            fast = {n: (fast[n] - 0.02 * g).detach().requires_grad_(True) for n, g in zip(fast, gr)}
        phis.append(fast)
    expected = {n: before[n] + 0.5 * (torch.stack([p[n] for p in phis]).mean(0) - before[n]) for n in before}
    learner.meta_step(tasks, learner._make_optimizer())
    for n, p in learner.model.named_parameters():
        assert torch.allclose(p.detach(), expected[n], atol=TOL)


def test_protonet_gradient_matches_reference() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=g, dtype=torch.float64)
    y = torch.arange(6).repeat_interleave(10)
    x = x + y[:, None].double()
    sampler = EpisodeSampler(x, y, classes=range(6), n_way=3, k_shot=2, n_query=3)
    episodes = sampler.sample_batch(4, g)
    torch.manual_seed(0)
    enc = MLP(4, (8,), 5).double()
    learner = ProtoNet(enc, n_way=3)
    got = _both_paths(learner, episodes)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in enc.named_parameters()}
    total = 0.0
    for ep in episodes:
        e_s = torch.func.functional_call(enc, params, (ep.support.x,))
        protos = torch.stack([e_s[ep.support.y == c].mean(0) for c in range(3)])
        e_q = torch.func.functional_call(enc, params, (ep.query.x,))
        logits = -torch.cdist(e_q, protos) ** 2
        total = total + torch.nn.functional.cross_entropy(logits, ep.query.y)
    ref = dict(zip(params, torch.autograd.grad(total / len(episodes), list(params.values()))))
    _assert_close(got, ref)


def test_finetune_pooled_gradient_matches_reference() -> None:
    tasks = sinusoid_tasks(4, 5, 6)
    learner = FineTune(_mlp(), outer_optimizer="sgd", outer_lr=0.5)
    before = {n: p.detach().clone() for n, p in learner.model.named_parameters()}
    params = {n: p.detach().clone().requires_grad_(True) for n, p in learner.model.named_parameters()}
    total = sum(mse_loss(torch.func.functional_call(learner.model, params, (t.data.x,)), t.data.y) for t in tasks) / 4
    ref = dict(zip(params, torch.autograd.grad(total, list(params.values()))))
    loss = learner.meta_step(tasks, learner._make_optimizer())
    assert loss == pytest.approx(float(total), rel=1e-12)
    for n, p in learner.model.named_parameters():  # one SGD step of the pooled loss: theta - lr * grad
        assert torch.allclose(p.detach(), before[n] - 0.5 * ref[n], atol=TOL), n
