"""The meta-learning engine, on ``torch.func``, for any unmodified ``nn.Module``.

Learners: :class:`MAML` (second order; ``first_order=True`` for FOMAML), :class:`ANIL`,
:class:`MetaSGD`, :class:`LearnedOptimizer` (a meta-learned update rule), :class:`Reptile`, :class:`ProtoNet`, :class:`MatchingNet`, :class:`RelationNet`, :class:`SiameseNet`,
:class:`DeepKernelGP`
(a Gaussian-process head on a meta-learned kernel), :class:`ConditionalNeuralProcess` (amortized: the
support encoded in one pass); baselines :class:`Scratch`,
:class:`FineTune`, :class:`CurveFit` and :class:`PriorMAP` (empirical Bayes); :class:`SuperLearner` stacks
any of them with weights fitted on out-of-fold predictions (folds over tasks);
:class:`ProbabilityEnsemble` averages trained classifiers' probabilities with weights from greedy
ensemble selection on validation episodes;
:class:`~sciml.meta.mixture.MixtureOfExperts` meta-learns one expert per task family and a gate.
All share ``fit`` /
``adapt`` / ``evaluate``; the engine's learners also ``save`` / ``load``.
"""

from sciml.meta.adapted import Adapted
from sciml.meta.baselines import FineTune, Scratch
from sciml.meta.contract import FewShotLearner
from sciml.meta.curve_fit import CurveFit
from sciml.meta.ensemble import ProbabilityEnsemble
from sciml.meta.gp import DeepKernelGP
from sciml.meta.learned_optimizer import LearnedOptimizer
from sciml.meta.learner import Learner
from sciml.meta.maml import ANIL, MAML
from sciml.meta.matching import MatchingNet
from sciml.meta.metasgd import MetaSGD
from sciml.meta.neural_process import ConditionalNeuralProcess
from sciml.meta.prior_map import PriorMAP
from sciml.meta.protonet import ProtoNet
from sciml.meta.relation import RelationNet
from sciml.meta.reptile import Reptile
from sciml.meta.siamese import SiameseNet
from sciml.meta.stacking import SuperLearner

LEARNERS: dict[str, type[Learner]] = {
    cls.__name__.lower(): cls for cls in (MAML, ANIL, MetaSGD, LearnedOptimizer, Reptile, ProtoNet, MatchingNet, RelationNet, SiameseNet, DeepKernelGP,
                                         ConditionalNeuralProcess, Scratch, FineTune, CurveFit, PriorMAP)
}


DOMAIN_LEARNERS: dict[str, str] = {
    "tanimotoknn": "sciml.chem.fingerprints:TanimotoKNN",
    "compositionridge": "sciml.materials.composition:CompositionRidge",
    "avramiplot": "sciml.materials.avrami:AvramiPlot",
    "superlearner": "sciml.meta.stacking:SuperLearner",
    "probabilityensemble": "sciml.meta.ensemble:ProbabilityEnsemble",
    "mixtureofexperts": "sciml.meta.mixture:MixtureOfExperts",
}
"""Learners imported when named: those of one domain, the combinations of trained learners
(:class:`SuperLearner`, :class:`ProbabilityEnsemble`) and
:class:`~sciml.meta.mixture.MixtureOfExperts` (scikit-learn);
their optional dependencies load only then."""


def resolve_learner(name: str) -> type[FewShotLearner]:
    """Learner class from its (case-insensitive) name, e.g. ``"maml"``, ``"MetaSGD"`` or
    ``"TanimotoKNN"``, or from ``"package.module:Class"`` for a learner of your own.

    Raises:
        ValueError: for an unknown name (with the valid names and the closest one) or a path
            that does not import or is not a learner class.
    """
    import difflib

    from sciml.meta.checkpoint import import_object

    if ":" in name:
        try:
            cls = import_object(name)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"Learner class {name!r} does not import: {err}.") from None
        if not (isinstance(cls, type) and issubclass(cls, FewShotLearner)):
            raise ValueError(f"{name!r} is not a learner class (a subclass of sciml.meta.FewShotLearner).")
        return cls
    key = name.lower().replace("-", "").replace("_", "")
    if key in LEARNERS:
        return LEARNERS[key]
    if key in DOMAIN_LEARNERS:
        return import_object(DOMAIN_LEARNERS[key])
    valid = sorted([c.__name__ for c in LEARNERS.values()] + [p.partition(":")[2] for p in DOMAIN_LEARNERS.values()])
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown learner {name!r}; choose from {valid} or give 'package.module:Class'.{hint}")


__all__ = [
    "ANIL", "DOMAIN_LEARNERS", "LEARNERS", "MAML", "Adapted", "ConditionalNeuralProcess", "CurveFit", "DeepKernelGP", "FewShotLearner", "FineTune", "LearnedOptimizer", "Learner", "MatchingNet", "MetaSGD", "PriorMAP", "ProbabilityEnsemble", "ProtoNet", "RelationNet",
    "Reptile", "Scratch", "SiameseNet", "SuperLearner", "resolve_learner",
]
