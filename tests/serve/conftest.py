"""Fixtures of the service tests: small priors of every domain behind one application."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the service needs the serve extra: pip install -e '.[serve]'")


@pytest.fixture(scope="package")
def priors():
    from tests.prior.builders import crystal_prior, law_prior, light_curve_prior, molecule_prior

    return {"tungsten": law_prior(), "molecules": molecule_prior(), "crystals": crystal_prior(), "curves": light_curve_prior()}


@pytest.fixture(scope="package")
def client(priors):
    from fastapi.testclient import TestClient

    from sciml.serve import Limits, create_app

    limits = Limits(max_body_bytes=200_000, max_rows=50, max_smiles_length=100, max_cif_bytes=5_000, max_curve_points=500)
    with TestClient(create_app(priors, limits=limits)) as c:
        yield c


UNITS = {"time": "h", "temperature": "C"}
ROWS = [{"time": 1, "temperature": 1300, "X": 0.05}, {"time": 4, "temperature": 1300, "X": 0.42},
        {"time": 8, "temperature": 1300, "X": 0.78}]
"""Three measurements of a tungsten alloy at 1300 C, times in hours."""
