"""Creep-rupture priors: stresses and rupture times in any unit, a log10 target, predictions
back in hours, and the saved schema."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sciml.prior import Prior, UnitError, load_prior
from sciml.prior.units import to_si
from tests.prior.builders import creep_prior

LB_KG, G, INCH_M = 0.45359237, 9.80665, 0.0254
PSI_PA = LB_KG * G / INCH_M**2  # one pound-force per square inch, from the definitions
ROWS = pd.DataFrame({"temperature [K]": [1922.0, 1922.0, 2200.0, 2200.0], "stress [MPa]": [70.0, 35.0, 40.0, 15.0],
                     "rupture time [h]": [1.5, 30.0, 2.0, 60.0]})


@pytest.fixture(scope="module")
def prior() -> Prior:
    return creep_prior()


def test_stress_units_follow_their_definitions() -> None:
    assert to_si(np.array([1.0]), "stress", "psi")[0] == pytest.approx(PSI_PA, rel=1e-12)
    assert to_si(np.array([2.0]), "stress", "ksi")[0] == pytest.approx(2000 * PSI_PA, rel=1e-12)
    assert to_si(np.array([10.0]), "stress", "kg/mm^2")[0] == pytest.approx(10 * G * 1e6, rel=1e-12)  # 1 kgf / 1e-6 m^2
    assert to_si(np.array([3.0]), "stress", "N/mm²")[0] == pytest.approx(3e6, rel=1e-12)
    with pytest.raises(UnitError, match="not a stress unit"):
        to_si(np.array([1.0]), "stress", "h")


def test_any_units_give_the_calibration_of_hand_converted_inputs(prior) -> None:
    from sciml.tasks import TensorData

    imperial = pd.DataFrame({"T": (ROWS["temperature [K]"] - 273.15) * 9 / 5 + 32, "sigma": ROWS["stress [MPa]"] * 1e6 / (1000 * PSI_PA),
                             "rupture_time_min": ROWS["rupture time [h]"] * 60})
    cal = prior.calibrate(imperial, units={"T": "F", "sigma": "ksi"})
    x = torch.tensor(ROWS[["temperature [K]", "stress [MPa]"]].to_numpy(), dtype=torch.float64)  # kelvin, MPa
    y = torch.log10(torch.tensor(ROWS["rupture time [h]"].to_numpy(), dtype=torch.float64))  # log10 hours
    direct = prior.learner.adapt(TensorData(x, y))
    for name, value in direct.params.items():
        torch.testing.assert_close(cal.adapted.params[name], value, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cal.support_y, np.log10(ROWS["rupture time [h]"]), rtol=1e-12)


def test_predictions_are_the_law_in_decades_and_its_band_in_hours(prior) -> None:
    cal = prior.calibrate(ROWS)
    query = pd.DataFrame({"temperature [C]": [1800.0], "stress [psi]": [5000.0]})
    out = cal.predict(query)
    T, s = 1800.0 + 273.15, 5000.0 * PSI_PA / 1e6
    p = {k: float(v) for k, v in cal.adapted.params.items()}
    log_life = 1000.0 * (p["P_ref"] + p["slope"] * math.log10(s / 100.0)) / T - 20.0  # the Larson-Miller law by hand, C = 20
    assert out["mean"].iloc[0] == pytest.approx(log_life, rel=1e-9)
    assert out["rupture time [h]"].iloc[0] == pytest.approx(10**log_life, rel=1e-9)
    assert out["rupture time lower [h]"].iloc[0] == pytest.approx(10 ** out["lower"].iloc[0], rel=1e-12)
    assert out["rupture time lower [h]"].iloc[0] < out["rupture time [h]"].iloc[0] < out["rupture time upper [h]"].iloc[0]
    assert out["stress [MPa]"].iloc[0] == pytest.approx(s, rel=1e-12)


@pytest.mark.parametrize("frame, units, message", [
    (ROWS.assign(**{"rupture time [h]": [1.5, 0.0, 2.0, 60.0]}), None, r"rupture time.*> 0; rows \[1\]"),
    (ROWS.rename(columns={"stress [MPa]": "stress"}), None, "stress.*no unit"),
    (ROWS.assign(**{"stress [MPa]": [70.0, -35.0, 40.0, 15.0]}), None, r"stresses must be > 0; rows \[1\]"),
    (ROWS.rename(columns={"stress [MPa]": "stress [h]"}), None, "not a stress unit"),
])
def test_bad_creep_tables_raise_naming_the_column(prior, frame, units, message) -> None:
    with pytest.raises((ValueError, UnitError), match=message):
        prior.calibrate(frame, units=units)


def test_suggest_next_plot_and_round_trip(prior, tmp_path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    cal = prior.calibrate(ROWS)
    nxt = cal.suggest_next(box=cal.training_box(), q=2)
    assert len(nxt) == 2 and (nxt.reduction > 0).all()
    assert nxt.attrs["target"].startswith("rupture time at temperature 2061 K, stress 37.5 MPa")  # medians of the support
    ax = cal.plot()
    assert ax.get_xlabel() == "stress [MPa]" and ax.get_ylabel() == "log10 rupture time [h]" and ax.get_xscale() == "log"
    assert cal.summary()["support"]["log10 rupture time [h]"] == pytest.approx(np.log10(ROWS["rupture time [h]"]).tolist())

    loaded = load_prior(prior.save(tmp_path / "creep"))
    assert loaded.domain.schema == prior.domain.schema
    assert loaded.domain.schema.target.transform == "log10" and loaded.domain.schema.inputs[1].unit == "MPa"
    pd.testing.assert_frame_equal(loaded.calibrate(ROWS).predict(ROWS), cal.predict(ROWS))


def test_a_negative_parameter_gets_a_symmetric_interval(prior) -> None:
    cal = prior.calibrate(ROWS)
    params = cal.params(level=0.9).set_index("parameter")
    slope = params.loc["slope"]
    post = cal.posterior
    i = post.names.index("slope")
    half = 1.6448536269514722 * 1000.0 * math.sqrt(float(post.cov[i, i]))  # slope [K/decade] = 1000 x the parameter
    assert slope.value == pytest.approx(1000.0 * float(cal.adapted.params["slope"]), rel=1e-6) and slope.value < 0
    assert slope.lower == pytest.approx(slope.value - half, rel=1e-6) and slope.upper == pytest.approx(slope.value + half, rel=1e-6)
    assert params.loc["LMP_ref"].lower < params.loc["LMP_ref"].value < params.loc["LMP_ref"].upper  # positive: log scale


def test_a_norton_prior_reads_creep_rates_in_percent_per_hour() -> None:
    from sciml.meta import CurveFit
    from sciml.models.laws import Norton
    from sciml.prior.domains.law import law_prior
    from sciml.tasks import TensorData

    norton = law_prior(CurveFit(Norton().double()), [], 0.3)
    assert norton.domain.schema.target.label == "log10 minimum creep rate [1/h]"
    rates = pd.DataFrame({"temperature [K]": [2000.0, 2000.0, 2300.0], "stress [MPa]": [30.0, 60.0, 20.0],
                          "minimum creep rate [%/h]": [0.01, 0.3, 0.05]})
    cal = norton.calibrate(rates)
    x = torch.tensor(rates[["temperature [K]", "stress [MPa]"]].to_numpy(), dtype=torch.float64)
    direct = norton.learner.adapt(TensorData(x, torch.log10(torch.tensor([0.01, 0.3, 0.05], dtype=torch.float64) / 100)))  # %/h -> 1/h
    for name, value in direct.params.items():
        torch.testing.assert_close(cal.adapted.params[name], value, rtol=1e-9, atol=1e-12)


def test_a_prior_file_with_an_unknown_unit_is_refused_naming_the_file(prior, tmp_path) -> None:
    import json

    from sciml.prior import CheckpointError

    path = prior.save(tmp_path / "creep")
    doc = json.loads((path / "prior.json").read_text())
    doc["domain"]["schema"]["inputs"][1]["unit"] = "furlongs"
    (path / "prior.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=r"prior.json: the law domain does not parse .*'furlongs' is not a stress unit"):
        load_prior(path)
