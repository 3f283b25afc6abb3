"""Molecule, crystal and light-curve priors: native inputs, row-wise predictions, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sciml.prior import load_prior
from tests.prior import builders

pytest.importorskip("torch_geometric")

SUPPORT = ["CCO", "c1ccccc1O", "CC(=O)O", "CCN(CC)CC", "c1ccncc1", "CCCCCCCC"]
LABELS = [0, 1, 0, 1, 1, 0]


@pytest.fixture(scope="module")
def molecules():
    pytest.importorskip("rdkit")
    return builders.molecule_prior()


def test_molecule_scores_are_row_wise(molecules) -> None:
    cal = molecules.calibrate(SUPPORT, LABELS)
    many = cal.predict(["CCOC", "c1ccc2ccccc2c1", "OCCO", "CC#N"])
    alone = [float(cal.predict([s]).probability.iloc[0]) for s in many.smiles]
    np.testing.assert_allclose(many.probability, alone, rtol=1e-6)
    assert many.probability.between(0, 1).all()


def test_molecule_head_is_a_logistic_model_of_the_embeddings(molecules) -> None:
    cal = molecules.calibrate(SUPPORT, LABELS)
    emb = molecules.domain.embed(molecules, ["CCOC"])
    w, b = cal.adapted.params["head.weight"], cal.adapted.params["head.bias"]
    expected = torch.sigmoid(emb @ w.T + b).item()  # by hand
    assert cal.predict(["CCOC"]).probability.iloc[0] == pytest.approx(expected, rel=1e-6)
    # adaptation moved the head towards the support labels
    fit = cal.predict(SUPPORT).probability.to_numpy()
    start = molecules.calibrate(SUPPORT, LABELS, steps=0).predict(SUPPORT).probability.to_numpy()
    labels = np.array(LABELS)
    assert np.abs(fit - labels).mean() < np.abs(start - labels).mean()


def test_molecule_table_input_and_errors(molecules) -> None:
    from sciml.chem.featurize import InvalidSmilesError

    table = pd.DataFrame({"SMILES": SUPPORT, "label": LABELS})
    a = molecules.calibrate(table).predict(["CCOC"]).probability.iloc[0]
    b = molecules.calibrate(SUPPORT, LABELS).predict(["CCOC"]).probability.iloc[0]
    assert a == pytest.approx(b)
    with pytest.raises(InvalidSmilesError, match="Molecule 2: Empty SMILES"):
        molecules.calibrate(["CCO", "CCN", ""], [0, 1, 0])
    with pytest.raises(InvalidSmilesError, match="Molecule 1: RDKit cannot parse"):
        molecules.calibrate(["CCO", "C1CC", "CCN"], [0, 1, 0])
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        molecules.calibrate(["CCO", "CCN"], [1, 1])
    with pytest.raises(ValueError, match="must be 0 or 1"):
        molecules.calibrate(["CCO", "CCN"], [0, 2])
    with pytest.raises(ValueError, match="exactly one label per input"):
        molecules.calibrate(["CCO", "CCN"], [0, 1, 1])


def test_molecule_prior_refuses_batch_statistics() -> None:
    from sciml.meta import MAML
    from sciml.models.gnn import GIN
    from sciml.prior import Prior
    from sciml.prior.domains.molecules import MoleculeDomain

    with pytest.raises(ValueError, match="frozen_batch"):
        Prior(MAML(torch.nn.Linear(8, 1), loss="bce"), MoleculeDomain(), encoder=GIN(1, hidden=8, layers=1, norm="batch"),
              encoder_method="embed")


def test_molecule_prior_round_trip(molecules, tmp_path) -> None:
    loaded = load_prior(molecules.save(tmp_path / "m"))
    a = molecules.calibrate(SUPPORT, LABELS).predict(["CCOC", "OCCO"]).probability
    b = loaded.calibrate(SUPPORT, LABELS).predict(["CCOC", "OCCO"]).probability
    np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.fixture(scope="module")
def crystals():
    pytest.importorskip("pymatgen")
    return builders.crystal_prior()


def test_crystals_from_structures_cif_text_and_paths(crystals, tmp_path) -> None:
    structures = [builders.structure(a) for a in (4.0, 4.6, 5.2, 5.6)]
    targets = [1.5, 1.7, 2.0, 2.2]
    cal = crystals.calibrate(structures, targets)
    cif = builders.structure(4.8).to(fmt="cif")
    path = tmp_path / "new.cif"
    path.write_text(cif)
    out = cal.predict([builders.structure(4.8), cif, str(path)])
    np.testing.assert_allclose(out["mean"], out["mean"].iloc[0], rtol=1e-5)  # three spellings of one crystal
    assert (out.lower < out["mean"]).all() and (out["mean"] < out.upper).all()
    # the band is the conformal half-width in log10 space, mapped back to n
    np.testing.assert_allclose(np.log10(out.upper) - np.log10(out["mean"]), 0.05, rtol=1e-6)
    np.testing.assert_allclose(np.log10(out["mean"]) - np.log10(out.lower), 0.05, rtol=1e-6)
    alone = cal.predict([builders.structure(5.0)])["mean"].iloc[0]
    together = cal.predict([builders.structure(4.2), builders.structure(5.0)])["mean"].iloc[1]
    assert alone == pytest.approx(together, rel=1e-5)


def test_crystal_errors(crystals, tmp_path) -> None:
    from sciml.materials.crystal_graph import StructureParseError

    s = [builders.structure(4.0), builders.structure(5.0)]
    with pytest.raises(StructureParseError, match="no file at"):
        crystals.calibrate([s[0], str(tmp_path / "missing.cif")], [1.5, 1.6])
    with pytest.raises(ValueError, match="must be positive"):
        crystals.calibrate(s, [1.5, -1.0])
    with pytest.raises(ValueError, match="exactly one label"):
        crystals.calibrate(s, [1.5])
    with pytest.raises(ValueError, match="NaN"):
        crystals.calibrate(s, [1.5, float("nan")])
    with pytest.raises(TypeError, match="list of structures"):
        crystals.calibrate(s[0], [1.5])


@pytest.fixture(scope="module")
def curves():
    pytest.importorskip("astropy")
    return builders.light_curve_prior()


def test_light_curves_any_number_of_classes(curves) -> None:
    periods = {"short": 0.4, "medium": 3.0, "long": 40.0}
    support, labels = [], []
    for i, (name, p) in enumerate(periods.items()):
        for j in range(2):
            support.append(builders.light_curve(p, seed=10 * i + j))
            labels.append(name)
    cal = curves.calibrate(support, labels)
    assert cal.classes == ("long", "medium", "short")
    new = [builders.light_curve(p, seed=100 + i) for i, p in enumerate(periods.values())]
    out = cal.predict(new)
    assert list(out.columns) == ["P(long)", "P(medium)", "P(short)", "predicted"]
    np.testing.assert_allclose(out.iloc[:, :3].sum(axis=1), 1.0, rtol=1e-6)
    assert out.predicted.tolist() == list(periods)
    alone = cal.predict([new[1]]).iloc[0, :3].to_numpy(dtype=float)
    np.testing.assert_allclose(alone, out.iloc[1, :3].to_numpy(dtype=float), rtol=1e-5)


def test_a_prior_that_reads_features_and_folded_shape_round_trips(tmp_path) -> None:
    pytest.importorskip("astropy")
    from sciml.astro.benchmark import light_curve_prior
    from sciml.meta import ProtoNet
    from sciml.models import FeaturePhaseEncoder, Standardize

    torch.manual_seed(0)
    scale = Standardize.fitted(torch.randn(20, 8) * 2 + 1)
    learner = ProtoNet(FeaturePhaseEncoder(8, 32, out_features=6), n_way=3)
    rows = pd.DataFrame({"learner": ["hybrid"], "dataset": ["asas:split0"], "metric": ["accuracy"], "shots": [5], "value": [0.8],
                         "task": ["e"], "seed": [0], "steps": [0]})
    prior = light_curve_prior(learner, scale, rows, 32, {})
    assert prior.domain.inputs == "features+phase"
    # the encoder standardizes the 8 features and passes the 32 phase bins through unchanged
    x = torch.randn(4, 40)
    torch.testing.assert_close(prior.encode(x)[:, :8], scale(x[:, :8]))
    torch.testing.assert_close(prior.encode(x)[:, 8:], x[:, 8:])
    again = load_prior(prior.save(tmp_path / "hybrid"))
    support = [builders.light_curve(p, seed=s) for p in (0.4, 3.0) for s in range(2)]
    new = [builders.light_curve(0.4, 50), builders.light_curve(3.0, 51)]
    a = prior.calibrate(support, ["a", "a", "b", "b"]).predict(new)
    b = again.calibrate(support, ["a", "a", "b", "b"]).predict(new)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="transductive"):
        light_curve_prior(ProtoNet(FeaturePhaseEncoder(8, 32, out_features=6), n_way=3, transductive_steps=1), scale, rows, 32, {})


def test_light_curve_errors(curves) -> None:
    from sciml.astro.lightcurve import LightCurveError

    a, b = builders.light_curve(0.5, 1), builders.light_curve(5.0, 2)
    with pytest.raises(ValueError, match="at least two classes"):
        curves.calibrate([a, b], ["x", "x"])
    with pytest.raises(ValueError, match="label is missing"):
        curves.calibrate([a, b], ["x", None])
    t, mag, err = a
    with pytest.raises(LightCurveError, match="seconds"):
        curves.calibrate([(t * 86400, mag, err), b], ["x", "y"])


def test_feature_table_prior_round_trip_and_row_checks(tmp_path) -> None:
    """A prototype prior on named feature columns: separable classes are told apart, each row
    is scored on its own, and missing columns or NaN rows are refused by name."""
    import pandas as pd
    import torch

    from sciml import load_prior
    from sciml.meta import ProtoNet
    from sciml.models import MLP, Standardize
    from sciml.prior import Prior
    from sciml.prior.domains.features import FeatureDomain

    cols = ["a", "b", "c"]
    scale = Standardize.fitted(torch.tensor([[0.0, 10.0, 100.0], [2.0, 30.0, 300.0]]))
    embed = MLP(3, (), 3)
    with torch.no_grad():
        for p in embed.parameters():
            p.copy_(torch.eye(3) if p.ndim == 2 else torch.zeros(3))  # the identity map, so the geometry is known
    path = Prior(ProtoNet(embed, n_way=2), FeatureDomain(cols, ["m", "s", "1"], "kind"), encoder=scale).save(tmp_path / "p")
    prior = load_prior(path)
    support = pd.DataFrame({"extra": 0, "a": [0.0, 0.1, 2.0, 2.1], "b": [10, 11, 30, 31], "c": [100, 99, 300, 301]})
    cal = prior.calibrate(support, labels=["low", "low", "high", "high"])
    query = pd.DataFrame({"c": [100.0, 298.0], "b": [10.5, 29.0], "a": [0.05, 1.95]})  # columns are matched by name, not position
    out = cal.predict(query)
    assert out.predicted.tolist() == ["low", "high"] and list(out.columns) == ["P(high)", "P(low)", "predicted"]
    alone = cal.predict(query.iloc[[1]])
    assert alone["P(high)"].iloc[0] == pytest.approx(out["P(high)"].iloc[1])  # row-wise: no batch effect
    with pytest.raises(KeyError, match=r"\['c'\]"):
        cal.predict(query.drop(columns="c"))
    with pytest.raises(ValueError, match=r"Row\(s\) \[1\]"):
        cal.predict(query.assign(b=[1.0, float("nan")]))
    with pytest.raises(ValueError, match=r"array \[n, 3\]"):
        cal.predict([[1.0, 2.0]])
