"""Physical laws: equations, parameters with units, and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from sciml import settings
from sciml.models import JMAK, MLP, Arrhenius, JMAKArrhenius, LinearBasis, build_module, module_config
from sciml.models.laws import GAS_CONSTANT, estimate_t50


def test_jmak_equation_and_t50() -> None:
    law = JMAK(k=2e-3, n=1.7).double()
    t = torch.tensor([0.0, 100.0, 500.0, 5000.0], dtype=torch.float64)
    expected = 1 - torch.exp(-((2e-3 * t) ** 1.7))
    assert torch.allclose(law(t), expected, atol=1e-12)
    p = law.physical_params()
    assert p["t50"].unit == "s" and p["k"].unit == "1/s" and p["n"].unit == "1"
    assert float(law(p["t50"].value.detach().reshape(1)).detach()) == pytest.approx(0.5, abs=1e-9)


def test_jmak_incubation_shifts_the_curve() -> None:
    law = JMAK(k=1e-2, n=2.0, incubation=True, t0=50.0).double()
    assert float(law(torch.tensor([40.0], dtype=torch.float64)).detach()) < 1e-12
    t50 = law.physical_params()["t50"].value.detach()
    assert float(law(t50.reshape(1)).detach()) == pytest.approx(0.5, abs=1e-9)
    assert torch.isfinite(torch.autograd.grad(law(torch.tensor([0.0, 60.0], dtype=torch.float64)).sum(), law.log_t0)[0])


def test_jmak_arrhenius_matches_isothermal_jmak() -> None:
    law = JMAKArrhenius(T_ref=1500.0, k_ref=1e-3, Q=400.0, n=1.3).double()
    T = 1600.0
    k = 1e-3 * math.exp(-400e3 / GAS_CONSTANT * (1 / T - 1 / 1500.0))
    t = torch.logspace(1, 4, 7, dtype=torch.float64)
    x = torch.stack([t, torch.full_like(t, T)], 1)
    assert torch.allclose(law(x), JMAK(k=k, n=1.3).double()(t), atol=1e-10)
    p = law.physical_params()
    assert p["Q"].unit == "kJ/mol"
    assert float(p["k0"].value.detach()) == pytest.approx(1e-3 * math.exp(400e3 / (GAS_CONSTANT * 1500.0)), rel=1e-4)
    assert float(law.t50(T).detach()) == pytest.approx(math.log(2) ** (1 / 1.3) / k, rel=1e-6)


def test_laws_reject_bad_input_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="time must be >= 0 s"):
        JMAK()(torch.tensor([-1.0, 2.0]))
    with pytest.raises(ValueError, match="NaN"):
        JMAK()(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="temperature \\[K\\]"):
        JMAKArrhenius(T_ref=1000.0)(torch.tensor([[1.0], [2.0]]))
    with pytest.raises(ValueError, match="kelvin"):
        JMAKArrhenius(T_ref=1000.0)(torch.tensor([[1.0, -5.0]]))
    with pytest.raises(ValueError, match="kelvin"):
        Arrhenius(T_ref=800.0)(torch.tensor([0.0]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        JMAK().check_targets(torch.tensor([0.2, 1.3]))
    with pytest.raises(ValueError, match="positive"):
        JMAK(k=-1.0)
    with pytest.raises(ValueError, match="T_ref"):
        JMAKArrhenius(T_ref=0.0)
    JMAK().check_targets(torch.tensor([-0.01, 1.01]))  # measurement noise is tolerated
    with settings.validate_inputs(False):
        JMAK()(torch.tensor([-1.0]))  # the engine's fast path skips checks it already ran


def test_arrhenius_and_linear_basis() -> None:
    law = Arrhenius(T_ref=1000.0, k_ref=2.0, Q=150.0).double()
    T = torch.tensor([900.0, 1000.0, 1100.0], dtype=torch.float64)
    expected = math.log(2.0) - 150e3 / GAS_CONSTANT * (1 / T - 1 / 1000.0)
    assert torch.allclose(law(T), expected)
    lb = LinearBasis(degree=2, x_scale=10.0, weights=[1.0, 2.0, 3.0])
    assert torch.allclose(lb(torch.tensor([10.0, 20.0])), torch.tensor([6.0, 17.0]))
    assert set(lb.physical_params()) == {"w0", "w1", "w2"}
    with pytest.raises(ValueError, match="weights"):
        LinearBasis(degree=2, weights=[1.0])


def test_estimate_t50() -> None:
    t = torch.tensor([10.0, 100.0, 1000.0])
    assert estimate_t50(t, torch.tensor([0.1, 0.5, 0.9])) == pytest.approx(100.0)
    assert estimate_t50(t, torch.tensor([0.0, 0.1, 0.2])) == pytest.approx(2000.0)


@pytest.mark.parametrize("module", [JMAK(k=1e-2, n=2.0, incubation=True), JMAKArrhenius(T_ref=1200.0), MLP(2, (3,), 1)])
def test_configurable_modules_rebuild_from_json(module) -> None:
    rebuilt = build_module(module_config(module))
    assert type(rebuilt) is type(module)
    assert [n for n, _ in rebuilt.named_parameters()] == [n for n, _ in module.named_parameters()]


def test_larson_miller_against_a_hand_computed_life() -> None:
    """T = 2000 K, 50 MPa, C = 20, LMP/1000 = 40 - 8 log10(50/100) = 42.40824:
    log10 t_r = 42408.24 / 2000 - 20 = 1.20412 (16.0 h)."""
    from sciml.models.laws import LarsonMiller

    law = LarsonMiller(C=20.0, P_ref=40.0, slope=-8.0, stress_ref=100.0).double()
    x = torch.tensor([[2000.0, 50.0], [2000.0, 100.0]], dtype=torch.float64)
    out = law(x).detach()
    assert float(out[0]) == pytest.approx(1000 * (40 + 8 * math.log10(2)) / 2000 - 20, rel=1e-12)
    assert float(out[1]) == pytest.approx(0.0, abs=1e-12)  # at the reference stress: 40000 / 2000 - 20
    params = law.physical_params()
    assert float(params["LMP_ref"]) == pytest.approx(40000.0) and params["slope"].unit == "K/decade"
    fixed = LarsonMiller(fit_C=False)
    assert [n for n, _ in fixed.named_parameters()] == ["P_ref", "slope"] and "held fixed" in fixed.physical_params()["C"].description


def test_larson_miller_refuses_celsius_and_stresses_that_are_not_positive() -> None:
    from sciml.models.laws import LarsonMiller

    law = LarsonMiller().double()
    with pytest.raises(ValueError, match="Celsius"):
        law(torch.tensor([[1600.0, 50.0], [25.0, 50.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="psi"):
        law(torch.tensor([[1600.0, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\[n, 2\]"):
        law(torch.tensor([1600.0, 50.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="stress_ref"):
        LarsonMiller(stress_ref=0.0)


def test_generalized_logistic_against_hand_computed_values() -> None:
    """At T_ref: B = 1e-4 /s, M = 2e4 s, nu = 0.5: X(M) = 2^-2 = 0.25;
    X(3e4 s) = (1 + e^-1)^-2 = 0.534447; t50 = M - ln(2^0.5 - 1) / B = 2e4 + 8813.7 s.
    At T = 1473.15 K with Q_B = 300 kJ/mol: B is exp(-300e3/R (1/1473.15 - 1/1573.15)) times smaller.
    (Initial values are stored in float32 before .double(): agreement to 1e-6.)"""
    from sciml.models.laws import GeneralizedLogistic

    law = GeneralizedLogistic(T_ref=1573.15, B_ref=1e-4, Q_B=300.0, M_ref=2e4, Q_M=400.0, nu=0.5).double()
    x = torch.tensor([[2e4, 1573.15], [3e4, 1573.15]], dtype=torch.float64)
    out = law(x).detach()
    assert float(out[0]) == pytest.approx(0.25, rel=1e-6)
    assert float(out[1]) == pytest.approx((1 + math.exp(-1.0)) ** -2, rel=1e-6)
    t50 = float(law.t50(1573.15).detach())
    assert t50 == pytest.approx(2e4 - math.log(math.sqrt(2) - 1) / 1e-4, rel=1e-6)
    assert float(law(torch.tensor([[t50, 1573.15]], dtype=torch.float64)).detach()) == pytest.approx(0.5, rel=1e-6)
    factor = math.exp(-300e3 / 8.314462618 * (1 / 1473.15 - 1 / 1573.15))
    assert float(law.rate(1473.15).detach()) == pytest.approx(1e-4 * factor, rel=1e-6)
    assert float(law.midpoint(1473.15).detach()) == pytest.approx(2e4 * math.exp(400e3 / 8.314462618 * (1 / 1473.15 - 1 / 1573.15)), rel=1e-6)
    logistic = GeneralizedLogistic(T_ref=1000.0, B_ref=1e-3, M_ref=500.0, nu=1.0).double()
    t = torch.tensor([[0.0, 1000.0], [500.0, 1000.0], [2500.0, 1000.0]], dtype=torch.float64)
    expected = [1 / (1 + math.exp(-1e-3 * (v - 500.0))) for v in (0.0, 500.0, 2500.0)]
    assert logistic(t).detach().tolist() == pytest.approx(expected, rel=1e-6)
    assert set(law.physical_params()) == {"B_ref", "Q_B", "M_ref", "Q_M", "nu", "t50_ref"}


def test_generalized_logistic_refuses_bad_inputs() -> None:
    from sciml.models.laws import GeneralizedLogistic

    law = GeneralizedLogistic(T_ref=1573.15).double()
    with pytest.raises(ValueError, match="two input columns"):
        law(torch.tensor([1.0, 2.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="Celsius"):
        law(torch.tensor([[10.0, 1300.0], [20.0, 25.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="time must be >= 0"):
        law(torch.tensor([[-5.0, 1500.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="T_ref"):
        GeneralizedLogistic(T_ref=0.0)


def test_forman_against_a_hand_computed_rate() -> None:
    """AA2024-T3 sheet (Schwarmann 1986): C = 7.13e-9, n = 2.7, Kc = 71.3; at Delta K = 10 MPa sqrt(m),
    R = 0.1: da/dN = 7.13e-9 * 10^2.7 / (0.9 * 71.3 - 10) = 6.5967e-8 m/cycle."""
    from sciml.models.laws.forman import Forman

    law = Forman(C=7.13e-9, n=2.7, Kc=71.3).double()
    x = torch.tensor([[10.0, 0.1], [30.0, 0.5]], dtype=torch.float64)
    out = law(x).detach()
    assert float(out[0]) == pytest.approx(math.log10(7.13e-9 * 10**2.7 / (0.9 * 71.3 - 10.0)), rel=1e-6)
    assert float(out[1]) == pytest.approx(math.log10(7.13e-9 * 30**2.7 / (0.5 * 71.3 - 30.0)), rel=1e-6)
    params = law.physical_params()
    assert float(params["C"]) == pytest.approx(7.13e-9, rel=1e-6) and float(params["Kc"]) == pytest.approx(71.3, rel=1e-6)


def test_forman_beyond_its_asymptote_stays_finite_and_points_to_a_larger_toughness() -> None:
    from sciml.models.laws.forman import Forman

    law = Forman(C=7.13e-9, n=2.7, Kc=20.0).double()
    x = torch.tensor([[25.0, 0.0]], dtype=torch.float64)  # Delta K above (1 - R) Kc
    out = law(x)
    assert torch.isfinite(out).all()
    (grad,) = torch.autograd.grad(out.sum(), law.log_Kc)
    assert float(grad) < 0  # a larger Kc lowers the predicted rate: a calibration can leave


def test_forman_refuses_bad_inputs() -> None:
    from sciml.models.laws.forman import Forman

    law = Forman().double()
    with pytest.raises(ValueError, match="ksi"):
        law(torch.tensor([[0.0, 0.1]], dtype=torch.float64))
    with pytest.raises(ValueError, match="stress ratio"):
        law(torch.tensor([[10.0, 1.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\[n, 2\]"):
        law(torch.tensor([10.0, 0.1], dtype=torch.float64))
    with pytest.raises(ValueError, match="log10 of the rate"):
        law.check_targets(torch.tensor([1e-8, 2e-8], dtype=torch.float64))


def test_norton_against_a_hand_computed_rate() -> None:
    from sciml.models.laws import Norton

    law = Norton(rate_ref=2e-3, n=4.5, Q=350.0, stress_ref=50.0, T_ref=2200.0).double()
    T, stress = 2400.0, 80.0
    # rate = rate_ref (s / s_ref)^n exp(-Q/R (1/T - 1/T_ref)), Q in J/mol, R = 8.314462618 J/(mol K)
    rate = 2e-3 * (80.0 / 50.0) ** 4.5 * math.exp(-350e3 / 8.314462618 * (1 / 2400.0 - 1 / 2200.0))
    assert float(law(torch.tensor([[T, stress]], dtype=torch.float64))) == pytest.approx(math.log10(rate), rel=1e-6)  # float32 init
    params = law.physical_params()
    assert float(params["n"].value) == pytest.approx(4.5) and float(params["Q"].value) == pytest.approx(350.0)
    assert float(params["rate_ref"].value) == pytest.approx(2e-3) and params["rate_ref"].unit == "1/h"


def test_norton_is_recovered_from_tests_spanning_stress_and_temperature() -> None:
    from sciml.meta import CurveFit
    from sciml.models.laws import Norton
    from sciml.tasks import TensorData

    truth = Norton(rate_ref=5e-2, n=3.8, Q=420.0).double()
    x = torch.tensor([[2000.0, 30.0], [2000.0, 70.0], [2300.0, 20.0], [2300.0, 60.0], [2600.0, 10.0], [2600.0, 35.0]], dtype=torch.float64)
    with torch.no_grad():
        y = truth(x)
    start = Norton().double()
    guess = start.initial_guess(x, y)  # the law is linear in its parameters: least squares is exact
    assert math.exp(guess["log_n"]) == pytest.approx(3.8, rel=1e-6) and math.exp(guess["log_Q"]) == pytest.approx(420.0, rel=1e-6)
    one_temperature = start.initial_guess(x[:2], y[:2])  # Q undetermined: kept, rate_ref and n fitted around it
    assert math.exp(one_temperature["log_Q"]) == pytest.approx(500.0)
    known_q = Norton(Q=420.0).double().initial_guess(x[:2], y[:2])  # with the true Q, two stresses at 2000 K pin the rest
    assert 10 ** known_q["log10_rate_ref"] == pytest.approx(5e-2, rel=1e-5) and math.exp(known_q["log_n"]) == pytest.approx(3.8, rel=1e-5)
    fitted = CurveFit(start).adapt(TensorData(x, y)).physical_params()
    assert float(fitted["n"].value) == pytest.approx(3.8, rel=1e-6) and float(fitted["rate_ref"].value) == pytest.approx(5e-2, rel=1e-6)
    with pytest.raises(ValueError, match="stress must be > 0"):
        truth(torch.tensor([[2000.0, -1.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \[n, 2\]"):
        truth(torch.tensor([2000.0, 30.0], dtype=torch.float64))
