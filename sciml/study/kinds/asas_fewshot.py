"""Study kind ``asas-fewshot``: see :mod:`sciml.study.kinds.astro_fewshot`."""

from sciml.study.kinds.astro_fewshot import DEFAULTS_ASAS as DEFAULTS
from sciml.study.kinds.astro_fewshot import run_asas as run

DESCRIPTION = "5-way K-shot classification of held-out ASAS variable-star classes"

__all__ = ["DEFAULTS", "DESCRIPTION", "run"]
