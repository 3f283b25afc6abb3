"""The creep-rupture protocol: metrics against hand-computed errors, the pooled fit against a
known law, and leave-one-material-out splits that never put a material group on both sides."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from sciml.materials.creep import DIVERGED_DECADES, creep_metrics, creep_tasks, leave_one_material_out, pooled_fit
from sciml.meta import CurveFit
from sciml.models.laws import LarsonMiller
from sciml.tasks import Task, TensorData


def _frame(seed: int = 0) -> pd.DataFrame:
    """Tests of 6 data sets in 3 groups, each following its own Larson-Miller law."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(6):
        law = LarsonMiller(C=20.0, P_ref=38.0 + i, slope=-6.0 - 0.5 * i).double()
        T = 1800 + 600 * torch.rand(7, generator=g, dtype=torch.float64)
        s = 10 ** (1 + torch.rand(7, generator=g, dtype=torch.float64))
        life = 10 ** law(torch.stack([T, s], 1)).detach()
        rows += [{"dataset": f"d{i}", "group": f"g{i // 2}", "temperature_K": float(a), "stress_MPa": float(b), "rupture_time_h": float(c)}
                 for a, b, c in zip(T, s, life)]
    return pd.DataFrame(rows)


class _Fixed:
    def __init__(self, values):
        self.values = torch.tensor(values, dtype=torch.float64)

    def predict(self, x):
        return self.values


def test_metrics_are_the_mean_absolute_error_in_decades():
    q = TensorData(torch.ones(3, 2, dtype=torch.float64), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    task = Task(q, q, name="t")
    m = creep_metrics()
    assert m["log10_life_error"](_Fixed([1.5, 2.0, 2.0]), task) == pytest.approx((0.5 + 0 + 1.0) / 3)
    assert m["diverged"](_Fixed([1.5, 2.0, 2.0]), task) == 0.0
    assert m["diverged"](_Fixed([3.0, 4.0, 5.0]), task) == float(2.0 > DIVERGED_DECADES)
    assert math.isinf(m["log10_life_error"](_Fixed([math.nan, 2.0, 3.0]), task)) and m["diverged"](_Fixed([math.nan, 2.0, 3.0]), task) == 1.0


def test_pooled_fit_recovers_one_law_shared_by_every_data_set():
    truth = LarsonMiller(C=17.0, P_ref=41.0, slope=-7.0).double()
    tasks = []
    for i in range(3):
        x = torch.tensor([[1900.0 + 100 * i, 20.0], [2100.0, 40.0 + 5 * i], [2300.0 - 50 * i, 60.0], [2000.0, 15.0]], dtype=torch.float64)
        y = truth(x).detach()
        tasks.append(Task(TensorData(x, y), TensorData(x[:0], y[:0]), name=f"t{i}"))
    fitted = pooled_fit(tasks, LarsonMiller())
    for name, value in (("C", 17.0), ("P_ref", 41.0), ("slope", -7.0)):
        assert float(fitted.get_parameter(name).detach()) == pytest.approx(value, rel=1e-4)


def test_leave_one_material_out_never_trains_on_the_held_out_group():
    tasks = creep_tasks(_frame())
    seen: list[tuple[str, ...]] = []

    def make(train):
        seen.append(tuple(sorted(train.groups)))
        return CurveFit(LarsonMiller(fit_C=False).double())

    bench = leave_one_material_out(tasks, {"fit": make}, fit={"seed": 0}, shots=[2, 6], seeds=[0, 1])
    res = bench.results
    assert sorted(seen) == [("g0", "g1"), ("g0", "g2"), ("g1", "g2")]
    for groups in seen:  # each training set is the complement of the one group judged after it
        held_out = ({"g0", "g1", "g2"} - set(groups)).pop()
        assert set(res[res.group == held_out].task) == {t.name for t in tasks if t.group == held_out}
    assert set(res.metric) == {"log10_life_error", "diverged", "coverage90"}
    assert set(res.shots) == {2, 6} and bench.details["skipped"] == []  # 7 tests each: k = 6 leaves one to judge
    # noise-free data and the law the data follow (C = 20 fixed, two free parameters): two tests pin it down exactly
    err = res[res.metric == "log10_life_error"].value
    assert err.max() < 1e-6


def test_creep_tasks_refuse_rows_without_a_positive_life():
    frame = _frame().assign(rupture_time_h=lambda d: d.rupture_time_h.where(d.index != 3, 0.0))
    with pytest.raises(ValueError, match="rupture_time_h must be > 0"):
        creep_tasks(frame)
    with pytest.raises(ValueError, match="missing"):
        creep_tasks(frame.drop(columns="group"))


def test_creep_prior_calibrates_a_new_material_from_a_table_in_any_units():
    from sciml.materials.creep import creep_prior, noise_sd
    from sciml.meta import PriorMAP
    from sciml.models.laws import JMAK

    frame = _frame()
    noise = torch.randn(len(frame), generator=torch.Generator().manual_seed(1), dtype=torch.float64).numpy()
    frame["rupture_time_h"] *= 10 ** (0.05 * noise)  # 0.05 decades of scatter
    tasks = creep_tasks(frame)
    with pytest.raises(TypeError, match="LarsonMiller"):
        creep_prior(PriorMAP(JMAK().double()), tasks, {"seed": 0})
    train = creep_tasks(frame[frame.dataset != "d5"])
    prior = creep_prior(PriorMAP(LarsonMiller().double()), train, {"seed": 0})
    assert prior.noise["sd"] == pytest.approx(noise_sd(train)) and prior.noise["unit"] == "log10(h)"
    new = frame[frame.dataset == "d5"].reset_index(drop=True)
    table = pd.DataFrame({"temperature [F]": (new.temperature_K - 273.15) * 9 / 5 + 32, "stress [psi]": new.stress_MPa / 0.006894757293168361,
                          "rupture time [min]": new.rupture_time_h * 60})
    cal = prior.calibrate(table.iloc[:3])
    pred = cal.predict(table.iloc[3:])
    truth = new.rupture_time_h.iloc[3:].to_numpy()
    err = abs(pred["mean"].to_numpy() - torch.log10(torch.tensor(truth)).numpy())
    assert prior.noise["sd"] == pytest.approx(0.05, rel=0.5)
    assert err.max() < 0.15  # three tests pin the held-out law to within the scatter


def test_norton_tasks_keep_the_tests_with_a_rate_one_source_per_group():
    from sciml.materials.creep import norton_tasks

    frame = _frame().assign(min_creep_rate_per_h=float("nan"))
    frame.loc[frame.dataset == "d0", "min_creep_rate_per_h"] = 1e-3
    frame.loc[(frame.dataset == "d1") & (frame.index % 2 == 0), "min_creep_rate_per_h"] = 1e-2
    tasks = norton_tasks(frame)
    assert [t.name for t in tasks] == ["d0", "d1"] and [t.group for t in tasks] == ["d0", "d1"]  # d0, d1 share group g0
    assert len(tasks[0]) == 7 and len(tasks[1]) == int(((frame.dataset == "d1") & (frame.index % 2 == 0)).sum())
    assert torch.allclose(tasks[0].data.y, torch.full((7,), -3.0, dtype=torch.float64))
    frame.loc[0, "min_creep_rate_per_h"] = 0.0
    with pytest.raises(ValueError, match="min_creep_rate_per_h must be > 0"):
        norton_tasks(frame)
