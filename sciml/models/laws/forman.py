r"""Fatigue crack growth rate by Forman's equation."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from sciml.models.laws.base import PhysicalLaw, Quantity, _check_finite, log_param, two_columns

GAP_SCALE = 0.05
"""MPa sqrt(m): below this distance to the asymptote ``(1 - R) K_c`` the denominator is smoothed."""


class Forman(PhysicalLaw):
    r"""Forman's crack growth law, the Paris law with a fracture-toughness asymptote.

    .. math::
        \frac{da}{dN} = \frac{C\,\Delta K^{\,n}}{(1 - R)\,K_c - \Delta K}

    written in log10 with the numerator's value at a reference ``Delta K`` instead of ``C``
    (``C`` and ``n`` are almost collinear across materials):

    .. math::
        \log_{10}\frac{da}{dN} = \log_{10} g_\mathrm{ref} + n \log_{10}\frac{\Delta K}{\Delta K_\mathrm{ref}}
        - \log_{10}\big((1 - R)\,K_c - \Delta K\big), \qquad g_\mathrm{ref} = C\,\Delta K_\mathrm{ref}^{\,n}

    (the denominator smoothed within :data:`GAP_SCALE` of the asymptote, see :meth:`log10_gap`)

    Units as in Forman parameter tables (e.g. Schwarmann 1986): ``da/dN`` in m/cycle, ``Delta K``
    and ``K_c`` in MPa sqrt(m), ``C`` in (m/cycle) (MPa sqrt(m))^(1 - n). There is no threshold:
    near-threshold growth is overestimated.

    Stored: ``log10_g_ref`` (``g_ref`` in m/cycle MPa sqrt(m)), ``log_n``, ``log_Kc`` (``K_c`` in
    MPa sqrt(m)).

    Args:
        C: Initial coefficient [(m/cycle) (MPa sqrt(m))^(1 - n)].
        n: Initial exponent [1].
        Kc: Initial fracture toughness [MPa sqrt(m)].
        delta_K_ref: Reference stress intensity range [MPa sqrt(m)].

    Shapes:
        - input: ``[n, 2]``: stress intensity range Delta K [MPa sqrt(m)], stress ratio R [1]
        - output: ``log10`` crack growth rate [m/cycle], ``[n]``
    """

    input_description = "(stress intensity range Delta K [MPa sqrt(m)], stress ratio R [1])"
    target_description = "log10 crack growth rate da/dN [m/cycle]"

    def __init__(self, C: float = 1e-8, n: float = 2.7, Kc: float = 70.0, delta_K_ref: float = 10.0) -> None:
        super().__init__()
        if not C > 0:
            raise ValueError(f"Forman: C must be positive, got {C}.")
        if not delta_K_ref > 0:
            raise ValueError(f"Forman: delta_K_ref must be a stress intensity range in MPa sqrt(m) (> 0), got {delta_K_ref}.")
        self.remember(C=C, n=n, Kc=Kc, delta_K_ref=delta_K_ref)
        self.delta_K_ref = float(delta_K_ref)
        self.log10_g_ref = nn.Parameter(torch.tensor(math.log10(C) + n * math.log10(delta_K_ref)))
        self.log_n = log_param(n, "n", "Forman")
        self.log_Kc = log_param(Kc, "Kc", "Forman")

    def _columns(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return two_columns(x, "Forman", "Delta K [MPa sqrt(m)], R [1]")

    def log10_gap(self, dk: Tensor, r: Tensor, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """``log10((1 - R) K_c - Delta K)``, smoothed below ``GAP_SCALE``: ``s softplus(gap / s)``
        equals the gap above a few ``s`` and keeps a gradient towards larger ``K_c`` where a
        point lies beyond the asymptote (a calibration can start there)."""
        z = ((1.0 - r) * self._get(params, "log_Kc").exp() - dk) / GAP_SCALE
        log_softplus = torch.where(z < -30.0, z, torch.log(softplus(z.clamp_min(-30.0))))
        return (log_softplus + math.log(GAP_SCALE)) / math.log(10.0)

    def evaluate(self, x: Tensor) -> Tensor:
        dk, r = self._columns(x)
        return self.log10_g_ref + self.log_n.exp() * torch.log10(dk / self.delta_K_ref) - self.log10_gap(dk, r)

    def check_inputs(self, x: Tensor) -> None:
        dk, r = self._columns(x)
        _check_finite(x, self.input_description, "Forman")
        if (dk <= 0).any():
            raise ValueError(f"Forman: Delta K must be > 0 MPa sqrt(m); got minimum {float(dk.min()):.4g}. "
                             "Convert ksi sqrt(in) with 1 ksi sqrt(in) = 1.0988 MPa sqrt(m).")
        if (r < -1).any() or (r >= 1).any():
            raise ValueError(f"Forman: the stress ratio R = K_min / K_max must lie in [-1, 1); got {float(r.min()):.3g} to "
                             f"{float(r.max()):.3g}.")

    def check_targets(self, y: Tensor) -> None:
        _check_finite(y, self.target_description, "Forman")
        if float(y.max()) > 0:
            raise ValueError(f"Forman: targets are log10 da/dN in m/cycle (negative, e.g. -8 for 1e-8 m/cycle); got up to "
                             f"{float(y.max()):.3g}. Pass log10 of the rate, in m/cycle.")

    def physical_params(self, params: Mapping[str, Tensor] | None = None) -> dict[str, Quantity]:
        n = self._get(params, "log_n").exp()
        g_ref = 10.0 ** self._get(params, "log10_g_ref")
        return {
            "C": Quantity(g_ref / self.delta_K_ref**n, "(m/cycle) (MPa sqrt(m))^(1-n)", "Forman coefficient"),
            "n": Quantity(n, "1", "Forman exponent"),
            "Kc": Quantity(self._get(params, "log_Kc").exp(), "MPa sqrt(m)", "fracture toughness"),
            "g_ref": Quantity(g_ref, "m/cycle MPa sqrt(m)", f"C Delta K^n at Delta K = {self.delta_K_ref:g} MPa sqrt(m)"),
        }

    def initial_guess(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """The current ``n``; ``K_c`` at least 1.5 times the largest ``Delta K / (1 - R)``; ``g_ref``
        from the mean of the data at those."""
        dk, r = self._columns(x.double())
        n = float(self.log_n.detach().exp())
        kc = max(float(self.log_Kc.detach().exp()), 1.5 * float((dk / (1 - r)).max()))
        rest = n * torch.log10(dk / self.delta_K_ref) - torch.log10((1 - r) * kc - dk)
        return {"log10_g_ref": float((y.double() - rest).mean()), "log_n": math.log(n), "log_Kc": math.log(kc)}

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        return {"log10_g_ref": (-15.0, 0.0), "log_n": (math.log(0.5), math.log(10.0)), "log_Kc": (math.log(1.0), math.log(1000.0))}
