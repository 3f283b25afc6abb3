"""Conditional neural processes: the network against a hand transcription of Garnelo et al.'s
equations, the meta-gradient against plain autograd on ``torch.distributions.Normal``, the
predictive metrics against scipy, and calibration on the sinusoid family it was trained on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from sciml.data.sinusoid import SinusoidTasks
from sciml.evaluation.coverage import gaussian_predictive_metrics
from sciml.meta import ConditionalNeuralProcess
from sciml.models import MLP, ConditionalNeuralProcessNet
from sciml.tasks import Task, TensorData


def _net(**kwargs) -> ConditionalNeuralProcessNet:
    torch.manual_seed(0)
    args = {"width": 6, "encoder_layers": 2, "decoder_layers": 1, "min_sd": 0.05, **kwargs}
    return ConditionalNeuralProcessNet(kwargs.pop("x_dim", 2), 1, **{k: v for k, v in args.items() if k != "x_dim"}).double()


def _reference(net: ConditionalNeuralProcessNet, cx, cy, tx):
    """Garnelo et al.'s CNP written out with the network's weight matrices."""
    p = dict(net.named_parameters())

    def standardize(x):
        x = x.clone()
        for c in net.log_inputs:
            x[:, c] = torch.log(x[:, c])
        return (x - net.x_mean.double()) / net.x_scale.double()

    def linear(name, h):
        return h @ p[f"{name}.weight"].T + p[f"{name}.bias"]

    y = (cy - net.y_mean.double()) / net.y_scale.double()
    h = torch.cat([standardize(cx), y], 1)
    for i in range(0, 2 * 2, 2):
        h = torch.relu(linear(f"encoder.body.{i}", h))
    r = linear("encoder.head", h).mean(0)
    z = standardize(tx)
    g = torch.relu(linear("decoder.body.0", torch.cat([r.expand(len(z), -1), z], 1)))
    out = linear("decoder.head", g)
    sd = net.min_sd + (1 - net.min_sd) * torch.log1p(torch.exp(out[:, 1:]))
    return net.y_mean.double() + net.y_scale.double() * out[:, :1], net.y_scale.double() * sd


def _data(n: int, seed: int, x_dim: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, x_dim, generator=g, dtype=torch.float64) * 3 + 0.5
    return x, torch.sin(x.sum(1, keepdim=True)) + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("stats", [{}, {"x_mean": [1.0, -2.0], "x_scale": [2.0, 0.5], "y_mean": [3.0], "y_scale": [4.0],
                                        "log_inputs": [1]}])
def test_adapted_prediction_matches_the_written_out_equations(stats):
    net = _net(**stats)
    learner = ConditionalNeuralProcess(net)
    cx, cy = _data(7, 1)
    tx, _ = _data(5, 2)
    adapted = learner.adapt(TensorData(cx, cy))
    mean, var = learner.predictive(adapted, tx)
    with torch.no_grad():
        ref_mean, ref_sd = _reference(net, cx, cy, tx)
    torch.testing.assert_close(mean, ref_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(var, ref_sd**2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(adapted.predict(tx), ref_mean, rtol=1e-12, atol=1e-12)


def test_prediction_ignores_the_order_of_the_support():
    learner = ConditionalNeuralProcess(_net())
    cx, cy = _data(9, 3)
    tx, _ = _data(4, 4)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    a = learner.predictive(learner.adapt(TensorData(cx, cy)), tx)
    b = learner.predictive(learner.adapt(TensorData(cx[perm], cy[perm])), tx)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, rtol=1e-12, atol=1e-12)


def test_target_standardization_is_undone_exactly():
    """A network that standardizes with (m, s) and sees targets s * y + m predicts s * mean + m
    and s * sd: the units of the targets never leak into what the layers see."""
    m, s = 250.0, 40.0
    plain, scaled = _net(), _net(y_mean=[m], y_scale=[s])
    cx, cy = _data(6, 5)
    tx, _ = _data(3, 6)
    with torch.no_grad():
        mean, sd = plain(cx, cy, tx)
        mean_s, sd_s = scaled(cx, s * cy + m, tx)
    torch.testing.assert_close(mean_s, s * mean + m, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(sd_s, s * sd, rtol=1e-12, atol=1e-9)


def test_scalar_targets_give_the_same_numbers_as_one_column():
    """``y_dim=None`` reads and predicts ``[n]`` targets (as laws do) with the arithmetic of ``y_dim=1``."""
    column = _net()
    torch.manual_seed(0)
    scalar = ConditionalNeuralProcessNet(2, None, width=6, encoder_layers=2, decoder_layers=1, min_sd=0.05).double()
    scalar.load_state_dict(column.state_dict())
    cx, cy = _data(5, 7)
    tx, ty = _data(4, 8)
    learner = ConditionalNeuralProcess(scalar)
    mean, var = learner.predictive(learner.adapt(TensorData(cx, cy.reshape(-1))), tx)
    with torch.no_grad():
        ref_mean, ref_sd = column(cx, cy, tx)
    assert mean.shape == (4,)
    torch.testing.assert_close(mean, ref_mean[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(var, ref_sd[:, 0] ** 2, rtol=0, atol=0)
    task = Task(TensorData(cx, cy.reshape(-1)), TensorData(tx, ty.reshape(-1)), name="t")
    grads, loss = ConditionalNeuralProcess(scalar).meta_gradient([task])
    grads_col, loss_col = ConditionalNeuralProcess(column).meta_gradient([Task(TensorData(cx, cy), TensorData(tx, ty), name="t")])
    assert float(loss) == float(loss_col)
    for name in grads_col:
        torch.testing.assert_close(grads[name], grads_col[name], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"y_dim=None predicts|scalar targets"):
        learner.adapt(TensorData(cx, cy))


@pytest.mark.parametrize("context_in_targets", [True, False])
def test_meta_gradient_matches_plain_autograd(context_in_targets):
    net = _net()
    learner = ConditionalNeuralProcess(net, context_in_targets=context_in_targets, meta_batch_size=3)
    tasks = []
    for i in range(3):
        x, y = _data(9, 10 + i)
        tasks.append(Task(TensorData(x[:4], y[:4]), TensorData(x[4:], y[4:]), name=f"t{i}"))
    grads, loss = learner.meta_gradient(tasks)

    ref = _net()
    total = 0.0
    for t in tasks:
        tx = torch.cat([t.support.x, t.query.x]) if context_in_targets else t.query.x
        ty = torch.cat([t.support.y, t.query.y]) if context_in_targets else t.query.y
        mean, sd = _reference(ref, t.support.x, t.support.y, tx)
        total = total - torch.distributions.Normal(mean, sd).log_prob(ty).mean() / len(tasks)
    total.backward()
    assert float(loss) == pytest.approx(float(total.detach()), rel=1e-12)
    for name, p in ref.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-10, atol=1e-12)


def test_predictive_metrics_match_scipy():
    mean = torch.tensor([[0.0], [1.0], [2.0], [-1.0]], dtype=torch.float64)
    var = torch.tensor([[1.0], [0.25], [4.0], [0.01]], dtype=torch.float64)
    y = torch.tensor([[0.5], [2.0], [-1.0], [-1.1]], dtype=torch.float64)

    class Fixed:
        def predictive(self, adapted, x):
            return mean, var

    task = Task(TensorData(y, y), TensorData(y, y), name="t")
    metrics = gaussian_predictive_metrics(Fixed(), level=0.9)
    expected = -norm.logpdf(y.numpy(), mean.numpy(), np.sqrt(var.numpy())).mean()
    assert metrics["nll"](None, task) == pytest.approx(expected, rel=1e-12)
    # |y - mean| / sd = 0.5, 2, 1.5, 1: inside the 90% band (z = 1.645) for three of four
    assert metrics["coverage90"](None, task) == 0.75
    with pytest.raises(ValueError, match="level"):
        gaussian_predictive_metrics(Fixed(), level=90)


def test_calibrates_new_sinusoids_with_honest_bands():
    """After 1,000 meta-iterations on the sinusoid family, 10 points of a new sinusoid give a
    query MSE far below the targets' variance (about A^2 / 2 = 4.3 on average), and the 90%
    bands are neither degenerate nor blanket-wide."""
    torch.manual_seed(0)
    learner = ConditionalNeuralProcess(ConditionalNeuralProcessNet(1, 1, width=64), meta_batch_size=16, outer_lr=3e-3)
    learner.fit(SinusoidTasks(shots=10, query=10), iterations=1000, progress=False, seed=0)
    test = SinusoidTasks(shots=10, query=50).fixed_tasks(40, seed=99)
    res = learner.evaluate(test, shots=[10], metrics={"mse": lambda ad, t: float(((ad.predict(t.query.x) - t.query.y) ** 2).mean()),
                                                      **gaussian_predictive_metrics(learner)})
    means = res.groupby("metric").value.mean()
    variance = float(torch.cat([t.query.y for t in test]).var())
    assert means["mse"] < 0.25 * variance
    assert 0.8 < means["coverage90"] < 0.99


def test_bad_inputs_are_refused_with_the_fix():
    with pytest.raises(TypeError, match="ConditionalNeuralProcessNet"):
        ConditionalNeuralProcess(MLP(1, (4,), 1))
    learner = ConditionalNeuralProcess(_net(log_inputs=[0]))
    x, y = _data(5, 0)
    with pytest.raises(ValueError, match=r"y.reshape\(-1, 1\), or y_dim=None"):
        learner.adapt(TensorData(x, y.reshape(-1)))
    with pytest.raises(ValueError, match=r"\[n, 2\]"):
        learner.adapt(TensorData(x[:, :1], y))
    with pytest.raises(ValueError, match="NaN"):
        learner.adapt(TensorData(x, torch.where(torch.arange(5)[:, None] == 2, math.nan, y)))
    with pytest.raises(ValueError, match="logarithms"):
        learner.adapt(TensorData(x - 10.0, y))
    with pytest.raises(ValueError, match="empty"):
        learner.adapt(TensorData(x[:0], y[:0]))
    with pytest.raises(ValueError, match="min_sd"):
        ConditionalNeuralProcessNet(1, 1, min_sd=0.0)
    with pytest.raises(ValueError, match="x_scale"):
        ConditionalNeuralProcessNet(2, 1, x_scale=[1.0, 0.0])
    with pytest.raises(ValueError, match="one value per column"):
        ConditionalNeuralProcessNet(2, 1, x_mean=[1.0])
    with pytest.raises(ValueError, match="log_inputs"):
        ConditionalNeuralProcessNet(2, 1, log_inputs=[2])


def test_standardization_reads_pooled_training_data():
    x = torch.tensor([[1.0, 10.0], [1.0, 100.0], [1.0, 1000.0]], dtype=torch.float64)
    y = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    stats = ConditionalNeuralProcessNet.standardization(x, y, log_inputs=[1])
    assert stats["x_mean"] == pytest.approx([1.0, math.log(100.0)])
    assert stats["x_scale"] == pytest.approx([1.0, math.log(10.0)])  # a constant column keeps scale 1
    assert stats["y_mean"] == pytest.approx([2.0]) and stats["y_scale"] == pytest.approx([1.0])
