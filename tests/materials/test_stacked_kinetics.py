"""t50 and the Avrami exponent of a weighted combination of JMAK-Arrhenius laws (a stacked
prediction), against closed forms and a root found by scipy on hand-written curves."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

from sciml.materials.kinetics import adapted_n, adapted_t50, kinetics_metrics
from sciml.meta.adapted import Adapted
from sciml.meta.stacking import StackedPredictor
from sciml.models.laws import JMAKArrhenius

T_REF = 1573.15


def _adapted(k_ref: float, n: float, q: float = 400.0) -> Adapted:
    law = JMAKArrhenius(T_ref=T_REF, k_ref=k_ref, Q=q, n=n).double()
    return Adapted(law, dict(law.named_parameters()))


def _x(t: float, k: float, n: float) -> float:
    return 1.0 - math.exp(-((k * t) ** n))


def _k_n(adapted: Adapted) -> tuple[float, float]:
    """The law's own rate at T_ref and exponent (its parameters were rounded to float32 once)."""
    return math.exp(float(adapted.params["log_k_ref"])), math.exp(float(adapted.params["log_n"]))


def test_one_component_gives_the_closed_form_t50_and_n() -> None:
    part = _adapted(2e-4, 1.7)
    k, n = _k_n(part)
    stack = StackedPredictor({"only": part}, {"only": 1.0})
    t50 = (math.log(2.0) ** (1 / n)) / k  # at T_ref: k = k_ref
    assert adapted_t50(stack, T_REF) == pytest.approx(t50, rel=1e-9)
    assert adapted_t50(part, T_REF) == pytest.approx(t50, rel=1e-9)
    assert adapted_n(stack, T_REF) == pytest.approx(n, rel=1e-5)


def test_a_mixture_gives_the_root_of_its_own_curve() -> None:
    a, b = _adapted(1e-3, 1.2), _adapted(1e-5, 2.5)
    stack = StackedPredictor({"a": a, "b": b}, {"a": 0.3, "b": 0.7})

    def mix(t: float) -> float:
        return 0.3 * _x(t, *_k_n(a)) + 0.7 * _x(t, *_k_n(b))

    t50 = brentq(lambda lt: mix(math.exp(lt)) - 0.5, math.log(1.0), math.log(1e8), xtol=1e-14)
    assert adapted_t50(stack, T_REF) == pytest.approx(math.exp(t50), rel=1e-8)
    h = 1e-4
    lo, hi = mix(math.exp(t50 - h)), mix(math.exp(t50 + h))
    slope = (math.log(-math.log(1 - hi)) - math.log(-math.log(1 - lo))) / (2 * h)
    assert adapted_n(stack, T_REF) == pytest.approx(slope, rel=1e-4)
    # between the two components' exponents, and not either one
    assert 1.2 < adapted_n(stack, T_REF) < 2.5


def test_metrics_read_a_stack_like_a_law() -> None:
    stack = StackedPredictor({"a": _adapted(2e-4, 1.5), "b": _adapted(2e-4, 1.5)}, {"a": 0.5, "b": 0.5})
    t50 = (math.log(2.0) ** (1 / 1.5)) / 2e-4
    x = torch.tensor([[t50, T_REF]], dtype=torch.float64)
    task = type("T", (), {"metadata": {"t50_s": t50 * 2, "n": 1.5, "temperature_K": T_REF},
                          "query": type("Q", (), {"x": x, "y": torch.tensor([0.5], dtype=torch.float64)})()})()
    metrics = kinetics_metrics()
    assert metrics["t50_rel_error"](stack, task) == pytest.approx(0.5, rel=1e-6)
    assert metrics["n_rel_error"](stack, task) == pytest.approx(0.0, abs=1e-4)
    assert metrics["diverged"](stack, task) == 0.0
    never = StackedPredictor({"a": _adapted(1e-30, 1.0), "b": _adapted(1e-30, 1.0)}, {"a": 0.5, "b": 0.5})
    assert math.isnan(adapted_t50(never, T_REF)) and metrics["diverged"](never, task) == 1.0
    assert np.isinf(metrics["t50_rel_error"](never, task))
