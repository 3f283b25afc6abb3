"""The service returns what the Python API returns, in every domain, with units converted."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from tests.prior.builders import light_curve, structure
from tests.serve.conftest import ROWS, UNITS


def test_health_and_priors(client):
    assert client.get("/health").json()["priors"] == 4
    listed = {p["name"]: p for p in client.get("/priors").json()}
    assert set(listed) == {"tungsten", "molecules", "crystals", "curves"}
    assert listed["tungsten"]["domain"] == "law"
    units = {c["name"]: c["unit"] for c in listed["tungsten"]["input"]["schema"]["inputs"]}
    assert units == {"time": "s", "temperature": "K"}
    one = client.get("/priors/tungsten").json()
    assert one["unit_choices"]["temperature"] == ["C", "F", "K"]
    assert set(one["calibrate_schema"]["properties"]) == {"units", "rows", "steps"}


def test_law_calibration_matches_the_python_api_in_si_units(client, priors):
    """Hours and Celsius over HTTP give the parameters the library gives for seconds and kelvin."""
    reply = client.post("/priors/tungsten/calibrate", json={"units": UNITS, "rows": ROWS})
    assert reply.status_code == 200, reply.text
    got = {p["parameter"]: p for p in reply.json()["parameters"]}
    si = pd.DataFrame({"time [s]": [3600.0, 14400.0, 28800.0], "temperature [K]": [1573.15] * 3, "X": [0.05, 0.42, 0.78]})
    ref = priors["tungsten"].calibrate(si).params().set_index("parameter")
    for name in ("k_ref", "n", "t50_ref"):
        assert got[name]["value"] == pytest.approx(ref.loc[name, "value"], rel=1e-6)
        assert got[name]["lower"] < got[name]["value"] < got[name]["upper"]
    cal_id = reply.json()["id"]

    pred = client.post(f"/calibrations/{cal_id}/predict", json={"units": UNITS, "rows": [{"time": 2, "temperature": 1300},
                                                                                      {"time": 100, "temperature": 1300}]})
    rows = pred.json()["predictions"]
    assert [r["time [s]"] for r in rows] == [7200.0, 360000.0]
    assert rows[0]["lower"] < rows[0]["mean"] < rows[0]["upper"] and rows[1]["mean"] > 0.99  # fully recrystallized after 100 h

    nxt = client.post(f"/calibrations/{cal_id}/suggest-next", json={"q": 2}).json()
    assert len(nxt["suggestions"]) == 2 and nxt["target"].startswith("t50")
    boxed = client.post(f"/calibrations/{cal_id}/suggest-next",
                        json={"q": 1, "units": UNITS, "box": {"time": [1, 24], "temperature": [1300, 1300.5]}}).json()
    assert 3600 <= boxed["suggestions"][0]["time [s]"] <= 24 * 3600

    svg = client.get(f"/calibrations/{cal_id}/plot.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text

    assert client.delete(f"/calibrations/{cal_id}").status_code == 200
    assert client.post(f"/calibrations/{cal_id}/predict", json={"units": UNITS, "rows": ROWS}).status_code == 404


def test_stateless_predict_equals_calibrate_then_predict(client, priors):
    body = {"smiles": ["CCO", "c1ccccc1O", "CCN", "CC(=O)Oc1ccccc1C(=O)O"], "labels": [0, 1, 0, 1]}
    query = {"smiles": ["CCOC", "OCCO", "c1ccccc1"]}
    one = client.post("/priors/molecules/predict", json={"support": body, "query": query}).json()["predictions"]
    ref = priors["molecules"].calibrate(body["smiles"], labels=body["labels"]).predict(query["smiles"])
    assert [r["smiles"] for r in one] == query["smiles"]
    np.testing.assert_allclose([r["probability"] for r in one], ref["probability"], rtol=1e-6)


def test_crystals_and_light_curves(client):
    cifs = [structure(a).to(fmt="cif") for a in (4.0, 4.3, 4.6)]
    out = client.post("/priors/crystals/predict", json={"support": {"structures": cifs[:2], "targets": [1.5, 1.6]},
                                                        "query": {"structures": cifs[2:]}})
    row = out.json()["predictions"][0]
    assert out.status_code == 200 and row["lower"] < row["mean"] < row["upper"]

    def curve(period, seed):
        t, mag, err = light_curve(period, seed)
        return {"t": t.tolist(), "mag": mag.tolist(), "err": err.tolist()}

    support = {"curves": [curve(0.5, 0), curve(0.5, 1), curve(7.0, 2), curve(7.0, 3)], "labels": ["fast", "fast", "slow", "slow"]}
    out = client.post("/priors/curves/predict", json={"support": support, "query": {"curves": [curve(0.5, 4), curve(7.0, 5)]}})
    assert [r["predicted"] for r in out.json()["predictions"]] == ["fast", "slow"]


def test_calibration_work_runs_off_the_event_loop(client, priors, monkeypatch):
    """While one calibration is stuck, other requests are answered."""
    release, entered = threading.Event(), threading.Event()
    prior = priors["molecules"]
    original = type(prior).calibrate

    def stuck(self, *args, **kwargs):
        entered.set()
        if not release.wait(20):
            raise RuntimeError("never released")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(prior), "calibrate", stuck)
    result = {}
    worker = threading.Thread(target=lambda: result.update(r=client.post(
        "/priors/molecules/calibrate", json={"smiles": ["CCO", "CCN"], "labels": [0, 1]})))
    worker.start()
    try:
        assert entered.wait(20)
        assert client.get("/health").status_code == 200  # answered while the calibration waits
    finally:
        release.set()
        worker.join(30)
    assert result["r"].status_code == 200


def test_warnings_reach_the_client(client):
    """Times given in hours but labelled seconds fall far outside the training range: the reply
    carries the library's plausibility warning."""
    rows = [{"time": 0.01, "temperature": 1300, "X": 0.05}, {"time": 0.02, "temperature": 1300, "X": 0.42},
            {"time": 0.04, "temperature": 1300, "X": 0.78}]
    reply = client.post("/priors/tungsten/calibrate", json={"units": {"time": "s", "temperature": "C"}, "rows": rows}).json()
    assert any("training range" in w for w in reply["warnings"])


def test_concurrent_calibrations_of_one_prior_agree_with_one_at_a_time(priors):
    """Many calibrations of one prior at once (the model's parameters are swapped in and out by
    functional calls): every one answers 200 with the parameters it gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from sciml.serve import create_app

    bodies = [{"units": UNITS, "rows": [dict(r, X=min(1.0, r["X"] * (1 + 0.02 * i))) for r in ROWS]} for i in range(16)]
    with TestClient(create_app({"tungsten": priors["tungsten"]}, threads=4)) as c:
        alone = [c.post("/priors/tungsten/calibrate", json=b).json()["parameters"] for b in bodies]
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda b: c.post("/priors/tungsten/calibrate", json=b), bodies * 2))
    assert [r.status_code for r in replies] == [200] * len(replies)
    assert [r.json()["parameters"] for r in replies] == alone * 2


def test_creep_prior_takes_any_stress_unit_and_answers_in_hours() -> None:
    from fastapi.testclient import TestClient

    from sciml.serve import create_app
    from tests.prior.builders import creep_prior

    units = {"temperature": "C", "stress": "ksi", "rupture time": "h"}
    rows = [{"temperature": 1650, "stress": 10, "rupture time": 2.1}, {"temperature": 1650, "stress": 5, "rupture time": 40},
            {"temperature": 1925, "stress": 3, "rupture time": 18}]
    with TestClient(create_app({"creep": creep_prior()})) as c:
        assert "psi" in c.get("/priors/creep").json()["unit_choices"]["stress"]
        cal = c.post("/priors/creep/calibrate", json={"units": units, "rows": rows}).json()
        pred = c.post(f"/calibrations/{cal['id']}/predict", json={"units": units, "rows": [{"temperature": 1800, "stress": 4}]}).json()
        row = pred["predictions"][0]
        assert row["stress [MPa]"] == pytest.approx(4 * 6.894757293168361)
        assert row["rupture time [h]"] == pytest.approx(10 ** row["mean"])
        nxt = c.post(f"/calibrations/{cal['id']}/suggest-next", json={"q": 1}).json()
        assert nxt["target"].startswith("rupture time at") and len(nxt["suggestions"]) == 1
