"""Models: plain ``torch.nn.Module``s that know nothing about meta-learning."""

from sciml.models.cgcnn import CGCNN
from sciml.models.config import Configurable, build_module, module_config
from sciml.models.laws import JMAK, Arrhenius, JMAKArrhenius, LinearBasis, PhysicalLaw, Quantity
from sciml.models.mlp import MLP
from sciml.models.sequence import PhaseCNN

__all__ = [
    "CGCNN", "JMAK", "MLP", "Arrhenius", "PhaseCNN", "Configurable", "JMAKArrhenius", "LinearBasis", "PhysicalLaw", "Quantity",
    "build_module", "module_config",
]
