"""A literature-grounded synthetic family of alloys with JMAK-Arrhenius kinetics.

Each alloy gets an Avrami exponent ``n``, an activation energy ``Q`` and a time to half
transformation ``t50_ref`` at the family's reference temperature, drawn from the ranges
published for that process family (see ``datasets/jmak-synthetic-alloys/README.md``). ``Q`` is
sampled together with the rate at the reference temperature, not with the pre-factor ``k0``:
that reproduces the near-collinearity of ``ln k0`` and ``Q`` seen in real fits.

Every alloy is annealed at a few temperatures inside the family's window; each anneal is an
isotherm of log-spaced measurement times with Gaussian noise on the measured fraction. The
times are scheduled as a laboratory would: around the t50 it *expects* for the family at that
temperature (the family's central rate and activation energy), not around the alloy's unknown
true t50, so for alloys far from the family centre many points sit before the transformation
starts or after it ends. One isotherm is one task; the alloy is the
group, so splits never put two isotherms of one alloy on both sides.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch

from sciml.models.laws import JMAKArrhenius
from sciml.models.laws.base import GAS_CONSTANT
from sciml.tasks import Task, TaskSet, TensorData


@dataclass(frozen=True)
class KineticsFamily:
    """Literature ranges of one process family.

    Attributes:
        name: Family key.
        process: What transforms.
        n_range: Avrami exponent range [1].
        Q_range: Activation energy range [kJ/mol].
        T_window_C: Temperatures studied [C].
        t50_ref_range_s: Time to half transformation at ``T_ref_C`` [s].
        T_ref_C: Reference temperature [C].
        lab_window_s: Shortest and longest isotherm t50 [s] the family's experiments resolve.
        sources: Where the ranges come from.
        notes: How ranges were derived and what is assumed.
    """

    name: str
    process: str
    n_range: tuple[float, float]
    Q_range: tuple[float, float]
    T_window_C: tuple[float, float]
    t50_ref_range_s: tuple[float, float]
    T_ref_C: float
    lab_window_s: tuple[float, float]
    sources: str
    notes: str

    @property
    def T_ref_K(self) -> float:
        """Reference temperature [K]."""
        return self.T_ref_C + 273.15


FAMILIES: dict[str, KineticsFamily] = {
    f.name: f
    for f in [
        KineticsFamily(
            name="W_recrystallization",
            process="static recrystallization of warm/hot-rolled tungsten",
            n_range=(0.5, 3.0),
            Q_range=(179.0, 585.0),
            T_window_C=(1100.0, 1800.0),
            t50_ref_range_s=(0.5 * 3600, 30 * 3600),
            T_ref_C=1350.0,
            lab_window_s=(60.0, 2000 * 3600.0),
            sources=(
                "Lopez/Alfonso et al. 2015 (DTU, HR and MR plates); Richou et al. 2020 (ITER-grade W A/B); "
                "Yu et al. 2017 (hot-rolled W); Zan et al. 2019 (Y2O3-W); data and Bayesian JMAK fits in "
                "ml-ME-gatech/modeling_tungsten"
            ),
            notes=(
                "n: fitted exponents 0.49-2.95; Q: Arrhenius fits 179-585 kJ/mol; t50 at 1350 C: 0.8 h "
                "measured (Yu 2017) up to ~25 h (Lopez MR, 1480 h at 1150 C moved to 1350 C with Q = 400 "
                "kJ/mol); range widened to 0.5-30 h."
            ),
        ),
        KineticsFamily(
            name="CMn_steel_static_recrystallization",
            process="static recrystallization of austenite between hot-rolling passes",
            n_range=(0.52, 1.51),
            Q_range=(50.0, 230.0),
            T_window_C=(850.0, 1000.0),
            t50_ref_range_s=(0.01, 10.0),
            T_ref_C=925.0,
            lab_window_s=(0.01, 1000.0),
            sources=(
                "Hodgson & Gibbs, ISIJ Int. 32 (1992) 1329 (C-Mn: n = 1, Q = 230 kJ/mol, t50 law); "
                "S355J2, C20, C45, 54SiCr6 parameters from pyroll-project/pyroll-jmak-recrystallization"
            ),
            notes=(
                "t50 at 925 C from the Hodgson-Gibbs law for strains 0.1-0.5 and grain sizes 20-200 um "
                "(about 0.005-2 s), widened to 0.01-10 s to cover the other grades."
            ),
        ),
        KineticsFamily(
            name="CuZr_BMG_isothermal_crystallization",
            process="isothermal crystallization of Cu-Zr bulk metallic glasses (DSC)",
            n_range=(2.4, 4.74),
            Q_range=(451.0, 484.0),
            T_window_C=(470.0, 485.0),
            t50_ref_range_s=(100.0, 3000.0),
            T_ref_C=477.5,
            lab_window_s=(10.0, 1e5),
            sources=(
                "Qiao & Pelletier, J. Non-Cryst. Solids 357 (2011) 2590 (Cu46Zr45Al7Y2: n = 2.4-2.8, E = 484 "
                "kJ/mol); Cui et al., J. Non-Cryst. Solids 404 (2014) 7 (Cu38Zr46Ag8Al8: n = 4.10-4.74, "
                "E = 451 kJ/mol)"
            ),
            notes="t50 range is an assumption (typical isothermal DSC holds), not a published number.",
        ),
    ]
}


def check_families_against_table(path: str | Path) -> list[str]:
    """Compare :data:`FAMILIES` with the literature table they were taken from.

    Args:
        path: ``kinetics/jmak_prior_families.csv`` of the reference data (columns ``family,
            n_lo, n_hi, Q_lo_kJmol, Q_hi_kJmol, T_lo_C, T_hi_C``).

    Returns:
        The families checked.

    Raises:
        ValueError: if a family is missing from the table or a range differs.
    """
    table = pd.read_csv(path).set_index("family")
    checked = []
    for f in FAMILIES.values():
        if f.name not in table.index:
            raise ValueError(f"{path}: no row for family {f.name!r}.")
        row = table.loc[f.name]
        pairs = {
            "n": (f.n_range, (row.n_lo, row.n_hi)),
            "Q": (f.Q_range, (row.Q_lo_kJmol, row.Q_hi_kJmol)),
            "T window": (f.T_window_C, (row.T_lo_C, row.T_hi_C)),
        }
        for what, (ours, theirs) in pairs.items():
            if any(abs(float(a) - float(b)) > 1e-9 for a, b in zip(ours, theirs)):
                raise ValueError(f"{f.name}: {what} range {ours} differs from the table's {theirs} in {path}.")
        checked.append(f.name)
    return checked


@dataclass(frozen=True)
class AlloyTruth:
    """Ground truth of one synthetic alloy."""

    alloy: str
    family: str
    n: float
    Q_kJmol: float
    t50_ref_s: float
    T_ref_K: float

    @property
    def ln_k_ref(self) -> float:
        """ln of the rate constant at ``T_ref_K`` [ln(1/s)]."""
        return math.log(math.log(2.0) ** (1.0 / self.n) / self.t50_ref_s)

    def t50(self, T_K: float) -> float:
        """Time to half transformation [s] at ``T_K`` [K]."""
        ln_k = self.ln_k_ref - self.Q_kJmol * 1e3 / GAS_CONSTANT * (1.0 / T_K - 1.0 / self.T_ref_K)
        return math.log(2.0) ** (1.0 / self.n) / math.exp(ln_k)

    @property
    def ln_k0(self) -> float:
        """ln of the Arrhenius pre-factor [ln(1/s)]."""
        return self.ln_k_ref + self.Q_kJmol * 1e3 / (GAS_CONSTANT * self.T_ref_K)


@dataclass(frozen=True)
class SyntheticAlloyFamily:
    """Generator of synthetic alloys of one :class:`KineticsFamily`.

    Args:
        family: Key of :data:`FAMILIES`.
        temperatures_per_alloy: Isotherms per alloy.
        points_per_isotherm: Measurements per isotherm.
        noise_sd: Standard deviation of the measured fraction [1] (EBSD/hardness-based
            fractions scatter by a few percent).
        window_before: Decades before the expected t50 of the first measurement (uniform range).
        window_after: Decades after the expected t50 of the last measurement (uniform range).
    """

    family: str = "W_recrystallization"
    temperatures_per_alloy: int = 3
    points_per_isotherm: int = 10
    noise_sd: float = 0.03
    window_before: tuple[float, float] = (1.0, 1.5)
    window_after: tuple[float, float] = (1.0, 1.5)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise KeyError(f"Unknown kinetics family {self.family!r}; choose from {sorted(FAMILIES)}.")
        if self.points_per_isotherm < 3:
            raise ValueError("points_per_isotherm must be >= 3.")

    @property
    def spec(self) -> KineticsFamily:
        """The literature ranges used."""
        return FAMILIES[self.family]

    def nominal(self) -> AlloyTruth:
        """The family's centre (mid n and Q, geometric-mean t50): what a lab expects."""
        f = self.spec
        return AlloyTruth(
            alloy="nominal",
            family=f.name,
            n=sum(f.n_range) / 2,
            Q_kJmol=sum(f.Q_range) / 2,
            t50_ref_s=math.sqrt(f.t50_ref_range_s[0] * f.t50_ref_range_s[1]),
            T_ref_K=f.T_ref_K,
        )

    def sample_truths(self, n_alloys: int, seed: int) -> list[AlloyTruth]:
        """Draw the ground-truth parameters of ``n_alloys`` alloys."""
        f = self.spec
        g = torch.Generator().manual_seed(seed)

        def u(lo: float, hi: float) -> float:
            return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))

        out = []
        for i in range(n_alloys):
            out.append(
                AlloyTruth(
                    alloy=f"{f.name}-{seed}-{i:03d}",
                    family=f.name,
                    n=u(*f.n_range),
                    Q_kJmol=u(*f.Q_range),
                    t50_ref_s=math.exp(u(math.log(f.t50_ref_range_s[0]), math.log(f.t50_ref_range_s[1]))),
                    T_ref_K=f.T_ref_K,
                )
            )
        return out

    def measurements(self, n_alloys: int, seed: int = 0) -> pd.DataFrame:
        """A tidy table of synthetic measurements, one row a point.

        Columns: ``alloy, family, isotherm, temperature_K, time_s, X, X_true, n_true,
        Q_true_kJmol, t50_true_s`` (``t50_true_s`` at the isotherm's temperature).
        """
        f = self.spec
        g = torch.Generator().manual_seed(seed + 10_007)
        rows = []
        lo_T, hi_T = f.T_window_C[0] + 273.15, f.T_window_C[1] + 273.15
        expected = self.nominal()
        for truth in self.sample_truths(n_alloys, seed):
            for _ in range(self.temperatures_per_alloy):
                for _ in range(200):
                    T = lo_T + (hi_T - lo_T) * float(torch.rand((), generator=g, dtype=torch.float64))
                    t50 = truth.t50(T)
                    if f.lab_window_s[0] <= t50 <= f.lab_window_s[1]:
                        break
                else:  # no temperature puts t50 inside the lab window: use the reference temperature
                    T, t50 = truth.T_ref_K, truth.t50_ref_s
                r = torch.rand(2, generator=g, dtype=torch.float64)
                before = self.window_before[0] + (self.window_before[1] - self.window_before[0]) * float(r[0])
                after = self.window_after[0] + (self.window_after[1] - self.window_after[0]) * float(r[1])
                centre = math.log10(expected.t50(T))
                times = torch.logspace(centre - before, centre + after, self.points_per_isotherm, dtype=torch.float64)
                k = math.log(2.0) ** (1.0 / truth.n) / t50
                x_true = 1.0 - torch.exp(-((k * times) ** truth.n))
                x_obs = (x_true + self.noise_sd * torch.randn(times.shape, generator=g, dtype=torch.float64)).clamp(0.0, 1.0)
                for t, xo, xt in zip(times.tolist(), x_obs.tolist(), x_true.tolist()):
                    rows.append(
                        {
                            "alloy": truth.alloy,
                            "family": truth.family,
                            "isotherm": f"{truth.alloy}@{T:.1f}K",
                            "temperature_K": T,
                            "time_s": t,
                            "X": xo,
                            "X_true": xt,
                            "n_true": truth.n,
                            "Q_true_kJmol": truth.Q_kJmol,
                            "t50_true_s": t50,
                        }
                    )
        return pd.DataFrame(rows)

    def tasks(self, n_alloys: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> TaskSet:
        """Isotherm tasks (``x = [time s, temperature K]``, ``y = X``), grouped by alloy.

        Each task's metadata holds the truth: ``n``, ``Q_kJmol``, ``t50_s`` (at the task's
        temperature), ``temperature_K``.
        """
        df = self.measurements(n_alloys, seed)
        tasks = []
        for iso, rows in df.groupby("isotherm", sort=False):
            x = torch.tensor(rows[["time_s", "temperature_K"]].to_numpy().copy(), dtype=dtype)
            y = torch.tensor(rows["X"].to_numpy(), dtype=dtype)
            first = rows.iloc[0]
            tasks.append(
                Task(
                    support=TensorData(x, y),
                    query=TensorData(x[:0], y[:0]),
                    name=str(iso),
                    group=str(first["alloy"]),
                    metadata={
                        "units": {"time": "s", "temperature": "K", "X": "1"},
                        "n": float(first["n_true"]),
                        "Q_kJmol": float(first["Q_true_kJmol"]),
                        "t50_s": float(first["t50_true_s"]),
                        "temperature_K": float(first["temperature_K"]),
                        "family": self.family,
                        "provenance": f"sciml SyntheticAlloyFamily({self.family!r}, seed={seed})",
                    },
                )
            )
        return TaskSet(tasks)

    def material_tasks(self, n_alloys: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> TaskSet:
        """One task per alloy across its isotherms (``x = [time s, temperature K]`` ``[n, 2]``,
        ``y = X`` ``[n]``), as :func:`~sciml.materials.recrystallization.material_tasks` builds
        for real materials, with the truth as the reference: ``temperatures_K`` (sorted),
        ``t50_s`` (true t50 at each), ``n`` and ``Q_kJmol`` in metadata."""
        df = self.measurements(n_alloys, seed)
        tasks = []
        for alloy, rows in df.groupby("alloy", sort=False):
            rows = rows.sort_values(["temperature_K", "time_s"], kind="stable")
            x = torch.tensor(rows[["time_s", "temperature_K"]].to_numpy().copy(), dtype=dtype)
            y = torch.tensor(rows["X"].to_numpy(), dtype=dtype)
            iso = rows.groupby("temperature_K", sort=True).t50_true_s.first()
            first = rows.iloc[0]
            data = TensorData(x, y)
            tasks.append(Task(data, TensorData.empty_like(data), name=str(alloy), group=str(alloy), metadata={
                "units": {"time": "s", "temperature": "K", "X": "1"}, "temperatures_K": [float(t) for t in iso.index],
                "t50_s": [float(v) for v in iso.values], "n": float(first["n_true"]), "Q_kJmol": float(first["Q_true_kJmol"]),
                "family": self.family, "provenance": f"sciml SyntheticAlloyFamily({self.family!r}, seed={seed})"}))
        return TaskSet(tasks)

    def nominal_law(self) -> JMAKArrhenius:
        """A JMAK-Arrhenius law at the family's nominal parameters (a meta-learner's start)."""
        nominal = self.nominal()
        return JMAKArrhenius(T_ref=nominal.T_ref_K, k_ref=float(math.exp(nominal.ln_k_ref)), Q=nominal.Q_kJmol, n=nominal.n)

    def card(self) -> dict[str, object]:
        """The generator's settings and literature ranges, for manifests and dataset cards."""
        return {"generator": asdict(self), "family": asdict(self.spec)}


def time_only(tasks: TaskSet) -> TaskSet:
    """The same isotherm tasks with time [s] as the only input ``[n]`` (for the isothermal JMAK
    law and ``curve_fit``)."""
    return TaskSet(t.with_split(TensorData(t.support.x[:, 0], t.support.y), TensorData(t.query.x[:, 0], t.query.y)) for t in tasks)
