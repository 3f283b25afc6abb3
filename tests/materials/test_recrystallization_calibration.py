"""Calibration of JMAK laws on recrystallization-like tasks: designs, baselines, posteriors."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from sciml.materials.avrami import AvramiPlot
from sciml.materials.recrystallization import early_design, fit_reference, isotherm_tasks, material_tasks, random_design
from sciml.meta import MAML, PriorMAP
from sciml.meta.posterior import laplace_posterior
from sciml.models.laws import JMAK, JMAKArrhenius
from sciml.tasks import TensorData


def _table(n_materials: int = 4, seed: int = 0) -> pd.DataFrame:
    """A small tidy table shaped like load_recrystallization()'s output."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for m in range(n_materials):
        n = 1.0 + 0.3 * m
        t50_ref = 3600.0 * (1 + m)
        for T in (1473.15, 1523.15, 1573.15):
            t50 = t50_ref * math.exp(400e3 / 8.314 * (1 / T - 1 / 1523.15))
            for t in torch.logspace(math.log10(t50) - 1, math.log10(t50) + 1, 7).tolist():
                x = 1 - math.exp(-math.log(2) * (t / t50) ** n) + 0.01 * float(torch.randn((), generator=g))
                rows.append({"dataset": f"M{m}", "material": f"mat {m}", "source_paper": "test", "temperature_K": T,
                             "time_s": t, "X": min(max(x, 0.0), 1.0), "X_std": float("nan")})
    return pd.DataFrame(rows)


def test_two_task_levels_and_no_material_leak() -> None:
    df = _table()
    iso, mat = isotherm_tasks(df), material_tasks(df)
    assert len(iso) == 12 and len(mat) == 4
    assert iso[0].data.x.ndim == 1 and mat[0].data.x.shape[1] == 2
    for level in (iso, mat):
        for group, train, test in level.leave_one_group_out():
            assert group not in train.groups
            assert {t.group for t in test} == {group}


def test_designs() -> None:
    task = material_tasks(_table())[0]
    early = early_design(task, 3)
    assert float(early.support.x[:, 0].max()) <= float(early.query.x[:, 0].min())
    assert len(early.support) + len(early.query) == len(task)
    rnd = random_design(task, 3, torch.Generator().manual_seed(1))
    assert len(rnd.support) == 3 and len(rnd.query) == len(task) - 3


def test_avrami_plot_recovers_exact_kinetics_and_fails_loudly() -> None:
    t = torch.logspace(1, 4, 8, dtype=torch.float64)
    y = 1 - torch.exp(-((1e-3 * t) ** 1.7))
    ad = AvramiPlot(JMAK().double()).adapt(TensorData(t, y))
    assert float(ad.physical_params()["n"].value) == pytest.approx(1.7, rel=1e-6)
    assert float(ad.physical_params()["k"].value) == pytest.approx(1e-3, rel=1e-6)
    bad = AvramiPlot(JMAK().double()).adapt(TensorData(t[:2], torch.tensor([0.0, 1.0], dtype=torch.float64)))
    assert not bad.extras["converged"] and "two points" in bad.extras["message"]
    assert math.isnan(float(bad.physical_params()["n"].value))


def test_pooled_prior_map_estimates_prior_from_training_fits() -> None:
    tasks = material_tasks(_table(5))
    law = JMAKArrhenius(T_ref=1523.15, k_ref=1e-4, Q=300.0, n=1.5).double()
    prior = PriorMAP(law).fit(list(tasks)[:4])
    assert prior.noise_sd_ < 0.05
    ns = [math.exp(f["log_n"]) for f in prior.fits_]
    assert ns == pytest.approx([1.0, 1.3, 1.6, 1.9], abs=0.1)
    assert float(prior.model.log_n.detach()) == pytest.approx(sum(math.log(n) for n in ns) / 4, abs=1e-6)
    # a single point moves the MAP estimate only a little: the prior keeps it sane
    one = early_design(tasks[4], 1)
    ad = prior.adapt(one.support)
    assert 0.5 < float(ad.physical_params()["n"].value) < 3.0


def test_intervals_shrink_as_points_are_added() -> None:
    task = material_tasks(_table())[1]
    law = JMAKArrhenius(T_ref=1523.15, k_ref=1e-4, Q=400.0, n=1.3).double()
    learner = MAML(law, inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=15, inner_prior_precision=0.01)
    widths = []
    for k in (3, 8, 15):
        split = task.resample(k, torch.Generator().manual_seed(0))
        ad = learner.adapt(split.support)
        post = learner.posterior(ad, split.support, noise_sd=0.02)
        value, lo, hi = post.interval(lambda p: law.t50(1523.15, p))
        assert lo < value < hi
        widths.append(math.log(hi / lo))
    assert widths[0] > widths[1] > widths[2]


def test_suggest_next_picks_the_informative_time() -> None:
    law = JMAK(k=1e-3, n=2.0).double()
    t = torch.tensor([100.0, 150.0], dtype=torch.float64)  # both early: X ~ 0.01-0.02
    y = 1 - torch.exp(-((1e-3 * t) ** 2.0))
    post = laplace_posterior(law, dict(law.named_parameters()), TensorData(t, y), noise_sd=0.02, prior_precision=1.0)
    candidates = torch.tensor([10.0, 50.0, 830.0, 20000.0, 1e6], dtype=torch.float64)  # t50 = 833 s
    ranking = post.suggest_next(candidates, lambda p: law.physical_params(p)["t50"].value)
    assert int(ranking.iloc[0]["index"]) == 2
    assert (ranking.reduction >= -1e-12).all()
    assert ranking.reduction.iloc[0] > 10 * ranking.reduction.iloc[-1]


def test_posterior_never_changes_the_model() -> None:
    law = JMAK(k=1e-3, n=2.0)
    t = torch.tensor([300.0, 900.0, 3000.0])
    y = 1 - torch.exp(-((1e-3 * t) ** 2.0))
    before = {k: v.detach().clone() for k, v in law.state_dict().items()}
    laplace_posterior(law, dict(law.named_parameters()), TensorData(t, y), noise_sd=0.02, prior_precision=0.1)
    after = law.state_dict()
    assert all(after[k].dtype == torch.float32 and torch.equal(after[k], before[k]) for k in before)


def test_reference_fit_is_close_to_truth() -> None:
    task = material_tasks(_table())[2]
    ref = fit_reference(task, JMAKArrhenius(T_ref=1523.15, Q=300.0))
    assert math.exp(ref["log_n"]) == pytest.approx(1.6, rel=0.1)
    assert math.exp(ref["log_Q"]) == pytest.approx(400.0, rel=0.15)
    assert ref["rmse"] < 0.03


def test_fractions_far_outside_zero_one_are_refused_or_clipped_and_counted() -> None:
    df = _table(2)
    df.loc[df.index[:3], "X"] = [-0.12, -0.05, -0.015]  # two beyond the 0.02 tolerance, one within
    with pytest.raises(ValueError, match="clip_fractions=True"):
        material_tasks(df)
    with pytest.raises(ValueError, match="M0: 2 transformed fractions"):
        isotherm_tasks(df)
    tasks = {t.name: t for t in material_tasks(df, clip_fractions=True)}
    assert tasks["M0"].metadata["fractions_clipped"] == 2 and tasks["M1"].metadata["fractions_clipped"] == 0
    y = tasks["M0"].support.y
    assert sorted(y[y <= 0].tolist()) == pytest.approx([-0.015, 0.0, 0.0])  # the two beyond the tolerance clipped, -0.015 kept
    assert sum(t.metadata["fractions_clipped"] for t in isotherm_tasks(df, clip_fractions=True)) == 2
