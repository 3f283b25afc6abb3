"""Command line: ``sciml run studies/<name>``, ``sciml calibrate PRIOR DATA.csv``, ``sciml list``
(also ``python -m sciml``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _torchrun_command(argv: list[str], nproc: int, max_restarts: int) -> list[str]:
    """``torchrun --standalone --nproc_per_node N -m sciml run ...`` for ``sciml run ... --nproc N``."""
    rest, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a in ("--nproc", "--max-restarts"):
            skip = i + 1 < len(argv)
            continue
        if a.startswith(("--nproc=", "--max-restarts=")):
            continue
        rest.append(a)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            f"--max-restarts={max_restarts}", "-m", "sciml", *rest]


def _cmd_run(args: argparse.Namespace) -> int:
    from sciml.meta.distributed import is_writer, launched_by_torchrun
    from sciml.study.runner import run_study

    if args.study is None and args.resume is None:
        raise ValueError("sciml run needs a study folder, or --resume RUN_DIR.")
    if args.nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {args.nproc}.")
    if args.nproc > 1 and not launched_by_torchrun():
        import subprocess

        return subprocess.call(_torchrun_command(args.argv, args.nproc, args.max_restarts))
    if launched_by_torchrun():
        if int(os.environ.get("RANK", "0")) != 0:
            os.environ["TQDM_DISABLE"] = "1"  # progress bars from rank 0 only
        _stop_on_sigterm()
    try:
        run_dir = run_study(args.study, overrides=args.set, runs_dir=args.runs_dir, resume=args.resume,
                            checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep_checkpoints)
        if is_writer():
            print(run_dir)
    except (FileNotFoundError, FileExistsError, ValueError, KeyError, TypeError):
        _leave_process_group()  # raised on every rank alike: leave cleanly
        raise
    _leave_process_group()
    return 0


def _stop_on_sigterm() -> None:
    """torchrun stops the other workers with SIGTERM when one fails: raise instead of dying
    silently, so the run folder is marked failed with the reason."""
    import signal

    from sciml.meta.distributed import RankFailure

    def stop(signum: int, _frame: object) -> None:
        raise RankFailure(f"rank {os.environ.get('RANK')}: stopped by torchrun (signal {signum}) because another "
                          "worker failed; torchrun's report names it")

    signal.signal(signal.SIGTERM, stop)


def _leave_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from sciml.prior.files import calibrate_files

    units = {}
    for item in args.units:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--units {item!r} must look like column=unit, e.g. time=h.")
        units[key.strip()] = value.strip()
    written = calibrate_files(args.prior, args.data, predict=args.predict, suggest=args.suggest, out=args.out, units=units,
                              overwrite=args.overwrite)
    for kind, path in written.items():
        print(f"{kind}: {path}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from sciml.serve import CalibrationStore, Limits, create_app, load_priors

    try:
        import uvicorn
    except ImportError:
        raise ImportError("sciml serve needs FastAPI and uvicorn: pip install 'sciml[serve]'.") from None
    token = None
    if args.token_file:
        path = Path(args.token_file)
        if not path.is_file():
            raise FileNotFoundError(f"--token-file {path} does not exist.")
        token = path.read_text().strip()
        if not token:
            raise ValueError(f"--token-file {path} is empty: write the token into it.")
    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    app = create_app(load_priors(args.priors), token=token, limits=limits, threads=args.threads,
                     store=CalibrationStore(max_size=args.cache_size, ttl_s=args.ttl))
    where = f"http://{args.host}:{args.port}"
    print(f"Serving {len(args.priors)} prior(s) at {where} (page {where}/, API docs {where}/docs)"
          + ("; bearer token required" if token else "; no token (open to anyone who can reach the port)"))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from sciml.study.config import read_study_file
    from sciml.study.runner import KINDS, kind_module

    root = Path(args.root)
    found = sorted(p.parent for p in root.glob("*/study.toml")) if root.is_dir() else []
    print(f"Studies under {root}:" if found else f"No studies under {root}.")
    for d in found:
        try:
            cfg = read_study_file(d)
            print(f"  {d}  [{cfg['study']['kind']}]  {cfg['study'].get('description', '').strip().splitlines()[0] if cfg['study'].get('description') else ''}")
        except (ValueError, FileNotFoundError) as err:
            print(f"  {d}  (invalid: {err})")
    print("Study kinds:")
    for kind in sorted(KINDS):
        print(f"  {kind}: {kind_module(kind).DESCRIPTION}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(prog="sciml", description="Scientific meta-learning studies.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a study folder (holding study.toml)")
    run.add_argument("study", nargs="?", default=None, help="path to the study folder, e.g. studies/jmak-synthetic-alloys")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value (TOML syntax), e.g. --set train.iterations=50")
    run.add_argument("--runs-dir", default=None, help="write the run folder here instead of <study>/runs")
    run.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run folder (ends as an uninterrupted run would)")
    run.add_argument("--nproc", type=int, default=1, metavar="N", help="data-parallel meta-training on N processes (launches torchrun)")
    run.add_argument("--max-restarts", type=int, default=0, metavar="K", help="with --nproc: restart a failed job up to K times, resuming from its checkpoints")
    run.add_argument("--checkpoint-every", type=int, default=100, metavar="N", help="meta-iterations between checkpoints (default 100)")
    run.add_argument("--keep-checkpoints", action="store_true", help="keep the run folder's resume/ checkpoints once it is done")
    run.set_defaults(func=_cmd_run)
    cal = sub.add_parser("calibrate", help="calibrate a saved prior on your own measurements (CSV)")
    cal.add_argument("prior", help="prior folder (holding prior.json), e.g. a run's priors/<name>")
    cal.add_argument("data", help="CSV of measurements in the prior's form (laws: units in the column names, e.g. 'time [h]')")
    cal.add_argument("--predict", default=None, metavar="NEW.csv", help="CSV of new inputs to predict")
    cal.add_argument("--suggest", type=int, default=0, metavar="N", help="propose the N next experiments (laws)")
    cal.add_argument("--out", default="calibration", metavar="DIR", help="output folder (default: calibration)")
    cal.add_argument("--units", action="append", default=[], metavar="COLUMN=UNIT", help="unit of a column whose name has none, e.g. --units time=h")
    cal.add_argument("--overwrite", action="store_true", help="replace files in --out")
    cal.set_defaults(func=_cmd_calibrate)
    srv = sub.add_parser("serve", help="serve saved priors over HTTP (calibrate, predict, suggest; a page at /)")
    srv.add_argument("priors", nargs="+", metavar="PRIOR_DIR", help="prior folders (holding prior.json); each is served under its folder name")
    srv.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    srv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    srv.add_argument("--token-file", default=None, metavar="F", help="file holding a bearer token every API request must carry")
    srv.add_argument("--cache-size", type=int, default=1000, help="calibrations kept at most (default 1000)")
    srv.add_argument("--ttl", type=float, default=3600.0, metavar="SECONDS", help="a calibration expires this long after its last use")
    srv.add_argument("--threads", type=int, default=4, help="calibrations running at once (default 4)")
    srv.add_argument("--torch-threads", type=int, default=1, help="torch threads per calibration (default 1; 0 keeps torch's default)")
    srv.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    from sciml.serve.limits import Limits

    for name, value in Limits.__dataclass_fields__.items():
        srv.add_argument("--" + name.replace("_", "-"), dest=name, type=int, default=value.default, help=f"request limit (default {value.default})")
    srv.set_defaults(func=_cmd_serve)
    lst = sub.add_parser("list", help="list studies and study kinds")
    lst.add_argument("root", nargs="?", default="studies", help="folder of studies (default: studies)")
    lst.set_defaults(func=_cmd_list)
    return parser


def entry() -> int:
    """The ``sciml`` command: :func:`main` in a process with the allocator settings of
    :mod:`sciml.allocator` (re-executed once where they are missing)."""
    from sciml.allocator import exec_with_tuned_allocator

    exec_with_tuned_allocator(sys.argv[1:])
    return main()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return int(args.func(args))
    except (FileNotFoundError, FileExistsError, ValueError, KeyError, TypeError) as err:
        if os.environ.get("SCIML_DEBUG"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"sciml: error: {message} (set SCIML_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
    except RuntimeError as err:
        from sciml.meta.distributed import RankFailure

        if not isinstance(err, RankFailure) or os.environ.get("SCIML_DEBUG"):
            raise
        print(f"sciml: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
