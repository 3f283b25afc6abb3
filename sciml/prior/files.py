"""Calibrate a saved prior on CSV files and write the results to a folder (``sciml calibrate``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sciml.prior.prior import load_prior


def _read_csv(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV table ({err}).") from None


def calibrate_files(
    prior_dir: str | Path,
    data: str | Path,
    *,
    predict: str | Path | None = None,
    suggest: int = 0,
    out: str | Path = "calibration",
    units: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Calibrate the prior in ``prior_dir`` on the table ``data`` and write the results.

    Writes ``calibration.json``, ``parameters.csv`` (laws), ``predictions.csv`` (with
    ``predict``), ``suggestions.csv`` (laws, with ``suggest > 0``: the next experiments in a box
    spanning the prior's training range) and ``calibration.png`` (laws) into ``out``.

    Args:
        prior_dir: A prior folder.
        data: CSV of measurements in the prior's table form (``Prior.describe()``).
        predict: CSV of new inputs to predict.
        suggest: Number of next experiments to propose (laws).
        out: Output folder (refused if it holds files, unless ``overwrite``).
        units: Units of columns whose names carry none (laws).
        overwrite: Replace files in ``out``.

    Returns:
        The written files by kind.
    """
    prior = load_prior(prior_dir)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; choose another --out or pass --overwrite.")
    data = Path(data)
    domain = prior.domain
    law = domain.kind == "law"
    args, kwargs = domain.from_table(_read_csv(data), data.parent, labelled=True)
    if law:
        kwargs["units"] = dict(units or {})
    elif units:
        raise ValueError("--units applies to law priors only.")
    cal = prior.calibrate(*args, **kwargs)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    written["calibration"] = out / "calibration.json"
    written["calibration"].write_text(cal.to_json())
    if law:
        written["parameters"] = out / "parameters.csv"
        cal.params().to_csv(written["parameters"], index=False)
    if predict is not None:
        predict = Path(predict)
        pargs, _ = domain.from_table(_read_csv(predict), predict.parent, labelled=False)
        frame = cal.predict(*pargs, **({"units": kwargs["units"]} if law else {}))
        written["predictions"] = out / "predictions.csv"
        frame.to_csv(written["predictions"], index=False)
    if suggest:
        if not law:
            raise ValueError("--suggest applies to law priors (it ranks experiments by how much they narrow an interval).")
        written["suggestions"] = out / "suggestions.csv"
        cal.suggest_next(box=cal.training_box(), q=int(suggest)).to_csv(written["suggestions"], index=False)
    if law:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ax = cal.plot()
        written["plot"] = out / "calibration.png"
        ax.figure.savefig(written["plot"], dpi=120, bbox_inches="tight")
        plt.close(ax.figure)
    (out / "files.json").write_text(json.dumps({k: str(v) for k, v in written.items()}, indent=2))
    return written

