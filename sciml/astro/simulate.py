"""A simulator of variable-star and transient classes with survey-like sampling.

Each class draws its period, amplitude and light-curve shape from ranges published for it
(``datasets/variable-star-simulator/README.md`` lists them with citations). Times follow a
ground-based survey: seasons of a few months a year, irregular nights, and Gaussian
photometric noise. Used for meta-pretraining and for tests that need no data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sciml.astro.lightcurve import LightCurve


@dataclass(frozen=True)
class SignalClass:
    """Ranges of one class.

    Attributes:
        name: Class name.
        period_d: Period range [d] (log-uniform); ``None`` for aperiodic transients.
        amplitude_mag: Peak-to-peak amplitude range [mag].
        shape: ``shape(phase [0,1), rng) -> brightness in [0, 1]`` (1 = brightest).
        source: Where the ranges come from.
        irregular: Standard deviation of a red-noise term (a damped random walk with a
            timescale of one period) as a fraction of the amplitude; 0 for strictly periodic
            classes (semi-regular, red-giant and supergiant variables are not).
    """

    name: str
    period_d: tuple[float, float] | None
    amplitude_mag: tuple[float, float]
    shape: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    source: str
    irregular: float = 0.0


def _fourier(r21: tuple[float, float], r31: tuple[float, float], phi21: tuple[float, float], phi31: tuple[float, float]) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def shape(phase: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a2, a3 = rng.uniform(*r21), rng.uniform(*r31)
        p21, p31 = rng.uniform(*phi21), rng.uniform(*phi31)
        w = 2 * np.pi * phase
        y = np.sin(w) + a2 * np.sin(2 * w + p21) + a3 * np.sin(3 * w + p31)
        return (y - y.min()) / (y.max() - y.min())

    return shape


def _eclipsing(phase: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    width = rng.uniform(0.04, 0.12)
    secondary = rng.uniform(0.0, 0.6)
    d = np.minimum(np.abs(phase - 0.0), np.abs(phase - 1.0))
    d2 = np.abs(phase - 0.5)
    dip = np.exp(-0.5 * (d / width) ** 2) + secondary * np.exp(-0.5 * (d2 / width) ** 2)
    return 1.0 - dip / dip.max()


def _contact(phase: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ratio = rng.uniform(0.7, 1.0)
    w = 2 * np.pi * phase
    y = -np.cos(2 * w) * np.where(np.cos(w) > 0, 1.0, ratio)
    return (y - y.min()) / (y.max() - y.min())


CLASSES: dict[str, SignalClass] = {
    c.name: c
    for c in [
        SignalClass("RR_Lyrae_ab", (0.45, 0.9), (0.5, 1.2), _fourier((0.40, 0.55), (0.25, 0.40), (3.6, 4.4), (1.6, 2.6)),
                    "Sesar et al. 2010 (ApJ 708, 717): RRab periods 0.45-0.9 d, V amplitudes ~0.5-1.2 mag, sawtooth shape"),
        SignalClass("RR_Lyrae_c", (0.2, 0.45), (0.3, 0.6), _fourier((0.05, 0.20), (0.02, 0.10), (4.0, 5.2), (2.0, 3.6)),
                    "Sesar et al. 2010: RRc periods 0.2-0.45 d, amplitudes ~0.3-0.6 mag, nearly sinusoidal"),
        SignalClass("Classical_Cepheid", (1.0, 50.0), (0.3, 1.2), _fourier((0.30, 0.50), (0.10, 0.30), (4.0, 5.0), (1.8, 3.4)),
                    "Soszynski et al. 2008 (OGLE-III LMC Cepheids): fundamental-mode periods 1-50 d, I/V amplitudes 0.3-1.2 mag"),
        SignalClass("Delta_Scuti", (0.02, 0.25), (0.02, 0.3), _fourier((0.0, 0.1), (0.0, 0.05), (0.0, 6.28), (0.0, 6.28)),
                    "Breger 2000 (ASP Conf. 210, 3): periods 0.02-0.25 d, amplitudes mostly below 0.3 mag"),
        SignalClass("Mira", (100.0, 500.0), (2.5, 8.0), _fourier((0.0, 0.15), (0.0, 0.05), (0.0, 6.28), (0.0, 6.28)),
                    "GCVS definition (Samus et al. 2017): periods 80-1000 d, V amplitudes above 2.5 mag"),
        SignalClass("Eclipsing_Algol", (0.5, 10.0), (0.3, 1.5), _eclipsing,
                    "Prsa et al. 2011 (Kepler EBs): detached systems, narrow primary and optional secondary eclipses"),
        SignalClass("Eclipsing_WUMa", (0.25, 0.6), (0.2, 0.8), _contact,
                    "Rucinski 1993: contact binaries, periods 0.25-0.6 d, continuous variation with unequal minima"),
        SignalClass("Semiregular", (20.0, 1000.0), (0.2, 2.5), _fourier((0.0, 0.2), (0.0, 0.1), (0.0, 6.28), (0.0, 6.28)),
                    "After the GCVS definition of SRa/SRb (Samus et al. 2017): periods from 20 d upward, amplitudes below "
                    "those of Miras, cycles of changing amplitude and length", irregular=0.3),
        SignalClass("Small_amplitude_red_giant", (10.0, 100.0), (0.05, 0.5), _fourier((0.0, 0.2), (0.0, 0.1), (0.0, 6.28), (0.0, 6.28)),
                    "After Wray, Eyer & Paczynski 2004 (MNRAS 349, 1059): OGLE small-amplitude red giants, periods of about "
                    "10-100 d; the V amplitude range is chosen here", irregular=0.3),
        SignalClass("Long_secondary_period", (250.0, 1500.0), (0.1, 1.0), _fourier((0.0, 0.3), (0.0, 0.1), (0.0, 6.28), (0.0, 6.28)),
                    "After Wood, Olivier & Kawaler 2004 (ApJ 604, 800): red giants with long secondary periods of several "
                    "hundred to about 1500 d; the amplitude range is chosen here", irregular=0.2),
        SignalClass("Red_supergiant", (100.0, 1500.0), (0.1, 1.0), _fourier((0.0, 0.2), (0.0, 0.1), (0.0, 6.28), (0.0, 6.28)),
                    "After Kiss, Szabo & Bedding 2006 (MNRAS 372, 1721): red supergiants pulsating with periods of a few "
                    "hundred to a few thousand days under strong irregular (convective) variation; ranges chosen here",
                    irregular=0.5),
        SignalClass("Transient_Bazin", None, (1.0, 4.0), lambda p, r: p,
                    "Bazin et al. 2009 (A&A 499, 653): f(t) = A exp(-(t-t0)/tau_fall) / (1 + exp(-(t-t0)/tau_rise))"),
    ]
}


def red_noise(t: np.ndarray, scatter: float, timescale: float, rng: np.random.Generator) -> np.ndarray:
    """A damped random walk of standard deviation ``scatter`` [mag] and ``timescale`` [d] at the
    epochs ``t`` [d] (sorted), drawn exactly (Gaussian transitions between epochs), ``[n]``."""
    out = np.empty(len(t))
    out[0] = rng.normal() * scatter
    decay = np.exp(-np.diff(t) / timescale)
    steps = rng.normal(size=len(t) - 1) * scatter * np.sqrt(1 - decay**2)
    for k in range(1, len(t)):
        out[k] = out[k - 1] * decay[k - 1] + steps[k - 1]
    return out


def survey_times(rng: np.random.Generator, n: int, years: int = 6, season_days: float = 150.0) -> np.ndarray:
    """``n`` irregular epochs [d] in yearly observing seasons of ``season_days``."""
    season = rng.integers(0, years, n)
    return np.sort(season * 365.25 + rng.uniform(0, season_days, n))


@dataclass(frozen=True)
class SesarTemplates:
    """Empirical RR Lyrae shapes: Sesar et al. (2010) templates with each star's period and
    amplitude (:func:`sciml.data.astro.load_sesar_templates`)."""

    templates: dict[int, tuple[np.ndarray, np.ndarray]]
    stars: Any

    def draw(self, kind: str, rng: np.random.Generator) -> tuple[float, float, Callable[[np.ndarray], np.ndarray]]:
        """Period [d], amplitude [mag] and brightness-vs-phase of a random ``ab`` or ``c`` star."""
        rows = self.stars[self.stars["type"] == kind]
        row = rows.iloc[int(rng.integers(len(rows)))]
        phase, norm = self.templates[int(row["T"])]

        def shape(p: np.ndarray) -> np.ndarray:
            return 1.0 - np.interp(p, phase, norm, period=1.0)

        return float(row["P"]), float(row["A"]), shape


def simulate(
    name: str,
    rng: np.random.Generator,
    n_epochs: tuple[int, int] = (100, 400),
    noise_mag: tuple[float, float] = (0.01, 0.05),
    rrlyrae: SesarTemplates | None = None,
) -> tuple[LightCurve, dict[str, float]]:
    """One light curve of class ``name`` and its true parameters (``period``, ``amplitude``).

    With ``rrlyrae``, RR Lyrae curves take the period, amplitude and template shape of a
    random Stripe 82 star of the matching type (ab or c) instead of the Fourier ranges.
    """
    if name not in CLASSES:
        raise KeyError(f"Unknown class {name!r}; choose from {sorted(CLASSES)}.")
    c = CLASSES[name]
    n = int(rng.integers(*n_epochs))
    t = survey_times(rng, n)
    amp = rng.uniform(*c.amplitude_mag)
    sigma = rng.uniform(*noise_mag)
    if rrlyrae is not None and name in ("RR_Lyrae_ab", "RR_Lyrae_c"):
        period, amp, template = rrlyrae.draw(name[-2:].strip("_"), rng)
        bright = template(np.mod(t / period + rng.uniform(), 1.0))
        mag = 12.0 - amp * bright + rng.normal(0, sigma, n)
        return LightCurve(t, mag, np.full(n, sigma), name=f"sim-{name}"), {"period": period, "amplitude": float(amp)}
    if c.period_d is None:
        t0 = rng.uniform(t.min(), t.max())
        rise, fall = rng.uniform(2, 10), rng.uniform(10, 60)
        flux = np.exp(-(t - t0) / fall - np.logaddexp(0.0, -(t - t0) / rise))
        bright = flux / flux.max()
        period = float("nan")
    else:
        period = float(np.exp(rng.uniform(np.log(c.period_d[0]), np.log(c.period_d[1]))))
        phase = np.mod(t / period + rng.uniform(), 1.0)
        bright = c.shape(phase, rng)
        if c.irregular > 0:
            bright = bright + red_noise(t, c.irregular, period, rng)
    mag = 12.0 - amp * bright + rng.normal(0, sigma, n)
    return LightCurve(t, mag, np.full(n, sigma), name=f"sim-{name}"), {"period": period, "amplitude": float(amp)}
