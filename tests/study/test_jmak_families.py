"""The mixed-family kinetics study runs its mixtures of experts end to end and reports the gates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sciml.cli import main
from tests.conftest import study_args

pytest.importorskip("sklearn", reason="the mixtures' gates need scikit-learn: pip install 'sciml[stacking]'")


@pytest.mark.slow
def test_jmak_families_reports_every_mixture_and_its_gate(tmp_path: Path) -> None:
    tiny = ["data.n_alloys=8", "train.iterations=4", "train.eval_every=2", "evaluate.seeds=[0]", "evaluate.shots=[3]"]
    assert main(study_args("jmak-families", tmp_path, tiny)) == 0
    (run_dir,) = list(tmp_path.iterdir())
    results = pd.read_csv(run_dir / "results.csv")
    mixtures = [label for label in results.learner.unique() if label.startswith("MAML experts")]
    assert len(mixtures) == 3 and results.dataset.str.contains("CuZr_BMG").all()
    report = (run_dir / "report.md").read_text()
    for label in mixtures:
        assert f"## {label}: the gate's weights per held-out family" in report
        slug = label.lower().replace(" (", "-").replace(", ", "-").replace(" ", "-").rstrip(")")
        weights = pd.read_csv(run_dir / "tables" / f"gate_weights_{slug}.csv")
        experts = ["W_recrystallization", "CMn_steel_static_recrystallization", "CuZr_BMG_isothermal_crystallization"]
        assert set(experts) <= set(weights.columns)
        assert (weights[experts].sum(axis=1).sub(1).abs() < 1e-9).all()  # weights of each isotherm sum to one
