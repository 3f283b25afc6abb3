"""Every bad input once found silently accepted now raises a clear error or a named warning."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from sciml.meta import MAML, Learner, ProtoNet
from sciml.models import MLP
from sciml.models.laws import JMAK, JMAKArrhenius
from sciml.prior import CheckpointError, PlausibilityWarning
from sciml.tasks import Task, TaskSet, TensorData


def _task(x: torch.Tensor, y: torch.Tensor, name: str = "t") -> Task:
    n = len(y) // 2
    return Task(TensorData(x[:n], y[:n]), TensorData(x[n:], y[n:]), name=name)


def test_vector_targets_against_a_column_output() -> None:
    learner = MAML(MLP(1, (8,), 1))
    x, y = torch.randn(10, 1), torch.randn(10)
    with pytest.raises(ValueError, match=r"targets have shape \[5\] but the model outputs \[n, 1\].*reshape\(-1, 1\)"):
        learner.adapt(TensorData(x[:5], y[:5]))
    with pytest.raises(ValueError, match="would broadcast"):
        learner.fit([_task(x, y)], iterations=1, progress=False)


def test_column_targets_for_a_law() -> None:
    learner = MAML(JMAK(k=1e-3, n=1.5))
    t = torch.tensor([10.0, 100.0, 1000.0, 5000.0])
    with pytest.raises(ValueError, match=r"targets have shape \[4, 1\] but the model outputs \[n\].*reshape\(-1\)"):
        learner.adapt(TensorData(t, torch.tensor([[0.01], [0.1], [0.6], [0.99]])))


def test_celsius_or_room_temperature_in_a_law() -> None:
    law = JMAKArrhenius(T_ref=1573.15)
    with pytest.raises(ValueError, match="looks like Celsius"):
        law(torch.tensor([[3600.0, 240.0]]))  # below 250 K: no anneal runs there
    with pytest.raises(ValueError, match="looks like Celsius"):
        law(torch.tensor([[3600.0, 25.0]]))


def test_celsius_and_hours_through_a_prior() -> None:
    from tests.prior.builders import law_prior

    prior = law_prior()
    celsius_as_kelvin = pd.DataFrame({"time [s]": [2e4, 6e4, 2e5], "temperature [K]": [1250.0] * 3, "X": [0.1, 0.4, 0.9]})
    with pytest.warns(PlausibilityWarning, match="training range"):  # 1250 K is 123 K below what the prior has seen
        prior.calibrate(celsius_as_kelvin)
    hours_as_seconds = pd.DataFrame({"time [s]": [5.6, 16.7, 55.6], "temperature [K]": [1523.15] * 3, "X": [0.1, 0.4, 0.9]})
    with pytest.warns(PlausibilityWarning, match="hours given as seconds"):
        prior.calibrate(hours_as_seconds)


def test_empty_smiles() -> None:
    pytest.importorskip("rdkit")
    from sciml.chem.featurize import InvalidSmilesError, featurize_smiles, smiles_to_graph

    with pytest.raises(InvalidSmilesError, match="Empty SMILES"):
        smiles_to_graph("")
    mols = featurize_smiles(["CCO", "  ", "CCN"])
    assert len(mols.graphs) == 2 and 1 in mols.skipped and "Empty SMILES" in mols.skipped[1]


def test_protonet_labels_out_of_range_or_missing() -> None:
    learner = ProtoNet(MLP(2, (4,), 3), n_way=2)
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match=r"class indices must lie in 0..1"):
        learner.adapt(TensorData(x, torch.tensor([0, 1, 2, 1])))
    with pytest.raises(ValueError, match=r"class\(es\) \[1\] have no example"):
        learner.adapt(TensorData(x, torch.tensor([0, 0, 0, 0])))
    with pytest.raises(ValueError, match="class indices must lie in"):
        learner.fit([_task(torch.randn(8, 2), torch.tensor([0, 1, 2, 0, 0, 1, 0, 1]))], iterations=1, progress=False)


def test_light_curve_times_in_seconds() -> None:
    pytest.importorskip("astropy")
    from sciml.astro.lightcurve import LightCurve, LightCurveError, find_period

    t = np.sort(np.random.default_rng(0).uniform(0, 200, 80))
    lc = LightCurve(t * 86400.0, 12 + np.sin(2 * np.pi * t / 0.7), None, name="star")
    with pytest.raises(LightCurveError, match="seconds"):
        find_period(lc)


def test_missing_cif_path() -> None:
    pytest.importorskip("pymatgen")
    from sciml.materials.crystal_graph import StructureParseError, to_structure

    with pytest.raises(StructureParseError, match="no file at 'nowhere/NaCl.cif'"):
        to_structure("nowhere/NaCl.cif")


def test_unknown_key_in_learner_json(tmp_path) -> None:
    path = MAML(MLP(1, (4,), 1)).save(tmp_path / "l")
    doc = json.loads((path / "learner.json").read_text())
    doc["config"]["innner_lr"] = 0.1
    (path / "learner.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="unknown key 'innner_lr'.*did you mean 'inner_lr'"):
        Learner.load(path)


def test_taskset_from_the_loaders_own_table() -> None:
    from sciml.data import load_recrystallization, reference_file

    if reference_file("kinetics/tungsten_recrystallization/yu_data/data.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding kinetics/tungsten_recrystallization/")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        df = load_recrystallization()
    tasks = TaskSet.from_dataframe(df, x=["time_s", "temperature_K"], y="X", units={"time_s": "s", "temperature_K": "K", "X": "1"},
                                   group="material")
    assert sorted(tasks.names) == sorted(df.material.unique())
    first = tasks[0]
    rows = df[df.material == tasks.names[0]]
    np.testing.assert_allclose(first.data.x[:, 0].numpy(), rows.time_s.to_numpy(), rtol=1e-6)
