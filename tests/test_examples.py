"""The example scripts run as documented (reduced arguments), so a change to the library they call
cannot break them silently."""

from __future__ import annotations

import runpy
import sys

import pytest

from sciml.data import reference_file
from tests.conftest import REPO


def _run(script: str, args: list[str], capsys) -> str:
    argv = sys.argv
    sys.argv = [script, *args]
    try:
        runpy.run_path(str(REPO / "examples" / script), run_name="__main__")
    finally:
        sys.argv = argv
    return capsys.readouterr().out


def _needs(path: str) -> None:
    if reference_file(path) is None:
        pytest.skip(f"needs the reference data: set SCIML_DATA_DIR to the folder holding {path}")


def test_norton_two_sources(capsys) -> None:
    _needs("kinetics/other_laws/creep_tungsten_ml-ME-gatech/chen/W4Re026HfC.csv")
    out = _run("norton_two_sources.py", ["--draws", "2"], capsys)
    assert "W_sheet_McCoy (21 tests), W_sheet_Flagella (95 tests)" in out and "log10_rate_error" in out


def test_period_recovery(capsys) -> None:
    _needs("astro/asas/asas_training_set.tar.gz")
    out = _run("period_recovery.py", ["--every", "30"], capsys)
    assert "27 ASAS cadences" in out and "right" in out


def test_forman_literature_prior_saves_a_prior(capsys, tmp_path) -> None:
    _needs("kinetics/other_laws/fatigue_easigrow/forman_params_schwarmann86_from_easigrow.csv")
    from sciml.prior import load_prior

    out = _run("forman_literature_prior.py", ["--save", str(tmp_path / "forman")], capsys)
    assert "prior of all 22 alloys saved" in out
    assert load_prior(tmp_path / "forman").domain.schema.target.name == "da/dN"
