"""The experiment-design study trains a design policy and compares it on synthetic alloys and tungsten."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sciml.cli import main
from sciml.data import reference_file
from sciml.evaluation import RESULT_COLUMNS
from tests.conftest import study_args


@pytest.mark.slow
def test_experiment_design_study_compares_every_strategy(tmp_path: Path) -> None:
    with_tungsten = reference_file("kinetics/tungsten_recrystallization/yu_data/data.csv") is not None
    tiny = ["data.train_alloys=6", "data.val_alloys=3", "data.test_alloys=3", "train.iterations=10", "policy.iterations=2",
            "policy.eval_every=1", "policy.tasks_per_iteration=2", "policy.rollouts=2", "design.added=2", "design.random_seeds=[0]",
            f"tungsten.enabled={'true' if with_tungsten else 'false'}"]
    assert main(study_args("experiment-design", tmp_path, tiny)) == 0
    (run_dir,) = list(tmp_path.iterdir())
    results = pd.read_csv(run_dir / "results.csv")
    assert list(results.columns) == RESULT_COLUMNS
    synthetic = results[results.dataset == "synthetic:sequential"]
    assert set(synthetic.learner) == {"MAML/suggest_next", "MAML/random", "MAML/equally spaced", "MAML/learned"}
    assert set(synthetic.metric) == {"t50_rel_error", "t50_log_error"}
    assert sorted(synthetic.shots.unique()) == [3, 4, 5]
    assert synthetic.groupby("learner").task.nunique().eq(3).all()
    if with_tungsten:
        tungsten = results[results.dataset == "tungsten:sequential"]
        assert set(tungsten.learner) == set(synthetic.learner)
        assert tungsten.task.nunique() >= 10
    report = (run_dir / "report.md").read_text()
    assert "## The policy" in report and "suggest_next" in report
    for fig in ("design_synthetic", "policy_training"):
        assert (run_dir / "figures" / f"{fig}.png").exists()
    assert len(pd.read_csv(run_dir / "tables" / "policy_weights.csv")) == 8
