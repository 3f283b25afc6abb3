"""The update-rules study runs every inner loop end to end and reports the error after each step."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sciml.cli import main
from tests.conftest import study_args


@pytest.mark.slow
def test_update_rules_reports_the_error_after_every_inner_step(tmp_path: Path) -> None:
    tiny = ["data.n_alloys=8", "train.iterations=4", "train.eval_every=2", "evaluate.seeds=[0]", "evaluate.shots=[3]"]
    assert main(study_args("update-rules", tmp_path, tiny)) == 0
    (run_dir,) = list(tmp_path.iterdir())
    by_step = pd.read_csv(run_dir / "tables" / "error_by_inner_step.csv")
    gradient_learners = {"MAML (plain steps)", "MetaSGD (learned step sizes)", "LearnedOptimizer", "MAML (Gauss-Newton)",
                         "LearnedOptimizer (Gauss-Newton)", "pooled-init"}
    assert set(by_step.learner) == gradient_learners
    assert sorted(by_step.steps.unique()) == list(range(21))  # twice pooled-init's 10 Gauss-Newton steps
    t50 = by_step[by_step.metric == "t50_rel_error"]
    # every learner calibrates the same held-out isotherms from the same 3 points at every step count
    assert t50.groupby(["learner", "steps"]).task.nunique().nunique() == 1
    report = (run_dir / "report.md").read_text()
    assert "## Error after each inner step" in report
    assert (run_dir / "figures" / "error_by_inner_step.png").exists()
