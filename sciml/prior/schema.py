"""What a prior takes as input: named columns with dimensions, units and training ranges."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sciml.prior.units import SI_UNITS, UnitError, canonical_unit, from_si, resolve_unit, split_column_name, to_si

TRANSFORMS = (None, "log10")
"""Transforms a column's values can go through before the law reads them."""


class PlausibilityWarning(UserWarning):
    """Input that parses but looks wrong for the prior (far outside its training range, or
    residuals far above its noise model)."""


@dataclass(frozen=True)
class Column:
    """One numeric column of a prior's input table.

    Args:
        name: Canonical name, e.g. ``"time"``.
        dimension: One of :data:`~sciml.prior.units.SI_UNITS`: ``"time"``, ``"temperature"``,
            ``"stress"``, ``"stress intensity"``, ``"crack growth rate"``, ``"strain rate"``,
            ``"fraction"`` or ``"none"``.
        description: What the column holds.
        aliases: Other accepted names (case-insensitive), e.g. ``("t",)``.
        training_range: ``(min, max)`` in the column's unit seen while the prior was trained.
        scale: ``"log"`` for quantities compared by ratio (times, stresses), ``"linear"`` otherwise.
        law_unit: The unit the law reads (or predicts) the column in, when it is not the SI unit
            of the dimension, e.g. ``"MPa"`` for stresses or ``"h"`` for rupture times.
        transform: ``"log10"`` when the law reads or predicts the base-10 logarithm of the
            value in its unit (e.g. ``log10`` rupture time [h]); ``None`` for the value itself.
    """

    name: str
    dimension: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    training_range: tuple[float, float] | None = None
    scale: str = "linear"
    law_unit: str | None = None
    transform: str | None = None

    def __post_init__(self) -> None:
        if self.dimension not in SI_UNITS:
            raise ValueError(f"Column {self.name!r}: unknown dimension {self.dimension!r}; use one of {sorted(SI_UNITS)}.")
        if self.law_unit is not None:
            object.__setattr__(self, "law_unit", canonical_unit(self.law_unit, self.dimension, self.name))
        if self.transform not in TRANSFORMS:
            raise ValueError(f"Column {self.name!r}: transform must be one of {list(TRANSFORMS)}, got {self.transform!r}.")

    @property
    def unit(self) -> str:
        """Unit of the column's values as the law reads them (SI unless ``law_unit`` says otherwise)."""
        return self.law_unit or SI_UNITS[self.dimension]

    @property
    def label(self) -> str:
        """What the law reads or predicts, with its unit: ``"stress [MPa]"``, ``"log10 rupture time [h]"``."""
        return f"{self.transform} {self.name} [{self.unit}]" if self.transform else f"{self.name} [{self.unit}]"

    @property
    def value_unit(self) -> str:
        """The unit of the law's values: ``"h"``, or ``"log10(h)"`` for a log10 column."""
        return f"{self.transform}({self.unit})" if self.transform else self.unit

    def law_values(self, si: np.ndarray) -> np.ndarray:
        """Values in SI units converted to what the law reads: its unit, then the transform.

        Raises:
            ValueError: if a log10 column holds values <= 0.
        """
        values = si if self.law_unit is None else from_si(si, self.dimension, self.law_unit, self.name)
        if self.transform == "log10":
            bad = np.flatnonzero(~(values > 0))
            if bad.size:
                raise ValueError(f"Column {self.name!r}: the law reads log10 of it, so every value must be > 0; rows "
                                 f"{bad[:10].tolist()} are not (first: {values[bad[0]]:.4g} {self.unit}).")
            values = np.log10(values)
        return values

    def natural_values(self, law_values: np.ndarray) -> np.ndarray:
        """Inverse of the transform: the law's values back in the column's unit (``10**v`` for log10)."""
        v = np.asarray(law_values, dtype=np.float64)
        return np.power(10.0, v) if self.transform == "log10" else v

    def matches(self, column: str) -> bool:
        """Whether a table column (with or without a unit in its name) is this column."""
        base, _ = split_column_name(column)
        head, sep, tail = base.rpartition("_")  # "time_h"
        return self._named(base) or (bool(sep) and self._named(head) and _is_unit(tail, self.dimension))

    def _named(self, text: str) -> bool:
        """Words match in any case; symbols (one or two letters: ``t``, ``T``, ``X``) exactly."""
        return any(text == n if len(n) <= 2 else text.lower() == n.lower() for n in (self.name, *self.aliases))

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "dimension": self.dimension, "unit": self.unit, "description": self.description,
                "aliases": list(self.aliases), "training_range": None if self.training_range is None else list(self.training_range),
                "scale": self.scale, "transform": self.transform}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Column:
        """Inverse of :meth:`to_dict`."""
        rng = d.get("training_range")
        unit = d.get("unit")
        return cls(d["name"], d["dimension"], d.get("description", ""), tuple(d.get("aliases", ())),
                   None if rng is None else (float(rng[0]), float(rng[1])), d.get("scale", "linear"),
                   None if unit in (None, SI_UNITS.get(d["dimension"])) else unit, d.get("transform"))


def _is_unit(text: str, dimension: str) -> bool:
    try:
        canonical_unit(text, dimension)
    except UnitError:
        return False
    return True


def _unit_from_name(column: str, dimension: str) -> str | None:
    base, unit = split_column_name(column)
    if unit is not None:
        return unit
    head, sep, tail = base.rpartition("_")
    return tail if sep and head and _is_unit(tail, dimension) else None


@dataclass(frozen=True)
class TableSchema:
    """Input columns and target of a prior that reads tables (physical laws).

    Args:
        inputs: The input columns, in the order of the model's input ``[n, d]``.
        target: The measured column.
        target_range: Valid range of the target (e.g. ``(0, 1)`` for a fraction); predictions
            and bands are clipped to it.
    """

    inputs: tuple[Column, ...]
    target: Column
    target_range: tuple[float, float] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        transformed = [c.name for c in self.inputs if c.transform]
        if transformed:
            raise ValueError(f"Inputs {transformed} have a transform; only the target may (e.g. log10 rupture time).")

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": "table", "inputs": [c.to_dict() for c in self.inputs], "target": self.target.to_dict(),
                "target_range": None if self.target_range is None else list(self.target_range)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TableSchema:
        """Inverse of :meth:`to_dict`."""
        rng = d.get("target_range")
        return cls(tuple(Column.from_dict(c) for c in d["inputs"]), Column.from_dict(d["target"]),
                   None if rng is None else (float(rng[0]), float(rng[1])))

    def with_training_ranges(self, x: np.ndarray) -> TableSchema:
        """The schema with every input's training range set from ``x`` ``[n, d]`` (in the
        inputs' units, as the law reads them)."""
        x = np.asarray(x, dtype=np.float64)
        cols = tuple(replace(c, training_range=(float(x[:, i].min()), float(x[:, i].max()))) for i, c in enumerate(self.inputs))
        return TableSchema(cols, self.target, self.target_range)

    def describe(self) -> str:
        """One line per column: name, unit, accepted spellings."""
        lines = [f"- {c.name} [{c.unit}]: {c.description}" + (f" (also: {', '.join(c.aliases)})" if c.aliases else "")
                 for c in (*self.inputs, self.target)]
        return "\n".join(lines)

    def _find(self, frame: Any, col: Column, required: bool) -> str | None:
        found = [c for c in frame.columns if col.matches(str(c))]
        if len(found) > 1:
            raise ValueError(f"Columns {found} all look like {col.name!r}; keep one.")
        if not found:
            if not required:
                return None
            raise KeyError(
                f"No column {col.name!r} ({col.dimension}, e.g. '{col.name} [{col.unit}]') in the table; it has "
                f"{[str(c) for c in frame.columns]}. Expected columns:\n{self.describe()}"
            )
        return str(found[0])

    def read(self, frame: Any, units: Mapping[str, str] | None = None, *, target: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Inputs ``[n, d]`` and target ``[n]`` from a table, as the law reads them: in each
        column's unit (SI unless the column names another, e.g. MPa), log10 where the column
        says so.

        Args:
            frame: A ``pandas.DataFrame`` (or anything ``pandas.DataFrame`` accepts).
            units: Units of columns whose names carry none, e.g. ``{"time": "h"}``.
            target: Whether the target column is required.

        Raises:
            KeyError: a column is missing (the message lists the expected columns).
            UnitError: a unit is missing, unknown, or contradicts the column name.
            ValueError: a value is missing, not a number, or outside its physical range.
        """
        import pandas as pd

        frame = pd.DataFrame(frame)
        units = dict(units or {})
        if len(frame) == 0:
            raise ValueError("The table has no rows.")
        out = []
        for col in self.inputs:
            name = self._find(frame, col, True)
            out.append(self._column_values(frame, name, col, units))
        x = np.stack(out, axis=1)
        y = None
        if target:
            name = self._find(frame, self.target, True)
            y = self._column_values(frame, name, self.target, units)
            if self.target_range is not None:
                lo, hi = self.target_range
                tol = 0.02 * (hi - lo)
                bad = np.flatnonzero((y < lo - tol) | (y > hi + tol))
                if bad.size:
                    hint = " It looks like percent: name the column '" + self.target.name + " [%]'." if y.max() > 1.5 and hi == 1.0 else ""
                    raise ValueError(f"Column {name!r}: values must lie in [{lo:g}, {hi:g}]; rows {bad[:10].tolist()} do not "
                                     f"(first: {y[bad[0]]:.4g}).{hint}")
        self._check_plausible(x)
        return x, y

    def _column_values(self, frame: Any, name: str, col: Column, units: Mapping[str, str]) -> np.ndarray:
        import pandas as pd

        base, _ = split_column_name(name)
        given = units.get(name, units.get(base, units.get(col.name)))
        unit = resolve_unit(name, given, _unit_from_name(name, col.dimension), col.dimension)
        raw = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(raw))
        if bad.size:
            raise ValueError(f"Column {name!r}: rows {bad[:10].tolist()} are empty, NaN or not numbers "
                             f"(first: {frame[name].iloc[bad[0]]!r}); fix or drop them.")
        values = to_si(raw, col.dimension, unit, name)
        if col.dimension == "time" and (values < 0).any():
            rows = np.flatnonzero(values < 0)
            raise ValueError(f"Column {name!r}: times must be >= 0 (time since the start); rows {rows[:10].tolist()} are negative.")
        if col.dimension == "temperature" and (values < 250.0).any():
            rows = np.flatnonzero(values < 250.0)
            raise ValueError(
                f"Column {name!r}: {values[rows[0]]:.4g} K at row {int(rows[0])} is below 250 K. If the column is in "
                f"Celsius, name it '{col.name} [C]' or pass units={{'{col.name}': 'C'}}; if it is in kelvin, this "
                "prior does not cover such temperatures."
            )
        if col.dimension == "stress" and (values <= 0).any():
            rows = np.flatnonzero(values <= 0)
            raise ValueError(f"Column {name!r}: stresses must be > 0; rows {rows[:10].tolist()} are not.")
        return col.law_values(values)

    def _check_plausible(self, x: np.ndarray) -> None:
        for i, col in enumerate(self.inputs):
            if col.training_range is None:
                continue
            lo, hi = col.training_range
            v = x[:, i]
            if col.scale == "log":
                positive = v[v > 0]
                if positive.size and (positive.min() < lo / 10 or positive.max() > hi * 10):
                    warnings.warn(
                        f"{col.name}: values {positive.min():.3g}-{positive.max():.3g} {col.unit} reach more than 10x outside "
                        f"the prior's training range {lo:.3g}-{hi:.3g} {col.unit}. Check the unit"
                        + (" (hours given as seconds?)." if col.dimension == "time" else " (psi given as MPa?)." if col.dimension == "stress" else "."),
                        PlausibilityWarning, stacklevel=3)
            else:
                span = max(hi - lo, 1e-12)
                far = max(0.25 * span, 50.0 if col.dimension == "temperature" else 0.0)
                if v.min() < lo - far or v.max() > hi + far:
                    warnings.warn(
                        f"{col.name}: values {v.min():.4g}-{v.max():.4g} {col.unit} lie far outside the prior's training "
                        f"range {lo:.4g}-{hi:.4g} {col.unit}; predictions there are extrapolations.",
                        PlausibilityWarning, stacklevel=3)


def check_residuals(residuals: np.ndarray, noise_sd: float, factor: float = 3.0) -> None:
    """Warn when the RMS residual of a calibration is more than ``factor`` times the noise."""
    rms = float(np.sqrt(np.mean(np.square(residuals)))) if len(residuals) else 0.0
    if noise_sd > 0 and rms > factor * noise_sd and not math.isclose(rms, 0.0):
        warnings.warn(
            f"The calibrated law misses the support by {rms:.3g} (RMS), over {factor:g}x the prior's noise level "
            f"{noise_sd:.3g}: check units and columns, or the law may not describe this material.",
            PlausibilityWarning, stacklevel=3)
