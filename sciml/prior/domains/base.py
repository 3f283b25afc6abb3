"""The domain of a prior: how native inputs (tables, SMILES, structures, light curves) become
model inputs, and what a calibration returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from sciml.prior.calibration import Calibration
    from sciml.prior.prior import Prior


class Domain(ABC):
    """Base of the domains. Subclasses are registered by :attr:`kind` for loading."""

    kind: ClassVar[str] = ""

    @abstractmethod
    def calibrate(self, prior: Prior, support: Any, *args: Any, **kwargs: Any) -> Calibration:
        """Adapt ``prior`` to ``support`` given in the domain's native form."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON form (``kind`` plus settings)."""

    @classmethod
    @abstractmethod
    def from_dict(cls, d: dict[str, Any]) -> Domain:
        """Inverse of :meth:`to_dict`."""

    def describe(self) -> str:
        """What the prior expects as input."""
        return self.kind

    def check_prior(self, prior: Prior) -> None:
        """Raise if ``prior`` cannot serve this domain (e.g. a classifier for a regression)."""

    def from_table(self, frame: Any, base_dir: Path, *, labelled: bool) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Arguments of :meth:`calibrate` (``labelled``) or of ``Calibration.predict`` from a CSV
        table; file paths in it are relative to ``base_dir``."""
        raise NotImplementedError(f"{self.kind} priors cannot read tables.")


def check_support_size(n: int, minimum: int, what: str) -> None:
    """Raise a clear error for a support set that is too small."""
    if n < minimum:
        raise ValueError(f"The support set has {n} {what}; calibration needs at least {minimum}.")


def check_lengths(n_inputs: int, n_labels: int, what: str) -> None:
    """Raise unless there is one label per input."""
    if n_inputs != n_labels:
        raise ValueError(f"{n_inputs} {what} but {n_labels} labels: give exactly one label per input.")


def table_column(frame: Any, names: tuple[str, ...], what: str) -> str:
    """The first column of ``frame`` named (case-insensitively) one of ``names``."""
    cols = {str(c).lower(): str(c) for c in frame.columns}
    for n in names:
        if n in cols:
            return cols[n]
    raise KeyError(f"The table needs a column {names[0]!r} ({what}); it has {[str(c) for c in frame.columns]}.")
