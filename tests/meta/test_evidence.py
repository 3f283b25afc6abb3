"""Laplace evidence: exact for a law linear in its parameters."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import multivariate_normal

from sciml.meta import CurveFit, PriorMAP
from sciml.meta.evidence import log_evidence
from sciml.models.laws import LinearBasis
from sciml.tasks import Task, TensorData


def _line_tasks(n_tasks: int, seed: int) -> list[Task]:
    g = torch.Generator().manual_seed(seed)
    tasks = []
    for i in range(n_tasks):
        x = torch.linspace(0.0, 2.0, 12, dtype=torch.float64)
        w = torch.tensor([1.0, -0.5], dtype=torch.float64) + 0.4 * torch.randn(2, generator=g, dtype=torch.float64)
        y = w[0] + w[1] * x + 0.1 * torch.randn(12, generator=g, dtype=torch.float64)
        data = TensorData(x, y)
        tasks.append(Task(data, TensorData.empty_like(data), name=f"line{i}"))
    return tasks


def test_the_evidence_of_a_linear_law_is_the_gaussian_marginal_likelihood() -> None:
    prior = PriorMAP(LinearBasis(degree=1).double(), shrinkage=0.0).fit(_line_tasks(8, seed=0))
    x = torch.tensor([0.1, 0.7, 1.3, 1.9], dtype=torch.float64)
    y = torch.tensor([0.9, 0.4, 0.3, -0.2], dtype=torch.float64)
    noise = prior.noise_sd_
    mean, cov = prior.prior_mean_.double(), prior.prior_cov_.double()
    phi = torch.stack([torch.ones_like(x), x], dim=1)
    # y ~ N(phi m, phi S phi^T + sigma^2 I), integrated by hand
    exact = multivariate_normal(mean=(phi @ mean).numpy(), cov=(phi @ cov @ phi.T + noise**2 * torch.eye(4, dtype=torch.float64)).numpy())
    assert log_evidence(prior, TensorData(x, y), noise) == pytest.approx(float(exact.logpdf(y.numpy())), abs=1e-6)


def test_data_far_from_the_prior_have_less_evidence() -> None:
    prior = PriorMAP(LinearBasis(degree=1).double()).fit(_line_tasks(8, seed=1))
    x = torch.linspace(0.0, 2.0, 6, dtype=torch.float64)
    typical = TensorData(x, 1.0 - 0.5 * x)
    shifted = TensorData(x, 6.0 - 0.5 * x)  # same slope and noise, intercept 5 prior sds away
    assert log_evidence(prior, typical, prior.noise_sd_) > log_evidence(prior, shifted, prior.noise_sd_) + 5.0


def test_bad_inputs_are_refused_with_the_fix() -> None:
    prior = PriorMAP(LinearBasis(degree=1).double()).fit(_line_tasks(4, seed=2))
    data = TensorData(torch.linspace(0.0, 1.0, 4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="noise_sd"):
        log_evidence(prior, data, 0.0)
    with pytest.raises(ValueError, match="noise_sd"):
        log_evidence(prior, data, math.nan)
    with pytest.raises(ValueError, match="empty"):
        log_evidence(prior, TensorData.empty_like(data), 0.1)
    flat = CurveFit(LinearBasis(degree=1).double())  # no prior at all
    with pytest.raises(ValueError, match="improper prior"):
        log_evidence(flat, data, 0.1)
