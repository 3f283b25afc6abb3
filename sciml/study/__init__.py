"""Reproducible studies: ``studies/<name>/study.toml`` -> a run folder with results and report."""

from sciml.study.config import apply_overrides, config_hash, read_study_file
from sciml.study.context import RunContext
from sciml.study.runner import KINDS, resolve_config, run_study

__all__ = ["KINDS", "RunContext", "apply_overrides", "config_hash", "read_study_file", "resolve_config", "run_study"]
