"""Units of table columns: read from the column name or given explicitly, converted to SI.

A column is named ``"time [h]"``, ``"time (min)"`` or ``"time_h"``; or it is named ``"time"``
and its unit comes from ``units={"time": "h"}``. A number without a unit is refused: sciml never
guesses one.
"""

from __future__ import annotations

import re

import numpy as np

SI_UNITS: dict[str, str] = {"time": "s", "temperature": "K", "stress": "Pa", "stress intensity": "Pa*m^0.5",
                             "crack growth rate": "m/cycle", "strain rate": "1/s", "fraction": "1", "none": "1"}
"""The SI unit every dimension is converted to."""

_PSI = 6894.757293168361
"""One pound-force per square inch [Pa] (0.45359237 kg x 9.80665 m/s^2 / 0.0254^2 m^2)."""

_INCH = 0.0254
"""One inch [m]."""

_CONVERSIONS: dict[str, dict[str, tuple[float, float]]] = {
    "time": {"s": (1.0, 0.0), "min": (60.0, 0.0), "h": (3600.0, 0.0), "d": (86400.0, 0.0)},
    "temperature": {"K": (1.0, 0.0), "C": (1.0, 273.15), "F": (5.0 / 9.0, 273.15 - 32.0 * 5.0 / 9.0)},
    "stress": {"Pa": (1.0, 0.0), "kPa": (1e3, 0.0), "MPa": (1e6, 0.0), "GPa": (1e9, 0.0), "psi": (_PSI, 0.0), "ksi": (1e3 * _PSI, 0.0),
               "kgf/mm2": (9.80665e6, 0.0)},
    "stress intensity": {"Pa*m^0.5": (1.0, 0.0), "MPa*m^0.5": (1e6, 0.0), "ksi*in^0.5": (1e3 * _PSI * _INCH**0.5, 0.0)},
    "crack growth rate": {"m/cycle": (1.0, 0.0), "mm/cycle": (1e-3, 0.0), "in/cycle": (_INCH, 0.0)},
    "strain rate": {"1/s": (1.0, 0.0), "1/min": (1.0 / 60.0, 0.0), "1/h": (1.0 / 3600.0, 0.0), "%/h": (0.01 / 3600.0, 0.0)},
    "fraction": {"1": (1.0, 0.0), "%": (0.01, 0.0)},
    "none": {"1": (1.0, 0.0)},
}
"""``value_SI = scale * value + offset`` for each (dimension, canonical unit)."""

_ALIASES: dict[str, str] = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "min": "min", "mins": "min", "minute": "min", "minutes": "min",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "k": "K", "kelvin": "K",
    "c": "C", "°c": "C", "degc": "C", "celsius": "C", "deg c": "C",
    "f": "F", "°f": "F", "degf": "F", "fahrenheit": "F",
    "pa": "Pa", "kpa": "kPa", "mpa": "MPa", "n/mm2": "MPa", "n/mm^2": "MPa", "n/mm²": "MPa", "gpa": "GPa",
    "psi": "psi", "ksi": "ksi", "kgf/mm2": "kgf/mm2", "kgf/mm^2": "kgf/mm2", "kgf/mm²": "kgf/mm2", "kg/mm2": "kgf/mm2",
    "kg/mm^2": "kgf/mm2", "kg/mm²": "kgf/mm2",
    **{f"{p}{sep}{root}": unit for p, unit in (("pa", "Pa*m^0.5"), ("mpa", "MPa*m^0.5"))
       for sep in ("*", " ", ".", "", "·") for root in ("m^0.5", "√m", "sqrt(m)", "m^(1/2)")},
    **{f"ksi{sep}{root}": "ksi*in^0.5" for sep in ("*", " ", ".", "", "·") for root in ("in^0.5", "√in", "sqrt(in)", "in^(1/2)")},
    "m/cycle": "m/cycle", "m/cyc": "m/cycle", "mm/cycle": "mm/cycle", "mm/cyc": "mm/cycle", "in/cycle": "in/cycle", "in/cyc": "in/cycle",
    "1/s": "1/s", "s^-1": "1/s", "/s": "1/s", "1/min": "1/min", "min^-1": "1/min", "1/h": "1/h", "h^-1": "1/h", "/h": "1/h",
    "1/hr": "1/h", "%/h": "%/h", "%/hr": "%/h", "percent/h": "%/h",
    "1": "1", "": "1", "fraction": "1", "-": "1",
    "%": "%", "percent": "%", "pct": "%",
}

_BRACKETED = re.compile(r"^\s*(?P<base>.*?)\s*(?:\[\s*(?P<square>[^\]]*?)\s*\]|\(\s*(?P<round>[^()]*?)\s*\))\s*$")
"""``name [unit]`` (the unit may hold parentheses: ``[MPa sqrt(m)]``) or ``name (unit)``."""


class UnitError(ValueError):
    """A unit that is missing, unknown, or of the wrong dimension."""


def canonical_unit(unit: str, dimension: str, column: str = "value") -> str:
    """The canonical spelling of ``unit`` for ``dimension`` (``"hours"`` -> ``"h"``).

    Raises:
        UnitError: if the unit is not one of ``dimension``'s units.
    """
    key = unit.strip()
    canon = _ALIASES.get(key.lower(), key)
    if canon not in _CONVERSIONS[dimension]:
        raise UnitError(
            f"Column {column!r}: unit {unit!r} is not a {dimension} unit; use one of {sorted(_CONVERSIONS[dimension])}."
        )
    return canon


def split_column_name(name: str) -> tuple[str, str | None]:
    """``"time [h]"`` -> ``("time", "h")``; ``"time"`` -> ``("time", None)``."""
    match = _BRACKETED.match(str(name))
    if match:
        return match["base"], match["square"] if match["square"] is not None else match["round"]
    return str(name).strip(), None


def to_si(values: np.ndarray, dimension: str, unit: str, column: str = "value") -> np.ndarray:
    """``values`` in ``unit`` converted to the SI unit of ``dimension`` (float64)."""
    scale, offset = _CONVERSIONS[dimension][canonical_unit(unit, dimension, column)]
    return np.asarray(values, dtype=np.float64) * scale + offset


def from_si(values: np.ndarray, dimension: str, unit: str, column: str = "value") -> np.ndarray:
    """Inverse of :func:`to_si`."""
    scale, offset = _CONVERSIONS[dimension][canonical_unit(unit, dimension, column)]
    return (np.asarray(values, dtype=np.float64) - offset) / scale


def known_units(dimension: str) -> list[str]:
    """Canonical units of a dimension."""
    return sorted(_CONVERSIONS[dimension])


def resolve_unit(column: str, given: str | None, in_name: str | None, dimension: str) -> str:
    """The canonical unit of a table column from what the user said (``given``) and what its
    name says (``in_name``); dimensionless columns need neither.

    Raises:
        UnitError: if both are missing for a dimensional column, or they disagree.
    """
    if given is not None and in_name is not None and canonical_unit(given, dimension, column) != canonical_unit(in_name, dimension, column):
        raise UnitError(f"Column {column!r} names unit {in_name!r} but units= says {given!r}; keep one.")
    unit = given if given is not None else in_name
    if unit is None:
        if len(_CONVERSIONS[dimension]) == 1 or dimension == "fraction":
            return "1"
        base, _ = split_column_name(column)
        raise UnitError(
            f"Column {column!r} has no unit: rename it to '{base} [{SI_UNITS[dimension]}]' (or use another of "
            f"{known_units(dimension)}), or pass units={{'{base}': '{SI_UNITS[dimension]}'}}. sciml never guesses a unit."
        )
    return canonical_unit(unit, dimension, column)
