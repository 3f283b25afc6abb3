r"""Minimum (secondary) creep rate by Norton's power law with an Arrhenius temperature term."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from sciml.models.laws.base import (
    GAS_CONSTANT,
    PhysicalLaw,
    Quantity,
    _check_finite,
    check_kelvin,
    log_param,
    two_columns,
)


class Norton(PhysicalLaw):
    r"""Norton-Arrhenius creep: the minimum creep rate as a power of stress.

    .. math::
        \dot\varepsilon_\mathrm{min} = A\,\sigma^{n} \exp\!\left(-\frac{Q}{R T}\right),
        \qquad
        \log_{10}\dot\varepsilon_\mathrm{min} = \log_{10}\dot\varepsilon_\mathrm{ref}
        + n \log_{10}\frac{\sigma}{\sigma_\mathrm{ref}}
        - \frac{Q}{R \ln 10}\left(\frac{1}{T} - \frac{1}{T_\mathrm{ref}}\right)

    written with the rate at a reference stress and temperature instead of ``A`` (``A``, ``n``
    and ``Q`` are strongly correlated otherwise). Linear in its three parameters, so a
    least-squares fit has one answer once three tests differ in both stress and temperature.

    Stored: ``log10_rate_ref`` (rate in 1/h), ``log_n``, ``log_Q`` (``Q`` in kJ/mol).

    Args:
        rate_ref: Initial minimum creep rate at ``stress_ref`` and ``T_ref`` [1/h].
        n: Initial stress exponent [1].
        Q: Initial activation energy [kJ/mol].
        stress_ref: Reference stress [MPa].
        T_ref: Reference temperature [K].

    Shapes:
        - input: ``[n, 2]``: temperature [K], stress [MPa]
        - output: ``log10`` minimum creep rate [1/h], ``[n]``
    """

    input_description = "(temperature [K], stress [MPa])"
    target_description = "log10 minimum creep rate [1/h]"

    def __init__(self, rate_ref: float = 1e-3, n: float = 5.0, Q: float = 500.0, stress_ref: float = 50.0, T_ref: float = 2200.0) -> None:
        super().__init__()
        if not rate_ref > 0:
            raise ValueError(f"Norton: rate_ref must be a positive rate in 1/h, got {rate_ref}.")
        if not stress_ref > 0 or not T_ref > 0:
            raise ValueError(f"Norton: stress_ref [MPa] and T_ref [K] must be > 0, got {stress_ref} and {T_ref}.")
        self.remember(rate_ref=rate_ref, n=n, Q=Q, stress_ref=stress_ref, T_ref=T_ref)
        self.stress_ref, self.T_ref = float(stress_ref), float(T_ref)
        self.log10_rate_ref = nn.Parameter(torch.tensor(math.log10(rate_ref)))
        self.log_n = log_param(n, "n", "Norton")
        self.log_Q = log_param(Q, "Q", "Norton")

    def _columns(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return two_columns(x, "Norton", "temperature [K], stress [MPa]")

    def evaluate(self, x: Tensor) -> Tensor:
        T, stress = self._columns(x)
        n, q = self.log_n.exp(), self.log_Q.exp()
        return (self.log10_rate_ref + n * torch.log10(stress / self.stress_ref)
                - q * 1e3 / (GAS_CONSTANT * math.log(10.0)) * (1.0 / T - 1.0 / self.T_ref))

    def check_inputs(self, x: Tensor) -> None:
        T, stress = self._columns(x)
        _check_finite(x, self.input_description, "Norton")
        check_kelvin(T, "Norton", min_kelvin=273.15)
        if (stress <= 0).any():
            raise ValueError(f"Norton: stress must be > 0 MPa; got minimum {float(stress.min()):.4g}.")

    def physical_params(self, params: Mapping[str, Tensor] | None = None) -> dict[str, Quantity]:
        rate = torch.pow(10.0, self._get(params, "log10_rate_ref"))
        n, q = self._get(params, "log_n").exp(), self._get(params, "log_Q").exp()
        return {
            "rate_ref": Quantity(rate, "1/h", f"minimum creep rate at {self.stress_ref:g} MPa and {self.T_ref:g} K"),
            "n": Quantity(n, "1", "stress exponent"),
            "Q": Quantity(q, "kJ/mol", "activation energy of creep"),
        }

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        return {"log10_rate_ref": (-20.0, 10.0), "log_n": (math.log(0.5), math.log(30.0)), "log_Q": (math.log(10.0), math.log(3000.0))}

    def initial_guess(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """Least squares of the linear form over the parameters the tests determine (``n``
        needs two stresses, ``Q`` two temperatures); the others keep their current values."""
        T, stress = self._columns(x.double())
        y = y.double().reshape(-1)
        current = {"n": float(self.log_n.detach().exp()), "Q": float(self.log_Q.detach().exp())}
        design = {"n": torch.log10(stress / self.stress_ref), "Q": -(1.0 / T - 1.0 / self.T_ref) * 1e3 / (GAS_CONSTANT * math.log(10.0))}
        free = [k for k, col in design.items() if len(col) > 1 and float(col.var()) > 1e-12]
        rest = y - sum(current[k] * design[k] for k in design if k not in free)
        guess = {"log10_rate_ref": float(self.log10_rate_ref.detach()), "log_n": math.log(current["n"]), "log_Q": math.log(current["Q"])}
        if len(y) < 1 + len(free):
            return guess
        A = torch.stack([torch.ones_like(T), *(design[k] for k in free)], 1)
        coef = torch.linalg.lstsq(A, rest.unsqueeze(1)).solution.reshape(-1).tolist()
        guess["log10_rate_ref"] = coef[0]
        for k, c in zip(free, coef[1:]):
            lo, hi = self.bounds["log_" + k]
            guess["log_" + k] = min(max(math.log(max(c, 1e-9)), lo), hi)
        return guess
