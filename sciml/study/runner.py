"""Run a study folder: resolve its config, run its kind, write the run folder."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import time
from collections.abc import Iterator
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
    "creep-rupture": "sciml.study.kinds.creep_rupture",
    "asas-fewshot": "sciml.study.kinds.asas_fewshot",
    "htru2-fewshot": "sciml.study.kinds.htru2_fewshot",
    "molecule-fewshot": "sciml.study.kinds.molecule_fewshot",
    "crystal-families": "sciml.study.kinds.crystal_families",
    "experiment-design": "sciml.study.kinds.experiment_design",
}
"""Study kind -> module with ``DEFAULTS`` (dict), ``DESCRIPTION`` (str) and ``run(ctx)``."""


def kind_module(kind: str) -> Any:
    """The module implementing a study kind."""
    if kind not in KINDS:
        raise ValueError(f"Unknown study kind {kind!r}; known kinds: {sorted(KINDS)}.")
    return importlib.import_module(KINDS[kind])


RUNTIME_DEFAULTS: dict[str, Any] = {"threads": 2}
"""The ``[runtime]`` table every study has. ``threads``: torch's intra-op threads during the run.
Several torch kernels (batch statistics, normalization, their backward passes) sum in an order
that depends on the thread count, and the differences grow through training, so a study pins it:
the same seed and threads give the same numbers whatever the machine's core count."""


def resolve_config(study_dir: Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """The study's ``study.toml`` on top of its kind's defaults, with overrides applied."""
    raw = read_study_file(study_dir)
    module = kind_module(raw["study"]["kind"])
    cfg = deep_merge({**module.DEFAULTS, "runtime": dict(RUNTIME_DEFAULTS)}, raw)
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
    with _signals_held():  # torchrun's SIGTERM must not cut these writes short
        _write_atomically(run_dir / "FAILED", "".join(traceback.format_exception(err)))
        _write_atomically(run_dir / "status.json", json.dumps(status, indent=2))


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` for the block."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGTERM and SIGINT back (delivered on exit from the block) where the OS allows it."""
    import signal

    held = {signal.SIGTERM, signal.SIGINT}
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


RESUME_DIR = "resume"
"""Sub-folder of a run folder holding one meta-training checkpoint per ``fit`` call."""


def _status(run_dir: Path) -> str | None:
    try:
        return str(json.loads((run_dir / "status.json").read_text()).get("status"))
    except (OSError, ValueError):
        return None


def _launch_record(run_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((run_dir / "launch.json").read_text()))
    except (OSError, ValueError):
        return {}


def restarted_run(base: Path, run_id: str) -> Path | None:
    """The unfinished run folder under ``base`` that the torchrun job ``run_id`` started, if any
    (a job restarted by ``torchrun --max-restarts`` continues it)."""
    found = [d for d in sorted(base.glob("*/launch.json"))
             if _launch_record(d.parent).get("torchelastic_run_id") == run_id and _status(d.parent) != "done"]
    return found[-1].parent if found else None


def _check_resumable(run_dir: Path, world_size: int) -> dict[str, Any]:
    if not (run_dir / "config.resolved.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no config.resolved.json): pass the folder a run wrote.")
    if _status(run_dir) == "done":
        raise ValueError(f"{run_dir} finished already (status.json says done): there is nothing to resume.")
    recorded = int(_launch_record(run_dir).get("world_size", 1))
    if recorded != world_size:
        raise ValueError(
            f"{run_dir} ran with {recorded} rank(s) and this run has {world_size}: every rank draws its own tasks, so "
            f"resume with --nproc {recorded} (or torchrun --nproc_per_node ... giving {recorded} ranks in all)."
        )
    return dict(json.loads((run_dir / "config.resolved.json").read_text()))


def _prepare_run_dir(study_dir: Path, overrides: list[str] | None, runs_dir: str | Path | None,
                     resume: str | Path | None, world_size: int) -> tuple[Path, dict[str, Any], bool, list[str]]:
    """Rank 0's choice of run folder and config: a new folder, the one to resume, or the one a
    restarted torchrun job started."""
    base = Path(runs_dir).resolve() if runs_dir else study_dir / "runs"
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if resume is None and run_id and int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0:
        resume = restarted_run(base, run_id)
    if resume is not None:
        run_dir = Path(resume).resolve()
        recorded = _check_resumable(run_dir, world_size)
        recorded_overrides = list(_launch_record(run_dir).get("overrides", []))
        if overrides and list(overrides) != recorded_overrides:
            raise ValueError("--set cannot change a resumed run: it continues with the config in its config.resolved.json.")
        overrides = recorded_overrides
        cfg = resolve_config(study_dir, overrides)
        if config_hash(cfg) != config_hash(recorded):
            raise ValueError(f"{study_dir / 'study.toml'} (or a default of its kind) changed since {run_dir} started: "
                             "resuming would mix two configs. Restore the study as it was, or start a new run.")
        return run_dir, cfg, True, overrides
    cfg = resolve_config(study_dir, overrides)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = base / f"{stamp}_{config_hash(cfg)}"
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "config.resolved.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))
    return run_dir, cfg, False, list(overrides or [])


def run_study(study_dir: str | Path | None, overrides: list[str] | None = None, runs_dir: str | Path | None = None, *,
              resume: str | Path | None = None, checkpoint_every: int = 100, keep_checkpoints: bool = False) -> Path:
    """Run the study in ``study_dir`` and return its run folder.

    The run folder ``<study>/runs/<UTC time>_<config hash>/`` holds ``config.resolved.json``,
    ``environment.json``, ``launch.json`` (world size, backend, restarts, resumes),
    ``data_manifest.json``, ``metrics.csv``, ``results.csv``, ``report.md``, ``figures/``,
    ``priors/`` and ``status.json`` (``"running"``, ``"done"``, or ``"failed"`` with the error,
    beside a ``FAILED`` file holding the traceback). Nothing outside it is written; the working
    directory is never changed.

    Every meta-training (``Learner.fit``) checkpoints into ``resume/fit-<n>/`` every
    ``checkpoint_every`` iterations, so an interrupted run continues with ``resume=RUN_DIR``
    (``sciml run --resume RUN_DIR``) and ends with exactly the results of an uninterrupted one.
    The checkpoints are removed when the run is done, unless ``keep_checkpoints``.

    Under ``torchrun`` every rank runs the study and meta-trains its share of each meta-batch
    (:mod:`sciml.meta.distributed`); only rank 0 writes. A job restarted by ``torchrun
    --max-restarts`` resumes the run folder it started.

    Args:
        study_dir: Folder holding ``study.toml`` (``None`` with ``resume``: the one recorded in
            the run folder).
        overrides: ``key=value`` config overrides (TOML values).
        runs_dir: Write the run folder here instead of ``<study>/runs``.
        resume: A run folder to continue with the config it started with (``overrides``, if
            given, must be the ones it was started with).
        checkpoint_every: Meta-iterations between checkpoints of each ``fit``.
        keep_checkpoints: Keep ``resume/`` after the run is done.
    """
    from sciml.meta import distributed
    from sciml.meta.training_state import checkpointing

    me = distributed.init_from_environment()
    if study_dir is None:
        if resume is None:
            raise ValueError("Pass the study folder, or a run folder to resume.")
        recorded = _launch_record(Path(resume)).get("study_dir")
        study_dir = Path(recorded) if recorded else Path(resume).resolve().parent.parent
    study_dir = Path(study_dir).resolve()
    prepared: Any = None
    if me.rank == 0:
        try:
            prepared = _prepare_run_dir(study_dir, overrides, runs_dir, resume, me.size)
        except (OSError, ValueError, KeyError, TypeError) as err:
            prepared = err
    prepared = distributed.broadcast_object(prepared)
    if isinstance(prepared, BaseException):
        raise prepared  # on every rank, so none waits for the others
    run_dir, cfg, resumed, overrides = prepared
    module = kind_module(cfg["study"]["kind"])
    writer = me.rank == 0
    threads = cfg.get("runtime", {}).get("threads", RUNTIME_DEFAULTS["threads"])
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"runtime.threads must be a positive integer, got {threads!r}.")
    if writer:
        launch = _launch_record(run_dir)
        launch.setdefault("study_dir", str(study_dir))
        launch.setdefault("overrides", list(overrides or []))
        launch.setdefault("world_size", me.size)
        launch.setdefault("backend", distributed.default_backend() if me.size > 1 else None)
        launch.setdefault("torchelastic_run_id", os.environ.get("TORCHELASTIC_RUN_ID"))
        launch["restarts"] = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
        launch["checkpoint_every"] = checkpoint_every
        if resumed:
            launch.setdefault("resumed_at", []).append(datetime.now(timezone.utc).isoformat(timespec="seconds"))
        (run_dir / "launch.json").write_text(json.dumps(launch, indent=2))
        (run_dir / "environment.json").write_text(json.dumps({**environment_info(_repo_root(study_dir)), "torch_threads": threads}, indent=2))
        _write_atomically(run_dir / "status.json", json.dumps({"status": "running", "world_size": me.size}, indent=2))
        (run_dir / "FAILED").unlink(missing_ok=True)
    ctx = RunContext(config=cfg, run_dir=run_dir, study_dir=study_dir, overrides=list(overrides or []), writer=writer,
                     resumed=resumed)
    ctx.log(f"study {ctx.name}: {'resuming' if resumed else 'writing'} {run_dir}"
            + (f" ({me.size} ranks)" if me.size > 1 else ""))
    start = time.perf_counter()
    try:
        with checkpointing(run_dir / RESUME_DIR, every=checkpoint_every), _torch_threads(int(cfg["runtime"]["threads"])):
            module.run(ctx)
    except BaseException as err:
        if writer:
            _mark_failed(run_dir, err, time.perf_counter() - start)
        raise
    elapsed = time.perf_counter() - start
    if writer:
        _write_outputs(ctx, elapsed)
        if not keep_checkpoints:
            shutil.rmtree(run_dir / RESUME_DIR, ignore_errors=True)
        ctx.log(f"done in {elapsed:.0f} s: {run_dir / 'report.md'}")
    distributed.barrier()
    return run_dir


def _write_outputs(ctx: RunContext, elapsed: float) -> None:
    run_dir = ctx.run_dir
    (run_dir / "data_manifest.json").write_text(json.dumps({"inputs": ctx.inputs}, indent=2, default=str))
    hist = pd.concat(ctx.histories, ignore_index=True) if ctx.histories else pd.DataFrame(columns=METRIC_COLUMNS)
    hist.to_csv(run_dir / "metrics.csv", index=False)
    ctx.all_results().to_csv(run_dir / "results.csv", index=False)
    from sciml.study.report import write_report

    write_report(ctx, elapsed)
    _write_atomically(run_dir / "status.json", json.dumps({"status": "done", "seconds": round(elapsed, 1), "priors": ctx.priors}, indent=2))
