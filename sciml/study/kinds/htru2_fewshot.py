"""Study kind ``htru2-fewshot``: see :mod:`sciml.study.kinds.astro_fewshot`."""

from sciml.study.kinds.astro_fewshot import DEFAULTS_HTRU2 as DEFAULTS
from sciml.study.kinds.astro_fewshot import run_htru2 as run

DESCRIPTION = "2-way K-shot pulsar identification on held-out HTRU2 candidates"

__all__ = ["DEFAULTS", "DESCRIPTION", "run"]
