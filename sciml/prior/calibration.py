"""``Calibration``: a prior adapted to one user's measurements (immutable)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from sciml.meta import Adapted
    from sciml.prior.prior import Prior


@dataclass(frozen=True)
class Calibration(ABC):
    """A prior calibrated on a support set. Calibrating never changes the prior.

    Attributes:
        prior: The prior it came from.
        adapted: The adapted model (:class:`~sciml.meta.Adapted`).
        n_support: Measurements it was calibrated on.
    """

    prior: Prior
    adapted: Adapted
    n_support: int

    @abstractmethod
    def predict(self, inputs: Any, **kwargs: Any) -> pd.DataFrame:
        """Predictions for new inputs (native form), one row per input, in input order.

        Each row depends on its own input only, never on which other inputs are predicted
        with it.
        """

    def summary(self) -> dict[str, Any]:
        """What was calibrated, as JSON-ready data."""
        return {
            "prior": self.prior.name,
            "domain": self.prior.domain.kind,
            "learner": self.prior.learner.name,
            "steps": self.adapted.steps,
            "n_support": self.n_support,
        }

    def to_json(self) -> str:
        """:meth:`summary` as a JSON string."""
        return json.dumps(self.summary(), indent=2, default=float)
