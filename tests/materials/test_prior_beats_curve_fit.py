"""On held-out synthetic alloys at 3 points, the meta-learned prior beats curve_fit."""

from __future__ import annotations

import pandas as pd
import torch

from sciml.evaluation import few_shot_results
from sciml.materials.kinetics import kinetics_metrics
from sciml.materials.synthetic_alloys import SyntheticAlloyFamily, time_only
from sciml.meta import MAML, CurveFit
from sciml.models import JMAK


def test_meta_learned_prior_beats_curve_fit_at_three_points() -> None:
    family = SyntheticAlloyFamily()
    tasks = family.tasks(120, seed=0)
    train_all, test = tasks.split(test_fraction=0.3, seed=0)
    train, val = train_all.split(test_fraction=0.2, seed=1)
    assert not set(train.groups) & set(test.groups)
    torch.manual_seed(0)
    maml = MAML(
        family.nominal_law(), first_order=True, outer_lr=0.01, meta_batch_size=32, inner_optimizer="gauss_newton",
        inner_lr=1.0, inner_steps=10, inner_damping=0.01, inner_prior_precision=0.003,
    ).fit(train, val, iterations=150, shots=[2, 3, 5, 8], eval_every=50, progress=False)
    common = {"shots": [3], "seeds": [0, 1, 2], "metrics": kinetics_metrics()}
    ours = few_shot_results(maml, test, steps=[10], **common)
    scratch = few_shot_results(CurveFit(JMAK().double()), time_only(test), steps=[0], **common)

    def stat(df: pd.DataFrame, metric: str, how: str) -> float:
        return float(getattr(df[df.metric == metric].value, how)())

    t50_ours, t50_cf = stat(ours, "t50_rel_error", "median"), stat(scratch, "t50_rel_error", "median")
    div_ours, div_cf = stat(ours, "diverged", "mean"), stat(scratch, "diverged", "mean")
    print(f"median t50 error: prior {t50_ours:.3f} vs curve_fit {t50_cf:.3f}; diverged {div_ours:.3f} vs {div_cf:.3f}")
    assert t50_ours < 0.95 * t50_cf
    assert div_ours <= div_cf - 0.02
