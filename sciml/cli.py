"""Command line: ``sciml run studies/<name>``, ``sciml list`` (also ``python -m sciml``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_run(args: argparse.Namespace) -> int:
    from sciml.study.runner import run_study

    run_dir = run_study(args.study, overrides=args.set, runs_dir=args.runs_dir)
    print(run_dir)
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
    run.add_argument("study", help="path to the study folder, e.g. studies/jmak-synthetic-alloys")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value (TOML syntax), e.g. --set train.iterations=50")
    run.add_argument("--runs-dir", default=None, help="write the run folder here instead of <study>/runs")
    run.set_defaults(func=_cmd_run)
    lst = sub.add_parser("list", help="list studies and study kinds")
    lst.add_argument("root", nargs="?", default="studies", help="folder of studies (default: studies)")
    lst.set_defaults(func=_cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (FileNotFoundError, ValueError, KeyError) as err:
        if os.environ.get("SCIML_DEBUG"):
            raise
        print(f"sciml: error: {err} (set SCIML_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
