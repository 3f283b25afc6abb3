"""Published few-shot ROC-AUC on Tox21 and SIDER, with their source."""

from __future__ import annotations

PUBLISHED_ROC_AUC: dict[str, dict[str, tuple[float, float]]] = {
    "tox21": {"MAML": (80.21, 75.74), "ProtoNet": (74.98, 65.58), "Siamese": (80.40, 65.00), "EGNN": (81.21, 79.44),
              "Pre-GNN": (82.14, 81.68), "Meta-MGNN": (82.97, 82.13), "PAR (pretrained)": (84.93, 83.01)},
    "sider": {"MAML": (70.43, 67.81), "ProtoNet": (64.54, 57.50), "EGNN": (72.87, 70.79), "Pre-GNN": (73.96, 73.24),
              "Meta-MGNN": (75.43, 73.36), "PAR (pretrained)": (78.08, 74.46)},
}
"""ROC-AUC (%), (10-shot, 1-shot), as tabulated by Wang et al. (2021, PAR, Table 2); those
numbers were selected on the test tasks."""

SOURCE = "Wang et al. (2021), Property-Aware Relation Networks for Few-Shot Molecular Property Prediction, NeurIPS, Table 2"
