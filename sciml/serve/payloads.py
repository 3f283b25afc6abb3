"""Request bodies of the prior service, generated from each prior's input schema.

Every domain gets a pydantic model for calibration (support) and for prediction (query), and a
converter from a validated body to the arguments of :meth:`sciml.prior.Prior.calibrate` and
``Calibration.predict``. Numbers must be finite; unknown fields are refused; sizes are checked
against the server's :class:`~sciml.serve.limits.Limits`.

* laws: ``{"units": {"time": "h", "temperature": "C"}, "rows": [{"time": 1, "temperature": 1250, "X": 0.05}]}``
  (one field per schema column; units required for every dimensional input, never guessed);
* molecules: ``{"smiles": ["CCO", ...], "labels": [0, 1, ...]}``;
* crystals: ``{"structures": ["<CIF or POSCAR text>", ...], "targets": [1.7, ...]}``;
* light curves: ``{"curves": [{"t": [...], "mag": [...], "err": [...]}], "labels": ["a", ...]}``;
* feature tables: ``{"rows": [{"<feature>": 0.1, ...}], "labels": [...]}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

if TYPE_CHECKING:
    from collections.abc import Callable

    from sciml.prior import Prior
    from sciml.serve.limits import Limits

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""A finite JSON number."""
Label = Annotated[int, Field(strict=True)] | Annotated[str, Field(min_length=1, max_length=100)]
"""A class label: an integer or a short string."""
STRICT = ConfigDict(extra="forbid")


class Steps(BaseModel):
    """Fields shared by every calibration body."""

    model_config = STRICT
    steps: Annotated[int, Field(strict=True, ge=0, le=1000)] | None = Field(
        None, description="Inner adaptation steps (default: the prior's own).")


@dataclass(frozen=True)
class Payloads:
    """The request models of one prior and how their bodies become API arguments.

    Attributes:
        calibrate: Model of the calibration body (the support set).
        predict: Model of the prediction body (the query).
        support_args: ``(body, limits) -> (args, kwargs)`` of ``Prior.calibrate``.
        query_args: ``(body, limits) -> (args, kwargs)`` of ``Calibration.predict``.
    """

    calibrate: type[BaseModel]
    predict: type[BaseModel]
    support_args: Callable[[Any, Limits], tuple[tuple[Any, ...], dict[str, Any]]]
    query_args: Callable[[Any, Limits], tuple[tuple[Any, ...], dict[str, Any]]]


def _model_name(prior_name: str, suffix: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", prior_name)
    return "".join(w[:1].upper() + w[1:] for w in words if w) + suffix


def _identifier(name: str, taken: set[str]) -> str:
    ident = re.sub(r"\W+", "_", name).strip("_") or "column"
    if ident[0].isdigit() or ident.startswith("model_"):
        ident = "f_" + ident
    while ident in taken:
        ident += "_"
    taken.add(ident)
    return ident


def _rows_model(name: str, columns: list[tuple[str, str]]) -> type[BaseModel]:
    """A row of named finite numbers; ``columns`` holds (name, description) pairs."""
    taken: set[str] = set()
    fields = {_identifier(c, taken): (Number, Field(alias=c, description=d)) for c, d in columns}
    return create_model(name, __config__=ConfigDict(extra="forbid", populate_by_name=False), **fields)


def _count(limits: Limits, n: int, what: str) -> None:
    limits.check(n, "max_rows", what)


def _paired(calibrate: type[BaseModel], predict: type[BaseModel], items: str, answers: str, what: str,
            convert: Callable[[Any, Limits, str], Any]) -> Payloads:
    """Payloads of a domain whose support is a list of inputs (field ``items``) beside a list of
    labels or targets (field ``answers``), and whose query is the same list of inputs alone."""
    return Payloads(
        calibrate, predict,
        lambda b, lim: ((convert(getattr(b, items), lim, f"support {what}"), getattr(b, answers)), {"steps": b.steps}),
        lambda b, lim: ((convert(getattr(b, items), lim, f"query {what}"),), {}))


# ---------------------------------------------------------------------------------------- laws
def law_payloads(prior: Prior) -> Payloads:
    """Bodies of a physical-law prior: rows with the schema's columns and their units."""
    import pandas as pd

    from sciml.prior.units import known_units

    schema = prior.domain.schema
    prefix = _model_name(prior.name or "law", "")
    unit_fields: dict[str, Any] = {}
    for col in (*schema.inputs, schema.target):
        choices = known_units(col.dimension)
        required = len(choices) > 1 and col.dimension != "fraction"
        unit = Literal[tuple(choices)] if len(choices) > 1 else Literal[choices[0]]  # type: ignore[valid-type]
        unit_fields[col.name] = (unit if required else unit | None,
                                 Field(... if required else None, description=f"unit of {col.name}; one of {choices}"))
    units = create_model(prefix + "Units", __config__=STRICT, **unit_fields)

    def column_text(c: Any) -> str:
        rng = "" if c.training_range is None else f"; training range {c.training_range[0]:.4g}-{c.training_range[1]:.4g} {c.unit}"
        return f"{c.description} ({c.dimension}, in the unit given in units{rng})"

    inputs = [(c.name, column_text(c)) for c in schema.inputs]
    support_row = _rows_model(prefix + "Measurement", [*inputs, (schema.target.name, column_text(schema.target))])
    query_row = _rows_model(prefix + "Condition", inputs)
    calibrate = create_model(prefix + "Calibrate", __base__=Steps, units=(units, ...), rows=(list[support_row], Field(..., min_length=1)))
    predict = create_model(prefix + "Predict", __config__=STRICT, units=(units, ...), rows=(list[query_row], Field(..., min_length=1)),
                           level=(Annotated[float, Field(gt=0, lt=1)], 0.9))

    def frame(body: Any, limits: Limits, what: str) -> tuple[Any, dict[str, str]]:
        _count(limits, len(body.rows), what)
        table = pd.DataFrame([r.model_dump(by_alias=True) for r in body.rows])
        return table, {k: v for k, v in body.units.model_dump().items() if v is not None}

    def support_args(body: Any, limits: Limits) -> tuple[tuple[Any, ...], dict[str, Any]]:
        table, unit_map = frame(body, limits, "support rows")
        return (table,), {"units": unit_map, "steps": body.steps}

    def query_args(body: Any, limits: Limits) -> tuple[tuple[Any, ...], dict[str, Any]]:
        table, unit_map = frame(body, limits, "query rows")
        return (table,), {"units": unit_map, "level": body.level}

    return Payloads(calibrate, predict, support_args, query_args)


# ---------------------------------------------------------------------------------- molecules
def molecule_payloads(prior: Prior) -> Payloads:
    """Bodies of a molecule prior: SMILES with 0/1 labels."""
    prefix = _model_name(prior.name or "molecules", "")
    smiles = (list[Annotated[str, Field(min_length=1)]], Field(..., min_length=1, description="SMILES strings"))
    calibrate = create_model(prefix + "Calibrate", __base__=Steps, smiles=smiles,
                             labels=(list[Literal[0, 1]], Field(..., description=f"one per molecule: {prior.domain.label}")))
    predict = create_model(prefix + "Predict", __config__=STRICT, smiles=smiles)

    def checked(items: list[str], limits: Limits, what: str) -> list[str]:
        _count(limits, len(items), what)
        for i, s in enumerate(items):
            limits.check(len(s), "max_smiles_length", f"SMILES {i} length")
        return items

    return _paired(calibrate, predict, "smiles", "labels", "molecules", checked)


# ----------------------------------------------------------------------------------- crystals
def crystal_payloads(prior: Prior) -> Payloads:
    """Bodies of a crystal prior: CIF or POSCAR texts (never paths) with targets."""
    domain = prior.domain
    prefix = _model_name(prior.name or "crystals", "")
    texts = (list[Annotated[str, Field(min_length=1)]], Field(..., min_length=1, description="CIF or POSCAR file contents"))
    calibrate = create_model(prefix + "Calibrate", __base__=Steps, structures=texts,
                             targets=(list[Number], Field(..., description=f"{domain.target} [{domain.unit}], one per structure")))
    predict = create_model(prefix + "Predict", __config__=STRICT, structures=texts)

    def checked(items: list[str], limits: Limits, what: str) -> list[str]:
        _count(limits, len(items), what)
        for i, text in enumerate(items):
            limits.check(len(text.encode()), "max_cif_bytes", f"structure {i} size [bytes]")
            if "\n" not in text.strip():
                raise ValueError(f"structures[{i}]: expected the text of a CIF or POSCAR file (several lines); "
                                 "the service never reads files by path.")
        return items

    return _paired(calibrate, predict, "structures", "targets", "structures", checked)


# ------------------------------------------------------------------------------- light curves
class Curve(BaseModel):
    """One light curve: times [d], magnitudes and optional errors [mag], of equal length."""

    model_config = STRICT
    t: list[Number] = Field(..., min_length=3, description="observation times [d]")
    mag: list[Number] = Field(..., min_length=3, description="magnitudes [mag]")
    err: list[Number] | None = Field(None, description="magnitude errors [mag]")


def light_curve_payloads(prior: Prior) -> Payloads:
    """Bodies of a light-curve prior: curves with class labels."""
    prefix = _model_name(prior.name or "light-curves", "")
    curves = (list[Curve], Field(..., min_length=1))
    calibrate = create_model(prefix + "Calibrate", __base__=Steps, curves=curves,
                             labels=(list[Label], Field(..., description="class of each curve (any names, at least two classes)")))
    predict = create_model(prefix + "Predict", __config__=STRICT, curves=curves)

    def tuples(items: list[Curve], limits: Limits, what: str) -> list[tuple[Any, ...]]:
        _count(limits, len(items), what)
        out = []
        for i, c in enumerate(items):
            limits.check(len(c.t), "max_curve_points", f"curve {i} points")
            lengths = {len(c.t), len(c.mag)} | ({len(c.err)} if c.err is not None else set())
            if len(lengths) > 1:
                raise ValueError(f"curves[{i}]: t, mag and err must have the same length, got {sorted(lengths)}.")
            out.append((c.t, c.mag) if c.err is None else (c.t, c.mag, c.err))
        return out

    return _paired(calibrate, predict, "curves", "labels", "curves", tuples)


# ----------------------------------------------------------------------------- feature tables
def feature_payloads(prior: Prior) -> Payloads:
    """Bodies of a feature-table prior: rows of the named features with class labels."""
    import pandas as pd

    domain = prior.domain
    prefix = _model_name(prior.name or "features", "")
    row = _rows_model(prefix + "Row", [(c, f"[{u}]") for c, u in zip(domain.columns, domain.units)])
    rows = (list[row], Field(..., min_length=1))
    calibrate = create_model(prefix + "Calibrate", __base__=Steps, rows=rows,
                             labels=(list[Label], Field(..., description=f"{domain.label} of each row")))
    predict = create_model(prefix + "Predict", __config__=STRICT, rows=rows)

    def table(items: list[Any], limits: Limits, what: str) -> Any:
        _count(limits, len(items), what)
        return pd.DataFrame([r.model_dump(by_alias=True) for r in items], columns=domain.columns)

    return _paired(calibrate, predict, "rows", "labels", "rows", table)


BUILDERS = {"law": law_payloads, "molecules": molecule_payloads, "crystals": crystal_payloads,
            "light_curves": light_curve_payloads, "features": feature_payloads}
"""Domain kind -> payload builder."""


def payloads_for(prior: Prior) -> Payloads:
    """The request models of ``prior`` (by its domain kind)."""
    kind = prior.domain.kind
    if kind not in BUILDERS:
        raise ValueError(f"The service cannot serve {kind!r} priors; it serves {sorted(BUILDERS)}.")
    return BUILDERS[kind](prior)
