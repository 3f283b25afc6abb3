"""Request limits of the prior service: each one refused with 413 and a message naming it."""

from __future__ import annotations

from dataclasses import dataclass, fields


class LimitExceeded(ValueError):
    """A request over one of the service's :class:`Limits` (answered with HTTP 413)."""


@dataclass(frozen=True)
class Limits:
    """Sizes the service accepts per request.

    Args:
        max_body_bytes: Request body size [bytes].
        max_rows: Rows, molecules, structures or light curves in one support or query set.
        max_smiles_length: Characters of one SMILES string.
        max_cif_bytes: Size of one CIF/POSCAR text [bytes].
        max_curve_points: Points of one light curve.
        max_suggestions: Experiments one ``suggest-next`` request may ask for.
    """

    max_body_bytes: int = 2_000_000
    max_rows: int = 1_000
    max_smiles_length: int = 400
    max_cif_bytes: int = 100_000
    max_curve_points: int = 20_000
    max_suggestions: int = 10

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{f.name} must be a positive integer, got {value!r}.")

    def check(self, count: int, limit: str, what: str) -> None:
        """Raise :class:`LimitExceeded` when ``count`` exceeds the limit named ``limit``.

        Args:
            count: The size found in the request.
            limit: Field name of the limit, e.g. ``"max_rows"``.
            what: What was counted, e.g. ``"support rows"``.
        """
        allowed = getattr(self, limit)
        if count > allowed:
            option = "--" + limit.replace("_", "-")
            raise LimitExceeded(f"{what}: {count}, over the limit of {allowed} ({limit}; the server's {option}).")
