"""Light-curve priors: labelled light curves of new classes in (any classes, any number of
them), class probabilities out (prototypes in a meta-learned embedding)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sciml.prior.domains.base import Domain, table_column
from sciml.prior.domains.labels import class_indices
from sciml.prior.domains.prototypes import PrototypeCalibration, calibrate_prototypes

if TYPE_CHECKING:
    from sciml.prior.prior import Prior


def _curve(obj: Any, i: int) -> Any:
    from sciml.astro.lightcurve import LightCurve

    if isinstance(obj, LightCurve):
        return obj
    if isinstance(obj, (tuple, list)) and len(obj) in (2, 3):
        t, mag, *err = obj
        return LightCurve.unsorted(np.asarray(t, float), np.asarray(mag, float), np.asarray(err[0], float) if err else None, name=f"curve {i}")
    raise TypeError(f"Curve {i}: expected a LightCurve or a (t [d], mag[, err]) tuple, got {type(obj).__name__}.")


class LightCurveDomain(Domain):
    """Light curves (times in days, magnitudes) turned into period and shape features.

    Args:
        min_period: Shortest period searched [d].
        n_bins: Phase bins of the folded curve (used by the period-folding featurizer).
        inputs: What the learner reads: ``"features"`` (the 8 features of
            :data:`~sciml.astro.features.FEATURE_NAMES`) or ``"features+phase"`` (those, then the
            ``n_bins`` folded shape: a :class:`~sciml.models.FeaturePhaseEncoder`).
    """

    kind = "light_curves"
    INPUTS = ("features", "features+phase")

    def __init__(self, min_period: float = 0.05, n_bins: int = 64, inputs: str = "features") -> None:
        if inputs not in self.INPUTS:
            raise ValueError(f"inputs must be one of {self.INPUTS}, got {inputs!r}.")
        self.min_period, self.n_bins, self.inputs = float(min_period), int(n_bins), inputs

    def to_dict(self) -> dict[str, Any]:
        from sciml.astro.dataset import FEATURIZER_VERSION
        from sciml.astro.features import FEATURE_NAMES

        return {"kind": self.kind, "min_period": self.min_period, "n_bins": self.n_bins, "features": list(FEATURE_NAMES),
                "inputs": self.inputs, "featurizer_version": FEATURIZER_VERSION, "input": "LightCurve or (t [d], mag [mag], err [mag])"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LightCurveDomain:
        return cls(d.get("min_period", 0.05), d.get("n_bins", 64), d.get("inputs", "features"))

    def describe(self) -> str:
        return "light curves (t [d], mag, err) with class labels (any classes, at least two)"

    def check_prior(self, prior: Prior) -> None:
        from sciml.meta import ProtoNet

        if not isinstance(prior.learner, ProtoNet):
            raise TypeError("A light-curve prior classifies by prototypes: its learner must be a ProtoNet.")

    def from_table(self, frame: Any, base_dir: Path, *, labelled: bool) -> tuple[tuple[Any, ...], dict[str, Any]]:
        import pandas as pd

        col = table_column(frame, ("curve", "path", "file"), "paths of CSV files with columns t [d], mag, err")
        curves = []
        for p in frame[col].astype(str):
            path = Path(p) if Path(p).is_absolute() else base_dir / p
            if not path.is_file():
                raise FileNotFoundError(f"Light curve file {path} does not exist.")
            data = pd.read_csv(path)
            t, mag = table_column(data, ("t", "time", "hjd", "mjd"), "times [d]"), table_column(data, ("mag", "magnitude"), "magnitudes")
            err = next((c for c in data.columns if str(c).lower() in ("err", "error", "mag_err")), None)
            curves.append((data[t].to_numpy(float), data[mag].to_numpy(float), None if err is None else data[err].to_numpy(float)))
        curves = [c if c[2] is not None else c[:2] for c in curves]
        if not labelled:
            return (curves,), {}
        return (curves, frame[table_column(frame, ("label", "class"), "class labels")].tolist()), {}

    def features(self, prior: Prior, curves: Sequence[Any]) -> torch.Tensor:
        """Encoded features ``[n, d]`` of the curves (errors name the curve and the reason)."""
        from sciml.astro.dataset import featurize
        from sciml.astro.lightcurve import LightCurveError

        if hasattr(curves, "t") or isinstance(curves, tuple):
            raise TypeError("Pass a list of light curves, not a single one.")
        rows = []
        for i, obj in enumerate(curves):
            lc = _curve(obj, i)
            out = featurize(lc.name, lc.t, lc.mag, lc.err, self.n_bins, self.min_period)
            if isinstance(out, str):
                raise LightCurveError(f"Curve {i}: {out}")
            rows.append(out[1] if self.inputs == "features" else np.concatenate([out[1], out[0]]))
        x = torch.as_tensor(np.stack(rows), dtype=prior.learner._dtype)
        return prior.encode(x)

    def calibrate(self, prior: Prior, curves: Sequence[Any], labels: Sequence[Any] | None = None, *, steps: int | None = None) -> PrototypeCalibration:
        """Calibrate on labelled curves: one prototype per class (any number of classes >= 2)."""
        if labels is None:
            raise ValueError("labels are required: one class label per light curve.")
        y, classes = class_indices(labels, len(curves), "light curves")
        return calibrate_prototypes(prior, self.features(prior, curves), y, classes, steps)
