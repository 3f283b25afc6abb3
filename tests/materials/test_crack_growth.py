"""A Forman prior from a table of constants, calibrated on a few da/dN points."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sciml.materials.crack_growth import calibrate_from_few_points, crack_growth_task, forman_samples, literature_prior
from sciml.meta import PriorMAP
from sciml.models.laws import Forman

CONSTANTS = pd.DataFrame({"material": ["a", "b", "c", "d"], "C": [7.13e-9, 5e-9, 2e-8, 1.37e-8], "n": [2.7, 2.88, 2.62, 3.02],
                          "Kc": [71.3, 63.2, 69.8, 63.9]})


def test_the_prior_is_the_mean_and_covariance_of_the_tables_parameters() -> None:
    prior = literature_prior(CONSTANTS, noise_sd=0.2, shrinkage=0.0, min_sd=0.0)
    by_hand = np.array([[math.log10(c) + n * math.log10(10.0), math.log(n), math.log(k)]
                        for c, n, k in zip(CONSTANTS.C, CONSTANTS.n, CONSTANTS.Kc)])
    assert prior.prior_mean_.numpy() == pytest.approx(by_hand.mean(0), rel=1e-9)
    assert prior.prior_cov_.numpy() == pytest.approx(np.cov(by_hand.T), rel=1e-6, abs=1e-12)
    assert prior.noise_sd_ == 0.2
    assert float(prior.model.physical_params()["n"]) == pytest.approx(math.exp(by_hand[:, 1].mean()), rel=1e-6)


def test_a_tight_prior_recovers_its_alloy_from_two_points_better_than_curve_fit() -> None:
    # the held-out alloy follows the table's mean law exactly; two points cannot pin three parameters alone
    law = literature_prior(CONSTANTS, noise_sd=0.05).model
    dk = torch.tensor([4.0, 6.0, 9.0, 13.0, 18.0, 24.0], dtype=torch.float64)
    x = torch.cat([torch.stack([dk, torch.full_like(dk, r)], 1) for r in (0.1, 0.5)])
    with torch.no_grad():
        y = law(x)
    df = pd.DataFrame({"material": "held-out", "delta_K": x[:, 0].numpy(), "R": x[:, 1].numpy(), "dadn": 10 ** y.numpy()})
    res = calibrate_from_few_points(crack_growth_task(df), CONSTANTS, noise_sd=0.05, shots=[2], seeds=range(5))
    err = res[res.metric == "rmse_log10_dadn"].groupby("learner").value.median()
    assert err["literature-prior MAP"] < 0.02 and err["literature-prior MAP"] < err["curve_fit"]
    assert err["literature prior mean"] == pytest.approx(0.0, abs=1e-9)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(KeyError, match="Kc"):
        forman_samples(CONSTANTS.drop(columns="Kc"), Forman())
    learner = PriorMAP(Forman().double())
    with pytest.raises(ValueError, match="shape"):
        learner.fit_samples(torch.zeros(1, 3), 0.1)
    with pytest.raises(ValueError, match="shape"):
        learner.fit_samples(torch.zeros(4, 2), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        learner.fit_samples(torch.full((4, 3), float("nan")), 0.1)
    with pytest.raises(ValueError, match="noise_sd"):
        learner.fit_samples(forman_samples(CONSTANTS, Forman()), 0.0)
    with pytest.raises(ValueError, match="positive"):
        crack_growth_task(pd.DataFrame({"material": ["x"], "delta_K": [5.0], "R": [0.1], "dadn": [0.0]}))
