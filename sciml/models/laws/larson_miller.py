r"""Creep rupture life by the Larson-Miller parameter."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from sciml.models.laws.base import PhysicalLaw, Quantity, _check_finite, check_kelvin, two_columns


class LarsonMiller(PhysicalLaw):
    r"""Rupture life from temperature and stress through the Larson-Miller parameter.

    .. math::
        \mathrm{LMP} = T\,(C + \log_{10} t_r), \qquad
        \frac{\mathrm{LMP}(\sigma)}{1000\ \mathrm{K}} = P_\mathrm{ref} + b \log_{10}\frac{\sigma}{\sigma_\mathrm{ref}}

    so the law predicts :math:`\log_{10} t_r = 1000\,(P_\mathrm{ref} + b \log_{10}(\sigma /
    \sigma_\mathrm{ref})) / T - C` (``t_r`` in hours, the unit the constant ``C`` is quoted in).
    The master curve is linear in log stress (the form a few tests can pin down); ``C`` is the
    Larson-Miller constant (about 20 for many metals).

    Args:
        C: Initial Larson-Miller constant [1] (``t_r`` in hours).
        P_ref: Initial ``LMP / 1000`` at the reference stress [1000 K].
        slope: Initial ``d(LMP / 1000) / d log10(stress)`` [1000 K per decade]; negative (more
            stress, shorter life).
        stress_ref: Reference stress [MPa].
        fit_C: ``False`` holds ``C`` fixed (a buffer): the classic per-material fit with
            ``C = 20``, two parameters a few tests can determine.

    Shapes:
        - input: ``[n, 2]``: temperature [K], stress [MPa]
        - output: ``log10`` rupture time [h], ``[n]``
    """

    input_description = "(temperature [K], stress [MPa])"
    target_description = "log10 rupture time [h]"

    def __init__(self, C: float = 20.0, P_ref: float = 40.0, slope: float = -8.0, stress_ref: float = 100.0,
                 fit_C: bool = True) -> None:
        super().__init__()
        if not stress_ref > 0:
            raise ValueError(f"LarsonMiller: stress_ref must be a stress in MPa (> 0), got {stress_ref}.")
        self.remember(C=C, P_ref=P_ref, slope=slope, stress_ref=stress_ref, fit_C=fit_C)
        self.stress_ref, self.fit_C = float(stress_ref), bool(fit_C)
        if fit_C:
            self.C = nn.Parameter(torch.tensor(float(C)))
        else:
            self.register_buffer("C", torch.tensor(float(C)))
        self.P_ref = nn.Parameter(torch.tensor(float(P_ref)))
        self.slope = nn.Parameter(torch.tensor(float(slope)))

    def _columns(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return two_columns(x, "LarsonMiller", "temperature [K], stress [MPa]")

    def lmp(self, stress_MPa: Tensor, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """The Larson-Miller parameter [K] at ``stress_MPa``."""
        p, b = self._get(params, "P_ref"), self._get(params, "slope")
        return 1000.0 * (p + b * torch.log10(stress_MPa / self.stress_ref))

    def evaluate(self, x: Tensor) -> Tensor:
        T, stress = self._columns(x)
        return self.lmp(stress) / T - self.C

    def check_inputs(self, x: Tensor) -> None:
        T, stress = self._columns(x)
        _check_finite(x, self.input_description, "LarsonMiller")
        check_kelvin(T, "LarsonMiller", min_kelvin=273.15)
        if (stress <= 0).any():
            raise ValueError(f"LarsonMiller: stress must be > 0 MPa; got minimum {float(stress.min()):.4g}. Convert psi with "
                             "1 psi = 0.006894757 MPa and ksi with 1 ksi = 6.894757 MPa.")

    def physical_params(self, params: Mapping[str, Tensor] | None = None) -> dict[str, Quantity]:
        c = self._get(params, "C") if self.fit_C else self.C
        return {
            "C": Quantity(c, "1", "Larson-Miller constant (rupture time in hours)" + ("" if self.fit_C else ", held fixed")),
            "LMP_ref": Quantity(1000.0 * self._get(params, "P_ref"), "K", f"Larson-Miller parameter at {self.stress_ref:g} MPa"),
            "slope": Quantity(1000.0 * self._get(params, "slope"), "K/decade", "change of the LMP per decade of stress"),
        }

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        out = {"P_ref": (1.0, 200.0), "slope": (-200.0, 0.0)}
        return {"C": (0.0, 80.0), **out} if self.fit_C else out

    def initial_guess(self, x: Tensor, y: Tensor) -> dict[str, float]:
        """``C`` as it is; the master curve from the data's LMP at that ``C``: ``P_ref`` from
        its mean, the slope from a least-squares line in log stress when the stresses differ."""
        T, stress = self._columns(x.double())
        c = float(self.C.detach())
        slope = float(self.slope.detach())
        lmp = T * (c + y.double()) / 1000.0
        s = torch.log10(stress / self.stress_ref)
        if len(s) > 1 and float(s.var()) > 1e-12:
            slope = float(((s - s.mean()) * (lmp - lmp.mean())).sum() / ((s - s.mean()) ** 2).sum())
        slope = min(max(slope, -199.0), -1e-3)
        p_ref = float((lmp - slope * s).mean())
        guess = {"P_ref": min(max(p_ref, 1.5), 199.0), "slope": slope}
        return {"C": c, **guess} if self.fit_C else guess
