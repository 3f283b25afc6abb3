r"""Generalized logistic (Richards) transformation kinetics across temperatures."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor
from torch.nn.functional import softplus

from sciml.models.laws.base import GAS_CONSTANT, PhysicalLaw, Quantity, log_param
from sciml.models.laws.jmak import _check_fraction, check_time_temperature, estimate_t50


class GeneralizedLogistic(PhysicalLaw):
    r"""Generalized logistic (Richards) kinetics in time, with Arrhenius rate and midpoint.

    .. math::
        X(t, T) = \left(1 + e^{-B(T)\,(t - M(T))}\right)^{-1/\nu}, \qquad
        \ln B(T) = \ln B_\mathrm{ref} - \frac{Q_B}{R}\Big(\frac{1}{T} - \frac{1}{T_\mathrm{ref}}\Big), \quad
        \ln M(T) = \ln M_\mathrm{ref} + \frac{Q_M}{R}\Big(\frac{1}{T} - \frac{1}{T_\mathrm{ref}}\Big)

    ``B`` is the rate of the sigmoid [1/s] and ``M`` its location [s], both thermally activated
    (faster and earlier when hotter); ``nu`` sets its asymmetry (``nu = 1``: the logistic). This
    is the form fitted to tungsten recrystallization in the repository the reference data come
    from (ml-ME-gatech/modeling_tungsten), written here with values at a reference temperature
    instead of pre-factors (see :class:`~sciml.models.laws.JMAKArrhenius` for why). Unlike JMAK,
    ``X(0) > 0``; it is small when ``B M`` is large.

    Stored unconstrained: ``log_B_ref`` (1/s), ``log_Q_B`` (kJ/mol), ``log_M_ref`` (s),
    ``log_Q_M`` (kJ/mol), ``log_nu``.

    Args:
        T_ref: Reference temperature [K].
        B_ref: Initial rate at ``T_ref`` [1/s].
        Q_B: Initial activation energy of the rate [kJ/mol].
        M_ref: Initial midpoint time at ``T_ref`` [s].
        Q_M: Initial activation energy of the midpoint [kJ/mol].
        nu: Initial asymmetry [1].

    Shapes:
        - input: ``[n, 2]``, columns time [s] and temperature [K]
        - output: transformed fraction X [1], ``[n]``
    """

    input_description = "(time [s], temperature [K])"
    target_description = "transformed fraction X [1]"

    def __init__(self, T_ref: float, B_ref: float = 1e-4, Q_B: float = 400.0, M_ref: float = 3e4, Q_M: float = 400.0,
                 nu: float = 1.0) -> None:
        super().__init__()
        if not T_ref > 0:
            raise ValueError(f"GeneralizedLogistic: T_ref must be a temperature in kelvin (> 0), got {T_ref}.")
        self.remember(T_ref=T_ref, B_ref=B_ref, Q_B=Q_B, M_ref=M_ref, Q_M=Q_M, nu=nu)
        self.T_ref = float(T_ref)
        self.log_B_ref = log_param(B_ref, "B_ref", "GeneralizedLogistic")
        self.log_Q_B = log_param(Q_B, "Q_B", "GeneralizedLogistic")
        self.log_M_ref = log_param(M_ref, "M_ref", "GeneralizedLogistic")
        self.log_Q_M = log_param(Q_M, "Q_M", "GeneralizedLogistic")
        self.log_nu = log_param(nu, "nu", "GeneralizedLogistic")

    def _shift(self, T: Tensor) -> Tensor:
        return (1.0 / T - 1.0 / self.T_ref) * 1e3 / GAS_CONSTANT

    def rate(self, T: Tensor | float, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """``B(T)`` [1/s]."""
        T = torch.as_tensor(T, dtype=self.log_nu.dtype)
        return (self._get(params, "log_B_ref") - self._get(params, "log_Q_B").exp() * self._shift(T)).exp()

    def midpoint(self, T: Tensor | float, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """``M(T)`` [s]."""
        T = torch.as_tensor(T, dtype=self.log_nu.dtype)
        return (self._get(params, "log_M_ref") + self._get(params, "log_Q_M").exp() * self._shift(T)).exp()

    def evaluate(self, x: Tensor) -> Tensor:
        t, T = x[..., 0], x[..., 1]
        z = self.rate(T) * (t - self.midpoint(T))
        # (1 + e^-z)^(-1/nu) = exp(-softplus(-z) / nu), stable for any z
        return torch.exp(-softplus(-z) / self.log_nu.exp())

    def t50(self, T: Tensor | float, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """Time to half transformation [s] at temperature(s) ``T`` [K]:
        ``M - ln(2^nu - 1) / B`` (may be negative when ``X(0) > 0.5``)."""
        nu = self._get(params, "log_nu").exp()
        return self.midpoint(T, params) - torch.log(torch.expm1(nu * math.log(2.0))) / self.rate(T, params)

    def check_inputs(self, x: Tensor) -> None:
        check_time_temperature(x, "GeneralizedLogistic")

    def check_targets(self, y: Tensor) -> None:
        _check_fraction(y, "GeneralizedLogistic")

    def physical_params(self, params: Mapping[str, Tensor] | None = None) -> dict[str, Quantity]:
        return {
            "B_ref": Quantity(self._get(params, "log_B_ref").exp(), "1/s", f"sigmoid rate at T_ref = {self.T_ref:g} K"),
            "Q_B": Quantity(self._get(params, "log_Q_B").exp(), "kJ/mol", "activation energy of the rate"),
            "M_ref": Quantity(self._get(params, "log_M_ref").exp(), "s", f"sigmoid midpoint at T_ref = {self.T_ref:g} K"),
            "Q_M": Quantity(self._get(params, "log_Q_M").exp(), "kJ/mol", "activation energy of the midpoint"),
            "nu": Quantity(self._get(params, "log_nu").exp(), "1", "asymmetry (1: logistic)"),
            "t50_ref": Quantity(self.t50(self.T_ref, params), "s", "time to half transformation at T_ref"),
        }

    def initial_guess(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """``nu = 1``, the current activation energies; the midpoint where the data cross
        X = 0.5 and a rate of 4 over it (the sigmoid rises over about one midpoint), both moved to
        ``T_ref`` from the data's mean temperature."""
        t, T = x[:, 0].double(), x[:, 1].double()
        t50 = estimate_t50(t, y.double())
        shift = float(self._shift(T.mean()))
        q_b, q_m = float(self.log_Q_B.detach().exp()), float(self.log_Q_M.detach().exp())
        return {"log_B_ref": math.log(4.0 / t50) + q_b * shift, "log_Q_B": math.log(q_b), "log_M_ref": math.log(t50) - q_m * shift,
                "log_Q_M": math.log(q_m), "log_nu": 0.0}

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        q = (math.log(5.0), math.log(2000.0))
        return {"log_B_ref": (-40.0, 10.0), "log_Q_B": q, "log_M_ref": (-10.0, 40.0), "log_Q_M": q, "log_nu": (math.log(1e-3), math.log(10.0))}
