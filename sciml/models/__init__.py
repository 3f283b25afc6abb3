"""Models: plain ``torch.nn.Module``s that know nothing about meta-learning."""

from sciml.models.cgcnn import CGCNN
from sciml.models.config import Configurable, build_module, module_config
from sciml.models.laws import JMAK, Arrhenius, JMAKArrhenius, LinearBasis, PhysicalLaw, Quantity
from sciml.models.mlp import MLP
from sciml.models.neural_process import ConditionalNeuralProcessNet
from sciml.models.sequence import FeaturePhaseEncoder, PhaseCNN
from sciml.models.standardize import Standardize

__all__ = [
    "CGCNN",
    "JMAK",
    "MLP",
    "Arrhenius",
    "ConditionalNeuralProcessNet",
    "Configurable",
    "FeaturePhaseEncoder",
    "JMAKArrhenius",
    "LinearBasis",
    "PhaseCNN",
    "PhysicalLaw",
    "Quantity",
    "Standardize",
    "build_module",
    "module_config",
]
