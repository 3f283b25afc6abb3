"""Hu et al.'s pre-trained encoders: strict loading of the released files, their input
conventions (self-loops with bond type 4, CHI_OTHER), invariance, hand-derived layers, and that
the pre-trained weights carry chemistry a random encoder lacks."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit", reason="needs RDKit: pip install 'sciml[chem]'")
pytest.importorskip("torch_geometric", reason="needs torch-geometric: pip install 'sciml[graph]'")

from torch_geometric.data import Batch

from sciml.chem import smiles_to_graph
from sciml.chem.featurize import InvalidSmilesError, parse_smiles
from sciml.models.gnn import HuGNN, pretrained
from tests.conftest import data_dir

FILES = {"gcn_supervised_contextpred": "gcn", "gcn_contextpred": "gcn", "gcn_supervised": "gcn",
         "graphsage_supervised_contextpred": "graphsage", "gat_supervised_contextpred": "gat"}
ARCHS = ("gin", "gcn", "graphsage", "gat")
HOW_TO_GET = ("needs $SCIML_DATA_DIR/molecules/pretrain_gnns/ (Hu et al.'s encoders, "
              "https://github.com/snap-stanford/pretrain-gnns/tree/master/chem/model_architecture)")


def _encoders_dir():
    d = data_dir()
    if d is None or not (d / "molecules" / "pretrain_gnns").is_dir():
        pytest.skip(HOW_TO_GET)
    return d / "molecules" / "pretrain_gnns"


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_released_encoder_loads_strictly(name: str) -> None:
    path = _encoders_dir() / f"{name}.pth"
    state = torch.load(path, weights_only=True, map_location="cpu")  # the files were saved from CUDA
    model = pretrained(FILES[name], path)
    got = model.state_dict()
    assert set(model.encoder_keys()) == set(state)  # strict: no key left out on either side
    for key, value in state.items():
        assert torch.equal(got[key], value), key
    other = "gat" if FILES[name] != "gat" else "gcn"
    with pytest.raises(ValueError, match=f"does not fit a {other.upper()} encoder"):
        pretrained(other, path)


def test_a_gin_file_of_the_same_form_loads_through_the_same_path(tmp_path) -> None:
    torch.manual_seed(0)
    source = HuGNN("gin", layers=3, hidden=16)
    encoder = {k: v for k, v in source.state_dict().items() if not k.startswith("head.")}
    assert {"gnns.0.mlp.0.weight", "gnns.0.mlp.2.bias", "gnns.0.edge_embedding1.weight", "batch_norms.2.running_var",
            "x_embedding1.weight"} <= set(encoder)
    torch.save(encoder, tmp_path / "gin_supervised_contextpred.pth")
    model = pretrained("gin", tmp_path / "gin_supervised_contextpred.pth")
    assert len(model.gnns) == 3 and model.x_embedding1.weight.shape == (120, 16)
    for key, value in encoder.items():
        assert torch.equal(model.state_dict()[key], value)
    torch.save({**encoder, "extra.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="unexpected \\['extra.weight'\\]"):
        pretrained("gin", tmp_path / "bad.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a file torch reads")
    with pytest.raises(ValueError, match="not a readable torch state dict"):
        pretrained("gin", tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match="snap-stanford"):
        pretrained("gin", tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="arch must be one of"):
        HuGNN("mpnn")


def test_hu_featurizer_conventions() -> None:
    from rdkit import Chem

    from sciml.chem.featurize import _hu

    ethanol = smiles_to_graph("CCO", "hu")
    assert ethanol.x.tolist() == [[5, 0], [5, 0], [7, 0]]  # atomic number - 1, chirality
    assert ethanol.edge_attr.tolist() == [[0, 0]] * 4 and ethanol.edge_index.shape == (2, 4)
    assert smiles_to_graph("c1ccccc1", "hu").edge_attr[:, 0].unique().tolist() == [3]  # aromatic, not kekulised
    assert smiles_to_graph("C#N", "hu").edge_attr[:, 0].tolist() == [2, 2]
    assert smiles_to_graph("C[C@H](N)O", "hu").x[1, 1] != smiles_to_graph("C[C@@H](N)O", "hu").x[1, 1]
    assert {int(smiles_to_graph(s, "hu").x[1, 1]) for s in ("C[C@H](N)O", "C[C@@H](N)O")} == {1, 2}
    mol = parse_smiles("C(F)(Cl)Br")
    mol.GetAtomWithIdx(0).SetChiralTag(Chem.ChiralType.CHI_OTHER)
    x, _, _ = _hu(mol)
    assert int(x[0, 1]) == 0  # CHI_OTHER -> CHI_UNSPECIFIED: the embedding has 3 rows
    with pytest.raises(InvalidSmilesError, match="DATIVE"):
        smiles_to_graph("[NH3]->[Cu]", "hu")
    with pytest.raises(InvalidSmilesError, match="atomic number 0"):
        smiles_to_graph("*C", "hu")


@pytest.mark.parametrize("arch", ARCHS)
def test_embedding_is_invariant_to_atom_order(arch: str) -> None:
    torch.manual_seed(0)
    model = HuGNN(arch, layers=3, hidden=16).double().eval()
    smiles = "CC(=O)Nc1ccc(O)cc1"
    graph = smiles_to_graph(smiles, "hu")
    perm = torch.randperm(graph.num_nodes, generator=torch.Generator().manual_seed(1))
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(len(perm))
    shuffled = graph.clone()
    shuffled.x = graph.x[perm]
    shuffled.edge_index = inverse[graph.edge_index]
    with torch.no_grad():
        a, b = model.embed(Batch.from_data_list([graph])), model.embed(Batch.from_data_list([shuffled]))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert float(a.abs().sum()) > 0


def test_layers_against_hand_derived_values() -> None:
    """One layer on a lone atom (only its self-loop, bond features [4, 0]) and GCN on C-O."""
    torch.manual_seed(0)
    h = torch.randn(1, 8, dtype=torch.float64)
    no_edges, no_attr = torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 2, dtype=torch.long)
    for arch in ARCHS:
        layer = HuGNN(arch, layers=1, hidden=8).double().gnns[0]
        loop = layer.edge_embedding1.weight[4] + layer.edge_embedding2.weight[0]
        got = layer(h, no_edges, no_attr)
        if arch == "gin":
            want = layer.mlp(h + loop)
        elif arch == "gcn":
            want = layer.linear(h) + loop  # degree 1: weight 1
        elif arch == "graphsage":
            v = layer.linear(h) + loop
            want = v / v.norm()
        else:  # one edge: attention 1; heads averaged
            want = (layer.weight_linear(h) + loop).view(1, 2, 8).mean(1) + layer.bias
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12, msg=arch)
    gcn = HuGNN("gcn", layers=1, hidden=8).double().gnns[0]
    h2 = torch.randn(2, 8, dtype=torch.float64)
    edge_index, single = torch.tensor([[0, 1], [1, 0]]), torch.tensor([[0, 0], [0, 0]])
    e_loop = gcn.edge_embedding1.weight[4] + gcn.edge_embedding2.weight[0]
    e_bond = gcn.edge_embedding1.weight[0] + gcn.edge_embedding2.weight[0]
    x = gcn.linear(h2)  # each atom: degree 2 (its bond and its self-loop), weight 1/sqrt(2 * 2)
    want = torch.stack([(x[0] + e_loop) / 2 + (x[1] + e_bond) / 2, (x[1] + e_loop) / 2 + (x[0] + e_bond) / 2])
    torch.testing.assert_close(gcn(h2, edge_index, single), want, rtol=0, atol=1e-12)


def test_gat_attention_is_normalized_over_each_source_atom() -> None:
    """GAT on the chain 0-1-2 by explicit loops: scores per edge, softmax over the edges leaving
    the same atom (the released code's grouping), messages summed at the target, heads averaged."""
    torch.manual_seed(0)
    gat = HuGNN("gat", layers=1, hidden=4).double().gnns[0]
    h = torch.randn(3, 4, dtype=torch.float64)
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    attr = torch.tensor([[0, 0], [0, 0], [1, 0], [1, 0]])
    edges = [(0, 1, (0, 0)), (1, 0, (0, 0)), (1, 2, (1, 0)), (2, 1, (1, 0))] + [(i, i, (4, 0)) for i in range(3)]
    x = gat.weight_linear(h).view(3, 2, 4)
    msg, score = {}, {}
    for j, i, (kind, direction) in edges:
        m = x[j] + (gat.edge_embedding1.weight[kind] + gat.edge_embedding2.weight[direction]).view(2, 4)
        msg[j, i] = m
        score[j, i] = torch.nn.functional.leaky_relu((torch.cat([x[i], m], -1) * gat.att[0]).sum(-1), 0.2)
    out = torch.zeros(3, 2, 4, dtype=torch.float64)
    for j, i, _ in edges:
        norm = sum(torch.exp(score[a, b]) for a, b, _ in edges if a == j)
        out[i] += msg[j, i] * (torch.exp(score[j, i]) / norm).unsqueeze(-1)
    torch.testing.assert_close(gat(h, edge_index, attr), out.mean(1) + gat.bias, rtol=0, atol=1e-12)


def _fit_logistic(z: torch.Tensor, y: torch.Tensor, l2: float = 1e-2) -> torch.Tensor:
    """L2-regularized logistic regression by LBFGS; weights [d + 1]."""
    w = torch.zeros(z.shape[1] + 1, dtype=z.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")
    zz = torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype)], 1)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(zz @ w, y.to(z.dtype)) + l2 * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach()


def test_pretrained_encoder_separates_tox21_training_assays_better_than_random_weights() -> None:
    from sciml.chem.fewshot import SPLITS
    from sciml.data import load_moleculenet
    from sciml.evaluation.metrics import roc_auc

    path = _encoders_dir() / "gcn_supervised_contextpred.pth"
    try:
        df = load_moleculenet("tox21")
    except (FileNotFoundError, OSError) as err:
        pytest.skip(f"needs Tox21 under $SCIML_DATA_DIR/molecules ({err})")
    df = df.sample(n=1500, random_state=0)
    graphs, rows = [], []
    for i, s in enumerate(df.smiles):
        try:
            graphs.append(smiles_to_graph(s, "hu"))
            rows.append(i)
        except InvalidSmilesError:
            continue
    batch = Batch.from_data_list(graphs)
    torch.manual_seed(0)
    encoders = {"pretrained": pretrained("gcn", path).eval(), "random": HuGNN("gcn").eval()}
    with torch.no_grad():
        z = {k: m.embed(batch).double() for k, m in encoders.items()}
    train_columns = [df.attrs["tasks"][i] for i in SPLITS["tox21"][0]]  # training assays only
    aucs: dict[str, list[float]] = {"pretrained": [], "random": []}
    g = torch.Generator().manual_seed(0)
    for col in train_columns:
        labels = torch.tensor(df[col].to_numpy()[rows])
        keep = ~torch.isnan(labels)
        idx = keep.nonzero().squeeze(1)[torch.randperm(int(keep.sum()), generator=g)]
        cut = int(0.7 * len(idx))
        fit, held = idx[:cut], idx[cut:]  # held-out molecules of the same training assay
        for name, emb in z.items():
            mu, sd = emb[fit].mean(0), emb[fit].std(0).clamp_min(1e-6)
            w = _fit_logistic((emb[fit] - mu) / sd, labels[fit])
            scores = torch.cat([(emb[held] - mu) / sd, torch.ones(len(held), 1, dtype=emb.dtype)], 1) @ w
            aucs[name].append(roc_auc(scores, labels[held].long()))
    mean = {k: sum(v) / len(v) for k, v in aucs.items()}
    assert mean["pretrained"] > mean["random"] + 0.03, mean  # measured: 0.782 against 0.728
    assert mean["pretrained"] > 0.7, mean


@pytest.mark.parametrize("arch", ARCHS)
def test_encoders_meta_learn_through_the_engine(arch: str) -> None:
    from sciml.meta import MAML
    from sciml.tasks import GraphData, Task

    smiles = ["CCO", "c1ccccc1", "CC(=O)O", "N#N", "C[C@H](N)O", "O", "CCN(CC)CC", "c1ccncc1"]
    data = GraphData([smiles_to_graph(s, "hu") for s in smiles], torch.tensor([0, 1, 0, 1, 1, 0, 1, 0]))
    tasks = [Task(data.subset([0, 1, 2, 3]), data.subset([4, 5, 6, 7]), name="a"),
             Task(data.subset([4, 5, 6, 7]), data.subset([0, 1, 2, 3]), name="b")]
    torch.manual_seed(0)
    learner = MAML(HuGNN(arch, layers=2, hidden=8, norm="frozen_batch"), loss="bce", inner_lr=0.1)
    grads, loss = learner.meta_gradient(tasks)
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads.values())
    assert grads["x_embedding1.weight"].abs().sum() > 0 and grads["head.weight"].abs().sum() > 0


def test_encoder_files_are_named_or_refused(tmp_path) -> None:
    from sciml.data.pretrained_gnns import hu_encoder_file

    with pytest.raises(ValueError, match="neither a released encoder"):
        hu_encoder_file("gin_supervised_masking.pth")  # not shipped here and not a file
    odd = tmp_path / "my_encoder.pth"
    odd.write_bytes(b"")
    with pytest.raises(ValueError, match="must start with one of"):
        hu_encoder_file(odd)
    mine = tmp_path / "gin_supervised_masking.pth"
    mine.write_bytes(b"")
    assert hu_encoder_file(mine) == ("gin", mine)


@pytest.mark.parametrize("arch", ["gcn", "gat"])
def test_gradients_are_the_same_on_every_run_with_two_threads(arch: str) -> None:
    """Gathering node states by advanced indexing accumulated its gradient in a thread-dependent
    order (same seed, different numbers from run to run); the layers gather with index_select."""
    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "c1ccc2c(c1)ccc1ccccc12"]
    graphs = [smiles_to_graph(s, "hu") for s in smiles]
    batch = Batch.from_data_list([graphs[i % len(graphs)] for i in range(1024)])
    torch.manual_seed(0)
    net = HuGNN(arch, 1, layers=2, hidden=64)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        grads = []
        for _ in range(4):
            net.zero_grad()
            net(batch).square().sum().backward()
            grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    finally:
        torch.set_num_threads(before)
    for g in grads[1:]:
        assert torch.equal(g, grads[0])


def test_random_weights_keep_the_files_architecture() -> None:
    path = _encoders_dir() / "gcn_supervised_contextpred.pth"
    released = pretrained("gcn", path)
    torch.manual_seed(3)
    random = pretrained("gcn", path, weights="random")
    torch.manual_seed(3)
    by_hand = HuGNN("gcn", 1, layers=5, hidden=300)
    assert random.state_dict().keys() == released.state_dict().keys()
    for name, value in random.state_dict().items():
        assert torch.equal(value, by_hand.state_dict()[name]), name
    assert not torch.equal(random.state_dict()["x_embedding1.weight"], released.state_dict()["x_embedding1.weight"])
    with pytest.raises(ValueError, match="weights must be 'released' or 'random'"):
        pretrained("gcn", path, weights="pretrained")
