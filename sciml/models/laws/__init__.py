"""Parametric physical laws as ``nn.Module``s with named, unit-carrying parameters."""

from sciml.models.laws.arrhenius import Arrhenius
from sciml.models.laws.base import GAS_CONSTANT, PhysicalLaw, Quantity
from sciml.models.laws.forman import Forman
from sciml.models.laws.generalized_logistic import GeneralizedLogistic
from sciml.models.laws.jmak import JMAK, JMAKArrhenius, estimate_t50
from sciml.models.laws.larson_miller import LarsonMiller
from sciml.models.laws.linear_basis import LinearBasis
from sciml.models.laws.norton import Norton

__all__ = ["GAS_CONSTANT", "JMAK", "Arrhenius", "Forman", "GeneralizedLogistic", "JMAKArrhenius", "LarsonMiller", "LinearBasis", "Norton", "PhysicalLaw", "Quantity", "estimate_t50"]
