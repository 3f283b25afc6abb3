"""Molecule priors: SMILES (or RDKit molecules) with 0/1 labels in, probabilities out.

The prior's encoder embeds each molecule on its own (a GIN whose normalization does not depend
on the batch: fixed BatchNorm statistics or LayerNorm), so a molecule's score never depends on
which other molecules are scored with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from sciml.prior.calibration import Calibration
from sciml.prior.domains.base import Domain
from sciml.prior.domains.labels import binary_labels

if TYPE_CHECKING:
    import pandas as pd

    from sciml.prior.prior import Prior


def _smiles_list(molecules: Any) -> list[str]:
    if isinstance(molecules, str):
        raise TypeError("Pass a list of SMILES, not one string.")
    out = []
    for i, m in enumerate(molecules):
        if isinstance(m, str):
            out.append(m)
        elif hasattr(m, "GetNumAtoms"):
            from rdkit import Chem

            out.append(Chem.MolToSmiles(m))
        else:
            raise TypeError(f"Molecule {i}: expected a SMILES string or an RDKit Mol, got {type(m).__name__}.")
    return out


def _table_columns(frame: Any, label: bool) -> tuple[list[str], list[Any] | None]:
    cols = {str(c).lower(): c for c in frame.columns}
    if "smiles" not in cols:
        raise KeyError(f"The table needs a 'smiles' column; it has {list(frame.columns)}.")
    labels = None
    if label:
        key = next((k for k in ("label", "y", "active", "target") if k in cols), None)
        if key is None:
            raise KeyError(f"The table needs a 'label' column (0/1); it has {list(frame.columns)}.")
        labels = frame[cols[key]].tolist()
    return frame[cols["smiles"]].tolist(), labels


class MoleculeDomain(Domain):
    """Molecules as graphs (RDKit featurizer ``featurizer``), binary labels.

    Args:
        featurizer: ``"simple"`` (Hu et al.) or ``"ogb"``.
        label: What label 1 means (e.g. ``"active in the assay"``).
    """

    kind = "molecules"

    def __init__(self, featurizer: str = "simple", label: str = "active (1) / inactive (0)") -> None:
        from sciml.chem.featurize import FEATURIZERS

        if featurizer not in FEATURIZERS:
            raise ValueError(f"Unknown featurizer {featurizer!r}; choose from {sorted(FEATURIZERS)}.")
        self.featurizer = featurizer
        self.label = label

    def to_dict(self) -> dict[str, Any]:
        from sciml.chem.featurize import FEATURIZER_VERSION

        return {"kind": self.kind, "featurizer": self.featurizer, "featurizer_version": FEATURIZER_VERSION[self.featurizer], "label": self.label,
                "input": "SMILES strings or RDKit Mols", "output": "probability of label 1"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MoleculeDomain:
        return cls(d.get("featurizer", "simple"), d.get("label", ""))

    def describe(self) -> str:
        return f"SMILES (or RDKit Mols) with labels: {self.label}; featurizer {self.featurizer!r}"

    def check_prior(self, prior: Prior) -> None:
        module = prior.encoder if prior.encoder is not None else prior.learner.model
        if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules()):
            raise ValueError("A molecule prior's encoder must score each molecule on its own: use norm='frozen_batch' "
                             "(the statistics of pretraining) or 'layer', not batch statistics.")

    def from_table(self, frame: Any, base_dir: Path, *, labelled: bool) -> tuple[tuple[Any, ...], dict[str, Any]]:
        smiles, labels = _table_columns(frame, labelled)
        return ((smiles, labels) if labelled else (smiles,)), {}

    def embed(self, prior: Prior, molecules: Sequence[str]) -> torch.Tensor:
        """Featurize and encode molecules ``[n, d]`` (each on its own)."""
        from torch_geometric.data import Batch

        from sciml.chem.featurize import InvalidSmilesError, smiles_to_graph

        graphs = []
        for i, s in enumerate(molecules):
            try:
                graphs.append(smiles_to_graph(s, self.featurizer))
            except InvalidSmilesError as err:
                raise InvalidSmilesError(f"Molecule {i}: {err}") from None
        return prior.encode(Batch.from_data_list(graphs)).to(prior.learner._dtype)

    def calibrate(self, prior: Prior, molecules: Any, labels: Sequence[Any] | None = None, *, steps: int | None = None) -> MoleculeCalibration:
        """Calibrate on molecules with 0/1 labels (or a table with ``smiles`` and ``label`` columns)."""
        from sciml.tasks import TensorData

        if hasattr(molecules, "columns"):
            molecules, table_labels = _table_columns(molecules, labels is None)
            labels = labels if labels is not None else table_labels
        smiles = _smiles_list(molecules)
        if labels is None:
            raise ValueError("labels are required: one 0/1 label per molecule.")
        y = binary_labels(labels, len(smiles))
        x = self.embed(prior, smiles)
        adapted = prior.learner.adapt(TensorData(x, torch.as_tensor(y, dtype=x.dtype)), steps)
        return MoleculeCalibration(prior, adapted, len(smiles), smiles=tuple(smiles), labels=tuple(int(v) for v in y))


@dataclass(frozen=True)
class MoleculeCalibration(Calibration):
    """A molecule prior calibrated on labelled molecules.

    Attributes:
        smiles: The support molecules.
        labels: Their 0/1 labels.
    """

    smiles: tuple[str, ...]
    labels: tuple[int, ...]

    def predict(self, molecules: Any) -> pd.DataFrame:
        """Probability of label 1 for each molecule (its own score, independent of the others).

        Returns:
            Columns ``smiles, probability``.
        """
        import pandas as pd

        if hasattr(molecules, "columns"):
            molecules, _ = _table_columns(molecules, False)
        smiles = _smiles_list(molecules)
        x = self.prior.domain.embed(self.prior, smiles)
        logits = self.adapted.predict(x).reshape(len(smiles), -1)[:, 0]
        return pd.DataFrame({"smiles": smiles, "probability": torch.sigmoid(logits).double().numpy()})

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "support": [{"smiles": s, "label": v} for s, v in zip(self.smiles, self.labels)]}
