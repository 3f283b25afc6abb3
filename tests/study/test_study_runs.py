"""Studies run end to end from the CLI and write a complete run folder."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sciml.cli import main
from sciml.evaluation import RESULT_COLUMNS
from sciml.prior import load_prior
from sciml.study import apply_overrides, config_hash, resolve_config
from tests.conftest import REPO, study_args

TINY = {
    "jmak-synthetic-alloys": [
        "data.n_alloys=24", "train.iterations=6", "train.eval_every=3", "evaluate.seeds=[0]", "evaluate.shots=[2, 3]",
        "learners.CNP-5000.iterations=6",
    ],
    "sinusoid": ["train.iterations=5", "train.shots=[5]", "data.test_tasks=6", "evaluate.steps=[1]"],
}


def _run(study: str, tmp_path: Path) -> Path:
    toml = REPO / "studies" / study / "study.toml"
    before = hashlib.sha256(toml.read_bytes()).hexdigest()
    assert main(study_args(study, tmp_path, TINY[study])) == 0
    assert hashlib.sha256(toml.read_bytes()).hexdigest() == before, "study.toml must never be rewritten"
    (run_dir,) = list(tmp_path.iterdir())
    return run_dir


@pytest.mark.parametrize("study", sorted(TINY))
def test_study_writes_a_complete_run_folder(study: str, tmp_path: Path) -> None:
    run_dir = _run(study, tmp_path)
    stamp, _, digest = run_dir.name.partition("_")
    assert stamp.endswith("Z") and len(digest) == 10
    for name in ("config.resolved.json", "environment.json", "data_manifest.json", "metrics.csv", "results.csv", "report.md"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "figures").glob("*.png"))
    results = pd.read_csv(run_dir / "results.csv")
    assert list(results.columns) == RESULT_COLUMNS
    assert results.value.notna().all() and len(results)
    env = json.loads((run_dir / "environment.json").read_text())
    assert {"python", "torch", "torch_geometric", "rdkit", "pymatgen", "sciml", "git_revision"} <= set(env)
    cfg = json.loads((run_dir / "config.resolved.json").read_text())
    assert config_hash(cfg) == digest
    manifest = json.loads((run_dir / "data_manifest.json").read_text())
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    report = (run_dir / "report.md").read_text()
    assert "| learner |" in report
    reproduce = report.split("## Reproduce")[1]
    assert all(f"--set {o}" in reproduce or f"--set '{o}'" in reproduce for o in TINY[study])
    assert json.loads((run_dir / "status.json").read_text())["status"] == "done"


def test_jmak_study_compares_every_method_on_the_same_points(tmp_path: Path) -> None:
    run_dir = _run("jmak-synthetic-alloys", tmp_path)
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.learner) == {"MAML", "MetaSGD", "Reptile", "MAML-SGD", "pooled-init", "curve_fit", "SuperLearner", "CNP", "CNP-5000"}
    kinetics = {"t50_rel_error", "n_rel_error", "diverged", "rmse_X"}
    assert set(results.metric) == kinetics | {"nll", "coverage90"}
    assert set(results[results.metric == "coverage90"].learner) == {"CNP", "CNP-5000"}  # the learners with a predictive distribution
    for label in ("MAML", "MetaSGD", "Reptile", "MAML-SGD"):  # every meta-learned law is saved as a prior
        prior = load_prior(run_dir / "priors" / label)
        assert prior.noise["sd"] == 0.03 and any(k.endswith("t50_rel_error/k=3") for k in prior.metrics)
    counts = results.groupby(["learner", "shots"]).task.nunique()
    assert counts.nunique() == 1  # every method calibrated every held-out isotherm at every k
    stack = (run_dir / "report.md").read_text().split("## SuperLearner: weights and cross-validated risks")[1].split("\n## ")[0]
    rows = [line for line in stack.splitlines() if line.startswith(("| 2 |", "| 3 |"))]
    assert len(rows) == 2 * 5  # k = 2, 3: four base learners and the stack


def test_module_entry_point_lists_studies() -> None:
    out = subprocess.run([sys.executable, "-m", "sciml", "list", str(REPO / "studies")], capture_output=True, text=True, check=True)
    assert "jmak-synthetic-alloys" in out.stdout and "sinusoid" in out.stdout


def test_bad_study_input_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path)]) == 2
    assert "no study.toml" in capsys.readouterr().err
    (tmp_path / "study.toml").write_text('[study]\nkind = "unknown"\n')
    assert main(["run", str(tmp_path)]) == 2
    assert "Unknown study kind" in capsys.readouterr().err
    (tmp_path / "study.toml").write_text("[study\n")
    assert main(["run", str(tmp_path)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_overrides_and_resolution() -> None:
    cfg = resolve_config(REPO / "studies" / "jmak-synthetic-alloys", ["train.iterations=7", "data.family=\"CMn_steel_static_recrystallization\""])
    assert cfg["train"]["iterations"] == 7 and cfg["data"]["family"].startswith("CMn")
    assert "curve_fit" in cfg["learners"]  # defaults merged under the file
    with pytest.raises(ValueError, match="section.key=value"):
        apply_overrides(cfg, ["novalue"])
