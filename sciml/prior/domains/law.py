"""Physical-law priors: tables with units in, calibrated laws with intervals out."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call

from sciml.prior.calibration import Calibration
from sciml.prior.domains.base import Domain, check_support_size
from sciml.prior.schema import Column, TableSchema, check_residuals

if TYPE_CHECKING:
    import pandas as pd

    from sciml.meta.posterior import LaplacePosterior
    from sciml.prior.prior import Prior

JMAK_ARRHENIUS_SCHEMA = TableSchema(
    inputs=(
        Column("time", "time", "anneal time since the start of the isothermal hold", ("t", "anneal time"), scale="log"),
        Column("temperature", "temperature", "anneal temperature", ("T", "temp", "anneal temperature")),
    ),
    target=Column("X", "fraction", "recrystallized (transformed) fraction", ("fraction", "recrystallized fraction")),
    target_range=(0.0, 1.0),
)
"""Input table of a :class:`~sciml.models.laws.JMAKArrhenius` prior."""

JMAK_SCHEMA = TableSchema(
    inputs=(Column("time", "time", "time since the start of the isothermal hold", ("t",), scale="log"),),
    target=Column("X", "fraction", "transformed fraction", ("fraction",)),
    target_range=(0.0, 1.0),
)
"""Input table of an isothermal :class:`~sciml.models.laws.JMAK` prior."""

LARSON_MILLER_SCHEMA = TableSchema(
    inputs=(
        Column("temperature", "temperature", "test temperature", ("T", "temp", "test temperature")),
        Column("stress", "stress", "applied (engineering) stress", ("sigma", "applied stress"), scale="log", law_unit="MPa"),
    ),
    target=Column("rupture time", "time", "time to rupture", ("rupture life", "time to rupture", "rupture_time", "t_r", "life"),
                  scale="log", law_unit="h", transform="log10"),
)
"""Input table of a :class:`~sciml.models.laws.LarsonMiller` (creep rupture) prior: the law reads
temperature [K] and stress [MPa] and predicts log10 rupture time [h]; tables may use any unit."""

NORTON_SCHEMA = TableSchema(
    inputs=LARSON_MILLER_SCHEMA.inputs,
    target=Column("minimum creep rate", "strain rate", "minimum (secondary) creep rate",
                  ("min creep rate", "min_creep_rate", "creep rate", "secondary creep rate"), scale="log", law_unit="1/h",
                  transform="log10"),
)
"""Input table of a :class:`~sciml.models.laws.Norton` prior: temperature and stress in, log10
minimum creep rate [1/h] out; tables may use 1/s, 1/min, 1/h or %/h."""

FORMAN_SCHEMA = TableSchema(
    inputs=(
        Column("delta K", "stress intensity", "stress intensity range K_max - K_min",
               ("delta_K", "ΔK", "dK", "stress intensity range"), scale="log", law_unit="MPa*m^0.5"),
        Column("R", "none", "stress ratio K_min / K_max", ("stress ratio",)),
    ),
    target=Column("da/dN", "crack growth rate", "crack growth rate", ("dadn", "crack growth rate", "growth rate"),
                  scale="log", transform="log10"),
)
"""Input table of a :class:`~sciml.models.laws.Forman` (fatigue crack growth) prior: the law
reads Delta K [MPa sqrt(m)] and R and predicts log10 da/dN [m/cycle]; tables may use
``ksi sqrt(in)`` and ``in/cycle`` or ``mm/cycle``."""


def law_prior(learner: Any, tasks: Sequence[Any], noise_sd: float, schema: TableSchema | None = None, **kwargs: Any) -> Prior:
    """A :class:`~sciml.prior.Prior` of a trained law learner, with the inputs' training ranges
    read from ``tasks`` (in the units the law reads) and Gaussian measurement noise ``noise_sd``.

    Args:
        learner: The trained learner (its model a JMAK-Arrhenius or isothermal JMAK law, or any
            law when ``schema`` is given).
        tasks: The training tasks (their inputs set the plausibility ranges); empty for a prior
            built from something other than data (e.g. literature constants).
        noise_sd: Measurement noise standard deviation, in the unit of the law's target (e.g.
            decades for a log10 rupture time; the RMS residual of full fits on the training tasks).
        schema: The table schema (default: from the law's class, :func:`schema_of`).
        **kwargs: Other :class:`~sciml.prior.Prior` arguments (metrics, name, ...).
    """
    from sciml.prior.prior import Prior

    schema = schema or schema_of(learner.model)
    if tasks:
        schema = schema.with_training_ranges(torch.cat([t.data.x.reshape(len(t.data), -1).double() for t in tasks]).numpy())
    return Prior(learner, LawDomain(schema), noise={"kind": "gaussian", "sd": float(noise_sd), "unit": schema.target.value_unit},
                 **kwargs)


def schema_of(law: Any) -> TableSchema:
    """The table schema of a law class sciml knows (JMAK, JMAK-Arrhenius, Larson-Miller, Norton, Forman).

    Raises:
        ValueError: for another law (pass its schema explicitly).
    """
    from sciml.models.laws import JMAK, Forman, JMAKArrhenius, LarsonMiller, Norton

    for cls, schema in ((JMAKArrhenius, JMAK_ARRHENIUS_SCHEMA), (JMAK, JMAK_SCHEMA), (LarsonMiller, LARSON_MILLER_SCHEMA),
                        (Norton, NORTON_SCHEMA), (Forman, FORMAN_SCHEMA)):
        if isinstance(law, cls):
            return schema
    raise ValueError(f"Pass schema= for a {type(law).__name__} prior (its input columns and units).")


class LawDomain(Domain):
    """Tables of measurements for a physical law (columns and units from a :class:`TableSchema`).

    Args:
        schema: The input columns (in the law's input order) and the target.
    """

    kind = "law"

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "schema": self.schema.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LawDomain:
        return cls(TableSchema.from_dict(d["schema"]))

    def describe(self) -> str:
        return "a table with columns (units in the name, e.g. 'time [h]', or via units=):\n" + self.schema.describe()

    def check_prior(self, prior: Prior) -> None:
        if not hasattr(prior.learner.model, "physical_params"):
            raise TypeError("A law prior needs a PhysicalLaw model.")
        sd = prior.noise.get("sd")
        if prior.noise.get("kind") != "gaussian" or not isinstance(sd, (int, float)) or not sd > 0:
            raise ValueError("A law prior needs noise={'kind': 'gaussian', 'sd': <positive>, 'unit': ...} "
                             "(estimate sd from the residuals of full fits on the training tasks).")

    def from_table(self, frame: Any, base_dir: Path, *, labelled: bool) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (frame,), {}

    def tensors(self, prior: Prior, x: np.ndarray) -> Tensor:
        """SI inputs as a tensor in the law's dtype."""
        return torch.as_tensor(x, dtype=prior.learner._dtype)

    def calibrate(self, prior: Prior, support: Any, *, units: Mapping[str, str] | None = None, steps: int | None = None) -> LawCalibration:
        """Calibrate the law on a table of measurements.

        Args:
            prior: The prior.
            support: Table with the schema's input columns and target.
            units: Units of columns whose names carry none, e.g. ``{"time": "h", "temperature": "C"}``.
            steps: Inner steps (default: the learner's).
        """
        from sciml.tasks import TensorData

        x, y = self.schema.read(support, units)
        check_support_size(len(x), 1, "measurements")
        data = TensorData(self.tensors(prior, x), torch.as_tensor(y, dtype=prior.learner._dtype))
        adapted = prior.learner.adapt(data, steps)
        if any(not torch.isfinite(v).all() for v in adapted.params.values()):
            raise FloatingPointError("The calibration diverged (non-finite parameters); check the measurements and units.")
        sd = float(prior.noise["sd"])
        residuals = (adapted.predict(data.x) - data.y).double().numpy()
        check_residuals(residuals, sd)
        posterior = prior.learner.posterior(adapted, data, sd)
        return LawCalibration(prior, adapted, len(x), posterior=posterior, support_x=x, support_y=y)


@dataclass(frozen=True)
class LawCalibration(Calibration):
    """A physical law calibrated on a user's table, with its Laplace posterior.

    Attributes:
        posterior: Laplace posterior of the adapted parameters.
        support_x: Support inputs ``[n, d]`` in the units the law reads (SI unless a column names its own).
        support_y: Support targets ``[n]``.
    """

    posterior: LaplacePosterior
    support_x: np.ndarray
    support_y: np.ndarray

    @property
    def schema(self) -> TableSchema:
        """The prior's table schema."""
        return self.prior.domain.schema

    @property
    def law(self) -> Any:
        """The physical law."""
        return self.prior.learner.model

    def params(self, level: float = 0.9) -> pd.DataFrame:
        """Every named physical parameter with its ``level`` interval and unit.

        Returns:
            Columns ``parameter, value, lower, upper, unit, level``.
        """
        return self.posterior.physical_intervals(level)

    def interval(self, fn: Callable[[Mapping[str, Tensor]], Tensor], level: float = 0.9) -> tuple[float, float, float]:
        """Value and ``level`` interval of a positive scalar function of the parameters, e.g.
        ``cal.interval(lambda p: cal.law.t50(1523.15, p))`` (t50 [s] at 1250 C)."""
        return self.posterior.interval(fn, level)

    def _frame(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {c.label: x[:, i] for i, c in enumerate(self.schema.inputs)}

    @property
    def _temperature_index(self) -> int | None:
        """Position of the first temperature input (``None`` for a law without one)."""
        return next((i for i, c in enumerate(self.schema.inputs) if c.dimension == "temperature"), None)

    def predict(self, inputs: Any, *, units: Mapping[str, str] | None = None, level: float = 0.9) -> pd.DataFrame:
        """Mean and ``level`` predictive band (Laplace, measurement noise included), clipped to
        the target's valid range.

        Args:
            inputs: Table with the schema's input columns (a target column is ignored).
            units: Units of columns whose names carry none.
            level: Probability mass inside the band.

        Returns:
            The inputs in the law's units, ``mean``, ``lower``, ``upper`` (of what the law
            predicts: the target in its unit, or its log10 for a log10 target such as rupture
            time); for a log10 target also the band back in the target's unit, e.g.
            ``rupture time [h]`` (the median, ``10**mean``), ``rupture time lower [h]`` and
            ``rupture time upper [h]``. One row per input row.
        """
        import pandas as pd

        x, _ = self.schema.read(inputs, units, target=False)
        mean, lo, hi = self.posterior.predict(torch.as_tensor(x, dtype=torch.float64), level=level)
        out = pd.DataFrame({**self._frame(x), "mean": mean.numpy(), "lower": lo.numpy(), "upper": hi.numpy()})
        if self.schema.target_range is not None:
            a, b = self.schema.target_range
            out[["mean", "lower", "upper"]] = out[["mean", "lower", "upper"]].clip(a, b)
        target = self.schema.target
        if target.transform:
            for suffix, column in (("", "mean"), (" lower", "lower"), (" upper", "upper")):
                out[f"{target.name}{suffix} [{target.unit}]"] = target.natural_values(out[column].to_numpy())
        out.attrs["level"] = level
        return out

    def _target_temperature(self, at: float | None) -> float | None:
        """``at``, or the median support temperature [K] (``None`` for a law without one)."""
        temp_i = self._temperature_index
        return float(np.median(self.support_x[:, temp_i])) if at is None and temp_i is not None else at

    def default_target(self, at: float | None = None) -> tuple[Callable[[Mapping[str, Tensor]], Tensor], str]:
        """The quantity whose uncertainty :meth:`suggest_next` shrinks by default: t50 (at
        temperature ``at`` [K], default the median support temperature, for laws with one); for
        a law that predicts a log10 target (rupture time), the target at the support's median
        inputs (``at`` replacing the temperature)."""
        law = self.law
        if hasattr(law, "t50"):
            T = self._target_temperature(at)
            return (lambda p: law.t50(T, p)), f"t50 at {T:.1f} K"
        names = list(law.physical_params())
        if "t50" in names:
            return (lambda p: law.physical_params(p)["t50"].value), "t50"
        target = self.schema.target
        if target.transform == "log10":
            where = np.median(self.support_x, axis=0)
            if at is not None and self._temperature_index is not None:
                where[self._temperature_index] = float(at)
            x = torch.as_tensor(where[None, :], dtype=torch.float64)
            label = f"{target.name} at " + ", ".join(_at(c, v) for c, v in zip(self.schema.inputs, where))
            return (lambda p: torch.pow(10.0, functional_call(law, dict(p), (x,)).reshape(()))), label
        raise ValueError(f"{type(law).__name__} has no t50: pass target=lambda params: <positive scalar> to suggest_next.")

    def _candidates(self, candidates: Any, box: Mapping[str, Sequence[float]] | None, units: Mapping[str, str] | None,
                    grid: int) -> np.ndarray:
        import pandas as pd

        if (candidates is None) == (box is None):
            raise ValueError("Pass either candidates (a table of possible experiments) or box={column: (low, high)}.")
        if box is not None:
            axes = {}
            for name, bounds in box.items():
                lo, hi = (float(v) for v in bounds)
                if not hi > lo:
                    raise ValueError(f"box[{name!r}]: need low < high, got ({lo}, {hi}).")
                col = next((c for c in self.schema.inputs if c.matches(name)), None)
                if col is None:
                    raise KeyError(f"box: {name!r} is not an input column; inputs: {[c.name for c in self.schema.inputs]}.")
                log = col.scale == "log" and lo > 0
                axes[name] = np.geomspace(lo, hi, grid) if log else np.linspace(lo, hi, grid)
            mesh = np.meshgrid(*axes.values(), indexing="ij")
            candidates = pd.DataFrame({k: m.reshape(-1) for k, m in zip(axes, mesh)})
        x, _ = self.schema.read(candidates, units, target=False)
        return x

    def training_box(self) -> dict[str, tuple[float, float]]:
        """A search box for :meth:`suggest_next`: each input over the prior's training range
        (in the law's units, keys like ``"time [s]"``), or around the support where the prior records none."""
        box = {}
        for i, col in enumerate(self.schema.inputs):
            values = self.support_x[:, i]
            lo, hi = col.training_range or (float(values.min()), float(values.max()))
            if col.scale == "log":
                lo, hi = max(lo, 1e-9), max(hi, lo * 10)
            elif hi <= lo:  # one support value and no training range: 50 K around a temperature, 10% around others
                pad = 50.0 if col.dimension == "temperature" else 0.1 * max(abs(lo), 1.0)
                lo, hi = lo - pad, hi + pad
            box[col.label] = (lo, hi)
        return box

    def suggest_next(
        self,
        candidates: Any = None,
        *,
        box: Mapping[str, Sequence[float]] | None = None,
        q: int = 1,
        units: Mapping[str, str] | None = None,
        target: Callable[[Mapping[str, Tensor]], Tensor] | None = None,
        at: float | None = None,
        grid: int = 25,
        policy: Any = None,
        budget: int | None = None,
    ) -> pd.DataFrame:
        """The next ``q`` experiments that most shrink the posterior variance of a target.

        Picks greedily: each pick conditions the posterior on measuring there (the variance
        after a measurement does not depend on its value), then the next is chosen. With a
        ``policy`` (a :class:`~sciml.materials.learned_design.DesignPolicy` trained across
        alloys, e.g. saved by ``studies/experiment-design``) the best-scored candidate is picked
        instead (JMAK-Arrhenius laws, default t50 target); its training recalibrated after every
        measurement, so with a policy take ``q = 1``, measure, calibrate again and ask again.

        Args:
            candidates: Table of possible experiments (schema input columns, with units).
            box: Instead of candidates, a continuous box ``{column: (low, high)}`` (units in the
                column names or ``units``), searched on a grid (log-spaced for times).
            q: Experiments to propose.
            units: Units of columns whose names carry none.
            target: Scalar positive function of the parameters (default: t50, see
                :meth:`default_target`).
            at: Temperature [K] of the default t50 target.
            grid: Grid points per box dimension.
            policy: A trained design policy to rank the candidates instead of the variance
                reduction.
            budget: With a ``policy``: measurements still planned for this material, this one
                included (default ``q``); the policy was trained with 5.

        Returns:
            ``q`` rows in pick order: the inputs in the law's units, ``variance_before`` and
            ``variance_after`` (of log target, cumulative), ``reduction``; ``attrs["target"]``
            names the target.
        """
        import pandas as pd

        if not isinstance(q, int) or q < 1:
            raise ValueError(f"q must be a positive integer, got {q!r}.")
        x = self._candidates(candidates, box, units, grid)
        if q > len(x):
            raise ValueError(f"q = {q} but only {len(x)} candidates.")
        fn, label = (target, "target") if target is not None else self.default_target(at)
        post = self.posterior
        before = post.variance(fn)
        remaining = list(range(len(x)))
        rows = []
        xt = torch.as_tensor(x, dtype=torch.float64)
        if policy is not None:
            budget = q if budget is None else budget
            if target is not None or not hasattr(self.law, "t50") or xt.shape[1] != 2:
                raise ValueError("A design policy ranks candidates of a law of (time, temperature) with a t50 (JMAK-Arrhenius) for "
                                 "the default t50 target: drop target=, or drop policy= to rank by variance reduction.")
            if not isinstance(budget, int) or budget < q:
                raise ValueError(f"budget must be an integer >= q = {q}, got {budget!r}.")
            T = float(self._target_temperature(at))
        measured = torch.as_tensor(self.support_x, dtype=torch.float64)
        for i in range(q):
            if policy is None:
                ranking = post.suggest_next(xt[remaining], fn)
                pick = remaining[int(ranking.iloc[0]["index"])]
                after = float(ranking.iloc[0]["variance_after"])
            else:
                from sciml.materials.learned_design import candidate_features

                with torch.no_grad():
                    scores = policy(candidate_features(post, xt[remaining], measured, T, (budget - i) / budget).to(policy.dtype))
                pick = remaining[int(torch.argmax(scores))]
                measured = torch.cat([measured, xt[pick : pick + 1]])
            post = post.condition_on_inputs(xt[pick : pick + 1])
            if policy is not None:
                after = post.variance(fn)
            rows.append({**{k: float(v[pick]) for k, v in self._frame(x).items()}, "variance_before": before,
                         "variance_after": after, "reduction": before - after})
            remaining.remove(pick)
        out = pd.DataFrame(rows)
        out.attrs["target"] = label
        return out

    def plot(self, ax: Any = None, level: float = 0.9) -> Any:
        """Calibrated curves with ``level`` bands and the support points; returns the matplotlib
        axes. The horizontal axis is the time input (or, for a law without one, the first
        input that is not a temperature, e.g. stress); one curve per support temperature; other
        inputs at their support median. A log10 target is shown 3 decades around the support."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        cols = self.schema.inputs
        temp_i = self._temperature_index
        x_i = next((i for i, c in enumerate(cols) if c.dimension == "time"),
                   next((i for i in range(len(cols)) if i != temp_i), 0))
        grid = _plot_grid(self.support_x[:, x_i], cols[x_i])
        others = np.median(self.support_x, axis=0)
        levels = [None] if temp_i is None or temp_i == x_i else sorted(set(self.support_x[:, temp_i].tolist()))[:6]
        colors = plt.cm.viridis(np.linspace(0, 0.85, len(levels)))
        shown = np.clip(self.support_x[:, x_i], grid[0], None)
        for T, color in zip(levels, colors):
            x = np.tile(others, (len(grid), 1))
            x[:, x_i] = grid
            if T is not None:
                x[:, temp_i] = T
            mean, low, high = self.posterior.predict(torch.as_tensor(x), level=level)
            rng = self.schema.target_range or (-math.inf, math.inf)
            label = "calibrated" if T is None else f"{T - 273.15:.0f} C"
            ax.fill_between(grid, low.clamp(*rng).numpy(), high.clamp(*rng).numpy(), color=color, alpha=0.2)
            ax.plot(grid, mean.numpy(), color=color, label=label)
            sel = np.ones(len(shown), bool) if T is None else self.support_x[:, temp_i] == T
            ax.plot(shown[sel], self.support_y[sel], "*", color=color, ms=11, mec="k")
        if cols[x_i].scale == "log":
            ax.set_xscale("log")
        if self.schema.target.transform:  # 3 decades around the support: a curve past an asymptote does not squash the rest
            ax.set_ylim(float(self.support_y.min()) - 3.0, float(self.support_y.max()) + 3.0)
        ax.set_xlabel(cols[x_i].label)
        ax.set_ylabel(self.schema.target.label)
        fixed = [_at(c, others[i]) for i, c in enumerate(cols) if i not in (x_i, temp_i)]
        ax.set_title(f"{self.prior.name or 'prior'} calibrated on {self.n_support} points ({level:.0%} bands"
                     + (f"; {', '.join(fixed)}" if fixed else "") + ")", fontsize=9)
        ax.legend(fontsize=7)
        return ax

    def summary(self) -> dict[str, Any]:
        params = self.params()
        return {
            **super().summary(),
            "noise_sd": float(self.prior.noise["sd"]),
            "parameters": params.to_dict(orient="records"),
            "support": {**{k: v.tolist() for k, v in self._frame(self.support_x).items()},
                        self.schema.target.label: self.support_y.tolist()},
        }


def _plot_grid(values: np.ndarray, column: Column) -> np.ndarray:
    """200 plotting points spanning ``values`` (a decade beyond times, a factor 2 beyond other
    log-scale inputs, 10% of the span beyond linear ones)."""
    if column.scale == "log":
        positive = values[values > 0]
        widen = 10.0 if column.dimension == "time" else 2.0
        lo = float(positive.min()) / widen if positive.size else 1.0
        hi = float(values.max()) * widen if values.max() > 0 else 10.0
        return np.geomspace(lo, hi, 200)
    lo, hi = float(values.min()), float(values.max())
    pad = 0.1 * (hi - lo) or 0.1 * max(abs(lo), 1.0)
    return np.linspace(lo - pad, hi + pad, 200)


def _at(column: Column, value: float) -> str:
    """``"stress 37.5 MPa"``; ``"R 0.1"`` for a dimensionless column."""
    return f"{column.name} {value:.4g}" + ("" if column.unit == "1" else f" {column.unit}")
