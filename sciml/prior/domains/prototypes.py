"""Calibration by prototypes, shared by the classification domains whose inputs become feature
vectors (light curves, feature tables): one prototype per class of the support."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sciml.prior.calibration import Calibration

if TYPE_CHECKING:
    import pandas as pd

    from sciml.prior.prior import Prior


def calibrate_prototypes(prior: Prior, x: torch.Tensor, y: np.ndarray, classes: Sequence[Any], steps: int | None = None) -> PrototypeCalibration:
    """Adapt the prior's ProtoNet to encoded features ``x [n, d]`` with class indices ``y [n]``
    (from :func:`~sciml.prior.domains.labels.class_indices`)."""
    from sciml.meta import ProtoNet
    from sciml.tasks import TensorData

    adapted = ProtoNet(prior.learner.model, n_way=len(classes)).adapt(TensorData(x, torch.as_tensor(y)), steps)
    return PrototypeCalibration(prior, adapted, len(x), classes=tuple(classes))


@dataclass(frozen=True)
class PrototypeCalibration(Calibration):
    """A prior calibrated on labelled examples; ``prior.domain.features(prior, inputs)`` turns
    the domain's inputs into encoded features.

    Attributes:
        classes: The class names, in the order of the probability columns.
    """

    classes: tuple[Any, ...]

    def predict(self, inputs: Any) -> pd.DataFrame:
        """Class probabilities per input (softmax over negative squared distances to the
        prototypes; each input on its own) and the most probable class.

        Returns:
            One column ``P(<class>)`` per class and ``predicted``.
        """
        import pandas as pd

        proba = self.adapted.predict_proba(self.prior.domain.features(self.prior, inputs)).double().numpy()
        out = pd.DataFrame(proba, columns=[f"P({c})" for c in self.classes])
        out["predicted"] = [self.classes[i] for i in proba.argmax(1)]
        return out

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "classes": [str(c) for c in self.classes]}
