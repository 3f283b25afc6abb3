"""Relation Networks and transductive prototypes against references written with explicit loops
(one query, one class at a time), meta-gradients (vmapped and looped) against plain autograd on
those references, and the refusals."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sciml import settings
from sciml.meta import ProtoNet, RelationNet, SiameseNet
from sciml.models import MLP
from sciml.tasks import EpisodeSampler, TensorData


def _episodes(n: int = 3, k_shot: int = 2):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(5).repeat_interleave(12)
    x = torch.randn(60, 4, generator=g, dtype=torch.float64) + y[:, None].double()
    return EpisodeSampler(x, y, classes=range(5), n_way=3, k_shot=k_shot, n_query=3).sample_batch(n, g)


def _relation_net(loss: str = "mse", pairs: str = "concat") -> RelationNet:
    torch.manual_seed(0)
    return RelationNet(MLP(4, (8,), 5, activation="tanh").double(), n_way=3, embedding_dim=5, hidden=7, loss=loss, pairs=pairs)


def _reference_scores(enc, params, w1, b1, w2, b2, sx, sy, qx, n_way, pairs="concat"):
    """Sung et al.'s relation score, one (query, class) pair at a time; with ``pairs="difference"``
    the module reads ``[|q - p|, q * p]`` instead of ``[q, p]``."""
    f = lambda x: torch.func.functional_call(enc, params, (x,))
    support, query = f(sx), f(qx)
    rows = []
    for q in query:
        row = []
        for c in range(n_way):
            p = support[sy == c].mean(0)
            pair = torch.cat([q, p]) if pairs == "concat" else torch.cat([torch.abs(q - p), q * p])
            row.append(w2 @ torch.relu(w1 @ pair + b1) + b2)
        rows.append(torch.cat(row))
    return torch.stack(rows)


def _reference_loss(scores, qy, loss):
    if loss == "mse":
        target = torch.zeros_like(scores)
        target[torch.arange(len(qy)), qy] = 1.0
        return ((torch.sigmoid(scores) - target) ** 2).mean()
    return -torch.log_softmax(scores, -1)[torch.arange(len(qy)), qy].mean()


def _relation_leaves(learner):
    r = learner.relation
    return [r.hidden.weight, r.hidden.bias, r.score.weight[0], r.score.bias]


@pytest.mark.parametrize("pairs", ["concat", "difference"])
def test_relation_scores_match_reference(pairs: str) -> None:
    learner = _relation_net(pairs=pairs)
    ep = _episodes(1)[0]
    ref = _reference_scores(learner.model, dict(learner.model.named_parameters()), *_relation_leaves(learner), ep.support.x,
                            ep.support.y, ep.query.x, 3, pairs)
    got = learner.adapt(ep.support).predict(ep.query.x)
    assert got.shape == (9, 3)
    assert torch.allclose(got, ref, atol=1e-12), (got - ref).abs().max()


@pytest.mark.parametrize(("loss", "pairs"), [("mse", "concat"), ("cross_entropy", "concat"), ("cross_entropy", "difference")])
def test_relation_meta_gradient_matches_reference(loss: str, pairs: str) -> None:
    learner = _relation_net(loss, pairs)
    episodes = _episodes(3)
    got, _ = learner.meta_gradient(episodes)
    with settings.vmap_tasks(False):
        looped, _ = learner.meta_gradient(episodes)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in learner.model.named_parameters()}
    rel = {f"relation:{n}": p.detach().clone().requires_grad_(True) for n, p in learner.relation.named_parameters()}
    w1, b1, w2, b2 = (rel["relation:hidden.weight"], rel["relation:hidden.bias"], rel["relation:score.weight"],
                      rel["relation:score.bias"])
    total = sum(_reference_loss(_reference_scores(learner.model, params, w1, b1, w2[0], b2, ep.support.x, ep.support.y, ep.query.x, 3,
                                                  pairs),
                                ep.query.y, loss) for ep in episodes) / len(episodes)
    leaves = {**params, **rel}
    ref = dict(zip(leaves, torch.autograd.grad(total, list(leaves.values()))))
    assert set(got) == set(ref)
    for name, g in ref.items():
        assert torch.allclose(got[name], g, atol=1e-10), (name, (got[name] - g).abs().max())
        assert torch.allclose(looped[name], g, atol=1e-10), name


@pytest.mark.parametrize("pairs", ["concat", "difference"])
def test_relation_module_trains_and_saves(tmp_path, pairs: str) -> None:
    learner = _relation_net(pairs=pairs)
    before = learner.relation.score.weight.detach().clone()
    eps = _episodes(8)
    learner.fit(eps, iterations=5, progress=False)
    assert not torch.equal(before, learner.relation.score.weight)  # the comparison itself is meta-learned
    ep = eps[0]
    learner.save(tmp_path / "rn")
    again = RelationNet.load(tmp_path / "rn")
    assert again.pairs == pairs
    assert torch.allclose(again.adapt(ep.support).predict(ep.query.x), learner.adapt(ep.support).predict(ep.query.x))


def test_relation_refusals() -> None:
    x = torch.randn(4, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="embedding_dim"):
        RelationNet(MLP(4, (8,), 6).double(), n_way=3, embedding_dim=5).adapt(TensorData(x[:3], torch.tensor([0, 1, 2])))
    with pytest.raises(ValueError, match="loss"):
        RelationNet(nn.Identity(), n_way=3, embedding_dim=4, loss="hinge")
    with pytest.raises(ValueError, match="pairs must be one of"):
        RelationNet(nn.Identity(), n_way=3, embedding_dim=4, pairs="sum")
    with pytest.raises(ValueError, match="no example"):
        _relation_net().adapt(TensorData(x, torch.tensor([0, 1, 0, 1])))
    with pytest.raises(ValueError, match="transductive_steps"):
        RelationNet(nn.Identity(), n_way=3, embedding_dim=4, transductive_steps=1)
    with pytest.raises(ValueError, match="transductive_steps"):
        SiameseNet(nn.Identity(), n_way=3, transductive_steps=1)
    with pytest.raises(ValueError, match="whole number"):
        ProtoNet(nn.Identity(), n_way=3, transductive_steps=-1)


def _reference_refined_logits(z_support, sy, z_query, n_way, steps):
    """Ren et al. (2018), eq. 5, with explicit sums over classes and queries."""
    base = [z_support[sy == c].mean(0) for c in range(n_way)]
    counts = [float((sy == c).sum()) for c in range(n_way)]
    protos = list(base)
    for _ in range(steps):
        new = []
        d = torch.stack([torch.stack([-((q - p) ** 2).sum() for p in protos]) for q in z_query])
        w = torch.softmax(d, dim=1)
        for c in range(n_way):
            num = counts[c] * base[c] + sum(w[j, c] * z_query[j] for j in range(len(z_query)))
            new.append(num / (counts[c] + w[:, c].sum()))
        protos = new
    return torch.stack([torch.stack([-((q - p) ** 2).sum() for p in protos]) for q in z_query])


@pytest.mark.parametrize("steps", [1, 3])
def test_transductive_prototypes_match_soft_kmeans(steps: int) -> None:
    torch.manual_seed(0)
    learner = ProtoNet(MLP(4, (8,), 5, activation="tanh").double(), n_way=3, transductive_steps=steps)
    ep = _episodes(1, k_shot=3)[0]
    with torch.no_grad():
        ref = _reference_refined_logits(learner.model(ep.support.x), ep.support.y, learner.model(ep.query.x), 3, steps)
    got = learner.adapt(ep.support).predict(ep.query.x)
    assert torch.allclose(got, ref, atol=1e-12), (got - ref).abs().max()
    # transductive: a query's logits depend on the rest of the batch, the inductive ProtoNet's do not
    alone = learner.adapt(ep.support).predict(ep.query.x[:1])
    assert not torch.allclose(alone, got[:1])
    inductive = ProtoNet(learner.model, n_way=3)
    assert torch.allclose(inductive.adapt(ep.support).predict(ep.query.x[:1]), inductive.adapt(ep.support).predict(ep.query.x)[:1])


def test_transductive_meta_gradient_matches_reference() -> None:
    torch.manual_seed(0)
    learner = ProtoNet(MLP(4, (8,), 5, activation="tanh").double(), n_way=3, transductive_steps=2)
    episodes = _episodes(3)
    got, _ = learner.meta_gradient(episodes)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in learner.model.named_parameters()}
    f = lambda x: torch.func.functional_call(learner.model, params, (x,))
    total = sum(torch.nn.functional.cross_entropy(_reference_refined_logits(f(ep.support.x), ep.support.y, f(ep.query.x), 3, 2),
                                                  ep.query.y) for ep in episodes) / len(episodes)
    ref = dict(zip(params, torch.autograd.grad(total, list(params.values()))))
    for name, g in ref.items():
        assert torch.allclose(got[name], g, atol=1e-10), (name, (got[name] - g).abs().max())
