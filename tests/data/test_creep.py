"""The creep-rupture loader: every hand-typed cell parsed by an explicit rule and reported,
units converted against hand-computed values, and the shipped files read as documented."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sciml.data import reference_file
from sciml.data.creep import CreepSource, load_creep_rupture, parse_creep_table, parse_number

SOURCE = CreepSource("demo", "demo W", "demo group", "demo lab", "demo.csv", "0" * 64)


@pytest.mark.parametrize(("raw", "value", "action", "reason"), [
    ("12.5", 12.5, "read", ""), ("15.", 15.0, "read", ""), (" 3e2 ", 300.0, "read", ""),
    ("0,34", 0.34, "repaired", "decimal comma"), ("54,7", 54.7, "repaired", "decimal comma"),
    ("10,000", 10000.0, "repaired", "thousands separator"), ("0.08.", 0.08, "repaired", "stray trailing period"),
    ("4.0 x 10^-3", 4.0e-3, "repaired", "power of ten written out"), ("2 x 10^2", 200.0, "repaired", "power of ten written out"),
])
def test_cells_are_read_or_repaired_by_a_named_rule(raw, value, action, reason):
    cell = parse_number(raw)
    assert cell.value == pytest.approx(value, rel=1e-12) and cell.action == action and cell.reason == reason


@pytest.mark.parametrize(("raw", "action"), [("", "missing"), ("-", "missing"), ("nan", "missing"), ("o7", "rejected"),
                                             ("1V2", "rejected"), ("11/2", "rejected")])
def test_unreadable_cells_become_nan_and_say_so(raw, action):
    cell = parse_number(raw)
    assert math.isnan(cell.value) and cell.action == action


def _table(rows, columns):
    return pd.DataFrame(rows, columns=columns, dtype=str)


def test_units_are_converted_to_kelvin_mpa_and_hours():
    frame, report = parse_creep_table(_table([["3500", "2300", "90"], ["212", "1,000", "6,5"]],
                                             ["Test Temperature (F)", "Stress (psi)", "Rupture Time (min)"]), SOURCE)
    assert frame.temperature_K.tolist() == pytest.approx([(3500 - 32) * 5 / 9 + 273.15, 373.15])
    assert frame.stress_MPa.tolist() == pytest.approx([2300 * 0.006894757293168361, 6.894757293168361])
    assert frame.rupture_time_h.tolist() == pytest.approx([1.5, 6.5 / 60])
    assert sorted(report.reason) == ["decimal comma", "thousands separator"]
    frame, _ = parse_creep_table(_table([["1600", "7.03", "24.0"]], ["Temperature (°C)", "Stress (kg/mm²)", "Rupture Time (hr)"]), SOURCE)
    assert frame.temperature_K.item() == pytest.approx(1873.15) and frame.stress_MPa.item() == pytest.approx(7.03 * 9.80665)
    frame, _ = parse_creep_table(_table([["2100", "40", "3"]], ["Temperature (K)", "Stress (ksi)", "Time to Rupture (hrs)"]), SOURCE)
    assert frame.temperature_K.item() == 2100.0 and frame.stress_MPa.item() == pytest.approx(40 * 6.894757293168361)


def test_tests_without_a_rupture_life_are_rejected_and_reported():
    frame, report = parse_creep_table(_table([["1650", "5000", "-"], ["1650", "5000", "nan"], ["1650", "5000", "0"],
                                              ["1650", "5000", "7.5"]], ["Temperature (C)", "Stress (psi)", "Rupture Time (hr)"]), SOURCE)
    assert frame.row.tolist() == [3]
    rejected = report[report.action == "rejected"]
    assert rejected.row.tolist() == [0, 1, 2] and all("rupture time" in r for r in rejected.reason)


def test_a_row_shifted_right_is_moved_back_and_reported():
    """McCoy's sheet repeats the stress in the first strain-time column of three rows: every
    later cell sits one column to the right, so the rupture column holds the 10% time."""
    columns = ["Temperature (C)", "Stress (psi)", "1% Time (hr)", "2% Time (hr)", "Rupture Time (hr)", "Rupture Strain (%)",
               "Minimum Creep Rate (%/hr)"]
    frame, report = parse_creep_table(_table([["1650", "10000", "10,000", "0.04", "0.6", "1.5", "62.5"],
                                              ["1650", "8000", "0.2", "0.5", "16.1", "43.7", "15.0"]], columns), SOURCE)
    assert frame.rupture_time_h.tolist() == [1.5, 16.1]
    assert math.isnan(frame.min_creep_rate_per_h.iloc[0]) and frame.min_creep_rate_per_h.iloc[1] == pytest.approx(0.15)
    shifted = report[report.reason.str.startswith("row shifted")]
    assert shifted.row.tolist() == [0] and shifted.raw.tolist() == ["10,000"]


def test_creep_rates_per_minute_become_per_hour():
    frame, report = parse_creep_table(_table([["1600", "13000", "1.06", "4.0 x 10^-3"]],
                                             ["Temperature (°C)", "Stress (psi)", "Rupture Time (hr)", "Linear Creep Rate (min^-1)"]), SOURCE)
    assert frame.min_creep_rate_per_h.item() == pytest.approx(4.0e-3 * 60)
    assert report.reason.tolist() == ["power of ten written out"]


def test_unknown_units_and_missing_columns_are_refused():
    with pytest.raises(ValueError, match="unknown unit"):
        parse_creep_table(_table([["1", "2", "3"]], ["Temperature (R)", "Stress (psi)", "Rupture Time (hr)"]), SOURCE)
    with pytest.raises(ValueError, match="no temperature, stress or rupture-time column"):
        parse_creep_table(_table([["1", "2"]], ["Temperature (C)", "Stress (psi)"]), SOURCE)


def test_the_shipped_files_load_with_every_repair_reported():
    if reference_file("kinetics/other_laws/creep_tungsten_ml-ME-gatech/chen/W4Re026HfC.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding kinetics/other_laws/creep_tungsten_ml-ME-gatech/")
    df = load_creep_rupture()
    assert len(df.attrs["files"]) == 15 and df.dataset.nunique() == 15 and df.group.nunique() == 8
    assert (df.rupture_time_h > 0).all() and (df.temperature_K > 900).all() and (df.stress_MPa > 0).all()
    cells = df.attrs["cells"]
    rejected = cells[cells.action == "rejected"]
    assert len(rejected) == 6 and len(df) == 359  # 365 data rows, 6 without a rupture life
    mccoy = df[df.dataset == "W_sheet_McCoy"].set_index("row")
    assert mccoy.loc[4, "rupture_time_h"] == 1.5 and mccoy.loc[8, "rupture_time_h"] == 100.8  # the shifted rows, moved back
    chen = df[df.dataset == "W4Re_HfC_Chen"]
    assert chen.temperature_K.tolist() == [2100.0, 2100.0, 2200.0, 2200.0]  # given in kelvin
