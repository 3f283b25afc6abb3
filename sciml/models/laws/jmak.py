"""JMAK (Johnson-Mehl-Avrami-Kolmogorov) transformation kinetics."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from sciml.models.laws.base import GAS_CONSTANT, PhysicalLaw, Quantity, as_column, check_kelvin, log_param

_MIN_TIME = 1e-6  # s: keeps log(t) finite at t = 0 (X is 0 there anyway)
_FRACTION_TOLERANCE = 0.02
MIN_ANNEAL_KELVIN = 250.0
"""Recrystallization and phase-transformation anneals run far above this; lower values are
Celsius or room-temperature entries."""


def _jmak_fraction(log_k: Tensor, log_n: Tensor, t: Tensor) -> Tensor:
    """``X = 1 - exp(-(k t)^n)`` computed as ``-expm1(-exp(n (ln k + ln t)))`` (stable)."""
    z = log_n.exp() * (log_k + t.clamp_min(_MIN_TIME).log())
    return -torch.expm1(-z.clamp(-40.0, 20.0).exp())


def _check_fraction(y: Tensor, law: str) -> None:
    if torch.is_floating_point(y) and not torch.isfinite(y).all():
        raise ValueError(f"{law}: transformed fraction X contains NaN or infinite values; drop those points.")
    lo, hi = float(y.min()), float(y.max())
    if lo < -_FRACTION_TOLERANCE or hi > 1 + _FRACTION_TOLERANCE:
        hint = " It looks like percent: divide by 100." if hi > 1.5 else ""
        raise ValueError(
            f"{law}: transformed fraction X must lie in [0, 1] (noise of {_FRACTION_TOLERANCE:g} "
            f"tolerated); got values in [{lo:.3g}, {hi:.3g}].{hint}"
        )


def _check_times(t: Tensor, law: str) -> None:
    if not torch.isfinite(t).all():
        rows = torch.nonzero(~torch.isfinite(t)).flatten().tolist()
        raise ValueError(f"{law}: time contains NaN or infinite values at rows {rows[:10]}; drop those points.")
    if (t < 0).any():
        rows = torch.nonzero(t < 0).flatten().tolist()
        raise ValueError(
            f"{law}: time must be >= 0 s (time since the start of the anneal); negative values at "
            f"rows {rows[:10]} (first: {float(t[rows[0]]):.4g})."
        )


def check_time_temperature(x: Tensor, law: str) -> None:
    """Inputs ``[n, 2]`` of anneal time [s] (finite, >= 0) and temperature [K] of a law across
    temperatures; raises ``ValueError`` naming the problem and the fix."""
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(
            f"{law} needs two input columns, time [s] and temperature [K]; got shape {tuple(x.shape)}. "
            "If the temperature is missing, add it as the second column (in kelvin)."
        )
    _check_times(x[:, 0], law)
    check_kelvin(x[:, 1], law, min_kelvin=MIN_ANNEAL_KELVIN)


class JMAK(PhysicalLaw):
    r"""Isothermal JMAK kinetics with an optional incubation time.

    .. math::
        X(t) = 1 - \exp\!\left(-\left(k\,(t - t_0)_+\right)^n\right)

    Parameters are stored unconstrained: ``log_k`` (k in 1/s), ``log_n`` and, with
    ``incubation=True``, ``log_t0`` (t0 in s).

    Args:
        k: Initial rate constant [1/s].
        n: Initial Avrami exponent [1].
        incubation: Add an incubation time ``t0``.
        t0: Initial incubation time [s] (with ``incubation=True``).

    Shapes:
        - input: time [s], ``[n]`` or ``[n, 1]``
        - output: transformed fraction X [1], ``[n]``
    """

    input_description = "time [s]"
    target_description = "transformed fraction X [1]"

    def __init__(self, k: float = 1e-3, n: float = 1.5, incubation: bool = False, t0: float = 1.0) -> None:
        super().__init__()
        self.remember(k=k, n=n, incubation=incubation, t0=t0)
        self.log_k = log_param(k, "k", "JMAK")
        self.log_n = log_param(n, "n", "JMAK")
        self.incubation = incubation
        if incubation:
            self.log_t0 = log_param(t0, "t0", "JMAK")

    def evaluate(self, x: Tensor) -> Tensor:
        t = as_column(x, "JMAK", "time")
        if self.incubation:
            t = t - self.log_t0.exp()
        return _jmak_fraction(self.log_k, self.log_n, t)

    def check_inputs(self, x: Tensor) -> None:
        _check_times(as_column(x, "JMAK", "time [s]"), "JMAK")

    def check_targets(self, y: Tensor) -> None:
        _check_fraction(y, "JMAK")

    def physical_params(self, params: Mapping[str, Tensor] | None = None) -> dict[str, Quantity]:
        k = self._get(params, "log_k").exp()
        n = self._get(params, "log_n").exp()
        out = {
            "k": Quantity(k, "1/s", "rate constant"),
            "n": Quantity(n, "1", "Avrami exponent"),
        }
        t50 = math.log(2.0) ** (1.0 / n) / k
        if self.incubation:
            t0 = self._get(params, "log_t0").exp()
            out["t0"] = Quantity(t0, "s", "incubation time")
            t50 = t50 + t0
        out["t50"] = Quantity(t50, "s", "time to half transformation")
        return out

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        b = {"log_k": (-40.0, 10.0), "log_n": (math.log(0.1), math.log(20.0))}
        if self.incubation:
            b["log_t0"] = (-20.0, 25.0)
        return b

    def initial_guess(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """n = 1.5 and k from the time where the data cross X = 0.5 (log-interpolated)."""
        t = as_column(x, "JMAK", "time").double()
        t50 = estimate_t50(t, y.double())
        n = 1.5
        guess = {"log_k": math.log(math.log(2.0) ** (1 / n) / t50), "log_n": math.log(n)}
        if self.incubation:
            positive = t[t > 0]
            guess["log_t0"] = math.log(float(positive.min()) / 10 if positive.numel() else 1.0)
        return guess


def estimate_t50(t: Tensor, y: Tensor) -> float:
    """Time [s] at which measured fractions cross 0.5, interpolated in log time.

    Falls back to twice the last time (all points below 0.5) or half the first positive time
    (all above).
    """
    order = torch.argsort(t)
    t, y = t[order].clamp_min(_MIN_TIME), y[order]
    above = torch.nonzero(y >= 0.5).flatten()
    if above.numel() == 0:
        return float(t.max()) * 2.0
    i = int(above[0])
    if i == 0:
        return float(t[0]) / 2.0
    t0, t1, y0, y1 = (float(v) for v in (t[i - 1], t[i], y[i - 1], y[i]))
    w = (0.5 - y0) / max(y1 - y0, 1e-12)
    return math.exp(math.log(t0) + w * (math.log(t1) - math.log(t0)))


class JMAKArrhenius(PhysicalLaw):
    r"""JMAK kinetics across temperatures, with an Arrhenius rate.

    .. math::
        X(t, T) = 1 - \exp\!\left(-(k(T)\,t)^n\right), \qquad
        \ln k(T) = \ln k_\mathrm{ref} - \frac{Q}{R}\left(\frac{1}{T} - \frac{1}{T_\mathrm{ref}}\right)

    The rate is parameterized by its value at a reference temperature ``T_ref`` and the
    activation energy ``Q``, not by the pre-factor ``k0 = k_ref exp(Q / (R T_ref))``: across
    materials ``ln k0`` and ``Q`` are almost collinear (r = 0.994 over tungsten fits), which
    makes ``(k0, Q)`` a badly conditioned pair to learn or to put a prior on.

    Stored unconstrained: ``log_k_ref`` (1/s), ``log_Q`` (Q in kJ/mol), ``log_n``.

    Args:
        T_ref: Reference temperature [K] (pick the middle of the temperatures of interest).
        k_ref: Initial rate constant at ``T_ref`` [1/s].
        Q: Initial activation energy [kJ/mol].
        n: Initial Avrami exponent [1].

    Shapes:
        - input: ``[n, 2]``, columns time [s] and temperature [K]
        - output: transformed fraction X [1], ``[n]``
    """

    input_description = "(time [s], temperature [K])"
    target_description = "transformed fraction X [1]"

    def __init__(self, T_ref: float, k_ref: float = 1e-3, Q: float = 300.0, n: float = 1.5) -> None:
        super().__init__()
        if not T_ref > 0:
            raise ValueError(f"JMAKArrhenius: T_ref must be a temperature in kelvin (> 0), got {T_ref}.")
        self.remember(T_ref=T_ref, k_ref=k_ref, Q=Q, n=n)
        self.T_ref = float(T_ref)
        self.log_k_ref = log_param(k_ref, "k_ref", "JMAKArrhenius")
        self.log_Q = log_param(Q, "Q", "JMAKArrhenius")
        self.log_n = log_param(n, "n", "JMAKArrhenius")

    def log_rate(self, T: Tensor, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """``ln k(T)`` [ln(1/s)] at temperatures ``T`` [K]."""
        q_over_r = self._get(params, "log_Q").exp() * 1e3 / GAS_CONSTANT
        return self._get(params, "log_k_ref") - q_over_r * (1.0 / T - 1.0 / self.T_ref)

    def evaluate(self, x: Tensor) -> Tensor:
        t, T = x[..., 0], x[..., 1]
        return _jmak_fraction(self.log_rate(T), self.log_n, t)

    def check_inputs(self, x: Tensor) -> None:
        check_time_temperature(x, "JMAKArrhenius")

    def check_targets(self, y: Tensor) -> None:
        _check_fraction(y, "JMAKArrhenius")

    def t50(self, T: Tensor | float, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """Time to half transformation [s] at temperature(s) ``T`` [K]."""
        T = torch.as_tensor(T, dtype=self.log_n.dtype)
        n = self._get(params, "log_n").exp()
        return math.log(2.0) ** (1.0 / n) / self.log_rate(T, params).exp()

    def physical_params(self, params: Mapping[str, Tensor] | None = None) -> dict[str, Quantity]:
        k_ref = self._get(params, "log_k_ref").exp()
        q = self._get(params, "log_Q").exp()
        n = self._get(params, "log_n").exp()
        k0 = k_ref * torch.exp(q * 1e3 / (GAS_CONSTANT * self.T_ref))
        return {
            "k_ref": Quantity(k_ref, "1/s", f"rate constant at T_ref = {self.T_ref:g} K"),
            "Q": Quantity(q, "kJ/mol", "activation energy"),
            "n": Quantity(n, "1", "Avrami exponent"),
            "k0": Quantity(k0, "1/s", "Arrhenius pre-factor"),
            "t50_ref": Quantity(self.t50(self.T_ref, params), "s", "time to half transformation at T_ref"),
        }

    def initial_guess(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """n = 1.5, the current Q, and k_ref from where the data cross X = 0.5 (at their mean
        temperature, moved to ``T_ref`` with that Q)."""
        t, T = x[:, 0].double(), x[:, 1].double()
        n = 1.5
        q = float(self.log_Q.detach().exp())
        t50 = estimate_t50(t, y.double())
        t_mean = float(T.mean())
        ln_k = math.log(math.log(2.0) ** (1 / n) / t50) + q * 1e3 / GAS_CONSTANT * (1 / t_mean - 1 / self.T_ref)
        return {"log_k_ref": ln_k, "log_Q": math.log(q), "log_n": math.log(n)}

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        return {"log_k_ref": (-40.0, 10.0), "log_Q": (math.log(5.0), math.log(2000.0)), "log_n": (math.log(0.1), math.log(20.0))}


