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


def test_the_saved_literature_prior_calibrates_a_table_in_imperial_units(tmp_path) -> None:
    from sciml.materials.crack_growth import literature_law_prior
    from sciml.prior import load_prior
    from sciml.tasks import TensorData

    ksi_sqrt_in = 1e3 * 0.45359237 * 9.80665 / 0.0254**2 * math.sqrt(0.0254) / 1e6  # [MPa sqrt(m)], from the definitions
    assert ksi_sqrt_in == pytest.approx(1.0988434941, rel=1e-9)
    prior = load_prior(literature_law_prior(CONSTANTS, noise_sd=0.2).save(tmp_path / "forman"))
    si = pd.DataFrame({"delta K [MPa sqrt(m)]": [6.0, 12.0, 25.0], "R": [0.1, 0.1, 0.5], "da/dN [m/cycle]": [3e-9, 4e-8, 9e-7]})
    imperial = pd.DataFrame({"ΔK [ksi√in]": si["delta K [MPa sqrt(m)]"] / ksi_sqrt_in, "stress ratio": si.R,
                             "dadn": si["da/dN [m/cycle]"] / 0.0254})
    cal = prior.calibrate(imperial, units={"dadn": "in/cycle"})
    x = torch.tensor(si[["delta K [MPa sqrt(m)]", "R"]].to_numpy(), dtype=torch.float64)
    direct = prior.learner.adapt(TensorData(x, torch.log10(torch.tensor(si["da/dN [m/cycle]"].to_numpy()))))
    for name, value in direct.params.items():
        torch.testing.assert_close(cal.adapted.params[name], value, rtol=1e-9, atol=1e-12)
    out = cal.predict(pd.DataFrame({"delta K [ksi sqrt(in)]": [10.0], "R": [0.1]}))
    assert out["delta K [MPa*m^0.5]"].iloc[0] == pytest.approx(10 * ksi_sqrt_in, rel=1e-12)
    with torch.no_grad():
        by_law = float(direct.predict(torch.tensor([[10 * ksi_sqrt_in, 0.1]], dtype=torch.float64)).reshape(()))
    assert out["mean"].iloc[0] == pytest.approx(by_law, rel=1e-9)
    assert out["da/dN [m/cycle]"].iloc[0] == pytest.approx(10**by_law, rel=1e-9)
    assert "Forman constants of 4 alloys" in prior.provenance["source"]


def test_the_search_box_stays_near_a_ratio_the_prior_never_saw() -> None:
    from sciml.materials.crack_growth import literature_law_prior

    cal = literature_law_prior(CONSTANTS, noise_sd=0.2).calibrate(
        pd.DataFrame({"delta K [MPa sqrt(m)]": [6.0, 12.0, 25.0], "R": [0.1] * 3, "da/dN [m/cycle]": [3e-9, 4e-8, 9e-7]}))
    box = cal.training_box()
    assert box["R [1]"] == pytest.approx((0.0, 0.2))  # 10% of max(|R|, 1) around the one measured ratio
    assert box["delta K [MPa*m^0.5]"] == pytest.approx((6.0, 60.0))  # a decade up from the smallest range measured
    assert cal.suggest_next(box=box, q=1)["R [1]"].between(0.0, 0.2).all()
