"""Family -> material -> isotherm: a new isotherm of a known material is not a stranger."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from sciml.materials.hierarchy import condition_on_material, isotherm_scatter, leave_one_isotherm_out, split_isotherms
from sciml.materials.recrystallization import material_tasks
from sciml.meta import PriorMAP
from sciml.models.laws import JMAKArrhenius
from sciml.tasks import TensorData

R = 8.314462618e-3  # kJ/(mol K)
T_REF = 1573.15
TRUTHS: dict[tuple[int, int], tuple[float, float, float]] = {}
"""Generating (ln k_ref, Q [kJ/mol], n) of each synthetic material by (seed, index)."""


def _law() -> JMAKArrhenius:
    return JMAKArrhenius(T_ref=T_REF, k_ref=1e-4, Q=400.0, n=1.5).double()


def _materials(n_materials: int, *, sd_ln_k: float, sd_ln_n: float, temps: int = 4, points: int = 10, noise: float = 0.01,
               seed: int = 0) -> pd.DataFrame:
    """Materials far apart (ln k_ref sd 1.5) whose isotherms scatter around their own Arrhenius law."""
    g = torch.Generator().manual_seed(seed)

    def normal() -> float:
        return float(torch.randn((), generator=g, dtype=torch.float64))

    rows = []
    for m in range(n_materials):
        ln_k_ref, q, n = math.log(1e-4) + 1.5 * normal(), 400.0 + 60.0 * normal(), 1.6 * math.exp(0.2 * normal())
        TRUTHS[(seed, m)] = (ln_k_ref, q, n)
        for temp in torch.linspace(1473.15, 1673.15, temps).tolist():
            ln_k = ln_k_ref - q / R * (1 / temp - 1 / T_REF) + sd_ln_k * normal()
            n_iso = n * math.exp(sd_ln_n * normal())
            t50 = math.log(2.0) ** (1 / n_iso) / math.exp(ln_k)
            for t in torch.logspace(math.log10(t50) - 1, math.log10(t50) + 0.7, points, dtype=torch.float64).tolist():
                x = 1 - math.exp(-((math.exp(ln_k) * t) ** n_iso)) + noise * normal()
                rows.append({"dataset": f"M{m}", "material": f"M{m}", "source_paper": "synthetic", "temperature_K": temp,
                             "time_s": t, "X": min(max(x, 0.0), 1.0)})
    return pd.DataFrame(rows)


def test_split_isotherms_keeps_every_point_once() -> None:
    (task,) = material_tasks(_materials(1, sd_ln_k=0.1, sd_ln_n=0.1))
    parts = split_isotherms(task)
    assert len(parts) == 4 and sum(len(p) for p in parts) == len(task)
    assert all(bool((p.support.x[:, 1] == p.metadata["temperature_K"]).all()) for p in parts)


def test_isotherm_scatter_recovers_the_generating_spread() -> None:
    tasks = material_tasks(_materials(12, sd_ln_k=0.3, sd_ln_n=0.15, temps=5, seed=1))
    scatter = isotherm_scatter(list(tasks), _law())
    assert scatter["log_k_ref"] == pytest.approx(0.3, rel=0.3)
    assert scatter["log_n"] == pytest.approx(0.15, rel=0.35)


def test_the_conditioned_prior_centres_on_the_material_and_leaves_the_family_prior_alone() -> None:
    tasks = list(material_tasks(_materials(9, sd_ln_k=0.05, sd_ln_n=0.05, seed=2)))
    family = PriorMAP(_law()).fit(tasks[1:])
    before = {k: v.clone() for k, v in family.model.named_parameters()}
    isotherms = split_isotherms(tasks[0])
    known = TensorData(torch.cat([t.support.x for t in isotherms[1:]]), torch.cat([t.support.y for t in isotherms[1:]]))
    scatter = {"log_k_ref": 0.05, "log_n": 0.05}
    material = condition_on_material(family, known, scatter)
    assert all(torch.equal(v, before[k]) for k, v in family.model.named_parameters())
    # the held-out isotherm's t50 predicted from its siblings alone, against the generating law's (within 15%)
    held = isotherms[0]
    ln_k_ref, q, n = TRUTHS[(2, 0)]
    temp = held.metadata["temperature_K"]
    t_true = math.log(2.0) ** (1 / n) / math.exp(ln_k_ref - q / R * (1 / temp - 1 / T_REF))
    with torch.no_grad():
        t_pred = float(material.model.t50(held.metadata["temperature_K"]))
    assert t_pred == pytest.approx(t_true, rel=0.15)
    names = list(family._adapt_names)
    diag = torch.diag(material.prior_cov_)
    assert float(diag[names.index("log_k_ref")]) >= 0.05**2 and float(diag[names.index("log_n")]) >= 0.05**2
    assert torch.all(diag < torch.diag(family.prior_cov_))  # knowing the material narrows the prior


def test_knowing_the_material_beats_treating_the_isotherm_as_a_stranger() -> None:
    tasks = material_tasks(_materials(5, sd_ln_k=0.1, sd_ln_n=0.05, temps=3, seed=3))
    seen: list[set[str]] = []
    fit = PriorMAP.fit

    def recording_fit(self, train, *args, **kwargs):
        seen.append({t.name for t in train})
        return fit(self, train, *args, **kwargs)

    PriorMAP.fit = recording_fit
    try:
        res = leave_one_isotherm_out(tasks, _law(), shots=[1], seeds=[0, 1])
    finally:
        PriorMAP.fit = fit
    assert len(seen) == 5 and all(f"M{m}" not in names for m, names in enumerate(seen))  # no material on both sides
    t50 = res[res.metric == "t50_rel_error"].groupby(["learner", "shots"]).value.median()
    assert t50[("material-conditioned prior", 1)] < 0.5 * t50[("family prior (stranger)", 1)]
    assert set(res[res.shots == 0].learner) == {"material-conditioned prior", "family prior (stranger)"}
    assert set(res.group) == {f"M{m}" for m in range(5)} and res.task.nunique() == 15


def test_bad_inputs_are_refused() -> None:
    tasks = list(material_tasks(_materials(3, sd_ln_k=0.1, sd_ln_n=0.1, seed=4)))
    known = tasks[0].support
    with pytest.raises(ValueError, match="fitted population prior"):
        condition_on_material(PriorMAP(_law()), known, {"log_k_ref": 0.1})
    family = PriorMAP(_law()).fit(tasks[1:])
    with pytest.raises(ValueError, match="none were given"):
        condition_on_material(family, TensorData.empty_like(known), {"log_k_ref": 0.1})
    with pytest.raises(ValueError, match="not parameters of the law"):
        condition_on_material(family, known, {"log_k": 0.1})
    with pytest.raises(ValueError, match="two or more isotherms"):
        isotherm_scatter(material_tasks(_materials(2, sd_ln_k=0.1, sd_ln_n=0.1, temps=1)), _law())
