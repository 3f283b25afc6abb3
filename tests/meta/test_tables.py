"""One learner configuration schema: ``[learners.<label>]`` tables with ``class`` and arguments,
read the same way by every domain's benchmark."""

from __future__ import annotations

import pytest
from torch import nn

from sciml.meta import MAML, CurveFit, ProtoNet, Reptile, resolve_learner
from sciml.meta.tables import build_learner, learner_specs
from sciml.models import MLP

CATALOGUE = {"MAML": {"class": "MAML", "inner_lr": 0.05, "inner_steps": 1}, "centroid": {"class": "ProtoNet", "model": "none"}}


def test_labels_take_the_catalogue_tables_and_a_partial_table_changes_one_setting() -> None:
    specs = learner_specs(["centroid", "MAML"], CATALOGUE, options={"model": "mlp"})
    assert list(specs) == ["centroid", "MAML"]
    assert specs["centroid"].cls is ProtoNet and specs["centroid"].options == {"model": "none"}
    assert specs["MAML"].options == {"model": "mlp"} and dict(specs["MAML"].args) == {"inner_lr": 0.05, "inner_steps": 1}
    partial = learner_specs({"MAML": {"inner_steps": 3, "iterations": 7}}, CATALOGUE)["MAML"]
    assert dict(partial.args) == {"inner_lr": 0.05, "inner_steps": 3} and dict(partial.fit) == {"iterations": 7}


def test_another_class_under_a_known_label_does_not_inherit_its_arguments() -> None:
    spec = learner_specs({"MAML": {"class": "Reptile"}}, CATALOGUE)["MAML"]
    assert spec.cls is Reptile and dict(spec.args) == {}


def test_switched_off_tables_are_skipped() -> None:
    specs = learner_specs({"MAML": {"enabled": False}, "mine": {"class": "sciml.meta:Reptile", "inner_lr": 0.1}}, CATALOGUE)
    assert list(specs) == ["mine"] and specs["mine"].cls is Reptile


@pytest.mark.parametrize(("learners", "message"), [
    (["MAMl"], "Unknown learner(s) ['MAMl']; choose from ['MAML', 'centroid'] (did you mean 'MAML'?)"),
    ({"x": {"class": "MAMl2"}}, "[learners.x]: Unknown learner 'MAMl2'"),
    ({"x": {"inner_lr": 0.1}}, "[learners.x] needs class"),
    ({"MAML": {"inner_stpes": 2}}, "unknown key(s) ['inner_stpes']"),
    ({"MAML": {"inner_stpes": 2}}, "(did you mean 'inner_steps'?)"),
    ({"x": {"class": "MAML", "model": "cnn"}}, "unknown key(s) ['model']"),  # not an option of this protocol
    ("MAML", "a list of labels or a mapping"),
])
def test_bad_tables_are_refused_with_the_fix(learners, message: str) -> None:
    with pytest.raises((ValueError, TypeError)) as err:
        learner_specs(learners, CATALOGUE)
    assert message in str(err.value)


def test_build_offers_protocol_defaults_the_class_accepts_and_the_table_wins() -> None:
    spec = learner_specs({"MAML": {"outer_lr": 0.5}}, CATALOGUE)["MAML"]
    learner = spec.build(nn.Linear(1, 1), outer_lr=1e-3, meta_batch_size=3, n_way=5)  # n_way: not a MAML argument, left out
    assert isinstance(learner, MAML) and learner.outer_lr == 0.5 and learner.meta_batch_size == 3 and learner.inner_steps == 1
    from sciml.models.laws import Arrhenius

    assert isinstance(learner_specs({"c": {"class": "CurveFit"}})["c"].build(Arrhenius(T_ref=1000.0)), CurveFit)
    with pytest.raises(ValueError, match=r"\[learners.c\] \(CurveFit\): CurveFit fits physical laws"):
        learner_specs({"c": {"class": "CurveFit"}})["c"].build(nn.Linear(1, 1))


def test_build_learner_reads_one_table_and_refuses_a_switched_off_one() -> None:
    learner, fit = build_learner("M", {"class": "maml", "inner_lr": 0.2, "iterations": 5, "incubation": True}, nn.Linear(1, 1))
    assert isinstance(learner, MAML) and learner.inner_lr == 0.2 and fit == {"iterations": 5}
    with pytest.raises(ValueError, match="switched off"):
        build_learner("M", {"class": "MAML", "enabled": False}, nn.Linear(1, 1))


def test_the_resolver_knows_domain_learners_and_your_own_classes() -> None:
    pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
    from sciml.chem.fingerprints import TanimotoKNN

    assert resolve_learner("tanimoto-knn") is TanimotoKNN
    assert resolve_learner("sciml.meta.maml:ANIL").__name__ == "ANIL"
    with pytest.raises(ValueError, match="not a learner class"):
        resolve_learner("torch:Tensor")
    with pytest.raises(ValueError, match="does not import"):
        resolve_learner("no_such_package:Learner")


def test_every_domain_catalogue_parses_under_its_own_options() -> None:
    """The default tables of each benchmark are valid under the one schema."""
    pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
    from sciml.astro.benchmark import LEARNERS as SIGNALS
    from sciml.astro.benchmark import signal_specs
    from sciml.chem.benchmark import LEARNERS as ASSAYS
    from sciml.chem.benchmark import learner_specs as assay_specs
    from sciml.materials.family_benchmark import LEARNERS as FAMILIES

    assert list(signal_specs()) == list(SIGNALS) and list(assay_specs()) == list(ASSAYS)
    assert list(learner_specs(list(FAMILIES), FAMILIES)) == list(FAMILIES)
    assert assay_specs()["MAML head (frozen body)"].options["body"] == "frozen"


@pytest.mark.parametrize(("table", "message"), [
    ({"class": "MAML", "body": "thawed"}, "body must be 'meta-trained' or 'frozen'"),
    ({"class": "MAML", "init": "zeros"}, "init must be 'pretrained' or 'random'"),
    ({"class": "FineTune", "body": "meta-trained"}, "set body = 'frozen'"),
    ({"class": "Scratch", "body": "frozen"}, "Scratch trains a fresh GIN"),
    ({"class": "TanimotoKNN", "body": "frozen"}, "has no model"),
    ({"class": "ProtoNet", "n_way": 3}, "leave n_way out"),
])
def test_molecule_body_options_are_checked(table: dict, message: str) -> None:
    pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
    from sciml.chem.benchmark import learner_specs as assay_specs

    with pytest.raises(ValueError, match=message):
        assay_specs({"x": table})


@pytest.mark.parametrize(("table", "message"), [
    ({"class": "ProtoNet", "model": "transformer"}, "model must be 'none', 'mlp', 'cnn' or 'hybrid'"),
    ({"class": "MAML", "model": "mlp", "pretrain": "supervised"}, "suits a metric learner"),
    ({"class": "ProtoNet", "model": "none", "pretrain": "supervised"}, "suits a metric learner"),
    ({"class": "ProtoNet", "model": "mlp", "pretrain": "supervised", "pretrain_epochs": 0}, "pretrain_epochs must be >= 1"),
    ({"class": "ProtoNet", "model": "mlp", "pretrain": "simulated"}, "needs model = 'cnn'"),
    ({"class": "MAML", "model": "none"}, "suits ProtoNet only"),
    ({"class": "CompositionRidge"}, "does not take a model"),
])
def test_signal_options_are_checked(table: dict, message: str) -> None:
    from sciml.astro.benchmark import signal_specs

    with pytest.raises((ValueError, TypeError), match=message):
        signal_specs({"x": table})


def test_a_stack_is_built_from_other_learner_tables() -> None:
    from sciml.meta.stacking import SuperLearner
    from sciml.meta.tables import build_stack, is_stack

    tables = {
        "MAML": {"class": "MAML", "inner_lr": 0.1},
        "FT": {"class": "FineTune", "enabled": False},  # a base learner need not be a row of its own
        "stack": {"class": "SuperLearner", "learners": ["MAML", "FT"], "folds": 3},
    }
    built: list[str] = []

    def build(label: str, table: dict) -> object:
        built.append(label)
        assert table["enabled"] is True
        return build_learner(label, table, MLP(1, (8,), 1))[0]

    stack = build_stack("stack", tables["stack"], tables, build)
    assert isinstance(stack, SuperLearner) and stack.folds == 3 and built == ["MAML", "FT"]
    assert stack.learners["MAML"].inner_lr == 0.1 and is_stack(tables["stack"]) and not is_stack(tables["MAML"])
    with pytest.raises(ValueError, match="unknown base learner"):
        build_stack("stack", {**tables["stack"], "learners": ["MAML", "MAMl"]}, tables, build)
    with pytest.raises(ValueError, match="two or more labels"):
        build_stack("stack", {**tables["stack"], "learners": "MAML"}, tables, build)
    with pytest.raises(ValueError, match="stacks themselves"):
        build_stack("outer", {"class": "SuperLearner", "learners": ["MAML", "stack"]}, tables, build)
    with pytest.raises(ValueError, match="unexpected keyword"):
        build_stack("stack", {**tables["stack"], "fold": 3}, tables, build)
