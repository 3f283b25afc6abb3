"""Materials protocols: a user's structure table, family splits, and leave-one-group-out
calibration that never trains on the held-out material."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from sciml.materials.benchmark import leave_one_group_out
from sciml.materials.family_benchmark import held_out_family_splits, load_structure_table
from sciml.materials.recrystallization import material_tasks
from sciml.materials.synthetic_alloys import SyntheticAlloyFamily
from sciml.meta.tables import build_learner
from sciml.models.laws import JMAKArrhenius
from sciml.tasks import GraphData, Task, TaskSet
from tests.prior.builders import structure


def _write_table(root: Path, targets: list[str]) -> Path:
    for i in range(len(targets)):
        structure(4.0 + 0.2 * i).to(filename=str(root / f"s{i}.cif"))
    path = root / "mine.csv"
    pd.DataFrame({"structure": [f"s{i}.cif" for i in range(len(targets))], "target": targets}).to_csv(path, index=False)
    return path


def test_a_users_structure_table_is_read_with_its_files(tmp_path: Path) -> None:
    df = load_structure_table(_write_table(tmp_path, ["1.5", "2.0", "2.5"]))
    assert list(df.columns) == ["id", "structure", "target"] and df.target.tolist() == [1.5, 2.0, 2.5]
    assert df.structure[2].lattice.a == pytest.approx(4.4) and len(df.attrs["sha256"]) == 64


def test_structure_table_errors_name_the_line_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"line\(s\) \[3\]"):
        load_structure_table(_write_table(tmp_path, ["1.5", "n/a"]))
    pd.DataFrame({"structure": ["s0.cif", "missing.cif"], "target": [1.0, 2.0]}).to_csv(tmp_path / "gone.csv", index=False)
    with pytest.raises(ValueError, match=r"gone.csv, line 3: .*missing.cif"):
        load_structure_table(tmp_path / "gone.csv")
    pd.DataFrame({"cif": ["s0.cif"]}).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(ValueError, match=r"\['structure', 'target'\] not found"):
        load_structure_table(tmp_path / "cols.csv")


def test_family_splits_keep_test_validation_and_training_apart() -> None:
    def family(name: str, size: int) -> Task:
        data = GraphData(tuple(range(size)), torch.zeros(size))
        return Task(data, GraphData.empty_like(data), name=name, group=name)

    tasks = TaskSet(family(n, s) for n, s in [("O", 60), ("S", 40), ("F", 12), ("Cl", 30), ("Br", 8), ("N", 25)])
    splits = held_out_family_splits(tasks, n_test=2, seeds=[0, 1, 2], min_members=25, val_families=1)
    for s in splits:
        train, val, test = set(s.train.names), set(s.val.names), set(s.test.names)
        assert not (train & val or train & test or val & test) and train | val | test == set(tasks.names)
        assert len(test) == 2 and test <= {"O", "S", "Cl", "N"} and len(val) == 1  # only families with >= 25 members are tested
    again = held_out_family_splits(tasks, n_test=2, seeds=[0, 1, 2], min_members=25, val_families=1)
    assert [s.describe() for s in splits] == [s.describe() for s in again]  # seeded
    assert len({s.describe() for s in splits}) > 1


def test_leave_one_group_out_never_trains_on_the_held_out_material() -> None:
    isotherms = SyntheticAlloyFamily(points_per_isotherm=8, temperatures_per_alloy=3).tasks(4, seed=0)
    df = pd.DataFrame([{"dataset": t.group, "material": t.group, "source_paper": "synthetic", "time_s": float(x[0]),
                        "temperature_K": float(x[1]), "X": float(y)} for t in isotherms for x, y in zip(t.data.x, t.data.y)])
    materials = material_tasks(df)
    seen: list[tuple[str, set[str]]] = []
    law = JMAKArrhenius(T_ref=1000.0, k_ref=1e-3, Q=300.0, n=1.5).double()

    def make():
        learner = build_learner("MAML", {"class": "PriorMAP"}, JMAKArrhenius(T_ref=1000.0, k_ref=1e-3, Q=300.0, n=1.5).double())[0]
        original = learner.fit

        def fit(train, *args, **kwargs):
            seen.append(("fit", set(train.groups)))
            return original(train, *args, **kwargs)

        learner.fit = fit
        return learner

    bench = leave_one_group_out(materials, {"MAP": make}, law=law, fit={"iterations": 1, "shots": [3], "query_size": 3, "seed": 0},
                                shots=[3], designs=["early"], dataset="toy")
    assert len(seen) == len(materials)
    for (_, groups), held in zip(seen, materials.groups):
        assert held not in groups and len(groups) == len(materials) - 1
    assert set(bench.results.group) == set(materials.groups) and set(bench.results.dataset) == {"toy:early"}
