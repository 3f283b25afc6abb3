"""Materials: kinetics helpers, the synthetic alloy-family generator, and crystal graphs with
material families (crystal graphs need the ``materials`` extra: pymatgen, torch-geometric)."""

from sciml.materials.composition import CompositionRidge
from sciml.materials.crystal_graph import (
    FeaturizedCrystals,
    StructureParseError,
    featurize_structures,
    featurize_structures_cached,
    structure_to_graph,
    to_structure,
)
from sciml.materials.families import anion_of, crystal_system_of, family_splits, family_tasks
from sciml.materials.synthetic_alloys import FAMILIES, KineticsFamily, SyntheticAlloyFamily

__all__ = [
    "FAMILIES", "CompositionRidge", "FeaturizedCrystals", "KineticsFamily", "StructureParseError", "SyntheticAlloyFamily", "anion_of",
    "crystal_system_of", "family_splits", "family_tasks", "featurize_structures", "featurize_structures_cached", "structure_to_graph",
    "to_structure",
]
