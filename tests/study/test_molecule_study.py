"""The few-shot molecular protocol end to end on Tox21 (reduced: tiny GIN, few iterations, one seed)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from sciml.data import reference_file
from sciml.tasks import GraphData, Task, TaskSet
from tests.conftest import run_study, study_args

pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[chem]'")


ABLATION = "MAML head (frozen body, no outside pre-training)"
SMALL_GIN = ['model.encoder="gin"', 'data.featurizer="simple"', "model.hidden=16", "model.layers=2", f'learners."{ABLATION}".enabled=false']
"""Overrides that run the study's protocol on a tiny GIN (the study itself runs Hu et al.'s GCN)."""


def only(*labels: str) -> list[str]:
    """Overrides that switch off every default learner but ``labels``."""
    from sciml.chem.benchmark import LEARNERS

    return [f'learners."{label}".enabled=false' for label in LEARNERS if label not in labels and label != "Scratch"]


def test_tox21_protocol_smoke(tmp_path: Path) -> None:
    if reference_file("molecules/tox21.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding molecules/tox21.csv")
    overrides = ["training.iterations=2", "training.pretrain_epochs=1", "training.eval_every=1", "protocol.seeds=1", *SMALL_GIN,
                 "learners.FineTune.inner_steps=2", "learners.Scratch.inner_steps=2", "learners.Scratch.enabled=true"]
    run_dir = run_study("tox21-fewshot", tmp_path, overrides)
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.metric) == {"roc_auc", "ece"}
    assert set(results[results.metric == "ece"].learner) == set(results.learner) - {"kNN-Tanimoto"}  # kNN scores are no probabilities
    knn = results[(results.learner == "kNN-Tanimoto") & (results.shots == 10)].value.mean()
    assert knn > 0.52  # no training involved: nearest neighbours on fingerprints carry signal on every run
    assert set(results.task) == {"SR-HSE", "SR-MMP", "SR-p53"}  # only the test columns are evaluated
    assert set(results.learner) == {"MAML", "ANIL", "MAML head (frozen body)", "GP head (frozen body)", "MatchingNet (frozen body)",
                                    "Ensemble (frozen body)", "ProtoNet", "FineTune", "Scratch", "kNN-Tanimoto"}
    assert set(results.shots) == {1, 10}
    report = (run_dir / "report.md").read_text()
    assert "| MAML (published) | 80.21 | 75.74 |" in report and "selected on the test tasks" in report
    assert "training tasks (9): NR-AR" in report
    # model selection is reported and looks only at training tasks: pretraining epoch and test-time inner steps
    selection = report.split("## Model selection (training tasks only)")[1].split("##")[0]
    assert "Multi-task pretraining" in selection and "MAML: " in selection and "ANIL: " in selection
    assert "Ensemble (frozen body): weights MAML head (frozen body) " in selection and "greedy ensemble selection" in selection
    assert (run_dir / "figures" / "roc_auc.png").is_file()
    # the saved prior scores a user's molecules one by one
    from sciml.prior import load_prior

    prior = load_prior(run_dir / "priors" / "tox21-maml-head")
    assert prior.provenance["study"] == "tox21-fewshot" and any("roc_auc/k=10" in k for k in prior.metrics)
    cal = prior.calibrate(["CCO", "c1ccccc1O", "CCN", "CC(=O)Oc1ccccc1C(=O)O"], [0, 1, 0, 1])
    many = cal.predict(["CCOC", "OCCO", "c1ccncc1"]).probability.to_numpy()
    alone = [cal.predict([s]).probability.iloc[0] for s in ["CCOC", "OCCO", "c1ccncc1"]]
    assert many == pytest.approx(alone, rel=1e-5)


def test_pretraining_label_matrix_keeps_each_molecule_once_with_its_labels() -> None:
    from sciml.chem.pretrain import label_matrix

    a, b, c = object(), object(), object()  # graphs are matched by identity, as label_tasks shares them across tasks
    t1 = GraphData((a, b), torch.tensor([1, 0]))
    t2 = GraphData((c, a), torch.tensor([0, 0]))
    graphs, y = label_matrix(TaskSet([Task(t1, GraphData.empty_like(t1), name="t1"), Task(t2, GraphData.empty_like(t2), name="t2")]))
    assert graphs == [a, b, c]
    assert y[0].tolist() == [1.0, 0.0] and y[1, 0] == 0.0 and math.isnan(y[1, 1])
    assert math.isnan(y[2, 0]) and y[2, 1] == 0.0


def test_pretraining_rejects_an_ema_decay_outside_zero_to_one() -> None:
    from sciml.chem.pretrain import pretrain_multitask

    with pytest.raises(ValueError, match="pretrain_ema_decay must be in"):
        pretrain_multitask(torch.nn.Linear(1, 1), TaskSet([]), TaskSet([]), epochs=1, lr=1e-3, batch_size=8, seed=0, ema_decay=1.0)


@pytest.mark.parametrize(("overrides", "message"), [
    (['learners.MAML.batch_statistics="running"'], "learners.MAML.batch_statistics must be 'task'"),
    (['learners.ANIL.batch_statistics="pretrained"', 'learners.ANIL.init="random"'], "needs learners.ANIL.init = 'pretrained'"),
    (['learners.FineTune.body="meta-trained"'], "set body = 'frozen'"),
    (['learners."GP head (frozen body)".body="meta-trained"'], "DeepKernelGP runs on the frozen pretrained body"),
    (['learners.MAML.inner_stepz=3'], "Did you mean 'learners.MAML.inner_steps'"),
    (['learners."Ensemble (frozen body)".members=["MAML", "GP head (frozen body)"]'], "member 'MAML' is not a learner on the frozen body"),
    (['learners."GP head (frozen body)".enabled=false'], "member 'GP head (frozen body)' is not a learner listed before it"),
])
def test_study_rejects_inconsistent_batch_statistics(tmp_path: Path, overrides: list[str], message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from sciml.cli import main

    assert main(study_args("tox21-fewshot", tmp_path, overrides)) == 2
    assert message in capsys.readouterr().err


def test_model_selection_never_receives_a_test_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spy on everything model selection is handed: early stopping's validation tasks, the
    inner-step selector's tasks and the ensemble's selection tasks hold training assays only."""
    if reference_file("molecules/tox21.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding molecules/tox21.csv")
    from sciml.chem import fewshot
    from sciml.meta import Learner, ProbabilityEnsemble

    seen: dict[str, set[str]] = {"early stopping": set(), "inner steps": set(), "ensemble weights": set()}
    real_fit, real_select, real_weights = Learner.fit, fewshot.select_inner_steps, ProbabilityEnsemble.fit

    def spy_fit(self, train_tasks, val_tasks=None, **kw):
        seen["early stopping"] |= {t.name for t in (val_tasks or [])}
        return real_fit(self, train_tasks, val_tasks, **kw)

    def spy_select(learner, held, *args, **kw):
        seen["inner steps"] |= {t.name for t in held}
        return real_select(learner, held, *args, **kw)

    def spy_weights(self, train_tasks, *args, **kw):
        train_tasks = list(train_tasks)
        seen["ensemble weights"] |= {t.name for t in train_tasks}
        return real_weights(self, train_tasks, *args, **kw)

    monkeypatch.setattr(Learner, "fit", spy_fit)
    monkeypatch.setattr(ProbabilityEnsemble, "fit", spy_weights)
    monkeypatch.setattr(fewshot, "select_inner_steps", spy_select)
    overrides = ["training.iterations=2", "training.pretrain_epochs=1", "training.eval_every=1", "protocol.seeds=1", *SMALL_GIN,
                 "learners.FineTune.inner_steps=2", *only("MAML", "ANIL", "MAML head (frozen body)", "GP head (frozen body)",
                                                          "MatchingNet (frozen body)", "Ensemble (frozen body)")]
    run_study("tox21-fewshot", tmp_path, overrides)
    train_assays = {"NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD", "NR-PPAR-gamma", "SR-ARE", "SR-ATAD5"}
    for what, names in seen.items():
        assert names, f"{what} received nothing"
        assert names <= train_assays, f"{what} saw {names - train_assays}"


def test_the_protocol_runs_on_a_users_own_assay_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sciml.cli import main

    if reference_file("molecules/tox21.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding molecules/tox21.csv")
    src = pd.read_csv(reference_file("molecules/tox21.csv")).iloc[:2500]
    mine = src[["smiles", "NR-AhR", "SR-ARE", "SR-MMP", "SR-HSE"]].rename(columns={"NR-AhR": "assay A", "SR-ARE": "assay B",
                                                                               "SR-MMP": "assay C", "SR-HSE": "new assay"})
    mine.to_csv(tmp_path / "my_assays.csv", index=False)
    overrides = [f'data.dataset="{tmp_path / "my_assays.csv"}"', 'data.train_assays=["assay A", "assay B", "assay C"]',
                 'data.test_assays=["new assay"]', "protocol.shots=[5, 1]", "training.iterations=2", "training.pretrain_epochs=1",
                 "training.eval_every=1", "protocol.seeds=1", *SMALL_GIN, "learners.FineTune.inner_steps=2",
                 *only("MAML head (frozen body)", "FineTune", "kNN-Tanimoto")]
    run_dir = run_study("tox21-fewshot", tmp_path / "runs", overrides)
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.task) == {"new assay"} and set(results.dataset) == {"my_assays"}
    assert "published" not in (run_dir / "report.md").read_text().split("## Headline")[1].split("##")[0]
    assert (run_dir / "priors" / "my_assays-maml-head" / "prior.json").is_file()
    bad = mine.assign(**{"assay A": mine["assay A"].fillna(0).astype(object)})
    bad.loc[3, "assay A"] = "active"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(study_args("tox21-fewshot", tmp_path / "runs2", [f'data.dataset="{tmp_path / "bad.csv"}"', 'data.train_assays=["assay A"]',
                                                                 'data.test_assays=["new assay"]'])) == 2
    assert "column 'assay A' row 3 is 'active'" in capsys.readouterr().err


@pytest.mark.slow
def test_same_seed_runs_give_identical_results_whatever_the_callers_thread_count(tmp_path: Path) -> None:
    """The run pins torch's threads (``runtime.threads``): batch statistics and normalization sum
    in a thread-dependent order, which moved ROC-AUCs by up to 0.05 after three iterations."""
    if reference_file("molecules/tox21.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding molecules/tox21.csv")
    overrides = ["training.iterations=3", "training.pretrain_epochs=2", "training.eval_every=1", "protocol.seeds=1",
                 *SMALL_GIN, "model.hidden=32", "learners.FineTune.inner_steps=2", "learners.Scratch.inner_steps=2",
                 "learners.Scratch.enabled=true"]
    before = torch.get_num_threads()
    outputs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)  # what the caller's machine would give
            run_dir = run_study("tox21-fewshot", tmp_path / f"threads{threads}", overrides)
            assert torch.get_num_threads() == threads  # restored after the run
            outputs.append({n: (run_dir / n).read_bytes() for n in ("results.csv", "metrics.csv")})
    finally:
        torch.set_num_threads(before)
    assert outputs[0] == outputs[1]


@pytest.mark.slow
def test_the_study_runs_on_hu_encoders_with_the_ablation_body(tmp_path: Path) -> None:
    """The study as shipped (Hu et al.'s GCN, frozen-body learners, the ablation body from random
    weights), at a tiny budget: both bodies pretrained, both priors saved, the report states the
    encoder difference and the ablation."""
    if reference_file("molecules/tox21.csv") is None or reference_file("molecules/pretrain_gnns/gcn_supervised_contextpred.pth") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding molecules/tox21.csv and "
                    "molecules/pretrain_gnns/")
    overrides = ["training.iterations=2", "training.pretrain_epochs=1", "training.eval_every=1", "protocol.seeds=1",
                 *only("MAML head (frozen body)", "GP head (frozen body)", "MatchingNet (frozen body)", "FineTune")]
    run_dir = run_study("tox21-fewshot", tmp_path, overrides)
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.learner) == {"MAML head (frozen body)", "GP head (frozen body)", "MatchingNet (frozen body)", "FineTune", ABLATION}
    report = (run_dir / "report.md").read_text()
    assert "released GCN (gcn_supervised_contextpred.pth" in report and "GCN here, GIN there" in report
    assert "Ablation body" in report and "## Calibration" in report
    for name in ("tox21-maml-head", "tox21-gp-head"):
        assert (run_dir / "priors" / name / "prior.json").is_file()


def test_the_hu_encoder_needs_its_featurizer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sciml.cli import main

    assert main(study_args("tox21-fewshot", tmp_path, ['data.featurizer="simple"'])) == 2
    assert "reads the 'hu' features; set data.featurizer = 'hu'" in capsys.readouterr().err
    assert main(study_args("tox21-fewshot", tmp_path, ['model.encoder="gin"'])) == 2
    assert "with model.encoder = 'gin' use 'simple'" in capsys.readouterr().err
    if reference_file("molecules/tox21.csv") is None:
        return  # the last check reads the data first
    assert main(study_args("tox21-fewshot", tmp_path, [*SMALL_GIN[:2], f'learners."{ABLATION}".enabled=true'])) == 2
    assert "model.encoder = 'gin' has no released weights" in capsys.readouterr().err
