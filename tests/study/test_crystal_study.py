"""The dielectric-families study end to end (reduced: a subset of structures, few iterations)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sciml.data import reference_file
from tests.conftest import run_study

pytest.importorskip("pymatgen", reason="needs pymatgen: pip install 'sciml[materials]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[graph]'")


def test_dielectric_families_smoke(tmp_path: Path) -> None:
    if reference_file("crystals/matbench_dielectric.json.gz") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding crystals/matbench_dielectric.json.gz")
    overrides = ["data.max_structures=700", "training.iterations=2", "training.eval_every=1", "protocol.seeds=1",
                 "protocol.shots=[5, 10]", "groupings.anion.n_test=2", "groupings.anion.splits=[0]", "groupings.crystal_system.splits=[]",
                 "learners.Scratch.inner_steps=2", "learners.FineTune.inner_steps=2", "model.atom_dim=16", "model.hidden=16"]
    run_dir = run_study("dielectric-families", tmp_path, overrides)
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.metric) == {"mae_log10n", "mae_n", "coverage90"}
    assert set(results[results.metric == "coverage90"].learner) == {"MAML"}  # the saved prior's band
    assert results[results.metric == "coverage90"].value.between(0, 1).all()
    assert set(results.learner) == {"support mean", "ridge (composition)", "Scratch", "FineTune", "MAML", "ANIL"}
    report = (run_dir / "report.md").read_text()
    line = next(ln for ln in report.splitlines() if ln.startswith("- anion split 0: train"))
    train = set(line.split("train ")[1].split("; validation")[0].split(", "))
    val = set(line.split("(early stopping) ")[1].split("; test")[0].split(", "))
    test = set(line.split("; test ")[1].split(", "))
    assert test and not (train | val) & test and not train & val  # no family on both sides of the split
    assert set(results.task) == test
    assert (run_dir / "figures" / "mae_vs_k.png").is_file()
    from pymatgen.core import Lattice, Structure

    from sciml.prior import load_prior

    prior = load_prior(run_dir / "priors" / "dielectric-maml")
    assert set(prior.noise["halfwidth"]) == {"5", "10"} and "Prior saved" in report
    cells = [Structure(Lattice.cubic(a), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]) for a in (4.0, 4.2, 4.4, 4.6, 4.8)]
    cal = prior.calibrate(cells, [1.70, 1.72, 1.74, 1.76, 1.78])
    out = cal.predict([cells[0].to(fmt="cif")])
    assert out.lower.iloc[0] < out["mean"].iloc[0] < out.upper.iloc[0]


def test_the_family_protocol_runs_on_a_users_structure_table(tmp_path: Path) -> None:
    from pymatgen.core import Lattice, Structure

    rows = []
    for cation in ("Li", "Na", "K", "Rb", "Cs", "Ag"):
        for anion in ("F", "Cl", "Br", "I"):
            for a in (4.0, 5.0):
                name = f"{cation}{anion}_{a:.0f}.cif"
                Structure(Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(tmp_path / name))
                rows.append({"structure": name, "target": 1.3 + 0.1 * ("FClBrI".index(anion[0]) + 1) + 0.01 * a})
    pd.DataFrame(rows).to_csv(tmp_path / "my_crystals.csv", index=False)
    overrides = [f'data.task="{tmp_path / "my_crystals.csv"}"', "data.min_members=12", "groupings.anion.n_test=1", "groupings.anion.splits=[0]",
                 "groupings.crystal_system.splits=[]", "protocol.shots=[2]", "protocol.seeds=1", "protocol.min_query=3",
                 "training.val_families=1", "training.iterations=1", "training.train_shots=[2]", "training.query_size=2",
                 *(f'learners."{label}".enabled=false' for label in ("ridge (composition)", "Scratch", "FineTune", "ANIL")), "model.atom_dim=8", "model.hidden=8"]
    run_dir = run_study("dielectric-families", tmp_path / "runs", overrides)
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.learner) == {"support mean", "MAML"} and results.task.nunique() == 1
    assert set(results.task) <= {"F", "Cl", "Br", "I"} and set(results.metric) == {"mae_log10n", "mae_n", "coverage90"}
    manifest = (run_dir / "data_manifest.json").read_text()
    assert "my_crystals.csv" in manifest and "structure table" in manifest
