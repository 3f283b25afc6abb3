"""Published few-shot ROC-AUC on Tox21 and SIDER, with their source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PUBLISHED_ROC_AUC: dict[str, dict[str, tuple[float, float]]] = {
    "tox21": {"MAML": (80.21, 75.74), "ProtoNet": (74.98, 65.58), "Siamese": (80.40, 65.00), "EGNN": (81.21, 79.44),
              "Pre-GNN": (82.14, 81.68), "Meta-MGNN": (82.97, 82.13), "PAR (pretrained)": (84.93, 83.01)},
    "sider": {"MAML": (70.43, 67.81), "ProtoNet": (64.54, 57.50), "EGNN": (72.87, 70.79), "Pre-GNN": (73.96, 73.24),
              "Meta-MGNN": (75.43, 73.36), "PAR (pretrained)": (78.08, 74.46)},
}
"""ROC-AUC (%), (10-shot, 1-shot), as tabulated by Wang et al. (2021, PAR, Table 2); those
numbers were selected on the test tasks."""

SOURCE = "Wang et al. (2021), Property-Aware Relation Networks for Few-Shot Molecular Property Prediction, NeurIPS, Table 2"


UNCHECKED = ("ADKF-IFT (Chen et al. 2023) and PACIA (Wu et al., IJCAI 2024) also report Tox21 and SIDER few-shot ROC-AUC; their "
             "tables could not be checked here, so their numbers are not printed.")
"""Later methods whose published numbers are left out, and why."""


def setup_note(specs: Mapping[str, Any], norm: str, encoder: str = "gin") -> str:
    """How :func:`~sciml.chem.benchmark.assay_benchmark`'s learners were set up (``init`` and
    ``batch_statistics`` of the first learner with a meta-trained body, of
    :func:`~sciml.chem.benchmark.learner_specs`; the encoder's ``norm``; ``model.encoder``),
    where that differs from the published rows."""
    from sciml.chem.benchmark import BODY

    body = next((s.options for s in specs.values() if s.options["body"] == "meta-trained"), BODY)
    init, batch_statistics = body["init"], body["batch_statistics"]
    note = []
    if encoder != "gin":
        arch = encoder.split("_")[0].upper().replace("GRAPHSAGE", "GraphSAGE")
        note.append(f"Our encoder is Hu et al.'s released {arch} ({encoder}: pre-trained on ZINC15 and ChEMBL), then trained "
                    "(supervised, multi-task) on the labels of the training tasks; Pre-GNN, Meta-MGNN and PAR start from Hu et "
                    f"al.'s GIN, whose weights are not available here: the encoder differs ({arch} here, GIN there).")
    elif init == "pretrained":
        note.append("Our MAML, ANIL and ProtoNet start from a GIN trained (supervised, multi-task) on the labels of the "
                    "training tasks only, with no outside data; the published MAML and ProtoNet rows started from a random "
                    "initialization, and Pre-GNN, Meta-MGNN and PAR from self-supervised pretraining on 2 million ZINC molecules.")
    if norm == "batch" and batch_statistics == "pretrained":
        note.append("BatchNorm with the fixed statistics of multi-task pretraining for MAML, ANIL and ProtoNet: each "
                    "molecule is scored on its own, in adaptation and prediction alike.")
    elif norm == "batch":
        note.append("BatchNorm as in Hu et al.: MAML normalizes with the statistics of the batch at hand (the support set "
                    "while adapting, the whole query set of thousands of molecules while predicting); ANIL and ProtoNet "
                    "embed each test task's molecules in one batch; FineTune's frozen body uses the running statistics "
                    "of pretraining.")
    note.append(UNCHECKED)
    return " ".join(note)
