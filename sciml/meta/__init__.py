"""The meta-learning engine, on ``torch.func``, for any unmodified ``nn.Module``.

Learners: :class:`MAML` (second order; ``first_order=True`` for FOMAML), :class:`ANIL`,
:class:`MetaSGD`, :class:`Reptile`, :class:`ProtoNet`; baselines :class:`Scratch`,
:class:`FineTune`, :class:`CurveFit` and :class:`PriorMAP` (empirical Bayes). All share ``fit`` / ``adapt`` / ``evaluate`` /
``save`` / ``load``.
"""

from sciml.meta.adapted import Adapted
from sciml.meta.baselines import FineTune, Scratch
from sciml.meta.contract import FewShotLearner
from sciml.meta.curve_fit import CurveFit
from sciml.meta.learner import Learner
from sciml.meta.maml import ANIL, MAML
from sciml.meta.metasgd import MetaSGD
from sciml.meta.prior_map import PriorMAP
from sciml.meta.protonet import ProtoNet
from sciml.meta.reptile import Reptile

LEARNERS: dict[str, type[Learner]] = {
    cls.__name__.lower(): cls for cls in (MAML, ANIL, MetaSGD, Reptile, ProtoNet, Scratch, FineTune, CurveFit, PriorMAP)
}


def resolve_learner(name: str) -> type[Learner]:
    """Learner class from its (case-insensitive) name, e.g. ``"maml"`` or ``"MetaSGD"``."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in LEARNERS:
        raise ValueError(f"Unknown learner {name!r}; choose from {sorted(c.__name__ for c in LEARNERS.values())}.")
    return LEARNERS[key]


__all__ = [
    "ANIL", "LEARNERS", "MAML", "Adapted", "CurveFit", "FewShotLearner", "FineTune", "Learner", "MetaSGD", "PriorMAP", "ProtoNet", "Reptile",
    "Scratch", "resolve_learner",
]
