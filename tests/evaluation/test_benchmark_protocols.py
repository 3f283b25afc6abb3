"""The benchmark protocols that studies and scripts share: what each learner sees, seeding,
splits and the summary tables, checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sciml.astro.benchmark import class_split_benchmark, class_splits, held_out_examples_benchmark
from sciml.data.sinusoid import SinusoidTasks
from sciml.evaluation.benchmark import fit_and_evaluate
from sciml.evaluation.tables import per_task_table, regression_table
from sciml.materials.kinetics import calibration_verdicts
from sciml.meta import MAML
from sciml.models import MLP


def _maml() -> MAML:
    return MAML(MLP(1, (8,), 1), inner_lr=0.01, inner_steps=1, outer_lr=1e-3, meta_batch_size=2)


def test_fit_and_evaluate_seeds_every_learner_alike_and_never_fits_the_unfitted() -> None:
    test = SinusoidTasks(shots=5, query=10).fixed_tasks(4, seed=3)
    fitted: list[str] = []

    def spy(label: str):
        def make() -> MAML:
            learner = _maml()
            original = learner.fit

            def fit(*args, **kwargs):
                fitted.append(label)
                return original(*args, **kwargs)

            learner.fit = fit
            return learner
        return make

    torch.manual_seed(123)  # whatever the global state, each label starts from the same seeded init
    bench = fit_and_evaluate({"A": spy("A"), "B": spy("B"), "frozen": spy("frozen")}, SinusoidTasks(shots=5, query=5), test,
                             fit={"iterations": 3, "seed": 0, "progress": False}, shots=[5], unfitted=["frozen"])
    assert fitted == ["A", "B"]
    mse = bench.results[bench.results.metric == "mse"].pivot_table(index="task", columns="learner", values="value")
    np.testing.assert_array_equal(mse["A"], mse["B"])  # same seed, same data, same numbers
    assert not np.allclose(mse["A"], mse["frozen"])  # meta-training changed something
    assert set(bench.learners) == {"A", "B", "frozen"} and set(bench.histories) == {"A", "B"}


def test_regression_table_against_hand_computation() -> None:
    values = [1.0, 2.0, 4.0, 5.0]
    results = pd.DataFrame({"learner": "MAML", "shots": 5, "steps": 1, "task": list("abcd"), "value": values})
    row = regression_table(results, {("MAML", 5): 1.13}).iloc[0]
    sem = np.std(values, ddof=1) / math.sqrt(4)
    assert row["MSE (ours)"] == "3" and row["95% CI over tasks"] == f"+-{1.96 * sem:.3f}" and row.published == 1.13
    diverged = regression_table(results.assign(value=[1.0, math.inf, 1.0, 1.0], steps=10), {("MAML", 5): 1.13}).iloc[0]
    assert diverged["MSE (ours)"] == "diverged" and math.isnan(diverged.published)  # published only at its own step count


def test_per_task_table_long_and_wide() -> None:
    results = pd.DataFrame({"learner": "L", "task": ["a", "a", "b", "a"], "shots": [1, 1, 1, 5], "value": [0.5, 0.7, 0.9, 0.2]})
    long = per_task_table(results, scale=100).set_index(["task", "shots"])
    assert long.loc[("a", 1), "mean"] == pytest.approx(60.0) and long.loc[("a", 1), "std"] == pytest.approx(100 * np.std([0.5, 0.7], ddof=1))
    wide = per_task_table(results, ("learner", "task", "shots"), wide=True).set_index("task")
    assert list(wide.columns) == ["learner", "k=1", "k=5"] and wide.loc["a", "k=5"] == pytest.approx(0.2) and math.isnan(wide.loc["b", "k=5"])


def test_calibration_verdicts_pick_the_best_meta_learner_and_judge_its_bands() -> None:
    head = pd.DataFrame({"design": "random", "learner": ["MAML", "Reptile", "curve_fit"], "k": 3,
                         "median t50 error": [0.4, 0.3, 0.1], "diverged": [0.1, 0.0, 0.2], "coverage90": [0.9, 0.6, 0.5]})
    (line,) = calibration_verdicts(head, 3, baselines=("curve_fit",))
    assert "Reptile: median t50 error 0.300" in line and "not calibrated (coverage 0.60" in line and "curve_fit: 0.100" in line
    (line,) = calibration_verdicts(head.assign(coverage90=[0.9, 0.9, 0.5]), 3, baselines=("curve_fit",))
    assert "are calibrated" in line


def test_class_splits_are_seeded_disjoint_and_complete() -> None:
    classes = [f"c{i}" for i in range(7)]
    splits = class_splits(classes, 4, [0, 1])
    assert splits == class_splits(classes, 4, [0, 1]) and splits[0] != splits[1]
    for train, test in splits:
        assert len(train) == 4 and not set(train) & set(test) and sorted(train + test) == classes
    with pytest.raises(ValueError, match="n_train"):
        class_splits(classes, 7, [0])


def _clusters(n_classes: int, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = 10 * torch.randn(n_classes, 4, generator=g)
    y = torch.arange(n_classes).repeat_interleave(per_class)
    return centres[y] + 0.1 * torch.randn(len(y), 4, generator=g), y


def test_class_split_benchmark_standardizes_on_training_classes_only() -> None:
    x, y = _clusters(6, 20)
    phase = torch.zeros(len(y), 16)
    with pytest.raises(ValueError, match="both sides"):
        class_split_benchmark(x, phase, y, [0, 1, 2], [2, 3], learners=["nearest-centroid"])
    bench = class_split_benchmark(x, phase, y, [0, 1, 2], [3, 4, 5], learners=["nearest-centroid"], n_way=3, shots=[1], queries=3,
                                  test_episodes=10, dataset="toy:split0")
    torch.testing.assert_close(bench.details["scale"].mean, x[y < 3].mean(0))
    acc = bench.results[bench.results.metric == "accuracy"].value
    assert acc.mean() > 0.95 and set(bench.results.group) == {"split0"}


def test_the_new_signal_learners_run_and_read_the_features_and_shape_together() -> None:
    x, y = _clusters(6, 20)
    phase = torch.randn(len(y), 16, generator=torch.Generator().manual_seed(1))
    learners = ["ProtoNet-MLP (supervised)", "MatchingNet-MLP", "RelationNet-MLP", "ProtoNet-hybrid (supervised, transductive)"]
    bench = class_split_benchmark(x, phase, y, [0, 1, 2], [3, 4, 5], learners=learners, n_way=3, shots=[1, 5], queries=3,
                                  test_episodes=10, iterations=3, rare_classes=[3, 4], dataset="toy:split0")
    acc = bench.results[bench.results.metric == "accuracy"]
    assert set(acc.learner) == set(learners)
    assert set(acc.dataset) == {"toy:split0", "toy:rare-classes"}  # every metric learner probes the rare classes
    hybrid = bench.learners["ProtoNet-hybrid (supervised, transductive)"]
    assert hybrid.model.n_features == 4 and hybrid.model.n_bins == 16 and hybrid.transductive_steps == 1
    # well-separated clusters: a supervised embedding of the training classes places new ones apart
    assert acc[acc.learner == "ProtoNet-MLP (supervised)"].value.mean() > 0.9
    with pytest.raises(ValueError, match="read folded shapes"):
        held_out_examples_benchmark(x, y, learners=["ProtoNet-hybrid"])


def test_supervised_pretraining_checks_its_input_and_learns() -> None:
    from sciml.meta.supervised import pretrain_embedding
    from sciml.models import MLP

    x, y = _clusters(4, 10)
    torch.manual_seed(0)
    enc = MLP(4, (16,), 8)
    history = pretrain_embedding(enc, x, y + 7, embedding_dim=8, epochs=30, lr=1e-2, seed=0)  # any label values
    assert len(history) == 30 and history[-1] < 0.2 * history[0]
    with pytest.raises(ValueError, match="two classes"):
        pretrain_embedding(enc, x, torch.zeros(len(x), dtype=torch.long), embedding_dim=8)
    with pytest.raises(ValueError, match="rows"):
        pretrain_embedding(enc, x, y[:-1], embedding_dim=8)
    with pytest.raises(TypeError, match="int64"):
        pretrain_embedding(enc, x, y.double(), embedding_dim=8)
    with pytest.raises(ValueError, match="embedding_dim"):
        pretrain_embedding(enc, x, y, embedding_dim=5)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        pretrain_embedding(enc, bad, y, embedding_dim=8)


def test_held_out_examples_are_stratified_and_classified() -> None:
    x, y = _clusters(2, 41)
    bench = held_out_examples_benchmark(x, y, test_fraction=0.5, learners=["nearest-centroid"], shots=[1], queries=3, test_episodes=10)
    assert bench.details["n_test"] == 2 * 20  # floor(41 * 0.5) per class
    assert bench.results[bench.results.metric == "accuracy"].value.mean() > 0.95
