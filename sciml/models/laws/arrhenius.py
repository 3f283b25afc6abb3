"""Arrhenius temperature dependence of a rate."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from sciml.models.laws.base import GAS_CONSTANT, PhysicalLaw, Quantity, as_column, check_kelvin, log_param


class Arrhenius(PhysicalLaw):
    r"""Log-rate as a function of temperature.

    .. math::
        \ln k(T) = \ln k_\mathrm{ref} - \frac{Q}{R}\left(\frac{1}{T} - \frac{1}{T_\mathrm{ref}}\right)

    Predicts ``ln k`` (fit rates in log space: their errors are multiplicative). Stored
    unconstrained: ``log_k_ref`` and ``log_Q`` (Q in kJ/mol).

    Args:
        T_ref: Reference temperature [K].
        k_ref: Initial rate at ``T_ref`` (in the unit of the rates you fit, e.g. 1/s).
        Q: Initial activation energy [kJ/mol].

    Shapes:
        - input: temperature [K], ``[n]`` or ``[n, 1]``
        - output: ``ln k``, ``[n]``
    """

    input_description = "temperature [K]"
    target_description = "ln k"

    def __init__(self, T_ref: float, k_ref: float = 1.0, Q: float = 100.0) -> None:
        super().__init__()
        if not T_ref > 0:
            raise ValueError(f"Arrhenius: T_ref must be a temperature in kelvin (> 0), got {T_ref}.")
        self.remember(T_ref=T_ref, k_ref=k_ref, Q=Q)
        self.T_ref = float(T_ref)
        self.log_k_ref = log_param(k_ref, "k_ref", "Arrhenius")
        self.log_Q = log_param(Q, "Q", "Arrhenius")

    def evaluate(self, x: Tensor) -> Tensor:
        T = as_column(x, "Arrhenius", "temperature")
        return self.log_k_ref - self.log_Q.exp() * 1e3 / GAS_CONSTANT * (1.0 / T - 1.0 / self.T_ref)

    def check_inputs(self, x: Tensor) -> None:
        check_kelvin(as_column(x, "Arrhenius", "temperature [K]"), "Arrhenius")

    def physical_params(self, params: Mapping[str, Tensor] | None = None) -> dict[str, Quantity]:
        k_ref = self._get(params, "log_k_ref").exp()
        q = self._get(params, "log_Q").exp()
        return {
            "k_ref": Quantity(k_ref, "rate unit", f"rate at T_ref = {self.T_ref:g} K"),
            "Q": Quantity(q, "kJ/mol", "activation energy"),
            "k0": Quantity(k_ref * torch.exp(q * 1e3 / (GAS_CONSTANT * self.T_ref)), "rate unit", "pre-factor"),
        }

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        return {"log_k_ref": (-60.0, 60.0), "log_Q": (math.log(1.0), math.log(3000.0))}
