"""Crystal graphs (CGCNN convention), structure parsing, families and composition baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("pymatgen", reason="needs pymatgen: pip install 'sciml[materials]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[graph]'")

from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch

from sciml.materials.crystal_graph import StructureParseError, featurize_structures, structure_to_graph, to_structure
from sciml.materials.families import anion_of, family_splits, family_tasks


def _rock_salt(a: float = 5.64) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_rock_salt_neighbours_and_distances() -> None:
    g = structure_to_graph(_rock_salt())
    assert g.num_nodes == 8 and g.edge_index.shape == (2, 96)  # 12 neighbours per atom
    z = g.z
    for atom in range(8):
        mine = g.edge_index[1] == atom
        d = g.dist[mine]
        torch.testing.assert_close(d[:6], torch.full((6,), 2.82))  # 6 opposite-charge ions at a/2
        torch.testing.assert_close(d[6:], torch.full((6,), 5.64 / 2**0.5))  # then same-charge ions at a/sqrt(2)
        nbr = g.edge_index[0][mine]
        assert (z[nbr[:6]] != z[atom]).all() and (z[nbr[6:]] == z[atom]).all()
    assert int(g.short_atoms) == 0


def test_periodic_images_and_short_neighbour_lists() -> None:
    cubic = Structure(Lattice.cubic(3.0), ["Po"], [[0, 0, 0]])
    g = structure_to_graph(cubic)
    assert (g.edge_index == 0).all() and g.edge_index.shape[1] == 12  # all neighbours are images of the one atom
    torch.testing.assert_close(g.dist, torch.tensor([3.0] * 6 + [3.0 * 2**0.5] * 6))
    short = structure_to_graph(cubic, radius=3.5)
    assert short.edge_index.shape[1] == 6 and int(short.short_atoms) == 1  # kept as is, counted, not padded


def test_inputs_as_dict_cif_and_poscar_give_the_same_graph() -> None:
    s = _rock_salt()
    ref = structure_to_graph(s)
    for obj in (s.as_dict(), s.to(fmt="cif"), s.to(fmt="poscar")):
        g = structure_to_graph(obj)
        torch.testing.assert_close(torch.sort(g.dist).values, torch.sort(ref.dist).values)
        assert sorted(g.z.tolist()) == sorted(ref.z.tolist())


def test_bad_structures_are_named_and_skipped() -> None:
    bad_cif = "data_broken\n_cell_length_a 5.0\nloop_\n_atom_site_label\n"
    with pytest.raises(StructureParseError, match="mb-dielectric-0042.*CIF"):
        to_structure(bad_cif, id="mb-dielectric-0042")
    with pytest.raises(StructureParseError, match="not a pymatgen Structure"):
        to_structure({"lattice": 1}, id="x")
    out = featurize_structures([_rock_salt(), bad_cif], ids=["ok", "mb-7"], progress=False)
    assert out.rows == [0] and "mb-7" in out.skipped[1]


def test_families_and_splits_never_leak() -> None:
    assert anion_of(Structure(Lattice.cubic(4.0), ["Rb", "Zr", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]])) == "O"
    g = structure_to_graph(_rock_salt())
    fams = ["O"] * 25 + ["F"] * 21 + ["S"] * 3
    tasks = family_tasks([g] * len(fams), np.full(len(fams), 2.0), fams, min_members=20, transform=np.log10)
    assert tasks.names == ["O", "F"] and torch.allclose(tasks[0].data.y, torch.full((25, 1), float(np.log10(2.0))))
    names = [f"F{i}" for i in range(17)]
    for train, test in family_splits(names, 5, [0, 1, 2]):
        assert not set(train) & set(test) and sorted(train + test) == sorted(names) and len(test) == 5
    with pytest.raises(ValueError, match="NaN"):
        family_tasks([g, g], np.array([1.0, np.nan]), ["O", "O"], min_members=1)


def test_composition_ridge_learns_a_linear_composition_trend() -> None:
    from sciml.materials.composition import CompositionRidge
    from sciml.tasks import GraphData

    rng = np.random.default_rng(0)
    graphs = []
    for _ in range(40):
        frac = rng.uniform(0.1, 0.9)
        comp = torch.zeros(1, 101)
        comp[0, 8], comp[0, 14] = frac, 1 - frac  # O and Si
        graphs.append(structure_to_graph(_rock_salt()).update({"comp": comp}))
    y = torch.tensor([[1.0 + 2.0 * float(g.comp[0, 8])] for g in graphs])
    data = GraphData(tuple(graphs), y)
    ridge, mean = CompositionRidge(), CompositionRidge(features=False)
    (fit,), (flat,) = ridge.adapt_many([data.subset(range(20))], [0]), mean.adapt_many([data.subset(range(20))], [0])
    query = Batch.from_data_list(graphs[20:])
    err = (fit[0].predict(query) - y[20:]).abs().mean()
    assert err < 0.05 < (flat[0].predict(query) - y[20:]).abs().mean()


def test_cgcnn_output_is_independent_of_its_batch_and_trains_with_maml() -> None:
    from sciml.meta import MAML
    from sciml.models.cgcnn import CGCNN
    from sciml.tasks import GraphData, Task

    torch.manual_seed(0)
    a, b = structure_to_graph(_rock_salt()), structure_to_graph(Structure(Lattice.cubic(3.0), ["Po"], [[0, 0, 0]]))
    model = CGCNN(1, atom_dim=16, hidden=16)
    torch.testing.assert_close(model(Batch.from_data_list([a]))[0], model(Batch.from_data_list([a, b]))[0])
    data = GraphData((a, b, a, b), torch.tensor([[0.2], [0.4], [0.2], [0.4]]))
    grads, _ = MAML(model, inner_lr=0.01).meta_gradient([Task(data.subset([0, 1]), data.subset([2, 3]), name="t")])
    assert all(float(v.abs().sum()) > 0 for v in grads.values())


def test_support_mean_baseline_predicts_the_support_mean() -> None:
    pytest.importorskip("pymatgen")
    from pymatgen.core import Lattice, Structure

    from sciml.materials.composition import CompositionRidge
    from sciml.materials.crystal_graph import structure_to_graph
    from sciml.tasks import GraphData

    graphs = tuple(structure_to_graph(Structure(Lattice.cubic(4.0 + 0.3 * i), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]), 6.0, 8)
                   for i in range(5))
    data = GraphData(graphs, torch.tensor([[1.0], [2.0], [4.0], [8.0], [16.0]]))
    pred = CompositionRidge(features=False).adapt(data.subset([0, 1, 2])).predict(data.subset([3, 4]).x)
    assert torch.as_tensor(pred).reshape(-1).tolist() == pytest.approx([7 / 3, 7 / 3])
