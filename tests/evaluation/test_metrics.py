"""Metrics and summaries against hand-computed values."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from sciml.evaluation import RESULT_COLUMNS, accuracy, expected_calibration_error, mae, mse, r2, roc_auc, summarize


def test_regression_metrics() -> None:
    y = torch.tensor([1.0, 2.0, 3.0])
    p = torch.tensor([1.0, 2.0, 5.0])
    assert mse(p, y) == pytest.approx(4 / 3)
    assert mae(p, y) == pytest.approx(2 / 3)
    assert r2(y, y) == pytest.approx(1.0)
    assert math.isnan(r2(p, torch.ones(3)))


def test_roc_auc_matches_pair_counting() -> None:
    s = torch.tensor([0.1, 0.4, 0.35, 0.8])
    y = torch.tensor([0, 0, 1, 1])
    assert roc_auc(s, y) == pytest.approx(0.75)
    assert roc_auc(torch.tensor([0.5, 0.5]), torch.tensor([0, 1])) == pytest.approx(0.5)
    assert math.isnan(roc_auc(s, torch.ones(4)))


def test_accuracy_and_ece() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    y = torch.tensor([0, 1, 1])
    assert accuracy(logits, y) == pytest.approx(2 / 3)
    probs = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert expected_calibration_error(probs, torch.tensor([0, 1])) == pytest.approx(0.5)
    assert expected_calibration_error(probs, torch.tensor([0, 0])) == pytest.approx(0.0)


def test_summarize_ci_over_seeds() -> None:
    rows = []
    for seed, v in enumerate([1.0, 2.0, 3.0]):
        for task in ("a", "b"):
            rows.append(("s", "d", "L", task, task, 3, 1, seed, "mse", v))
    df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    out = summarize(df)
    assert out.value.iloc[0] == pytest.approx(2.0)
    assert out.ci_low.iloc[0] == pytest.approx(2.0 - 4.302653 * 1 / math.sqrt(3), rel=1e-5)
    assert out.n_seeds.iloc[0] == 3 and out.n_tasks.iloc[0] == 2


def test_summary_table_mean_and_ci_by_hand() -> None:
    from sciml.evaluation import summary_table

    rows = []
    for seed, (a, b) in enumerate([(1.0, 3.0), (2.0, 4.0), (6.0, 8.0)]):  # per-seed means 2, 3, 7
        rows += [("s", "d", "L", "a", "a", 5, 1, seed, "mse", a), ("s", "d", "L", "b", "b", 5, 1, seed, "mse", b)]
    df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    half = 4.302653 * math.sqrt(((2 - 4) ** 2 + (3 - 4) ** 2 + (7 - 4) ** 2) / 2) / math.sqrt(3)
    by_seed = summary_table(df, digits=2)
    assert by_seed.columns.tolist() == ["learner", "mse k=5"]
    assert by_seed.iloc[0, 1] == f"4.00 +- {half:.2f}"
    by_row = summary_table(df, unit="row").attrs["long"]  # six rows, each a unit
    vals = [1.0, 3.0, 2.0, 4.0, 6.0, 8.0]
    sd = math.sqrt(sum((v - 4) ** 2 for v in vals) / 5)
    assert by_row["half"].iloc[0] == pytest.approx(2.570582 * sd / math.sqrt(6), rel=1e-5)


def test_binary_probabilities_and_ece_by_hand() -> None:
    from sciml.evaluation.metrics import BINARY_PROBABILITY_METRICS, binary_probabilities

    logits = torch.tensor([[0.0], [2.0], [-1.0]])
    p1 = 1 / (1 + torch.exp(-logits.reshape(-1).double()))
    assert torch.allclose(binary_probabilities(logits), torch.stack([1 - p1, p1], -1))
    two = torch.log(torch.tensor([[0.8, 0.2], [0.3, 0.7]]))
    assert torch.allclose(binary_probabilities(two), torch.tensor([[0.8, 0.2], [0.3, 0.7]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\[n, 2\]"):
        binary_probabilities(torch.zeros(3, 3))

    class Fixed:  # an adapted model that always returns the same logits
        def predict(self, x):
            return torch.log(torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.3, 0.7]]))

    class Query:
        x = None
        y = torch.tensor([0, 1, 1, 1])

    class T:
        query = Query()

    # bins: confidence 0.9 (2 molecules, 1 right) and 0.7 (2, both right): ECE = 0.5 * |0.9 - 0.5| + 0.5 * |0.7 - 1|
    assert BINARY_PROBABILITY_METRICS["ece"](Fixed(), T()) == pytest.approx(0.5 * 0.4 + 0.5 * 0.3)
    # ROC-AUC: positives 1, 2, 3 against negative 0; molecule 1 ties with it (1/2), 2 and 3 rank above it
    assert BINARY_PROBABILITY_METRICS["roc_auc"](Fixed(), T()) == pytest.approx((0.5 + 1 + 1) / 3)


def test_several_metrics_share_one_prediction_per_query() -> None:
    """ROC-AUC and ECE of one adapted model read one forward pass of the query, not two."""
    from sciml.evaluation.metrics import BINARY_PROBABILITY_METRICS
    from sciml.evaluation.protocol import few_shot_results
    from sciml.tasks import Task, TensorData

    calls = []

    class Adapted:
        def predict(self, x):
            calls.append(len(x))
            return x[:, :1]

    class Learner:
        name = "counting"

        def adapt_many(self, supports, steps):
            return [[Adapted() for _ in steps] for _ in supports]

    y = torch.tensor([0, 1] * 6)
    data = TensorData(y[:, None].float() + 0.1 * torch.arange(12)[:, None], y)
    tasks = [Task(data, TensorData.empty_like(data), name=f"t{i}") for i in range(2)]
    res = few_shot_results(Learner(), tasks, shots=[2], steps=[0], seeds=[0, 1], metrics=BINARY_PROBABILITY_METRICS, per_class=True)
    assert set(res.metric) == {"roc_auc", "ece"} and len(res) == 2 * 2 * 2
    assert len(calls) == 2 * 2  # tasks x seeds: one forward pass each
