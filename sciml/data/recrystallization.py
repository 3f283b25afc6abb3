"""Recrystallized fraction vs annealing time of tungsten (11 material conditions, 7 papers).

Source: ml-ME-gatech/modeling_tungsten @ 3a739607, ``recrystallization/rf_data/`` (no licence
stated: values digitized from the published papers; see ``datasets/tungsten-recrystallization``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sciml.data.download import fetch

REPO = "ml-ME-gatech/modeling_tungsten"
COMMIT = "3a739607"
_RAW = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/recrystallization/rf_data/"
_LOCAL = "kinetics/tungsten_recrystallization/"

SECONDS_PER = {"h": 3600.0, "min": 60.0, "s": 1.0}

COLUMNS = ["dataset", "material", "source_paper", "temperature_K", "time_s", "X", "X_std", "time_unit", "time_clipped"]
"""Columns of :func:`load_recrystallization`."""


@dataclass(frozen=True)
class RecrystallizationSource:
    """One published data set: where it lives and how to read it.

    Attributes:
        dataset: Short name (``W_<author><year>[_<variant>]``).
        material: Material condition.
        paper: Source paper.
        file: Path below ``rf_data/``.
        sha256: Digest of the file.
        time_unit: ``"h"``, ``"min"``, ``"s"`` or ``None`` when the source does not document it.
        temperature_C: Anneal temperature for files without a temperature column.
    """

    dataset: str
    material: str
    paper: str
    file: str
    sha256: str
    time_unit: str | None
    temperature_C: float | None = None


SOURCES: tuple[RecrystallizationSource, ...] = (
    RecrystallizationSource("W_Lopez2015_HR", "warm-rolled W plate, highly rolled (HR)", "Lopez/Alfonso et al. 2015 (DTU)",
                            "alfonso_data/highly_rolled.csv", "3f091dec91e4a6b98be8de53455c02533afbfd8001454e1970a208b9b3b23999", "h"),
    RecrystallizationSource("W_Lopez2015_MR", "warm-rolled W plate, moderately rolled (MR)", "Lopez/Alfonso et al. 2015 (DTU)",
                            "alfonso_data/moderate_roll.csv", "7d8ecfe2ff90f6eb1ce3a0021d0bb89008c8d67e5874fe450469761a879fea99", "h"),
    RecrystallizationSource("W_Yu2017", "hot-rolled W", "Yu et al. 2017",
                            "yu_data/data.csv", "900587ea23746976308f446ff002b4dc405dc7014837149d26b76e90b6db75d2", "h"),
    RecrystallizationSource("W_Richou2020_A", "ITER-grade W, batch A", "Richou et al. 2020",
                            "richou_data/batch_a_data.csv", "3a914a243ec9ee911ff8e54b8ea9bda9e84ba7d73b49b5dca0bec01ab81903ce", "s"),
    RecrystallizationSource("W_Richou2020_B", "ITER-grade W, batch B", "Richou et al. 2020",
                            "richou_data/batch_b_data.csv", "397ff6e576e4cc218621ef4ebb44407c2d7249dc5aa9908fa9c7673ec7f4a747", "s"),
    RecrystallizationSource("W_Zan2019", "Y2O3-W", "Zan et al. 2019",
                            "zan_data/data.csv", "cf1aaa27975b5cbeb1a81ecab4eb2b2868f8715863bdb18d91a66d89ed7fb0a7", None),
    RecrystallizationSource("W_Ciucani2019_TP2", "W plate TP2", "Ciucani et al. 2019",
                            "ciucani_data/tp2_data.csv", "2322ba3487a64129dfde49d774205ce7b737e696f7c75c9db09067943dc74930", None),
    RecrystallizationSource("W_Minissale2020", "W (Minissale)", "Minissale et al. 2020",
                            "minnessale_data/data.csv", "f5aafe59837b271df79bd3b82a959a1185dedefbd3258ea27f430bdadcbb62c5", None),
    RecrystallizationSource("W_Wang2017_w50", "W, 50% rolling reduction", "Wang et al. 2017",
                            "wang_data/w50.csv", "12d9c5b5f7d81a9f6d0b5d526d33576be852e6a1774ef5e658a2eada479c8477", None, 1350.0),
    RecrystallizationSource("W_Wang2017_w67", "W, 67% rolling reduction", "Wang et al. 2017",
                            "wang_data/w67.csv", "9936d0353f8a2a2467d8924de2280254b50af2e160f639d5ca07b7056f981b9d", None, 1350.0),
    RecrystallizationSource("W_Wang2017_w90", "W, 90% rolling reduction", "Wang et al. 2017",
                            "wang_data/w90.csv", "c79faf717a41f45c23ce69652a5b931d58ebe0c8bfc7f820fa0d56dfd6c4dddf", None, 1350.0),
)


def _read(source: RecrystallizationSource) -> tuple[pd.DataFrame, Path]:
    path = fetch(_LOCAL + source.file, _RAW + source.file, source.sha256)
    if source.temperature_C is not None:  # headerless "time, X" pairs at one temperature
        raw = pd.read_csv(path, header=None, names=["time", "X"])
        raw["temperature"] = source.temperature_C
    else:
        raw = pd.read_csv(path, index_col=0)
    missing = {"time", "X", "temperature"} - set(raw.columns)
    if missing:
        raise ValueError(f"{path}: expected columns time, X, temperature; missing {sorted(missing)}.")
    return raw, path


def undocumented_sources() -> list[str]:
    """Data sets whose source does not document the time unit (see
    :mod:`sciml.materials.time_units` to infer it)."""
    return [src.dataset for src in SOURCES if src.time_unit is None]


def documented_time_units() -> dict[str, str]:
    """The documented time unit of each data set that has one."""
    return {src.dataset: src.time_unit for src in SOURCES if src.time_unit is not None}


def load_recrystallization(undocumented_time_unit: str | Mapping[str, str] | None = None) -> pd.DataFrame:
    """Tungsten recrystallization isotherms as one tidy table, in SI units.

    Args:
        undocumented_time_unit: Sources that do not document their time unit (Zan, Ciucani,
            Minissale, Wang; :func:`undocumented_sources`) are left out by default, with a
            warning naming them and the reason. Pass ``"h"``, ``"min"`` or ``"s"`` to include
            them all under that assumption, or a mapping from data set to unit (e.g. the units
            inferred by :func:`sciml.materials.time_units.infer_time_units`) to include those
            named; the ``time_unit`` column records it as ``"h (assumed)"``.

    Returns:
        Columns :data:`COLUMNS`: ``temperature_K`` [K], ``time_s`` [s], ``X`` [1] and ``X_std``
        [1] (NaN where the source gives none), one row per measurement. Digitized points
        slightly before t = 0 (points read off at the origin of a published plot) are set to
        t = 0 and marked ``time_clipped``; nothing is dropped. ``df.attrs["excluded"]`` maps
        each left-out data set to the reason, ``df.attrs["files"]`` each data set read to its
        (sha256-checked) file.

    Raises:
        ValueError: for an unknown unit, or a mapping that names a data set that is not
            undocumented.
    """
    undocumented = undocumented_sources()
    if isinstance(undocumented_time_unit, Mapping):
        assumed = dict(undocumented_time_unit)
        stray = sorted(set(assumed) - set(undocumented))
        if stray:
            raise ValueError(f"undocumented_time_unit names {stray}, which are not undocumented sources; those are {undocumented}.")
    else:
        assumed = {name: undocumented_time_unit for name in undocumented} if undocumented_time_unit is not None else {}
    bad = {k: v for k, v in assumed.items() if v not in SECONDS_PER}
    if bad:
        raise ValueError(f"Time units must be one of {sorted(SECONDS_PER)}; got {bad}.")
    frames, excluded, files = [], {}, {}
    for src in SOURCES:
        unit = src.time_unit
        label = unit
        if unit is None:
            if src.dataset not in assumed:
                excluded[src.dataset] = f"{src.paper}: time unit not documented by the source"
                continue
            unit = assumed[src.dataset]
            label = f"{unit} (assumed)"
        raw, files[src.dataset] = _read(src)
        time_s = raw["time"].astype(float) * SECONDS_PER[unit]
        frames.append(
            pd.DataFrame(
                {
                    "dataset": src.dataset,
                    "material": src.material,
                    "source_paper": src.paper,
                    "temperature_K": raw["temperature"].astype(float) + 273.15,
                    "time_s": time_s.clip(lower=0.0),
                    "X": raw["X"].astype(float),
                    "X_std": raw["std"].astype(float) if "std" in raw else float("nan"),
                    "time_unit": label,
                    "time_clipped": time_s < 0,
                }
            )
        )
    if excluded:
        warnings.warn(
            "Left out (pass undocumented_time_unit='h', 'min' or 's', or a mapping from data set to unit, to include): " + "; ".join(f"{k}: {v}" for k, v in excluded.items()),
            stacklevel=2,
        )
    df = pd.concat(frames, ignore_index=True)[COLUMNS]
    df.attrs["excluded"] = excluded
    df.attrs["files"] = files
    return df


def load_kinetics_table(path: str | Path, units: dict[str, str] | None = None) -> pd.DataFrame:
    """A user's own isotherms in the form of :func:`load_recrystallization`: a CSV with a
    ``material`` column, time and temperature columns with their units in the header (e.g.
    ``time [h]``, ``temperature [C]``; or ``units={"time": "h"}``) and the transformed fraction
    ``X``. Converted to SI (``time_s``, ``temperature_K``); every row is kept.

    Raises:
        FileNotFoundError: if the file does not exist.
        KeyError: for a missing column (naming the expected ones).
        ValueError: for a missing unit, a value outside its range or not a number.
    """
    from sciml.prior.domains.law import JMAK_ARRHENIUS_SCHEMA

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No kinetics table at {path}.")
    raw = pd.read_csv(path)
    material = next((c for c in raw.columns if str(c).lower() == "material"), None)
    if material is None:
        raise KeyError(f"{path}: needs a 'material' column (the group a prior is learned across); it has {list(raw.columns)}.")
    x, y = JMAK_ARRHENIUS_SCHEMA.read(raw, units)
    name = raw[material].astype(str)
    df = pd.DataFrame({"dataset": name, "material": name, "source_paper": path.name, "temperature_K": x[:, 1], "time_s": x[:, 0],
                       "X": y, "X_std": float("nan"), "time_unit": "from the header", "time_clipped": False})
    df.attrs["excluded"] = {}
    df.attrs["files"] = {path.stem: path}
    return df


def load_kinetics_source(table: str | Path = "", undocumented_time_unit: str | Mapping[str, str] | None = None, warn: bool = True) -> pd.DataFrame:
    """A user's kinetics table (:func:`load_kinetics_table`) when ``table`` names one, else the
    tungsten reference data (:func:`load_recrystallization`); with ``warn=False`` the
    reference data's exclusions are not warned about (they stay in ``attrs["excluded"]``)."""
    if table:
        return load_kinetics_table(table)
    with warnings.catch_warnings():
        if not warn:
            warnings.simplefilter("ignore", UserWarning)
        return load_recrystallization(undocumented_time_unit=undocumented_time_unit)
