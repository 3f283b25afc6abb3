"""Law priors: units converted (not stored), checks with numbers, intervals, next experiments."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from sciml.prior import CheckpointError, PlausibilityWarning, UnitError, load_prior
from tests.prior.builders import law_prior

ROWS_SI = pd.DataFrame({"time [s]": [2.0e4, 6.0e4, 2.0e5], "temperature [K]": [1523.15] * 3, "X": [0.08, 0.41, 0.93]})


@pytest.fixture(scope="module")
def prior():
    return law_prior()


def test_units_are_converted_to_si(prior) -> None:
    hours = pd.DataFrame({"time": ROWS_SI["time [s]"] / 3600, "T": ROWS_SI["temperature [K]"] - 273.15, "X": ROWS_SI.X})
    a = prior.calibrate(ROWS_SI).params()
    b = prior.calibrate(hours, units={"time": "h", "T": "C"}).params()
    c = prior.calibrate(hours.rename(columns={"time": "time_h", "T": "temperature (°C)"})).params()
    np.testing.assert_allclose(a.value, b.value, rtol=1e-9)
    np.testing.assert_allclose(a.value, c.value, rtol=1e-9)


def test_prediction_is_the_law_at_the_calibrated_parameters(prior) -> None:
    cal = prior.calibrate(ROWS_SI)
    p = cal.params().set_index("parameter").value
    out = cal.predict(pd.DataFrame({"time [h]": [10.0, 50.0], "temperature [C]": [1300.0, 1250.0]}))
    t, T = np.array([36000.0, 180000.0]), np.array([1573.15, 1523.15])
    k = p.k_ref * np.exp(-p.Q * 1e3 / 8.314462618 * (1 / T - 1 / 1573.15))  # by hand, from the reported parameters
    expected = 1 - np.exp(-((k * t) ** p.n))
    np.testing.assert_allclose(out["mean"], expected, rtol=1e-6)
    assert list(out.columns) == ["time [s]", "temperature [K]", "mean", "lower", "upper"]
    assert (out.lower <= out["mean"]).all() and (out["mean"] <= out.upper).all()
    assert out[["lower", "upper"]].to_numpy().min() >= 0 and out[["lower", "upper"]].to_numpy().max() <= 1


@pytest.mark.parametrize(
    ("frame", "units", "message"),
    [
        (pd.DataFrame({"time": [1.0], "temperature [K]": [1500.0], "X": [0.2]}), None, "has no unit"),
        (pd.DataFrame({"time [fortnight]": [1.0], "temperature [K]": [1500.0], "X": [0.2]}), None, "not a time unit"),
        (pd.DataFrame({"time [h]": [1.0], "temperature [K]": [200.0], "X": [0.2]}), None, "below 250 K"),
        (pd.DataFrame({"time [h]": [1.0], "temperature [h]": [1500.0], "X": [0.2]}), None, "not a temperature unit"),
        (pd.DataFrame({"time [h]": [1.0], "X": [0.2]}), None, "No column 'temperature'"),
        (pd.DataFrame({"time [h]": [1.0], "temperature [K]": [1500.0], "X": [42.0]}), None, "percent"),
        (pd.DataFrame({"time [h]": [1.0, float("nan")], "temperature [K]": [1500.0] * 2, "X": [0.2] * 2}), None, "rows [1]"),
        (pd.DataFrame({"time [h]": [1.0], "temperature": [1500.0], "X": [0.2]}), {"temperature": "K", "time": "s"}, "keep one"),
        (pd.DataFrame({"time [h]": [-1.0], "temperature [K]": [1500.0], "X": [0.2]}), None, ">= 0"),
    ],
)
def test_bad_tables_raise_naming_the_column(prior, frame, units, message) -> None:
    with pytest.raises((ValueError, KeyError)) as info:
        prior.calibrate(frame, units=units)
    assert message in str(info.value)


def test_room_temperature_in_kelvin_is_refused(prior) -> None:
    frame = pd.DataFrame({"time [h]": [1.0, 2.0], "temperature": [25.0, 25.0], "X": [0.1, 0.2]})
    with pytest.raises(ValueError, match="Celsius"):
        prior.calibrate(frame, units={"temperature": "K"})
    with pytest.raises(UnitError):
        prior.calibrate(frame)


def test_implausible_inputs_and_residuals_warn(prior) -> None:
    seconds_as_hours = ROWS_SI.rename(columns={"time [s]": "time [h]"})  # 2e4 h = 7.2e7 s: far above the training range
    with pytest.warns(PlausibilityWarning, match="training range"):
        prior.calibrate(seconds_as_hours)
    wild = ROWS_SI.assign(X=[0.95, 0.02, 0.96])
    with pytest.warns(PlausibilityWarning, match="noise level"):
        prior.calibrate(wild)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlausibilityWarning)
        prior.calibrate(ROWS_SI)  # plausible data: no warning


def test_calibration_leaves_the_prior_unchanged(prior) -> None:
    before = {k: v.clone() for k, v in prior.learner.state_dict().items()}
    prior.calibrate(ROWS_SI)
    for k, v in prior.learner.state_dict().items():
        assert torch.equal(v, before[k])


def test_suggest_next_from_candidates_box_and_batches(prior) -> None:
    cal = prior.calibrate(ROWS_SI)
    cands = pd.DataFrame({"time [h]": [0.5, 5.0, 20.0, 80.0, 300.0], "temperature [C]": [1250.0] * 5})
    one = cal.suggest_next(cands)
    # reference: the candidate with the largest one-step variance reduction of log t50
    fn, _ = cal.default_target()
    x = torch.tensor([[h * 3600, 1523.15] for h in cands["time [h]"]], dtype=torch.float64)
    before = cal.posterior.variance(fn)
    after = [cal.posterior.condition_on_inputs(x[i : i + 1]).variance(fn) for i in range(len(x))]
    assert one["time [s]"].iloc[0] == pytest.approx(float(x[int(np.argmin(after)), 0]))
    assert one.variance_before.iloc[0] == pytest.approx(before)
    two = cal.suggest_next(cands, q=2)
    assert len(two) == 2 and two["time [s]"].nunique() == 2
    assert two.variance_after.iloc[1] < two.variance_after.iloc[0]  # the second pick shrinks it further
    boxed = cal.suggest_next(box={"time [h]": (0.1, 500.0), "temperature [C]": (1200.0, 1300.0)}, q=3, grid=9)
    assert len(boxed) == 3
    assert boxed["time [s]"].between(360.0 - 1e-6, 1.8e6 + 1e-3).all()
    with pytest.raises(ValueError, match="either candidates"):
        cal.suggest_next()


def test_suggest_next_with_a_design_policy(prior) -> None:
    from sciml.materials.learned_design import DesignPolicy

    cal = prior.calibrate(ROWS_SI)
    cands = pd.DataFrame({"time [h]": [0.5, 5.0, 20.0, 80.0, 300.0, 5.0], "temperature [C]": [1250.0] * 5 + [1300.0]})
    # untrained, the policy ranks by the variance share, so it picks what the greedy ranking picks
    assert cal.suggest_next(cands, policy=DesignPolicy())["time [s]"].iloc[0] == cal.suggest_next(cands)["time [s]"].iloc[0]
    # a policy that only likes the hottest candidates picks the one at 1300 C, and reports the variance left after it
    hot = DesignPolicy()
    with torch.no_grad():
        hot.linear.weight.zero_()
        hot.linear.weight[0, 5] = 10.0  # temperature_offset
    pick = cal.suggest_next(cands, policy=hot)
    fn, _ = cal.default_target()
    x = torch.tensor([[5.0 * 3600, 1573.15]], dtype=torch.float64)
    assert pick["temperature [K]"].iloc[0] == pytest.approx(1573.15)
    assert pick.variance_after.iloc[0] == pytest.approx(cal.posterior.condition_on_inputs(x).variance(fn))
    with pytest.raises(ValueError, match="budget"):
        cal.suggest_next(cands, policy=hot, q=2, budget=1)
    with pytest.raises(ValueError, match="drop target="):
        cal.suggest_next(cands, policy=hot, target=fn)


def test_plot_and_json(prior, tmp_path) -> None:
    import json

    import matplotlib

    matplotlib.use("Agg")
    cal = prior.calibrate(ROWS_SI)
    ax = cal.plot()
    ax.figure.savefig(tmp_path / "cal.png")
    doc = json.loads(cal.to_json())
    assert {p["parameter"] for p in doc["parameters"]} >= {"k_ref", "Q", "n"}
    assert doc["support"]["temperature [K]"] == [1523.15] * 3


def test_save_load_round_trip_and_refusals(prior, tmp_path) -> None:
    path = prior.save(tmp_path / "p")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        prior.save(path)
    prior.save(path, overwrite=True)
    loaded = load_prior(path)
    a, b = prior.calibrate(ROWS_SI).params(), loaded.calibrate(ROWS_SI).params()
    np.testing.assert_allclose(a.value, b.value, rtol=1e-12)
    assert loaded.domain.schema.inputs[0].training_range == prior.domain.schema.inputs[0].training_range

    doc = (path / "prior.json").read_text()
    (path / "prior.json").write_text(doc.replace('"format_version": 1', '"format_version": 99'))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_prior(path)
    (path / "prior.json").write_text(doc[: len(doc) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_prior(path)
    (path / "prior.json").write_text(doc)
    weights = (path / "weights.pt").read_bytes()
    (path / "weights.pt").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(CheckpointError, match="weights.pt"):
        load_prior(path)
    torch.save({"model": torch.nn.Linear(2, 1)}, path / "weights.pt")  # a pickled module: foreign, refused
    with pytest.raises(CheckpointError, match="weights.pt"):
        load_prior(path)
    with pytest.raises(CheckpointError, match="no prior.json"):
        load_prior(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_prior(tmp_path / "missing")


def test_unknown_learner_key_is_refused(prior, tmp_path) -> None:
    import json

    path = prior.save(tmp_path / "p")
    doc = json.loads((path / "prior.json").read_text())
    doc["learner"]["config"]["inner_stpes"] = 3
    (path / "prior.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="inner_stpes.*inner_steps"):
        load_prior(path)


def test_trained_prior_beats_its_start_on_new_alloys() -> None:
    """A few meta-iterations move the prior towards the family: held-out t50 error falls."""
    from sciml.materials import SyntheticAlloyFamily

    tasks = SyntheticAlloyFamily("W_recrystallization").tasks(8, seed=123)

    def error(p) -> float:
        errs = []
        for t in tasks:
            x, y = t.data.x[:3].double(), t.data.y[:3].double()
            frame = pd.DataFrame({"time [s]": x[:, 0], "temperature [K]": x[:, 1], "X": y})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PlausibilityWarning)
                cal = p.calibrate(frame)
            truth = t.metadata.get("t50_s", None)
            fn, _ = cal.default_target(at=float(x[0, 1]))
            pred = float(fn(cal.adapted.params))
            ref = truth[0] if isinstance(truth, list) else truth
            errs.append(abs(math.log(pred / ref)))
        return float(np.median(errs))

    assert error(law_prior(iterations=60)) < error(law_prior(iterations=0))
