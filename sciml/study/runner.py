"""Run a study folder: resolve its config, run its kind, write the run folder."""

from __future__ import annotations

import importlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from sciml.study.config import apply_overrides, config_hash, deep_merge, read_study_file
from sciml.study.context import METRIC_COLUMNS, RunContext, environment_info

KINDS: dict[str, str] = {
    "jmak-synthetic": "sciml.study.kinds.jmak_synthetic",
    "sinusoid": "sciml.study.kinds.sinusoid",
    "jmak-tungsten": "sciml.study.kinds.jmak_tungsten",
    "asas-fewshot": "sciml.study.kinds.asas_fewshot",
    "htru2-fewshot": "sciml.study.kinds.htru2_fewshot",
    "molecule-fewshot": "sciml.study.kinds.molecule_fewshot",
    "crystal-families": "sciml.study.kinds.crystal_families",
}
"""Study kind -> module with ``DEFAULTS`` (dict), ``DESCRIPTION`` (str) and ``run(ctx)``."""


def kind_module(kind: str) -> Any:
    """The module implementing a study kind."""
    if kind not in KINDS:
        raise ValueError(f"Unknown study kind {kind!r}; known kinds: {sorted(KINDS)}.")
    return importlib.import_module(KINDS[kind])


def resolve_config(study_dir: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """The study's ``study.toml`` on top of its kind's defaults, with overrides applied."""
    raw = read_study_file(study_dir)
    module = kind_module(raw["study"]["kind"])
    cfg = deep_merge(module.DEFAULTS, raw)
    cfg["study"].setdefault("name", study_dir.name)
    return apply_overrides(cfg, overrides or [])


def _repo_root(path: Path) -> Path | None:
    for p in [path, *path.parents]:
        if (p / ".git").exists():
            return p
    return None


def _mark_failed(run_dir: Path, err: BaseException, elapsed: float) -> None:
    """Mark a run folder as failed: ``status.json`` with the error and ``FAILED`` with the
    traceback; what the run wrote so far stays for inspection."""
    import traceback

    status = {"status": "failed", "error": f"{type(err).__name__}: {err}", "seconds": round(elapsed, 1)}
    (run_dir / "status.json").write_text(json.dumps(status, indent=2))
    (run_dir / "FAILED").write_text("".join(traceback.format_exception(err)))


def run_study(study_dir: str | Path, overrides: list[str] | None = None, runs_dir: str | Path | None = None) -> Path:
    """Run the study in ``study_dir`` and return its run folder.

    The run folder ``<study>/runs/<UTC time>_<config hash>/`` holds ``config.resolved.json``,
    ``environment.json``, ``data_manifest.json``, ``metrics.csv``, ``results.csv``,
    ``report.md``, ``figures/``, ``priors/`` and ``status.json`` (``"done"``, or ``"failed"``
    with the error, beside a ``FAILED`` file holding the traceback). Nothing outside it is
    written; the working directory is never changed.
    """
    study_dir = Path(study_dir).resolve()
    cfg = resolve_config(study_dir, overrides)
    module = kind_module(cfg["study"]["kind"])
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = Path(runs_dir).resolve() if runs_dir else study_dir / "runs"
    run_dir = base / f"{stamp}_{config_hash(cfg)}"
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "config.resolved.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))
    (run_dir / "environment.json").write_text(json.dumps(environment_info(_repo_root(study_dir)), indent=2))
    ctx = RunContext(config=cfg, run_dir=run_dir, study_dir=study_dir, overrides=list(overrides or []))
    ctx.log(f"study {ctx.name}: writing {run_dir}")
    start = time.perf_counter()
    try:
        module.run(ctx)
    except BaseException as err:
        _mark_failed(run_dir, err, time.perf_counter() - start)
        raise
    elapsed = time.perf_counter() - start
    (run_dir / "data_manifest.json").write_text(json.dumps({"inputs": ctx.inputs}, indent=2, default=str))
    hist = pd.concat(ctx.histories, ignore_index=True) if ctx.histories else pd.DataFrame(columns=METRIC_COLUMNS)
    hist.to_csv(run_dir / "metrics.csv", index=False)
    ctx.all_results().to_csv(run_dir / "results.csv", index=False)
    from sciml.study.report import write_report

    write_report(ctx, elapsed)
    (run_dir / "status.json").write_text(json.dumps({"status": "done", "seconds": round(elapsed, 1), "priors": ctx.priors}, indent=2))
    ctx.log(f"done in {elapsed:.0f} s: {run_dir / 'report.md'}")
    return run_dir
