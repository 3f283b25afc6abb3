"""The tungsten recrystallization loader: units per source, exclusions with reasons."""

from __future__ import annotations

import pytest

from sciml.data import load_recrystallization, reference_file
from sciml.data.recrystallization import documented_time_units, undocumented_sources


@pytest.fixture(autouse=True)
def _needs_data() -> None:
    if reference_file("kinetics/tungsten_recrystallization/yu_data/data.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding kinetics/tungsten_recrystallization/")


def test_units_are_resolved_per_source() -> None:
    with pytest.warns(UserWarning, match="time unit not documented"):
        df = load_recrystallization()
    assert set(df.dataset) == {"W_Lopez2015_HR", "W_Lopez2015_MR", "W_Yu2017", "W_Richou2020_A", "W_Richou2020_B"}
    yu = df[df.dataset == "W_Yu2017"]
    assert yu.time_s.max() == pytest.approx(24 * 3600.0)  # 24 h, given in hours by the source
    richou = df[df.dataset == "W_Richou2020_A"]
    assert richou.time_s.min() == pytest.approx(21.641791, rel=1e-6)  # given in seconds
    assert set(df.temperature_K.round(2)) >= {1373.15, 1473.15}
    assert (df.time_s >= 0).all() and df.time_clipped.sum() == 3
    assert set(df.attrs["excluded"]) == {"W_Zan2019", "W_Ciucani2019_TP2", "W_Minissale2020", "W_Wang2017_w50", "W_Wang2017_w67", "W_Wang2017_w90"}


def test_undocumented_sources_can_be_included_under_an_assumption() -> None:
    df = load_recrystallization(undocumented_time_unit="h")
    wang = df[df.dataset == "W_Wang2017_w50"]
    assert (wang.temperature_K == 1350.0 + 273.15).all()
    assert set(wang.time_unit) == {"h (assumed)"}
    with pytest.raises(ValueError, match="Time units must be one of"):
        load_recrystallization(undocumented_time_unit="days")


def test_a_mapping_includes_only_the_sources_it_names_in_their_own_units() -> None:
    raw = load_recrystallization(undocumented_time_unit="s")  # the numbers as printed
    with pytest.warns(UserWarning, match="W_Minissale2020"):
        df = load_recrystallization(undocumented_time_unit={"W_Zan2019": "min", "W_Wang2017_w50": "h"})
    assert set(df.dataset) - set(documented_time_units()) == {"W_Zan2019", "W_Wang2017_w50"}
    for name, seconds in (("W_Zan2019", 60.0), ("W_Wang2017_w50", 3600.0)):
        got, printed = df[df.dataset == name].time_s.to_numpy(), raw[raw.dataset == name].time_s.to_numpy()
        assert got == pytest.approx(printed * seconds)
    assert set(df[df.dataset == "W_Zan2019"].time_unit) == {"min (assumed)"}
    assert "W_Minissale2020" in df.attrs["excluded"] and "W_Zan2019" not in df.attrs["excluded"]
    assert set(undocumented_sources()) == set(load_recrystallization(undocumented_time_unit="s").dataset) - set(documented_time_units())
    with pytest.raises(ValueError, match="not undocumented sources"):
        load_recrystallization(undocumented_time_unit={"W_Yu2017": "s"})
