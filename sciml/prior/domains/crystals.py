"""Crystal priors: pymatgen Structures, CIF text or paths with a scalar target in; mean and a
band out.

The band is a split-conformal interval: its half-width is the ``level`` quantile of the absolute
errors of calibrations on validation families (drawn from the training families, never the
test families), in the model's target space (e.g. log10 n), so on new families like those it
covers about ``level`` of the values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sciml.prior.calibration import Calibration
from sciml.prior.domains.base import Domain, check_lengths, check_support_size, table_column

if TYPE_CHECKING:
    import pandas as pd

    from sciml.prior.prior import Prior

TRANSFORMS = {"identity": (lambda v: v, lambda v: v), "log10": (np.log10, lambda v: 10.0**v)}
"""Target transforms: name -> (to model space, back to the target's units)."""


def _structures(items: Any) -> list[Any]:
    from sciml.materials.crystal_graph import to_structure

    if isinstance(items, (str, bytes)) or hasattr(items, "lattice"):
        raise TypeError("Pass a list of structures (Structures, CIF/POSCAR texts or paths), not a single one.")
    return [to_structure(s, id=f"{i} ({s})" if isinstance(s, str) and "\n" not in s else str(i)) for i, s in enumerate(items)]


class CrystalDomain(Domain):
    """Crystals as CGCNN-convention graphs (radius and neighbour cap), a scalar target.

    Args:
        target: Name of the target, e.g. ``"refractive index n"``.
        unit: Unit of the target.
        transform: ``"identity"`` or ``"log10"`` (the model works on ``log10(target)``).
        radius: Neighbour radius [angstrom].
        max_neighbors: Neighbours per atom.
    """

    kind = "crystals"

    def __init__(self, target: str, unit: str = "1", transform: str = "identity", radius: float = 8.0, max_neighbors: int = 12) -> None:
        if transform not in TRANSFORMS:
            raise ValueError(f"Unknown transform {transform!r}; choose from {sorted(TRANSFORMS)}.")
        self.target, self.unit, self.transform = target, unit, transform
        self.radius, self.max_neighbors = float(radius), int(max_neighbors)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "unit": self.unit, "transform": self.transform, "radius": self.radius,
                "max_neighbors": self.max_neighbors, "input": "pymatgen Structures, CIF/POSCAR text or paths"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CrystalDomain:
        return cls(d["target"], d.get("unit", "1"), d.get("transform", "identity"), d.get("radius", 8.0), d.get("max_neighbors", 12))

    def describe(self) -> str:
        return f"crystal structures with targets: {self.target} [{self.unit}]"

    def check_prior(self, prior: Prior) -> None:
        widths = prior.noise.get("halfwidth")
        values = list(widths.values()) if isinstance(widths, dict) else [widths]
        if prior.noise.get("kind") != "conformal" or not values or not all(isinstance(v, (int, float)) and v > 0 for v in values):
            raise ValueError("A crystal prior needs noise={'kind': 'conformal', 'level': 0.9, 'halfwidth': <positive, or "
                             "{support size: positive}>} (see sciml.evaluation.conformal_halfwidths).")
        if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in prior.learner.model.modules()):
            raise ValueError("A crystal prior must predict each crystal on its own: use norm='layer' or 'none', not BatchNorm.")

    def from_table(self, frame: Any, base_dir: Path, *, labelled: bool) -> tuple[tuple[Any, ...], dict[str, Any]]:
        col = table_column(frame, ("structure", "cif", "path", "file"), "paths of CIF/POSCAR files")
        paths = [str(p if Path(p).is_absolute() else base_dir / p) for p in frame[col].astype(str)]
        if not labelled:
            return (paths,), {}
        target = table_column(frame, ("target", "y", "value", self.target.lower()), f"{self.target} [{self.unit}]")
        return (paths, frame[target].tolist()), {}

    def graphs(self, structures: Any) -> list[Any]:
        """Crystal graphs of the inputs (errors name the structure)."""
        from sciml.materials.crystal_graph import structure_to_graph

        return [structure_to_graph(s, self.radius, self.max_neighbors, id=str(i)) for i, s in enumerate(_structures(structures))]

    def calibrate(self, prior: Prior, structures: Any, targets: Sequence[float] | None = None, *, steps: int | None = None) -> CrystalCalibration:
        """Calibrate on structures with measured targets (in the target's own unit)."""
        from sciml.tasks import GraphData

        if targets is None:
            raise ValueError(f"targets are required: one {self.target} [{self.unit}] per structure.")
        graphs = self.graphs(structures)
        y = np.asarray(list(targets), dtype=np.float64)
        check_lengths(len(graphs), len(y), "structures")
        check_support_size(len(graphs), 1, "structures")
        if not np.isfinite(y).all():
            raise ValueError(f"targets {np.flatnonzero(~np.isfinite(y))[:10].tolist()} are NaN or infinite; drop or fix them.")
        if self.transform == "log10" and (y <= 0).any():
            raise ValueError(f"{self.target} must be positive (the prior works on its log10); got {y.min():.4g}.")
        z = TRANSFORMS[self.transform][0](y)
        adapted = prior.learner.adapt(GraphData(graphs, torch.as_tensor(z, dtype=prior.learner._dtype).reshape(-1, 1)), steps)
        return CrystalCalibration(prior, adapted, len(graphs), targets=tuple(float(v) for v in y))


def halfwidth_for(widths: float | dict[Any, float], n_support: int) -> float:
    """The band half-width for a support of ``n_support``: a single width, or the width measured
    at the largest support size not above ``n_support`` (the smallest measured one below it)."""
    if not isinstance(widths, dict):
        return float(widths)
    by_size = {int(k): float(v) for k, v in widths.items()}
    fit = [k for k in sorted(by_size) if k <= n_support]
    return by_size[fit[-1] if fit else min(by_size)]


@dataclass(frozen=True)
class CrystalCalibration(Calibration):
    """A crystal prior calibrated on measured structures.

    Attributes:
        targets: The support targets.
    """

    targets: tuple[float, ...]

    def predict(self, structures: Any) -> pd.DataFrame:
        """Mean and split-conformal band (level in ``attrs["level"]``) of the target per structure.

        Returns:
            Columns ``mean, lower, upper`` in the target's unit, one row per structure.
        """
        import pandas as pd
        from torch_geometric.data import Batch

        domain = self.prior.domain
        graphs = domain.graphs(structures)
        z = self.adapted.predict(Batch.from_data_list(graphs)).reshape(-1).double().numpy()
        half = halfwidth_for(self.prior.noise["halfwidth"], self.n_support)
        back = TRANSFORMS[domain.transform][1]
        out = pd.DataFrame({"mean": back(z), "lower": back(z - half), "upper": back(z + half)})
        out.attrs["level"] = self.prior.noise.get("level", 0.9)
        return out

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "targets": list(self.targets)}
