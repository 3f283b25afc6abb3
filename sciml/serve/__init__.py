"""Serve saved priors over HTTP: ``sciml serve PRIOR_DIR...`` or :func:`create_app`.

The service is the :class:`~sciml.prior.Prior` / ``Calibration`` API behind HTTP: colleagues
send a few measurements and get calibrated parameters with intervals, predictions with bands
and the next experiment to run. Needs the ``serve`` extra (FastAPI, uvicorn).
"""

from sciml.serve.app import create_app, load_priors
from sciml.serve.limits import LimitExceeded, Limits
from sciml.serve.store import CalibrationStore

__all__ = ["CalibrationStore", "LimitExceeded", "Limits", "create_app", "load_priors"]
