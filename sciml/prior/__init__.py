"""Take a meta-learned prior home: load it, calibrate it on your own measurements, predict.

>>> from sciml.prior import load_prior                      # doctest: +SKIP
>>> prior = load_prior("priors/tungsten")                   # doctest: +SKIP
>>> cal = prior.calibrate(table, units={"time": "h", "temperature": "C"})  # doctest: +SKIP
>>> cal.params(); cal.predict(new_rows); cal.suggest_next(box=...)          # doctest: +SKIP
"""

from sciml.meta.checkpoint import CheckpointError
from sciml.prior.calibration import Calibration
from sciml.prior.prior import FORMAT_VERSION, Prior, load_prior
from sciml.prior.schema import Column, PlausibilityWarning, TableSchema
from sciml.prior.units import UnitError

__all__ = [
    "FORMAT_VERSION", "Calibration", "CheckpointError", "Column", "PlausibilityWarning", "Prior", "TableSchema", "UnitError",
    "load_prior",
]
