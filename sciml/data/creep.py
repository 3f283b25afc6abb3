"""Creep rupture tests of tungsten materials (15 data sets, 11 sources), in SI-style units.

Source: ml-ME-gatech/modeling_tungsten, ``engineering_models/data/creep_data/`` (no licence
stated: values transcribed or digitized from published reports; see ``datasets/creep-rupture``).
The files mix units (F, C, K; psi, ksi, MPa, kg/mm^2; hours and minutes) and hold hand-typed
cells. Every cell the loader has to repair or reject is reported, never silently changed:

- a decimal comma (``"0,34"`` -> 0.34) or a thousands separator (``"10,000"`` -> 10000);
- a stray trailing period (``"0.08."`` -> 0.08);
- a power of ten written out (``"4.0 x 10^-3"`` -> 4.0e-3);
- a row shifted one column right from a time column that repeats the row's stress (three rows
  of McCoy's sheet): the cells are moved back one column;
- an empty, ``"-"``, ``"nan"`` or unreadable rupture time, temperature or stress: the test is
  rejected (a run-out or an illegible entry is not a rupture life).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from sciml.data.download import fetch

REPO = "ml-ME-gatech/modeling_tungsten"
COMMIT = "3a739607"
_RAW = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/engineering_models/data/creep_data/"
_LOCAL = "kinetics/other_laws/creep_tungsten_ml-ME-gatech/"

MPA_PER = {"MPa": 1.0, "psi": 0.006894757293168361, "ksi": 6.894757293168361, "kg/mm²": 9.80665}
"""Stress units of the sources, in MPa."""
HOURS_PER = {"hr": 1.0, "hrs": 1.0, "min": 1.0 / 60.0}
"""Time units of the sources, in hours."""

COLUMNS = ["dataset", "material", "group", "source", "row", "temperature_K", "stress_MPa", "rupture_time_h", "min_creep_rate_per_h"]
"""Columns of :func:`load_creep_rupture`."""
REPORT_COLUMNS = ["dataset", "row", "column", "raw", "action", "value", "reason"]
"""Columns of the repair report (``frame.attrs["cells"]``)."""


@dataclass(frozen=True)
class CreepSource:
    """One data set: a material tested by one source.

    Attributes:
        dataset: Short name.
        material: The material as the source names it.
        group: The alloy and product form. Splits keep a group on one side, so the same alloy
            from two laboratories never trains the prior that judges it.
        source: Report or paper, as the repository names its folder.
        file: Path below ``creep_data/``.
        sha256: Digest of the file.
    """

    dataset: str
    material: str
    group: str
    source: str
    file: str
    sha256: str


SOURCES: tuple[CreepSource, ...] = (
    CreepSource("Re25W_sheet_GEMP", "W-25Re sheet", "W-25Re sheet", "GEMP-457A-1002", "GEMP-457A-1002/Re25WSheet.csv",
                "4008661c8b21301d00e54dd668a2f8efcf5ed948b5f63a95118db48e930585f6"),
    CreepSource("Re25W_sheet_Flagella", "W-25Re sheet", "W-25Re sheet", "Flagella", "flagella/Re25WSheet.csv",
                "4975374d9aa70f27516466ade9eda366f3756373f5291c72df348d40b1266d95"),
    CreepSource("W_sheet_McCoy", "pure W sheet", "pure W sheet", "McCoy", "McCoy/PureWSheet.csv",
                "4846c2af1696808bd901193f6b35ed0f831e9c26ee3587bbd84f934e708b1875"),
    CreepSource("W_sheet_Flagella", "pure W sheet", "pure W sheet", "Flagella", "flagella/pureWsheet.csv",
                "eea823b4b39db4bc28b186834638930f6751f98a85eca3ee1805caf2c06a900c"),
    CreepSource("W_sheet_Tavernelli", "pure W sheet", "pure W sheet", "Tavernelli", "tavernilli/pureWSheet.csv",
                "3025995b11a843355928d4b2d5c1a0460759d37a9afbe0d5983a329a9bc12a0d"),
    CreepSource("W_wire_McCoy", "pure W wire", "pure W wire", "McCoy", "McCoy/PureWWire.csv",
                "9668962d9b205b4d126300fa42bcefb7b8e5ddde2bc606a5543e9a14f6ad6b2b"),
    CreepSource("W_rod_Green", "pure W rod", "pure W rod", "Green", "green/PureWRod.csv",
                "77cb6255a9739e77f0826f0039bc117846f2fc5f320fabbcc7ab2ab086d69900"),
    CreepSource("W_rod_Tietz", "pure W rod", "pure W rod", "Tietz", "tietz/PureWRod.csv",
                "af6d367d9968831fe1ee6b2e50b8f293e7b1d6a711a66a090d01f32b5326a501"),
    CreepSource("W_rod_rx_Tietz", "pure W rod, recrystallized", "pure W rod", "Tietz", "tietz/PureWRod_rx.csv",
                "0e0cf7df3bad4abe04e5502f4d095b0eeabf1e22014511e091b52a55fa5dd831"),
    CreepSource("W_arc_melted_Klopp", "arc-melted pure W", "arc-melted pure W", "Klopp", "klopp/pureWArcMelted.csv",
                "9c2492ae68603bd20a61203b76b24ec958cb0dc896e08f53a80ab3bcecc74cb6"),
    CreepSource("W2ThO2_rod_McCoy", "W-2ThO2 rod", "W-2ThO2 rod", "McCoy", "McCoy/W2pThO2Rod.csv",
                "2af299d6acad74311ee80a0835da25cad0aa6e72b9bbf2694ab2786d5b615b6c"),
    CreepSource("W2ThO2_rod_comm_Atkinson", "W-2ThO2 rod, commercial", "W-2ThO2 rod", "Atkinson", "atkinson/2pThO2WRod_comm.csv",
                "17060da75e42f3304b0d6cf98c38eca4662604187a9a2a121d5627d20c6989d4"),
    CreepSource("W2ThO2_rod_opt_Atkinson", "W-2ThO2 rod, optimized", "W-2ThO2 rod", "Atkinson", "atkinson/2pThO2WRod_copt.csv",
                "c81330d06b24e9639216255da2525e4a639eacdefaed2d7c4a6571f5f9b23756"),
    CreepSource("W4Re_HfC_Chen", "W-4Re-0.26HfC", "W-4Re-0.26HfC", "Chen", "chen/W4Re026HfC.csv",
                "122492ceee5c1211c2921fea030cbbbf829eeadbbaec993650c4c37fdf6534fe"),
    CreepSource("WL10_rod_Rieth", "WL10 (W-1La2O3) rod", "WL10 rod", "Rieth", "rieth/WL10Rod.csv",
                "9c4f2ec620df60d82f5bfd65b1308c7c825d9959abed95a421bcd31e4a5aee85"),
)

_MISSING = {"", "-", "nan", "none"}
_PLAIN = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^\d+,\d{1,2}$")
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+$")
_TRAILING_PERIOD = re.compile(r"^(\d+\.\d+)\.$")
_TIMES_TEN = re.compile(r"^([+-]?\d+\.?\d*)\s*[xX×]\s*10\^\s*([+-]?\d+)$")


@dataclass(frozen=True)
class Cell:
    """A parsed cell: its value (NaN if missing or unreadable), and what was done to it."""

    value: float
    action: str = "read"
    reason: str = ""


def parse_number(raw: object) -> Cell:
    """Parse one hand-typed numeric cell (see the module docstring for the rules).

    Returns:
        ``action`` is ``"read"`` (a plain number), ``"repaired"`` (with the ``reason``),
        ``"missing"`` or ``"rejected"`` (unreadable; value NaN).
    """
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return Cell(float(raw)) if math.isfinite(float(raw)) else Cell(math.nan, "missing", "empty or nan")
    text = str(raw).strip()
    if text.lower() in _MISSING:
        return Cell(math.nan, "missing", f"{text!r} is not a value")
    if _PLAIN.match(text):
        return Cell(float(text))
    if _DECIMAL_COMMA.match(text):
        return Cell(float(text.replace(",", ".")), "repaired", "decimal comma")
    if _THOUSANDS.match(text):
        return Cell(float(text.replace(",", "")), "repaired", "thousands separator")
    m = _TRAILING_PERIOD.match(text)
    if m:
        return Cell(float(m.group(1)), "repaired", "stray trailing period")
    m = _TIMES_TEN.match(text)
    if m:
        return Cell(float(m.group(1)) * 10.0 ** int(m.group(2)), "repaired", "power of ten written out")
    return Cell(math.nan, "rejected", "not a number")


def _unit(column: str) -> str:
    m = re.search(r"\(([^)]*)\)\s*$", column.strip())
    return m.group(1).strip() if m else ""


def _find(columns: list[str], *words: str) -> str | None:
    for c in columns:
        low = c.lower()
        if all(w in low for w in words):
            return c
    return None


def _kelvin(value: float, unit: str) -> float:
    if unit in ("C", "°C"):
        return value + 273.15
    if unit == "F":
        return (value - 32.0) * 5.0 / 9.0 + 273.15
    if unit == "K":
        return value
    raise ValueError(f"unknown temperature unit {unit!r}")


def _unshift(raw: pd.DataFrame, stress_col: str, report: list[dict[str, object]], dataset: str) -> pd.DataFrame:
    """Rows where a strain-time column repeats the row's stress are shifted one column right
    from there: move the following cells back and report it."""
    cols = list(raw.columns)
    times = [c for c in cols if "time" in c.lower() and "%" in c]
    out = raw.copy()
    for i, row in raw.iterrows():
        stress = parse_number(row[stress_col]).value
        for c in times:
            if parse_number(row[c]).value == stress:
                j = cols.index(c)
                for a, b in zip(cols[j:], cols[j + 1:]):
                    out.at[i, a] = row[b]
                out.at[i, cols[-1]] = math.nan
                report.append({"dataset": dataset, "row": int(i), "column": c, "raw": str(row[c]), "action": "repaired",
                               "value": math.nan, "reason": f"row shifted one column right from {c!r} (the cell repeats the "
                               "stress); cells moved back, the last column left empty"})
                break
    return out


def read_source(source: CreepSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One data set as tidy rows (:data:`COLUMNS`; ``attrs["path"]``: the file read) and the
    report of every repaired, missing or rejected cell of the columns it reads
    (:data:`REPORT_COLUMNS`)."""
    path = fetch(_LOCAL + source.file, _RAW + source.file, source.sha256)
    out, report = parse_creep_table(pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True), source, str(path))
    out.attrs["path"] = path
    return out, report


def parse_creep_table(raw: pd.DataFrame, source: CreepSource, where: str = "table") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse a creep table read as text (every cell a string), as :func:`read_source` does.

    The temperature, stress, rupture-time and (optional) creep-rate columns are found by name;
    their units are read from the parentheses of their headers.

    Raises:
        ValueError: naming the table, when a column is missing or a unit unknown.
    """
    raw = raw.copy()
    raw.columns = [str(c).strip() for c in raw.columns]
    cols = list(raw.columns)
    path = where
    temp, stress = _find(cols, "temperature"), _find(cols, "stress")
    life = _find(cols, "rupture time") or _find(cols, "time to rupture")
    rate = _find(cols, "creep rate")
    if temp is None or stress is None or life is None:
        raise ValueError(f"{path}: no temperature, stress or rupture-time column among {cols}.")
    units = {"temperature": _unit(temp), "stress": _unit(stress), "time": _unit(life)}
    if units["stress"] not in MPA_PER or units["time"] not in HOURS_PER or units["temperature"] not in ("C", "°C", "F", "K"):
        raise ValueError(f"{path}: unknown unit in {units}; known: temperature C/F/K, stress {sorted(MPA_PER)}, time "
                         f"{sorted(HOURS_PER)}.")
    report: list[dict[str, object]] = []
    raw = _unshift(raw, stress, report, source.dataset)
    rows = []
    for i, row in raw.iterrows():
        cells = {name: parse_number(row[col]) for name, col in (("temperature", temp), ("stress", stress), ("life", life))}
        cells["rate"] = parse_number(row[rate]) if rate is not None else Cell(math.nan, "read")
        for name, col in (("temperature", temp), ("stress", stress), ("life", life), ("rate", rate)):
            cell = cells[name]
            if col is not None and cell.action != "read":
                report.append({"dataset": source.dataset, "row": int(i), "column": col, "raw": str(row[col]), "action": cell.action,
                               "value": cell.value, "reason": cell.reason})
        unusable = [f"{name} {str(row[col])!r}" for name, col in (("temperature", temp), ("stress", stress), ("rupture time", life))
                    if not math.isfinite(cells[name if name != "rupture time" else "life"].value)
                    or (name != "temperature" and cells[name if name != "rupture time" else "life"].value <= 0)]
        if unusable:
            report.append({"dataset": source.dataset, "row": int(i), "column": "(test)", "raw": "; ".join(unusable), "action": "rejected",
                           "value": math.nan, "reason": "test left out: no usable " + " or ".join(u.split(" '")[0] for u in unusable)})
            continue
        rate_per_h = cells["rate"].value * (60.0 if rate is not None and "min" in _unit(rate) else 1.0)
        if rate is not None and "%" in _unit(rate):
            rate_per_h /= 100.0
        rows.append({"dataset": source.dataset, "material": source.material, "group": source.group, "source": source.source,
                     "row": int(i), "temperature_K": _kelvin(cells["temperature"].value, units["temperature"]),
                     "stress_MPa": cells["stress"].value * MPA_PER[units["stress"]],
                     "rupture_time_h": cells["life"].value * HOURS_PER[units["time"]], "min_creep_rate_per_h": rate_per_h})
    return pd.DataFrame(rows, columns=COLUMNS), pd.DataFrame(report, columns=REPORT_COLUMNS)


def load_creep_rupture() -> pd.DataFrame:
    """Every creep-rupture test of :data:`SOURCES` as one tidy table.

    Returns:
        Columns :data:`COLUMNS`: ``temperature_K`` [K], ``stress_MPa`` [MPa],
        ``rupture_time_h`` [h] and ``min_creep_rate_per_h`` [1/h, strain per hour; NaN where
        the source gives none], one row per test, ``row`` the test's row in its file (0 =
        first data row). ``df.attrs["cells"]``: every repaired, missing or rejected cell of
        the columns read (:data:`REPORT_COLUMNS`); rejected tests are not in the table.
        ``df.attrs["files"]``: each data set's (sha256-checked) file.
    """
    frames, reports, files = [], [], {}
    for src in SOURCES:
        frame, report = read_source(src)
        frames.append(frame)
        reports.append(report)
        files[src.dataset] = frame.attrs["path"]
    out = pd.concat(frames, ignore_index=True)
    out.attrs["cells"] = pd.concat([r for r in reports if len(r)], ignore_index=True)
    out.attrs["files"] = files
    return out
