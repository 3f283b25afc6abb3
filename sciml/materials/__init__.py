"""Materials: kinetics helpers and the synthetic alloy-family generator (crystal graphs need
the ``materials`` extra)."""

from sciml.materials.synthetic_alloys import FAMILIES, KineticsFamily, SyntheticAlloyFamily

__all__ = ["FAMILIES", "KineticsFamily", "SyntheticAlloyFamily"]
