"""``sciml calibrate``: parameters, predictions, suggestions and a plot from CSV files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sciml.cli import main
from tests.prior import builders


@pytest.fixture(scope="module")
def law_dir(tmp_path_factory):
    return builders.law_prior().save(tmp_path_factory.mktemp("p") / "tungsten")


def test_law_files(law_dir, tmp_path, capsys) -> None:
    pd.DataFrame({"time [h]": [5.6, 16.7, 55.6], "temperature [C]": [1250] * 3, "X": [0.08, 0.41, 0.93]}).to_csv(tmp_path / "me.csv", index=False)
    pd.DataFrame({"time [h]": [1.0, 100.0], "temperature [C]": [1200, 1300]}).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "out"
    assert main(["calibrate", str(law_dir), str(tmp_path / "me.csv"), "--predict", str(tmp_path / "new.csv"), "--suggest", "2",
                 "--out", str(out)]) == 0
    params = pd.read_csv(out / "parameters.csv")
    assert set(params.parameter) >= {"k_ref", "Q", "n"} and set(params.unit) >= {"1/s", "kJ/mol"}
    pred = pd.read_csv(out / "predictions.csv")
    assert pred["temperature [K]"].tolist() == pytest.approx([1473.15, 1573.15])
    assert len(pd.read_csv(out / "suggestions.csv")) == 2
    assert (out / "calibration.png").stat().st_size > 1000
    assert json.loads((out / "calibration.json").read_text())["n_support"] == 3
    # the same folder again is refused; an unlabelled time column names the column and the unit
    assert main(["calibrate", str(law_dir), str(tmp_path / "me.csv"), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    pd.DataFrame({"time": [5.6], "temperature [C]": [1250], "X": [0.1]}).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["calibrate", str(law_dir), str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "'time' has no unit" in err and "time [s]" in err
    assert main(["calibrate", str(law_dir), str(tmp_path / "bad.csv"), "--units", "time=h", "--out", str(tmp_path / "o3")]) == 0


def test_molecule_files(tmp_path) -> None:
    pytest.importorskip("rdkit")
    prior_dir = builders.molecule_prior().save(tmp_path / "mol")
    pd.DataFrame({"smiles": ["CCO", "c1ccccc1O", "CCN", "CCCl"], "label": [0, 1, 0, 1]}).to_csv(tmp_path / "assay.csv", index=False)
    pd.DataFrame({"smiles": ["CCOC", "OCCO"]}).to_csv(tmp_path / "new.csv", index=False)
    assert main(["calibrate", str(prior_dir), str(tmp_path / "assay.csv"), "--predict", str(tmp_path / "new.csv"),
                 "--out", str(tmp_path / "out")]) == 0
    pred = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert pred.smiles.tolist() == ["CCOC", "OCCO"] and pred.probability.between(0, 1).all()
    assert main(["calibrate", str(prior_dir), str(tmp_path / "assay.csv"), "--suggest", "1", "--out", str(tmp_path / "o2")]) == 2


def test_crystal_and_light_curve_files(tmp_path) -> None:
    pytest.importorskip("pymatgen")
    pytest.importorskip("astropy")
    crystals = builders.crystal_prior().save(tmp_path / "crystals")
    for i, a in enumerate((4.0, 4.4, 4.8, 5.2)):
        (tmp_path / f"c{i}.cif").write_text(builders.structure(a).to(fmt="cif"))
    pd.DataFrame({"structure": [f"c{i}.cif" for i in range(3)], "target": [1.5, 1.6, 1.7]}).to_csv(tmp_path / "family.csv", index=False)
    pd.DataFrame({"structure": ["c3.cif"]}).to_csv(tmp_path / "new.csv", index=False)
    assert main(["calibrate", str(crystals), str(tmp_path / "family.csv"), "--predict", str(tmp_path / "new.csv"),
                 "--out", str(tmp_path / "out_c")]) == 0
    pred = pd.read_csv(tmp_path / "out_c" / "predictions.csv")
    assert list(pred.columns) == ["mean", "lower", "upper"] and len(pred) == 1
    curves = builders.light_curve_prior().save(tmp_path / "curves")
    for i, p in enumerate((0.5, 0.5, 30.0, 30.0, 0.5)):
        t, mag, err = builders.light_curve(p, seed=i)
        pd.DataFrame({"t": t, "mag": mag, "err": err}).to_csv(tmp_path / f"lc{i}.csv", index=False)
    pd.DataFrame({"curve": [f"lc{i}.csv" for i in range(4)], "label": ["fast", "fast", "slow", "slow"]}).to_csv(tmp_path / "stars.csv", index=False)
    pd.DataFrame({"curve": ["lc4.csv"]}).to_csv(tmp_path / "new_stars.csv", index=False)
    assert main(["calibrate", str(curves), str(tmp_path / "stars.csv"), "--predict", str(tmp_path / "new_stars.csv"),
                 "--out", str(tmp_path / "out_s")]) == 0
    assert pd.read_csv(tmp_path / "out_s" / "predictions.csv").predicted.tolist() == ["fast"]


def test_creep_files_in_imperial_units(tmp_path, capsys) -> None:
    prior_dir = builders.creep_prior().save(tmp_path / "creep")
    pd.DataFrame({"temperature [F]": [3000, 3000, 3500], "stress [ksi]": [10, 5, 3], "rupture time [h]": [2.1, 40.0, 18.0]}).to_csv(
        tmp_path / "tests.csv", index=False)
    pd.DataFrame({"temperature [F]": [3200], "stress": [4]}).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "out"
    assert main(["calibrate", str(prior_dir), str(tmp_path / "tests.csv"), "--predict", str(tmp_path / "new.csv"), "--units",
                 "stress=ksi", "--suggest", "1", "--out", str(out)]) == 0
    params = pd.read_csv(out / "parameters.csv").set_index("parameter")
    assert params.loc["slope"].lower < params.loc["slope"].value < params.loc["slope"].upper < 0  # a negative slope has an interval
    pred = pd.read_csv(out / "predictions.csv")
    assert pred["stress [MPa]"].iloc[0] == pytest.approx(4 * 6.894757293168361)
    assert pred["rupture time [h]"].iloc[0] == pytest.approx(10 ** pred["mean"].iloc[0])
    assert len(pd.read_csv(out / "suggestions.csv")) == 1 and (out / "calibration.png").is_file()
