"""The creep-rupture study end to end (reduced: one draw, a few meta-iterations)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sciml.data import reference_file
from tests.conftest import run_study


def test_creep_rupture_smoke(tmp_path: Path) -> None:
    if reference_file("kinetics/other_laws/creep_tungsten_ml-ME-gatech/chen/W4Re026HfC.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding kinetics/other_laws/creep_tungsten_ml-ME-gatech/")
    run_dir = run_study("creep-rupture", tmp_path, ["train.iterations=3", "evaluate.seeds=[0]", "evaluate.shots=[2, 5]"])
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.metric) == {"log10_life_error", "diverged", "coverage90"}
    assert "pooled fit" not in set(results[results.metric == "coverage90"].learner)  # a curve that ignores the tests has no band
    counts = results[results.metric == "log10_life_error"].groupby(["learner", "shots"]).task.nunique()
    assert set(counts.xs(2, level="shots")) == {15} and set(counts.xs(5, level="shots")) == {14}  # Chen's 4 tests: k = 2 only
    report = (run_dir / "report.md").read_text()
    assert "row shifted one column right" in report and "W4Re_HfC_Chen (k = 5)" in report
    manifest = (run_dir / "data_manifest.json").read_text()
    assert manifest.count("sha256") >= 15
    from sciml.prior import load_prior

    prior = load_prior(run_dir / "priors" / "tungsten-creep-pooled-prior-map")
    assert prior.domain.schema.target.label == "log10 rupture time [h]"
    assert "tungsten-creep/log10_life_error/k=2" in prior.metrics
    table = pd.DataFrame({"temperature [C]": [1650, 1650, 1925], "stress [ksi]": [10, 5, 3], "rupture time [h]": [2.1, 40.0, 18.0]})
    assert prior.calibrate(table).predict(table)["rupture time [h]"].gt(0).all()
