"""The tungsten study and the calibration example run end to end on the reference data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sciml.cli import main
from sciml.data import reference_file
from sciml.evaluation import RESULT_COLUMNS
from sciml.prior import load_prior
from tests.conftest import REPO, study_args

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _needs_data() -> None:
    if reference_file("kinetics/tungsten_recrystallization/yu_data/data.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding kinetics/tungsten_recrystallization/")


def test_tungsten_study_reports_every_method_and_metric(tmp_path: Path) -> None:
    overrides = ["train.iterations=10", "evaluate.seeds=[0]", "evaluate.shots=[2, 3]", "suggest.added=1", "suggest.seeds=[0]",
                 "isotherm.seeds=[0]", "isotherm.shots=[2]", "known_material.seeds=[0]", "known_material.shots=[1]"]
    assert main(study_args("jmak-tungsten", tmp_path, overrides)) == 0
    (run_dir,) = list(tmp_path.iterdir())
    results = pd.read_csv(run_dir / "results.csv")
    assert list(results.columns) == RESULT_COLUMNS
    main_rows = results[results.dataset.isin(["tungsten:random", "tungsten:early"])]
    for (learner, shots), grp in main_rows.groupby(["learner", "shots"]):
        assert set(grp.metric) == {"t50_rel_error", "n_rel_error", "rmse_X", "diverged", "coverage90"}, (learner, shots)
    assert set(main_rows.learner) == {"MAML", "MAML (synthetic pre-training)", "MetaSGD", "Reptile", "pooled-prior MAP", "curve_fit",
                                      "Avrami plot",
                                      "pooled-prior MAP (generalized logistic)", "curve_fit (generalized logistic)"}
    assert set(results.dataset) == {
        "tungsten:random", "tungsten:early", "tungsten:sequential", "tungsten-isotherm:random", "tungsten-isotherm:early",
        "tungsten-known-material:random",
    }
    known = results[results.dataset == "tungsten-known-material:random"]
    assert set(known.learner) == {"material-conditioned prior", "family prior (stranger)", "curve_fit (isotherm only)"}
    assert set(known.shots) == {0, 1} and known.group.nunique() == 7  # the 7 materials measured at two or more temperatures
    iso = results[results.dataset.str.startswith("tungsten-isotherm")]
    assert iso.task.nunique() == 33 and set(iso.group) == set(main_rows.task)  # 33 isotherms of 11 materials
    # leave-one-material-out: every material is evaluated, each by priors that never saw it; the four papers that do
    # not document their time unit come in with their inferred units
    assert set(main_rows.task) == {"W_Lopez2015_HR", "W_Lopez2015_MR", "W_Richou2020_A", "W_Richou2020_B", "W_Yu2017", "W_Zan2019",
                                   "W_Ciucani2019_TP2", "W_Minissale2020", "W_Wang2017_w50", "W_Wang2017_w67", "W_Wang2017_w90"}
    assert set(main_rows[main_rows.task == "W_Wang2017_w50"].shots) == {2, 3}  # 6 points: judged, never trained on
    report = (run_dir / "report.md").read_text()
    assert "At k = 3" in report and "calibrated" in report and "Isotherm level" in report and "known material" in report
    assert "Time units" in report and "recovered 5 of 5" in report and "W_Wang2017_w50: 6 points" in report
    recovery = pd.read_csv(run_dir / "tables" / "time_unit_recovery.csv")
    assert list(recovery.true_unit) == ["h", "h", "s", "s", "h"]
    prior = load_prior(run_dir / "priors" / "tungsten-jmak-arrhenius")
    assert prior.noise["sd"] > 0 and prior.provenance["study"] == "jmak-tungsten"
    manifest = json.loads((run_dir / "data_manifest.json").read_text())["inputs"]
    assert {d["sha256"] for d in prior.training_data} == {i["sha256"] for i in manifest}
    assert any(k.startswith("tungsten:random/t50_rel_error/k=3") for k in prior.metrics)
    cal = prior.calibrate(pd.DataFrame({"time [h]": [1.0, 4.0, 8.0], "temperature [C]": [1250.0] * 3, "X": [0.05, 0.42, 0.78]}))
    assert set(cal.params().parameter) >= {"k_ref", "Q", "n"}
    for fig in ("error_vs_k", "coverage_vs_k", "calibrated_k3", "suggest_next"):
        assert (run_dir / "figures" / f"{fig}.png").is_file()


def test_calibration_example_runs(tmp_path: Path) -> None:
    plot = tmp_path / "alloy.png"
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "calibrate_new_alloy.py"), "--plot", str(plot)],
        capture_output=True, text=True, check=True, timeout=600,
    )
    assert "Next measurement" in out.stdout and "t50 at 1250 C" in out.stdout
    assert plot.is_file()


def test_a_users_own_table_in_hours_and_celsius_gives_the_same_results(tmp_path: Path) -> None:
    import warnings

    from sciml.data import load_recrystallization

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        df = load_recrystallization()
    mine = pd.DataFrame({"material": df.dataset, "time [h]": df.time_s / 3600, "temperature [C]": df.temperature_K - 273.15, "X": df.X})
    mine.to_csv(tmp_path / "my_materials.csv", index=False)
    quick = ["train.iterations=3", "evaluate.seeds=[0]", "evaluate.shots=[3]", "evaluate.designs=[\"random\"]", "suggest.added=1",
             "suggest.seeds=[0]", "isotherm.enabled=false", "known_material.enabled=false", "learners.MetaSGD.enabled=false",
             "learners.Reptile.enabled=false"]
    # the documented sources only, as in the user's table
    assert main(study_args("jmak-tungsten", tmp_path / "reference", [*quick, 'data.undocumented_time_unit=""'])) == 0
    assert main(study_args("jmak-tungsten", tmp_path / "mine", [*quick, f'data.table="{tmp_path / "my_materials.csv"}"'])) == 0
    ref, own = (pd.read_csv(next((tmp_path / d).iterdir()) / "results.csv") for d in ("reference", "mine"))
    key = ["dataset", "learner", "task", "shots", "seed", "metric"]
    merged = ref.merge(own, on=key, suffixes=("_ref", "_own"))
    assert len(merged) == len(ref) == len(own)
    cf = merged[merged.learner == "curve_fit"]
    assert np.allclose(cf.value_ref, cf.value_own, rtol=1e-6, equal_nan=True)
