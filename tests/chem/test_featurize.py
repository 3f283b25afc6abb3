"""Molecule featurization and the MoleculeNet loader."""

from __future__ import annotations

import pytest

pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[chem]'")

from sciml.chem import InvalidSmilesError, featurize_smiles, smiles_to_graph
from sciml.data import reference_file
from sciml.data.moleculenet import load_moleculenet


def test_simple_features_of_known_molecules() -> None:
    ethanol = smiles_to_graph("CCO")
    assert ethanol.x.tolist() == [[5, 0], [5, 0], [7, 0]]  # C, C, O (atomic number - 1), no chirality
    assert ethanol.edge_index.shape == (2, 4) and ethanol.edge_attr.tolist() == [[0, 0]] * 4  # 2 single bonds, both ways
    benzene = smiles_to_graph("c1ccccc1")
    assert benzene.x.shape == (6, 2) and benzene.edge_index.shape == (2, 12)
    assert set(benzene.edge_attr[:, 0].tolist()) == {3}  # aromatic
    chiral = smiles_to_graph("C[C@H](N)O")
    assert chiral.x[1, 1].item() in (1, 2)


def test_ogb_features() -> None:
    g = smiles_to_graph("c1ccncc1", "ogb")
    assert g.x.shape == (6, 9) and g.edge_attr.shape == (12, 3)
    assert g.x[:, 7].tolist() == [1] * 6 and g.x[:, 8].tolist() == [1] * 6  # aromatic, in ring
    assert sorted(g.x[:, 0].tolist()) == [5] * 5 + [6]  # five C, one N


def test_invalid_smiles_reported_with_row_and_reason() -> None:
    with pytest.raises(InvalidSmilesError, match="syntax error"):
        smiles_to_graph("C1CC(")
    out = featurize_smiles(["CCO", "C1CC(", "N"])
    assert out.rows == [0, 2] and list(out.skipped) == [1] and "C1CC(" in out.skipped[1]
    with pytest.raises(ValueError, match="Unknown featurizer"):
        smiles_to_graph("C", "ecfp")


def test_moleculenet_tables() -> None:
    if reference_file("molecules/tox21.csv") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding molecules/")
    tox = load_moleculenet("tox21")
    assert len(tox) == 7831 and tox.attrs["tasks"][9:] == ["SR-HSE", "SR-MMP", "SR-p53"]
    sider = load_moleculenet("SIDER")
    assert len(sider.attrs["tasks"]) == 27
    esol = load_moleculenet("esol")
    assert list(esol.columns) == ["smiles", "measured log solubility in mols per litre"]
    with pytest.raises(KeyError, match="choose from"):
        load_moleculenet("qm9")


def test_hu_chirality_and_bond_conventions_by_hand() -> None:
    # CHI_OTHER and any tag beyond CW/CCW read as unspecified; E/Z directions 1 and 2.
    g = smiles_to_graph("F/C=C/F", "hu")
    assert g.x.tolist() == [[8, 0], [5, 0], [5, 0], [8, 0]]
    # bonds F-C (dir ENDUPRIGHT), C=C (none), C-F (ENDUPRIGHT): each listed both ways
    assert g.edge_attr.tolist() == [[0, 1], [0, 1], [1, 0], [1, 0], [0, 1], [0, 1]]
    assert g.edge_index.tolist() == [[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]]
    assert smiles_to_graph("F/C=C\\F", "hu").edge_attr[4].tolist() == [0, 2]  # ENDDOWNRIGHT
    assert smiles_to_graph("N#N", "hu").edge_attr.tolist() == [[2, 0], [2, 0]]
    with pytest.raises(InvalidSmilesError, match="DATIVE"):
        smiles_to_graph("N->[Fe]", "hu")
    with pytest.raises(InvalidSmilesError, match="atomic number 0"):
        smiles_to_graph("*C", "hu")
    assert smiles_to_graph("*C", "simple").x[0, 0].item() == 118  # the dummy atom's own row in the simple featurizer


def test_worker_processes_give_the_same_graphs_in_the_same_order() -> None:
    smiles = [("C" * (1 + i % 7)) + ("O" if i % 3 else "N") for i in range(700)]
    for bad in (5, 300, 699):
        smiles[bad] = "C1CC("
    one = featurize_smiles(smiles, "hu", workers=1)
    two = featurize_smiles(smiles, "hu", workers=2)
    assert one.rows == two.rows == [i for i in range(700) if i not in (5, 300, 699)]
    assert one.skipped.keys() == two.skipped.keys() == {5, 300, 699}
    for a, b in zip(one.graphs, two.graphs):
        assert a.smiles == b.smiles and a.x.equal(b.x) and a.edge_index.equal(b.edge_index) and a.edge_attr.equal(b.edge_attr)
    assert one.graphs[one.rows.index(6)].x.tolist() == [[5, 0]] * 7 + [[6, 0]]  # row 6: seven carbons then a nitrogen
    with pytest.raises(ValueError, match="workers must be at least 1"):
        featurize_smiles(smiles, workers=0)
