"""sciml: scientific meta-learning for physics and chemistry.

Meta-learn a prior across many related tasks (alloys, assays, material families, signal
classes) so that a new task is calibrated from a handful of measurements.

The public surface lives in the subpackages:

* :mod:`sciml.tasks` - ``Task``, ``TaskSet``, k-shot and N-way K-shot sampling.
* :mod:`sciml.models` - MLPs and physical laws (:mod:`sciml.models.laws`).
* :mod:`sciml.meta` - the meta-learning engine (MAML, ANIL, MetaSGD, Reptile, ProtoNet) and
  the baselines (Scratch, FineTune, CurveFit).
* :mod:`sciml.evaluation` - metrics, the few-shot protocol, diagnostics and plots.
* :mod:`sciml.prior` - ``Prior`` (a saved, meta-learned prior), ``load_prior`` and
  ``Calibration``: calibrate a prior on your own measurements.
* :mod:`sciml.study` - reproducible study folders, run by ``python -m sciml run``.

Importing :mod:`sciml` has no side effects and does not import torch.
"""

from __future__ import annotations

from typing import Any

from sciml._version import __version__

__all__ = ["Calibration", "Prior", "__version__", "load_prior"]


def __getattr__(name: str) -> Any:
    """``sciml.Prior``, ``sciml.Calibration`` and ``sciml.load_prior``, imported on first use
    (importing :mod:`sciml` stays free of torch)."""
    if name in ("Prior", "Calibration", "load_prior"):
        import sciml.prior

        return getattr(sciml.prior, name)
    raise AttributeError(f"module 'sciml' has no attribute {name!r}")
