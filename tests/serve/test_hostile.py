"""Malformed and hostile requests: every one answered 4xx with a message, never 5xx."""

from __future__ import annotations

import json

import pytest

from tests.prior.builders import light_curve, structure
from tests.serve.conftest import ROWS, UNITS

LAW = "/priors/tungsten/calibrate"
MOL = "/priors/molecules/calibrate"


def _law(**change):
    return {"units": UNITS, "rows": ROWS, **change}


def _row(**change):
    return [{**ROWS[0], **change}, *ROWS[1:]]


def _curve(n=120):
    t, mag, err = light_curve(0.5, 0, n=n)
    return {"t": t.tolist(), "mag": mag.tolist(), "err": err.tolist()}


RAW = object()
CASES = [
    # (id, method, path, body, expected status, words the message must contain)
    ("not json", "POST", LAW, (RAW, b"{rows: 1"), 422, "JSON"),
    ("json array", "POST", LAW, [1, 2], 422, "body"),
    ("empty object", "POST", LAW, {}, 422, "units"),
    ("rows not a list", "POST", LAW, _law(rows="a,b"), 422, "rows"),
    ("no rows", "POST", LAW, _law(rows=[]), 422, "rows"),
    ("string number", "POST", LAW, _law(rows=_row(time="1")), 422, "rows.0.time"),
    ("NaN literal", "POST", LAW, (RAW, b'{"units": {"time": "h", "temperature": "C"}, "rows": [{"time": NaN, "temperature": 1300, "X": 0.1}]}'),
     422, "finite"),
    ("Infinity literal", "POST", LAW, (RAW, b'{"units": {"time": "h", "temperature": "C"}, "rows": [{"time": 1, "temperature": Infinity, "X": 0.1}]}'),
     422, "finite"),
    ("null value", "POST", LAW, _law(rows=_row(X=None)), 422, "rows.0.X"),
    ("missing column", "POST", LAW, _law(rows=[{"time": 1, "X": 0.1}]), 422, "temperature"),
    ("unknown column", "POST", LAW, _law(rows=_row(pressure=1.0)), 422, "pressure"),
    ("units missing", "POST", LAW, {"rows": ROWS}, 422, "units"),
    ("temperature unit missing", "POST", LAW, _law(units={"time": "h"}), 422, "units.temperature"),
    ("unknown unit", "POST", LAW, _law(units={"time": "fortnight", "temperature": "C"}), 422, "units.time"),
    ("fraction as percent", "POST", LAW, _law(rows=_row(X=45.0)), 422, "percent"),
    ("negative time", "POST", LAW, _law(rows=_row(time=-1.0)), 422, ">= 0"),
    ("kelvin below 250", "POST", LAW, _law(units={"time": "h", "temperature": "K"}, rows=_row(temperature=30.0)), 422, "below 250 K"),
    ("steps negative", "POST", LAW, _law(steps=-1), 422, "steps"),
    ("steps huge", "POST", LAW, _law(steps=10**9), 422, "steps"),
    ("unknown prior", "POST", "/priors/nothing/calibrate", _law(), 404, "nothing"),
    ("path-like prior", "POST", "/priors/..%2F..%2Fetc%2Fpasswd/calibrate", _law(), 404, "No route"),
    ("dotdot prior", "GET", "/priors/%2E%2E", None, 404, "No prior"),
    ("unknown calibration", "POST", "/calibrations/AAAAAAAAAAAAAAAAAAAAAA/predict", {"units": UNITS, "rows": ROWS}, 404, "No calibration"),
    ("delete unknown", "DELETE", "/calibrations/xyz", None, 404, "No calibration"),
    ("wrong method", "GET", LAW, None, 405, "not allowed"),
    ("bad smiles", "POST", MOL, {"smiles": ["CCO", "C1CC(", "CCN"], "labels": [0, 1, 1]}, 422, "Molecule 1"),
    ("label 2", "POST", MOL, {"smiles": ["CCO", "CCN"], "labels": [0, 2]}, 422, "labels"),
    ("labels count", "POST", MOL, {"smiles": ["CCO", "CCN", "CCC"], "labels": [0, 1]}, 422, "one label per input"),
    ("one class only", "POST", MOL, {"smiles": ["CCO", "CCN"], "labels": [1, 1]}, 422, "at least one positive"),
    ("smiles not strings", "POST", MOL, {"smiles": [1, 2], "labels": [0, 1]}, 422, "smiles.0"),
    ("crystal path", "POST", "/priors/crystals/calibrate", {"structures": ["/etc/passwd", "x"], "targets": [1.0, 2.0]}, 422, "never reads files"),
    ("crystal garbage", "POST", "/priors/crystals/calibrate", {"structures": ["data_x\n_cell_length_a what\n"] * 2, "targets": [1.0, 2.0]},
     422, "could not parse"),
    ("crystal negative target", "POST", "/priors/crystals/calibrate",
     {"structures": [structure(4.0).to(fmt="cif")] * 2, "targets": [1.0, -2.0]}, 422, "positive"),
    ("curve lengths differ", "POST", "/priors/curves/calibrate",
     {"curves": [{**_curve(), "mag": _curve()["mag"][:-1]}, _curve()], "labels": ["a", "b"]}, 422, "same length"),
    ("curve too short", "POST", "/priors/curves/calibrate", {"curves": [{"t": [1], "mag": [1]}] * 2, "labels": ["a", "b"]}, 422, "curves.0.t"),
    ("suggest for molecules", "POST", "/calibrations/{mol}/suggest-next", {"q": 1}, 422, "law priors"),
    ("suggest q zero", "POST", "/calibrations/{law}/suggest-next", {"q": 0}, 422, "q"),
    ("suggest box without units", "POST", "/calibrations/{law}/suggest-next", {"box": {"time": [1, 2], "temperature": [1300, 1400]}},
     422, "units"),
    ("suggest box reversed", "POST", "/calibrations/{law}/suggest-next",
     {"units": UNITS, "box": {"time": [5, 1], "temperature": [1300, 1400]}}, 422, "low < high"),
    ("query with the target", "POST", "/calibrations/{law}/predict", {"units": UNITS, "rows": ROWS}, 422, "rows.0.X"),
    ("predict body of another domain", "POST", "/calibrations/{law}/predict", {"smiles": ["CCO"]}, 422, "units"),
    # limits
    ("too many rows", "POST", LAW, _law(rows=ROWS * 20), 413, "max_rows"),
    ("smiles too long", "POST", MOL, {"smiles": ["C" * 101, "CCO"], "labels": [0, 1]}, 413, "max_smiles_length"),
    ("cif too big", "POST", "/priors/crystals/calibrate", {"structures": ["data_x\n" + "#" * 6000, "x\ny"], "targets": [1, 2]},
     413, "max_cif_bytes"),
    ("curve too long", "POST", "/priors/curves/calibrate", {"curves": [_curve(600), _curve()], "labels": ["a", "b"]}, 413,
     "max_curve_points"),
    ("body too large", "POST", LAW, (RAW, b" " * 300_000), 413, "max_body_bytes"),
    ("suggest too many", "POST", "/calibrations/{law}/suggest-next", {"q": 11}, 413, "max_suggestions"),
]


@pytest.fixture(scope="module")
def ids(client):
    law = client.post(LAW, json=_law()).json()["id"]
    mol = client.post(MOL, json={"smiles": ["CCO", "CCN"], "labels": [0, 1]}).json()["id"]
    return {"law": law, "mol": mol}


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_request_gets_a_4xx_naming_the_problem(client, ids, method, path, body, status, words):
    path = path.format(**ids)
    if isinstance(body, tuple) and body[0] is RAW:
        reply = client.request(method, path, content=body[1], headers={"content-type": "application/json"})
    else:
        reply = client.request(method, path, json=body) if body is not None else client.request(method, path)
    assert reply.status_code == status, reply.text
    detail = reply.json()["detail"]
    assert isinstance(detail, str) and detail
    assert words in detail


def test_battery_is_large_enough():
    assert len(CASES) >= 30


def test_streamed_body_over_the_limit_is_refused(client):
    """A chunked body (no Content-Length) is counted as it arrives."""
    def chunks():
        for _ in range(30):
            yield b" " * 10_000

    reply = client.post(LAW, content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "max_body_bytes" in reply.json()["detail"]


def test_declared_body_over_the_limit_is_refused_unread():
    """A Content-Length over the limit is answered 413 before a byte of the body is read."""
    import anyio

    from sciml.serve.body_limit import BodyLimit

    sent = []

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        raise AssertionError("the application saw an oversized request")

    async def receive():
        raise AssertionError("the body was read")

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "headers": [(b"content-length", b"5000000")]}
    anyio.run(BodyLimit(app, max_bytes=1000), scope, receive, send)
    assert sent[0]["status"] == 413
    assert b"max_body_bytes" in sent[1]["body"] and b"5000000 bytes" in sent[1]["body"]


def test_token_is_enforced(priors, tmp_path):
    from fastapi.testclient import TestClient

    from sciml.serve import create_app

    app = create_app({"tungsten": priors["tungsten"]}, token="s3cret-token")
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}, {"Authorization": "Basic s3cret-token"}):
            reply = c.post(LAW, json=_law(), headers=headers)
            assert reply.status_code == 401 and "bearer token" in reply.json()["detail"]
            assert c.get("/priors", headers=headers).status_code == 401
        ok = {"Authorization": "Bearer s3cret-token"}
        assert c.get("/priors", headers=ok).status_code == 200
        cal = c.post(LAW, json=_law(), headers=ok).json()["id"]
        assert c.post(f"/calibrations/{cal}/predict", json=_law(), headers={}).status_code == 401
        query = {"units": UNITS, "rows": [{"time": 2, "temperature": 1300}]}
        assert c.post(f"/calibrations/{cal}/predict", json=query, headers=ok).status_code == 200


def test_bad_server_settings_are_refused(priors):
    from sciml.serve import CalibrationStore, Limits, create_app

    with pytest.raises(ValueError, match="max_rows"):
        Limits(max_rows=0)
    with pytest.raises(ValueError, match="token is empty"):
        create_app({"t": priors["tungsten"]}, token="")
    with pytest.raises(ValueError, match="appears in URLs"):
        create_app({"../t": priors["tungsten"]})
    with pytest.raises(ValueError, match="max_size"):
        CalibrationStore(max_size=0)


def test_responses_are_plain_json(client, ids):
    """No NaN or Infinity leaks into replies (strict JSON parsers reject them)."""
    reply = client.post(f"/calibrations/{ids['law']}/predict", json={"units": UNITS, "rows": [{"time": 0, "temperature": 1300}]})
    json.loads(reply.text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
