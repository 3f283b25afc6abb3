"""The astro studies run end to end on the reference data (reduced settings)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sciml.data import reference_file
from tests.conftest import run_study

pytestmark = pytest.mark.slow
pytest.importorskip("astropy", reason="needs astropy: pip install 'sciml[astro]'")


def test_asas_study_never_tests_on_training_classes(tmp_path: Path) -> None:
    if reference_file("astro/asas/asas_training_set.tar.gz") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding astro/asas/")
    run_dir = run_study("asas-fewshot", tmp_path, [
        "data.max_curves=160", "episodes.min_members=8", "episodes.train_classes=3", "episodes.n_way=3", "episodes.queries=3",
        "episodes.iterations=5", "episodes.test_episodes=20", "episodes.splits=[0]",
    ])
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.metric) == {"accuracy", "ece"}
    assert set(results.learner) >= {"nearest-centroid", "ProtoNet-CNN", "SiameseNet-MLP", "MAML-MLP", "FineTune-MLP"}
    report = (run_dir / "report.md").read_text()
    assert "split 0: train" in report
    line = next(ln for ln in report.splitlines() if ln.startswith("- split 0: train"))
    train = set(line.split("train ")[1].split("; test")[0].split(", "))
    test = set(line.split("; test ")[1].split(", "))
    assert train and test and not train & test
    for fig in ("accuracy_vs_k", "confusion_novel", "gallery"):
        assert (run_dir / "figures" / f"{fig}.png").is_file()
    from sciml.prior import load_prior
    from tests.prior.builders import light_curve

    prior = load_prior(run_dir / "priors" / "asas-protonet-hybrid-supervised")  # reads features and folded shape
    assert prior.domain.inputs == "features+phase"
    assert any(k.startswith("asas:split0/accuracy/k=5") for k in prior.metrics)
    cal = prior.calibrate([light_curve(0.5, 0), light_curve(0.5, 1), light_curve(20.0, 2), light_curve(20.0, 3)], ["a", "a", "b", "b"])
    out = cal.predict([light_curve(0.5, 4), light_curve(20.0, 5)])
    assert list(out.columns) == ["P(a)", "P(b)", "predicted"]


def test_asas_validation_run_reads_training_classes_only(tmp_path: Path) -> None:
    if reference_file("astro/asas/asas_training_set.tar.gz") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding astro/asas/")
    from sciml.astro.benchmark import class_splits

    settings = ["data.max_curves=160", "episodes.min_members=8", "episodes.train_classes=4", "episodes.n_way=3", "episodes.queries=3",
                "episodes.iterations=5", "episodes.test_episodes=20", "episodes.splits=[0]", "episodes.validate=2",
                'learners=["nearest-centroid", "ProtoNet-MLP", "RelationNet-MLP"]']
    run_dir = run_study("asas-fewshot", tmp_path, settings)
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.dataset) == {"asas:split0-validation"}
    report = (run_dir / "report.md").read_text()
    assert "VALIDATION RUN" in report
    line = next(ln for ln in report.splitlines() if ln.startswith("- split 0: train"))
    fit = set(line.split("train ")[1].split("; validation")[0].split(", "))
    validation = set(line.split("; validation ")[1].split(", "))
    from sciml.astro.dataset import light_curve_pool

    common = light_curve_pool("asas", n_bins=64, max_curves=160).classes(8)
    ((train, test),) = class_splits(common, 4, [0])
    assert len(validation) == 2 and fit | validation == set(train) and not (fit | validation) & set(test)
    assert not (run_dir / "priors").exists() or not any((run_dir / "priors").iterdir())  # no prior from a validation run


def test_htru2_study(tmp_path: Path) -> None:
    if reference_file("astro/htru2/HTRU_2.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding astro/htru2/HTRU_2.csv")
    run_dir = run_study("htru2-fewshot", tmp_path, ["episodes.iterations=5", "episodes.test_episodes=20", "episodes.shots=[1, 5]"])
    results = pd.read_csv(run_dir / "results.csv")
    acc = results[results.metric == "accuracy"]
    assert set(acc.shots) == {1, 5} and (acc.value.between(0, 1)).all()
    from sciml.data.astro import load_htru2
    from sciml.prior import load_prior

    prior = load_prior(run_dir / "priors" / "htru2-protonet-mlp")  # the saved prior reads the eight named features
    x, y = load_htru2()
    table = pd.DataFrame(x, columns=prior.domain.columns)
    pulsars, others = table[y == 1].head(10), table[y == 0].head(10)
    cal = prior.calibrate(pd.concat([pulsars.head(5), others.head(5)]), labels=[1] * 5 + [0] * 5)
    out = cal.predict(pd.concat([pulsars.tail(5), others.tail(5)]))
    assert (out.predicted.to_numpy() == [1] * 5 + [0] * 5).mean() >= 0.7

