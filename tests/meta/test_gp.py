"""The Gaussian-process head: exact conditioning against a numpy reference, its meta-gradient
against plain autograd on a direct transcription of the formulas, and calibration on tasks it
was meta-trained for."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from sciml import settings
from sciml.meta import DeepKernelGP
from sciml.meta.gp import gp_posterior, probit_logit
from sciml.models import MLP
from sciml.tasks import Task, TensorData

TOL = 1e-9


def _float64(cls, *args, **kwargs):
    """``cls(*args, **kwargs)`` built with float64 as the default dtype (a learner on
    ``nn.Identity()`` has no parameter to take its dtype from)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return cls(*args, **kwargs)
    finally:
        torch.set_default_dtype(old)


def _numpy_gp(xs: np.ndarray, t: np.ndarray, xq: np.ndarray, ls: float, sd: float, noise: float, mean: float):
    """Textbook GP regression (Rasmussen & Williams, eq. 2.25-2.26) with a dense solve."""

    def k(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return sd**2 * np.exp(-d2 / (2 * ls**2))

    kxx = k(xs, xs) + (noise**2 + 1e-5) * np.eye(len(xs))
    kq = k(xq, xs)
    mu = mean + kq @ np.linalg.solve(kxx, t - mean)
    var = sd**2 - np.einsum("ij,ji->i", kq, np.linalg.solve(kxx, kq.T))
    return mu, var


def _hyper(ls=0.7, sd=1.3, noise=0.2, mean=0.1, beta=1.5) -> dict[str, torch.Tensor]:
    return {"log_lengthscale": torch.tensor(math.log(ls), dtype=torch.float64),
            "log_outputscale": torch.tensor(math.log(sd), dtype=torch.float64),
            "log_noise": torch.tensor(math.log(noise), dtype=torch.float64), "mean": torch.tensor(mean, dtype=torch.float64),
            "log_probit_scale": torch.tensor(math.log(beta), dtype=torch.float64)}


def test_posterior_matches_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    xs, xq, t = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)), rng.normal(size=7)
    mu_ref, var_ref = _numpy_gp(xs, t, xq, 0.7, 1.3, 0.2, 0.1)
    mu, var = gp_posterior(torch.tensor(xs), torch.tensor(t), torch.tensor(xq), _hyper())
    np.testing.assert_allclose(mu.numpy(), mu_ref, atol=1e-10)
    np.testing.assert_allclose(var.numpy(), var_ref, atol=1e-10)


def test_probit_logit_is_the_logit_of_the_probit() -> None:
    mean, var = torch.tensor([-2.0, 0.0, 0.3, 4.0], dtype=torch.float64), torch.tensor([0.1, 1.0, 2.0, 0.5], dtype=torch.float64)
    beta = torch.tensor(1.5, dtype=torch.float64)
    p = norm.cdf(1.5 * mean.numpy() / np.sqrt(1 + 1.5**2 * var.numpy()))
    np.testing.assert_allclose(probit_logit(mean, var, beta).numpy(), np.log(p / (1 - p)), atol=1e-10)


def test_regression_predictive_matches_reference() -> None:
    rng = np.random.default_rng(1)
    xs, xq = rng.normal(size=(6, 2)), rng.normal(size=(4, 2))
    ys = np.sin(xs.sum(1))
    gp = _float64(DeepKernelGP, torch.nn.Identity(), task="regression", lengthscale=0.7, outputscale=1.3, noise=0.2)
    adapted = gp.adapt(TensorData(torch.tensor(xs), torch.tensor(ys)))
    mean, var = gp.predictive(adapted, torch.tensor(xq))
    mu_ref, var_ref = _numpy_gp(xs, ys, xq, 0.7, 1.3, 0.2, 0.0)
    np.testing.assert_allclose(mean.numpy(), mu_ref, atol=1e-10)
    np.testing.assert_allclose(var.numpy(), var_ref + 0.2**2, atol=1e-10)  # a new noisy observation
    np.testing.assert_allclose(adapted.predict(torch.tensor(xq)).reshape(-1).numpy(), mu_ref, atol=1e-10)


def _binary_tasks(n_tasks: int = 4, n: int = 12, seed: int = 0) -> list[Task]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n_tasks):
        y = torch.arange(n) % 2
        x = torch.randn(n, 3, generator=g, dtype=torch.float64) + (1.0 + 0.2 * i) * y[:, None].double()
        data = TensorData(x, y)
        out.append(Task(data.subset(range(6)), data.subset(range(6, n)), name=f"t{i}"))
    return out


def _reference_loss(features: MLP, params: dict, hyper: dict, tasks: list[Task]) -> torch.Tensor:
    """The meta-objective written out directly: dense kernel, ``torch.linalg.solve``, normal CDF."""
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    total = 0.0
    for t in tasks:
        zs = torch.func.functional_call(features, params, (t.support.x,))
        zq = torch.func.functional_call(features, params, (t.query.x,))
        ls, sd, noise = hyper["log_lengthscale"].exp(), hyper["log_outputscale"].exp(), hyper["log_noise"].exp()

        def k(a, b, sd=sd, ls=ls):
            return sd**2 * torch.exp(-torch.cdist(a, b) ** 2 / (2 * ls**2))

        target = 2.0 * t.support.y.double() - 1.0
        kxx = k(zs, zs) + (noise**2 + 1e-5) * torch.eye(len(zs), dtype=torch.float64)
        kq = k(zq, zs)
        mu = hyper["mean"] + kq @ torch.linalg.solve(kxx, target - hyper["mean"])
        var = sd**2 - (kq * torch.linalg.solve(kxx, kq.T).T).sum(-1)
        beta = hyper["log_probit_scale"].exp()
        p = normal.cdf(beta * mu / torch.sqrt(1 + beta**2 * var))
        y = t.query.y.double()
        total = total - (y * torch.log(p) + (1 - y) * torch.log1p(-p)).mean()
    return total / len(tasks)


def test_meta_gradient_matches_plain_autograd_reference() -> None:
    torch.manual_seed(0)
    features = MLP(3, (8,), 4, activation="tanh").double()
    gp = DeepKernelGP(features, task="classification", lengthscale=1.5, outputscale=1.2, noise=0.3)
    with torch.no_grad():
        gp.hyper["mean"].fill_(0.2)
        gp.hyper["log_probit_scale"].fill_(0.3)
    tasks = _binary_tasks()
    got, loss = gp.meta_gradient(tasks)
    with settings.vmap_tasks(False):
        looped, loss_loop = gp.meta_gradient(tasks)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in features.named_parameters()}
    hyper = {k: p.detach().clone().requires_grad_(True) for k, p in gp.hyper.items()}
    ref_loss = _reference_loss(features, params, hyper, tasks)
    leaves = {**params, **{f"gp:{k}": v for k, v in hyper.items()}}
    ref = dict(zip(leaves, torch.autograd.grad(ref_loss, list(leaves.values()))))
    assert abs(float(loss) - float(ref_loss)) < TOL and abs(float(loss_loop) - float(ref_loss)) < TOL
    assert set(got) == set(ref)
    for name, g in ref.items():
        assert torch.allclose(got[name], g, atol=1e-8), (name, (got[name] - g).abs().max())
        assert torch.allclose(looped[name], g, atol=1e-8), name


def test_meta_training_calibrates_probabilities() -> None:
    """Meta-trained on tasks whose classes are well separated, the head is confident where it is
    right: its expected calibration error on new tasks drops below the untrained kernel's."""
    from sciml.evaluation.metrics import binary_probabilities, expected_calibration_error

    def ece(gp: DeepKernelGP, tasks: list[Task]) -> float:
        probs = torch.cat([binary_probabilities(gp.adapt(t.support).predict(t.query.x)) for t in tasks])
        return expected_calibration_error(probs, torch.cat([t.query.y for t in tasks]))

    torch.manual_seed(0)
    gp = _float64(DeepKernelGP, torch.nn.Identity(), task="classification", lengthscale=20.0, outer_lr=0.05, meta_batch_size=4)
    train, test = _binary_tasks(16, 30, seed=1), _binary_tasks(8, 30, seed=2)
    before = ece(gp, test)
    gp.fit(train, iterations=150, progress=False)
    after = ece(gp, test)
    assert after < 0.5 * before, (before, after)


@pytest.mark.parametrize(("kwargs", "match"), [({"task": "ranking"}, "classification"), ({"lengthscale": 0.0}, "lengthscale"),
                                               ({"noise": -1.0}, "noise")])
def test_bad_arguments_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DeepKernelGP(torch.nn.Identity(), **kwargs)


def test_support_with_one_class_is_refused() -> None:
    gp = DeepKernelGP(torch.nn.Identity(), task="classification")
    with pytest.raises(ValueError, match="both labels"):
        gp.adapt(TensorData(torch.randn(4, 2), torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ValueError, match="0/1"):
        gp.adapt(TensorData(torch.randn(4, 2), torch.tensor([0, 1, 2, 1])))
