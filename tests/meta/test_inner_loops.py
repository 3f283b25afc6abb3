"""Inner loops against plain references: Gauss-Newton steps and their meta-gradient, Adam
fine-tuning against torch.optim.Adam, and the Laplace bands' coverage on data with known noise."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from sciml.meta import MAML, Scratch
from sciml.models import MLP
from sciml.models.laws import JMAKArrhenius, LinearBasis
from sciml.tasks import Task, TensorData


def _jmak_task(seed: int) -> Task:
    g = torch.Generator().manual_seed(seed)
    law = JMAKArrhenius(T_ref=1573.15, k_ref=2e-4 * (1 + seed), Q=350.0, n=1.3 + 0.2 * seed).double()
    t = torch.logspace(3, 5.5, 8, dtype=torch.float64)
    x = torch.cat([torch.stack([t, torch.full_like(t, T)], 1) for T in (1523.15, 1623.15)])
    y = (law(x) + 0.01 * torch.randn(len(x), generator=g, dtype=torch.float64)).detach().clamp(0, 1)
    perm = torch.randperm(len(x), generator=g)
    return Task(TensorData(x[perm[:5]], y[perm[:5]]), TensorData(x[perm[5:]], y[perm[5:]]), name=f"alloy{seed}")


def _gn_reference(model: torch.nn.Module, params: dict, x: torch.Tensor, y: torch.Tensor, steps: int, damping: float,
                  precision: float, create_graph: bool) -> dict:
    """Damped Gauss-Newton with a proximal pull, written out: J row by row with autograd.grad."""
    names = list(params)
    anchor = {n: p for n, p in params.items()}
    fast = dict(params)
    for _ in range(steps):
        r = functional_call(model, fast, (x,)).reshape(-1) - y
        rows = []
        for i in range(len(r)):
            g = torch.autograd.grad(r[i], [fast[n] for n in names], create_graph=create_graph, retain_graph=True)
            rows.append(torch.cat([gi.reshape(-1) for gi in g]))
        J = torch.stack(rows)
        theta = torch.cat([fast[n].reshape(-1) for n in names])
        theta0 = torch.cat([anchor[n].reshape(-1) for n in names])
        P = J.shape[1]
        A = J.T @ J + (precision + damping) * torch.eye(P, dtype=J.dtype)
        step = torch.linalg.solve(A, J.T @ r + precision * (theta - theta0))
        new = theta - step
        out, i = {}, 0
        for n in names:
            k = fast[n].numel()
            out[n] = new[i:i + k].reshape(fast[n].shape)
            i += k
        fast = out
    return fast


def test_gauss_newton_adaptation_matches_the_written_out_steps() -> None:
    law = JMAKArrhenius(T_ref=1573.15, k_ref=1e-4, Q=400.0, n=1.5).double()
    learner = MAML(law, inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=3, inner_damping=0.05, inner_prior_precision=0.02)
    task = _jmak_task(0)
    got = learner.adapt(task.support).params
    start = {n: p.detach().clone().requires_grad_(True) for n, p in law.named_parameters()}
    ref = _gn_reference(law, start, task.support.x, task.support.y, 3, 0.05, 0.02, create_graph=False)
    for n in ref:
        assert torch.allclose(got[n], ref[n].detach(), atol=1e-10), n


def test_gauss_newton_meta_gradient_matches_autograd_through_the_steps() -> None:
    law = JMAKArrhenius(T_ref=1573.15, k_ref=1e-4, Q=400.0, n=1.5).double()
    learner = MAML(law, inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=2, inner_damping=0.05, inner_prior_precision=0.02)
    tasks = [_jmak_task(s) for s in range(3)]
    got, _ = learner.meta_gradient(tasks)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in law.named_parameters()}
    total = 0.0
    for t in tasks:
        fast = _gn_reference(law, params, t.support.x, t.support.y, 2, 0.05, 0.02, create_graph=True)
        total = total + ((functional_call(law, fast, (t.query.x,)) - t.query.y) ** 2).mean()
    ref = torch.autograd.grad(total / len(tasks), list(params.values()))
    for (n, r) in zip(params, ref):
        assert torch.allclose(got[n], r, rtol=1e-7, atol=1e-10), n


def test_adam_fine_tuning_matches_torch_optim_adam() -> None:
    torch.manual_seed(0)
    model = MLP(2, (6,), 1).double()
    x = torch.randn(7, 2, dtype=torch.float64)
    y = torch.randn(7, 1, dtype=torch.float64)
    learner = Scratch(model, inner_lr=0.03, inner_steps=5)
    got = learner.adapt(TensorData(x, y)).params
    ref = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    opt = torch.optim.Adam(list(ref.values()), lr=0.03)
    for _ in range(5):
        opt.zero_grad()
        ((functional_call(model, ref, (x,)) - y) ** 2).mean().backward()
        opt.step()
    for n, value in ref.items():
        assert torch.allclose(got[n], value.detach(), atol=1e-7), n


def test_laplace_bands_cover_90_percent_with_known_noise() -> None:
    """A linear law with a Gaussian prior and Gaussian noise: the Laplace posterior is exact, so
    90% predictive bands must cover close to 90% of new measurements (tasks drawn from the prior)."""
    tau, sigma = 0.5, 0.1
    law = LinearBasis(degree=2).double()  # prior mean 0 for every weight
    learner = MAML(law, inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=3, inner_damping=1e-9,
                   inner_prior_precision=(sigma / tau) ** 2)
    g = torch.Generator().manual_seed(0)
    inside, total = 0, 0
    for _ in range(300):
        w = tau * torch.randn(3, generator=g, dtype=torch.float64)
        xs, xq = torch.rand(4, generator=g, dtype=torch.float64) * 2 - 1, torch.rand(20, generator=g, dtype=torch.float64) * 2 - 1
        f = lambda x, w=w: w[0] + w[1] * x + w[2] * x**2
        ys = f(xs) + sigma * torch.randn(4, generator=g, dtype=torch.float64)
        yq = f(xq) + sigma * torch.randn(20, generator=g, dtype=torch.float64)
        support = TensorData(xs, ys)
        post = learner.posterior(learner.adapt(support), support, sigma)
        _, lo, hi = post.predict(xq, level=0.9)
        inside += int(((yq >= lo) & (yq <= hi)).sum())
        total += len(yq)
    coverage = inside / total
    assert 0.85 <= coverage <= 0.95, coverage
    assert coverage == pytest.approx(0.9, abs=0.02)
