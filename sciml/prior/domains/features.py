"""Feature-table priors: examples described by named numeric columns (e.g. the eight
statistics of a pulsar candidate), labelled with classes; class probabilities out (prototypes
in a meta-learned embedding)."""

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


class FeatureDomain(Domain):
    """Examples as rows of named numeric features.

    Args:
        columns: Feature names, in the model's input order.
        units: Unit of each feature (``"1"`` where dimensionless), for the schema.
        label: What the classes are (for messages and ``prior.json``).
    """

    kind = "features"

    def __init__(self, columns: Sequence[str], units: Sequence[str] | None = None, label: str = "class") -> None:
        self.columns = [str(c) for c in columns]
        self.units = [str(u) for u in units] if units is not None else ["1"] * len(self.columns)
        if len(self.units) != len(self.columns):
            raise ValueError(f"{len(self.columns)} columns but {len(self.units)} units: give one unit per column.")
        self.label = label

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": self.columns, "units": self.units, "label": self.label,
                "input": "a table (or array [n, d]) with these columns"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureDomain:
        return cls(d["columns"], d.get("units"), d.get("label", "class"))

    def describe(self) -> str:
        return f"rows of {', '.join(f'{c} [{u}]' for c, u in zip(self.columns, self.units))} with {self.label} labels"

    def check_prior(self, prior: Prior) -> None:
        from sciml.meta import ProtoNet

        if not isinstance(prior.learner, ProtoNet):
            raise TypeError("A feature-table prior classifies by prototypes: its learner must be a ProtoNet.")

    def from_table(self, frame: Any, base_dir: Path, *, labelled: bool) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if not labelled:
            return (frame,), {}
        col = table_column(frame, ("label", "class"), f"{self.label} labels")
        return (frame.drop(columns=[col]), frame[col].tolist()), {}

    def features(self, prior: Prior, rows: Any) -> torch.Tensor:
        """The encoded features ``[n, d]`` of a table with :attr:`columns` (extra columns are
        ignored) or of an array ``[n, d]`` in that order.

        Raises:
            KeyError: for a missing column (named).
            ValueError: for a wrong number of features, or a non-finite value (with its row).
        """
        if hasattr(rows, "columns"):
            missing = [c for c in self.columns if c not in rows.columns]
            if missing:
                raise KeyError(f"The table lacks column(s) {missing}; this prior reads {self.columns}.")
            x = rows[self.columns].to_numpy(dtype=float)
        else:
            x = np.asarray(rows, dtype=float)
            if x.ndim != 2 or x.shape[1] != len(self.columns):
                raise ValueError(f"Expected an array [n, {len(self.columns)}] of {self.columns}, got shape {list(x.shape)}.")
        bad = np.flatnonzero(~np.isfinite(x).all(1))
        if len(bad):
            raise ValueError(f"Row(s) {bad[:10].tolist()} hold NaN or infinite features: fix or drop them.")
        return prior.encode(torch.tensor(np.ascontiguousarray(x), dtype=prior.learner._dtype))

    def calibrate(self, prior: Prior, rows: Any, labels: Sequence[Any] | None = None, *, steps: int | None = None) -> PrototypeCalibration:
        """Calibrate on labelled rows: one prototype per class (any number of classes >= 2)."""
        if labels is None:
            raise ValueError(f"labels are required: one {self.label} label per row.")
        x = self.features(prior, rows)
        y, classes = class_indices(labels, len(x), "rows")
        return calibrate_prototypes(prior, x, y, classes, steps)
