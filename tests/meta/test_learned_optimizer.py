"""LearnedOptimizer: the rule's inputs, its start as plain gradient descent, its meta-gradient
against a plain-autograd loop written here, and what meta-training buys on a badly scaled
family."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sciml import settings
from sciml.meta import MAML, LearnedOptimizer
from sciml.meta.learned_optimizer import TIMESCALES, log_sign_features
from sciml.models import MLP, JMAKArrhenius
from sciml.tasks import Task, TensorData
from tests.conftest import sinusoid_tasks

TOL = 1e-10


def test_log_sign_features_by_hand() -> None:
    x = torch.tensor([1.0, math.exp(-20), -math.exp(5), 0.0, math.exp(-10) * 2], dtype=torch.float64)
    want = torch.tensor([[0.0, 1.0], [-1.0, math.exp(-10)], [0.5, -1.0], [-1.0, 0.0], [(math.log(2) - 10) / 10, 1.0]],
                        dtype=torch.float64)
    assert torch.allclose(log_sign_features(x), want, atol=1e-12)


def test_an_untrained_rule_is_plain_gradient_descent() -> None:
    """A line y = w x + b, mean squared error: one step is ``w - lr * 2 mean((w x + b - y) x)``
    (and likewise for b), whatever the step index."""
    line = nn.Linear(1, 1).double()
    with torch.no_grad():
        line.weight.fill_(0.5)
        line.bias.fill_(-0.2)
    x = torch.tensor([[0.0], [1.0], [2.0], [4.0]], dtype=torch.float64)
    y = 1.5 * x - 0.3
    lr = 0.05
    learner = LearnedOptimizer(line, inner_lr=lr, inner_steps=2)
    w, b = 0.5, -0.2
    for _ in range(2):
        r = w * x + b - y
        w, b = w - lr * float(2 * (r * x).mean()), b - lr * float(2 * r.mean())
    adapted = learner.adapt(TensorData(x, y))
    assert adapted.params["weight"].item() == pytest.approx(w, abs=1e-12)
    assert adapted.params["bias"].item() == pytest.approx(b, abs=1e-12)
    response = learner.rule_response(torch.tensor([1e-6, 1.0, -3e4]), step=3)
    assert torch.equal(response, torch.tensor([[1.0, 0.0]] * 3))


def _reference_meta_gradient(learner: LearnedOptimizer, tasks: list[Task]) -> dict[str, torch.Tensor]:
    """Mean query MSE after the learned steps, differentiated with torch.autograd.grad: every
    formula of the rule written out again, one task at a time, no torch.func."""
    model = learner.model
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    log_lrs = {n: learner.log_lrs[k].detach().clone().requires_grad_(True) for n, k in learner._lr_names.items()}
    layers = [m for m in learner.rule.net if isinstance(m, nn.Linear)]
    weights = [(lay.weight.detach().clone().requires_grad_(True), lay.bias.detach().clone().requires_grad_(True)) for lay in layers]

    def features(v: torch.Tensor) -> list[torch.Tensor]:
        tiny = v.abs() < math.exp(-10)
        mag = torch.where(tiny, -torch.ones_like(v), torch.log(v.abs().clamp_min(math.exp(-10))) / 10)
        sgn = torch.where(tiny, v * math.exp(10), torch.sign(v))
        return [mag, sgn]

    def rule(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for i, (W, c) in enumerate(weights):
            h = h @ W.T + c
            if i < len(weights) - 1:
                h = torch.tanh(h)
        return 3.0 * torch.tanh(h[..., 0] / 3.0), 2.0 * torch.tanh(h[..., 1] / 2.0)

    total = 0.0
    for task in tasks:
        fast = dict(params)
        avg: dict[tuple[str, float], torch.Tensor] = {}
        for t in range(learner.inner_steps):
            loss = ((torch.func.functional_call(model, fast, (task.support.x,)) - task.support.y) ** 2).mean()
            grads = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
            new = {}
            for (n, p), g in zip(fast.items(), grads):
                hats = []
                for beta in learner.momenta:
                    avg[n, beta] = beta * avg.get((n, beta), torch.zeros_like(g)) + (1 - beta) * g
                    hats.append(avg[n, beta] / (1 - beta ** (t + 1)))
                cols = features(g) + [f for h in hats for f in features(h)]
                cols += [torch.full_like(g, math.tanh(t / tau)) for tau in TIMESCALES]
                s, c = rule(torch.stack(cols, dim=-1))
                update = torch.exp(log_lrs[n]) * torch.exp(s) * (g + c * hats[-1])
                if learner.max_update is not None:
                    update = learner.max_update * torch.tanh(update / learner.max_update)
                new[n] = p - update
            fast = new
        total = total + ((torch.func.functional_call(model, fast, (task.query.x,)) - task.query.y) ** 2).mean()
    total = total / len(tasks)
    leaves = {**params, **{f"log_lr:{n}": v for n, v in log_lrs.items()}}
    rule_names = [n for n, _ in learner.rule.named_parameters()]
    leaves |= {f"update_rule:{n}": t for n, t in zip(rule_names, [t for pair in weights for t in pair])}
    return dict(zip(leaves, torch.autograd.grad(total, list(leaves.values()))))


@pytest.mark.parametrize(("step_sizes", "max_update"), [("element", None), ("tensor", None), ("element", 0.02)])
def test_meta_gradient_matches_a_plain_autograd_loop(step_sizes: str, max_update: float | None) -> None:
    torch.manual_seed(0)
    learner = LearnedOptimizer(MLP(1, (8,), 1, activation="tanh").double(), inner_lr=0.05, inner_steps=3, hidden=5,
                               step_sizes=step_sizes, max_update=max_update)
    with torch.no_grad():  # a rule that does something, step sizes that differ
        for p in learner.rule.parameters():
            p.normal_(0.0, 0.7)
        for p in learner.log_lrs.values():
            p.uniform_(math.log(0.02), math.log(0.1))
    tasks = sinusoid_tasks(3, 5, 6)
    got, loss = learner.meta_gradient(tasks)
    with settings.vmap_tasks(False):
        looped, loss_looped = learner.meta_gradient(tasks)
    ref = _reference_meta_gradient(learner, tasks)
    assert set(got) == set(ref) == set(looped)
    assert torch.allclose(loss, loss_looped, atol=TOL)
    for name, value in ref.items():
        assert float(value.abs().max()) > 0 or name.startswith("update_rule:net.0"), name
        assert torch.allclose(got[name], value, atol=TOL, rtol=1e-8), (name, (got[name] - value).abs().max())
        assert torch.allclose(looped[name], value, atol=TOL, rtol=1e-8), name


def _badly_scaled_lines(n: int, seed: int) -> list[Task]:
    """y = a x + c with x in [0, 10]: the slope's curvature is ~30x the intercept's."""
    g = torch.Generator().manual_seed(seed)
    tasks = []
    for i in range(n):
        a, c = 1 + 2 * torch.rand((), generator=g, dtype=torch.float64), 2 * torch.rand((), generator=g, dtype=torch.float64) - 1
        x = 10 * torch.rand(20, 1, generator=g, dtype=torch.float64)
        y = a * x + c + 0.01 * torch.randn(20, 1, generator=g, dtype=torch.float64)
        tasks.append(Task(TensorData(x[:6], y[:6]), TensorData(x[6:], y[6:]), name=f"line{i}"))
    return tasks


def test_meta_training_learns_steps_that_plain_gradient_descent_lacks() -> None:
    """Both learn the initialization from the same too-small step; only the learned rule can
    also learn to step: after 3 steps its query error on new lines is far below MAML's."""
    train, test = _badly_scaled_lines(64, 0), _badly_scaled_lines(20, 1)
    errors = {}
    for cls in (MAML, LearnedOptimizer):
        torch.manual_seed(0)
        learner = cls(nn.Linear(1, 1).double(), inner_lr=1e-4, inner_steps=3, meta_batch_size=16, outer_lr=0.05)
        learner.fit(train, iterations=150, progress=False)
        adapted = learner.adapt_many(test, [3])
        errors[cls.__name__] = sum(float(((a[0].predict(t.query.x) - t.query.y) ** 2).mean()) for a, t in zip(adapted, test)) / len(test)
    assert errors["LearnedOptimizer"] < 0.2 * errors["MAML"], errors


def test_gauss_newton_directions_on_a_law() -> None:
    """With Gauss-Newton directions and an untrained rule, a full step (inner_lr = 1) is the
    damped Gauss-Newton step: on a noise-free isotherm the calibration lands on the truth."""
    truth = JMAKArrhenius(T_ref=1400.0, k_ref=2e-3, Q=300.0, n=1.4).double()
    t = torch.logspace(1, 4, 12, dtype=torch.float64)
    x = torch.stack([t, torch.full_like(t, 1400.0)], 1)
    with torch.no_grad():
        y = truth(x)
    law = JMAKArrhenius(T_ref=1400.0, k_ref=1e-3, Q=300.0, n=1.2).double()
    learner = LearnedOptimizer(law, inner_optimizer="gauss_newton", inner_lr=1.0, inner_damping=1e-8, inner_steps=20,
                               adapt_params=["log_k_ref", "log_n"])
    adapted = learner.adapt(TensorData(x, y))
    assert torch.allclose(adapted.predict(x), y, atol=1e-8)


def test_max_update_caps_every_step() -> None:
    """A line whose support loss has a huge slope: uncapped, one step of 0.1 moves the weight
    by about 0.1 * 2 * 1e4; capped at 0.5, no coordinate moves more than 0.5."""
    x = torch.full((4, 1), 100.0, dtype=torch.float64)
    y = torch.zeros(4, 1, dtype=torch.float64)
    for cap, bound in ((None, 1e3), (0.5, 0.5)):
        line = nn.Linear(1, 1).double()
        with torch.no_grad():
            line.weight.fill_(1.0)
            line.bias.fill_(0.0)
        moved = LearnedOptimizer(line, inner_lr=0.1, inner_steps=1, max_update=cap).adapt(TensorData(x, y))
        step = abs(moved.params["weight"].item() - 1.0)
        assert (step > bound) if cap is None else (0.49 < step <= bound)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="inner_lr must be > 0"):
        LearnedOptimizer(MLP(1, (4,), 1), inner_lr=0.0)
    with pytest.raises(ValueError, match="momenta"):
        LearnedOptimizer(MLP(1, (4,), 1), momenta=(0.9, 1.0))
    with pytest.raises(ValueError, match="step_sizes"):
        LearnedOptimizer(MLP(1, (4,), 1), step_sizes="layer")
    with pytest.raises(ValueError, match="max_update"):
        LearnedOptimizer(MLP(1, (4,), 1), max_update=0.0)
