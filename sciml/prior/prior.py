"""``Prior``: the artefact meta-training produces, saved as one folder a scientist takes home.

A prior folder holds ``prior.json`` (format version, versions, learner and model, encoder,
domain with its featurizer and input schema with units, noise model, held-out metrics,
training-data manifest, provenance) and ``weights.pt`` (a plain tensor dict, read with
``torch.load(weights_only=True)``). :meth:`Prior.calibrate` adapts it to a user's own
measurements, given in the domain's native form, and returns an immutable
:class:`~sciml.prior.calibration.Calibration`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from sciml._version import __version__
from sciml.meta.checkpoint import CheckpointError, learner_from_spec, learner_spec, load_state, load_tensors
from sciml.models.config import build_module, module_config

if TYPE_CHECKING:
    from sciml.meta import Learner
    from sciml.prior.calibration import Calibration
    from sciml.prior.domains.base import Domain

FORMAT_VERSION = 1
"""Version of the prior folder format; loading another version fails with a clear message."""

PRIOR_FILE, WEIGHTS_FILE = "prior.json", "weights.pt"
_REQUIRED = ("format_version", "learner", "domain")


class Prior:
    """A meta-learned prior: a trained learner, what it reads and how sure it is.

    Args:
        learner: The trained learner whose meta-parameters are the prior.
        domain: How native inputs become model inputs (a law's table schema, a molecule
            featurizer, crystal graphs, light-curve features); see :mod:`sciml.prior.domains`.
        encoder: A fixed module applied to featurized inputs before the learner (e.g. a
            pre-trained GIN body); ``None`` when the learner reads featurized inputs directly.
            Must be a :class:`~sciml.models.Configurable` module.
        encoder_method: Method of ``encoder`` that encodes (``"forward"`` or e.g. ``"embed"``).
        noise: The noise model, e.g. ``{"kind": "gaussian", "sd": 0.05, "unit": "1"}`` for laws
            or ``{"kind": "conformal", "level": 0.9, "halfwidth": 0.04, "unit": "log10(n)"}``.
        metrics: Held-out metrics of the study that made the prior (name -> value).
        training_data: Manifest of the training data (path, role, sha256 of every input).
        provenance: Where the prior comes from (study, run folder, config hash, git revision).
        name: A short name.
    """

    def __init__(
        self,
        learner: Learner,
        domain: Domain,
        *,
        encoder: nn.Module | None = None,
        encoder_method: str = "forward",
        noise: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        training_data: Sequence[Mapping[str, Any]] = (),
        provenance: Mapping[str, Any] | None = None,
        name: str = "",
    ) -> None:
        from sciml.meta import Learner

        if not isinstance(learner, Learner):
            raise TypeError(f"learner must be a sciml Learner, got {type(learner).__name__}.")
        if encoder is not None and not hasattr(encoder, encoder_method):
            raise ValueError(f"The encoder {type(encoder).__name__} has no method {encoder_method!r}.")
        self.learner = learner
        self.domain = domain
        self.encoder = None if encoder is None else encoder.eval()
        self.encoder_method = encoder_method
        self.noise = dict(noise or {})
        self.metrics = {k: float(v) for k, v in (metrics or {}).items()}
        self.training_data = [dict(d) for d in training_data]
        self.provenance = dict(provenance or {})
        self.name = name
        domain.check_prior(self)

    # ------------------------------------------------------------------ use
    def calibrate(self, support: Any, *args: Any, **kwargs: Any) -> Calibration:
        """Adapt the prior to a user's measurements, in the domain's native form.

        * laws: a table (``pandas.DataFrame``) with the schema's columns; units in the column
          names (``"time [h]"``) or ``units={"time": "h"}``;
        * molecules: SMILES strings or RDKit ``Mol``s, and ``labels`` (0/1);
        * crystals: pymatgen ``Structure``s, CIF text or file paths, and ``targets``;
        * light curves: :class:`~sciml.astro.LightCurve`s or ``(t [d], mag, err)`` arrays, and
          ``labels`` (any class names, any number of classes).

        Returns:
            An immutable :class:`~sciml.prior.calibration.Calibration`; the prior is unchanged.
        """
        return self.domain.calibrate(self, support, *args, **kwargs)

    def encode(self, x: Any) -> Any:
        """Featurized inputs through the fixed encoder (identity without one), without gradients."""
        if self.encoder is None:
            return x
        self.encoder.eval()
        with torch.no_grad():
            return getattr(self.encoder, self.encoder_method)(x)

    def describe(self) -> str:
        """What the prior expects, in a few lines."""
        lines = [f"Prior {self.name or '(unnamed)'}: {self.domain.kind}, learner {self.learner.name}", self.domain.describe()]
        if self.metrics:
            lines.append("held-out metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in self.metrics.items()))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Prior(name={self.name!r}, domain={self.domain.kind!r}, learner={type(self.learner).__name__})"

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        """The content of ``prior.json``."""
        encoder = None
        if self.encoder is not None:
            cfg = module_config(self.encoder)
            if cfg is None:
                raise TypeError(f"The encoder {type(self.encoder).__name__} is not a Configurable module; it cannot be saved.")
            encoder = {"module": cfg, "method": self.encoder_method}
        return {
            "format_version": FORMAT_VERSION,
            "sciml_version": __version__,
            "torch_version": torch.__version__,
            "name": self.name,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "learner": learner_spec(self.learner),
            "encoder": encoder,
            "domain": self.domain.to_dict(),
            "noise": self.noise,
            "metrics": self.metrics,
            "training_data": self.training_data,
            "provenance": self.provenance,
        }

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the prior folder (``prior.json`` and ``weights.pt``), each file atomically.

        Raises:
            FileExistsError: if ``path`` exists and is not empty, unless ``overwrite=True``.
        """
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
            raise FileExistsError(f"{path} exists and is not empty; pass overwrite=True to replace the prior there.")
        path.mkdir(parents=True, exist_ok=True)
        doc = json.dumps(self.to_dict(), indent=2, default=str)
        weights = {f"learner.{k}": v.detach().cpu() for k, v in self.learner.state_dict().items()}
        if self.encoder is not None:
            weights.update({f"encoder.{k}": v.detach().cpu() for k, v in self.encoder.state_dict().items()})
        _atomic(path / WEIGHTS_FILE, lambda f: torch.save(weights, f))
        _atomic(path / PRIOR_FILE, lambda f: f.write(doc.encode()))
        return path


def _atomic(target: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_prior_json(path: Path) -> dict[str, Any]:
    """``prior.json`` parsed and checked (format version, required fields)."""
    file = path / PRIOR_FILE
    if not path.exists():
        raise FileNotFoundError(f"No prior at {path}: the folder does not exist.")
    if not file.is_file():
        hint = " (it holds a learner checkpoint: load it with Learner.load)" if (path / "learner.json").is_file() else ""
        raise CheckpointError(f"{path} has no {PRIOR_FILE}: not a sciml prior folder{hint}.")
    try:
        doc = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{file}: not valid JSON ({err}); the file may be truncated.") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"{file}: expected a JSON object, got {type(doc).__name__}.")
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise CheckpointError(f"{file}: missing field(s) {missing}; expected a prior written by sciml.")
    if doc["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: format version {doc['format_version']!r}, but this sciml ({__version__}) reads version "
            f"{FORMAT_VERSION}; use the sciml version that wrote it ({doc.get('sciml_version', 'unknown')})."
        )
    return doc


def load_prior(path: str | Path) -> Prior:
    """Load a prior folder written by :meth:`Prior.save`.

    Raises:
        FileNotFoundError: if the folder does not exist.
        CheckpointError: naming the file and what was expected, for a folder that is not a
            prior, an unknown format version, a truncated or foreign file, or weights that do
            not fit the model.
    """
    from sciml.prior.domains import domain_from_dict

    path = Path(path)
    doc = read_prior_json(path)
    file = str(path / PRIOR_FILE)
    learner = learner_from_spec(doc["learner"], source=file)
    state = load_tensors(path / WEIGHTS_FILE)
    load_state(learner, {k[8:]: v for k, v in state.items() if k.startswith("learner.")}, str(path / WEIGHTS_FILE))
    encoder, method = None, "forward"
    if doc.get("encoder"):
        try:
            encoder = build_module(doc["encoder"]["module"])
        except (ImportError, AttributeError, TypeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{file}: cannot rebuild the encoder: {err}") from None
        method = doc["encoder"].get("method", "forward")
        enc_state = {k[8:]: v for k, v in state.items() if k.startswith("encoder.")}
        try:
            encoder.load_state_dict(enc_state)
        except RuntimeError as err:
            raise CheckpointError(f"{path / WEIGHTS_FILE}: the encoder weights do not fit ({str(err).splitlines()[0]}).") from None
    return Prior(
        learner, domain_from_dict(doc["domain"], source=file), encoder=encoder, encoder_method=method, noise=doc.get("noise"),
        metrics=doc.get("metrics"), training_data=doc.get("training_data", ()), provenance=doc.get("provenance"),
        name=doc.get("name", ""),
    )
