"""The domains a prior serves: physical laws on tables, molecules, crystals, light curves, feature tables."""

from __future__ import annotations

from typing import Any

from sciml.meta.checkpoint import CheckpointError
from sciml.prior.domains.base import Domain

_KINDS = {
    "law": "sciml.prior.domains.law:LawDomain",
    "molecules": "sciml.prior.domains.molecules:MoleculeDomain",
    "crystals": "sciml.prior.domains.crystals:CrystalDomain",
    "light_curves": "sciml.prior.domains.light_curves:LightCurveDomain",
    "features": "sciml.prior.domains.features:FeatureDomain",
}


def domain_from_dict(d: dict[str, Any], source: str = "prior.json") -> Domain:
    """The domain described by ``d`` (``d["kind"]`` names it)."""
    from sciml.meta.checkpoint import import_object

    kind = d.get("kind") if isinstance(d, dict) else None
    if kind not in _KINDS:
        raise CheckpointError(f"{source}: unknown domain {kind!r}; known: {sorted(_KINDS)}.")
    try:
        return import_object(_KINDS[kind]).from_dict(d)
    except (KeyError, TypeError, ValueError) as err:  # UnitError is a ValueError
        raise CheckpointError(f"{source}: the {kind} domain does not parse ({type(err).__name__}: {err}).") from None


__all__ = ["Domain", "domain_from_dict"]
