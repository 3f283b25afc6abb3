"""Matching Networks: attention and full-context embeddings against a reference written with
torch's own ``nn.LSTMCell``, meta-gradients (vmapped and looped) against plain autograd on that
reference, and the contract's refusals."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sciml import settings
from sciml.meta import MatchingNet
from sciml.models import MLP
from sciml.tasks import EpisodeSampler, TensorData


def _torch_cell(cell) -> nn.LSTMCell:
    """torch's LSTM cell with the weights of one of ours (same gate order i, f, g, o)."""
    ref = nn.LSTMCell(cell.input_gates.in_features, cell.hidden_gates.in_features).double()
    with torch.no_grad():
        ref.weight_ih.copy_(cell.input_gates.weight)
        ref.bias_ih.copy_(cell.input_gates.bias)
        ref.weight_hh.copy_(cell.hidden_gates.weight)
        ref.bias_hh.zero_()
    return ref


def _reference_log_probs(enc, params, ctx, temperature, sx, sy, qx, n_way, steps):
    """Vinyals et al. (2016), appendix A.2, written with ``nn.LSTMCell`` and explicit loops."""
    g0 = torch.func.functional_call(enc, params, (sx,))
    f0 = torch.func.functional_call(enc, params, (qx,))
    if ctx is not None:
        fwd, bwd, att = ctx
        d = g0.shape[1]
        h = c = torch.zeros(1, d, dtype=g0.dtype)
        ahead = []
        for i in range(len(g0)):
            h, c = fwd(g0[i:i + 1], (h, c))
            ahead.append(h[0])
        h = c = torch.zeros(1, d, dtype=g0.dtype)
        behind = [None] * len(g0)
        for i in reversed(range(len(g0))):
            h, c = bwd(g0[i:i + 1], (h, c))
            behind[i] = h[0]
        g = g0 + torch.stack(ahead) + torch.stack(behind)
        rows = []
        for j in range(len(f0)):
            fj = f0[j:j + 1]
            h = c = torch.zeros(1, 2 * d, dtype=g0.dtype)
            for _ in range(steps):
                h_hat, c = att(fj, (h, c))
                out = h_hat[:, :d] + fj
                read = torch.softmax(out @ g.T, dim=-1) @ g
                h = torch.cat([out, read], dim=-1)
            rows.append(out[0])
        f = torch.stack(rows)
    else:
        g, f = g0, f0
    cos = torch.stack([torch.stack([F.cosine_similarity(fi, gi, dim=0) for gi in g]) for fi in f])
    attention = torch.softmax(temperature * cos, dim=-1)
    onehot = F.one_hot(sy, n_way).double()
    return torch.log(attention @ onehot)


def _episodes(n: int = 3):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(5).repeat_interleave(12)
    x = torch.randn(60, 4, generator=g, dtype=torch.float64) + y[:, None].double()
    return EpisodeSampler(x, y, classes=range(5), n_way=3, k_shot=2, n_query=2).sample_batch(n, g)


def _learner(fce: bool) -> MatchingNet:
    torch.manual_seed(0)
    return MatchingNet(MLP(4, (8,), 6, activation="tanh").double(), n_way=3, fce_dim=6 if fce else None, fce_steps=2,
                       temperature=5.0)


@pytest.mark.parametrize("fce", [False, True])
def test_log_probs_match_reference(fce: bool) -> None:
    learner = _learner(fce)
    ep = _episodes(1)[0]
    ctx = None
    if fce:
        c = learner.context
        ctx = (_torch_cell(c.forward_reader), _torch_cell(c.backward_reader), _torch_cell(c.attention_reader))
    params = dict(learner.model.named_parameters())
    ref = _reference_log_probs(learner.model, params, ctx, 5.0, ep.support.x, ep.support.y, ep.query.x, 3, 2)
    got = learner.adapt(ep.support).predict(ep.query.x)
    assert torch.allclose(got, ref, atol=1e-10), (got - ref).abs().max()
    assert torch.allclose(got.exp().sum(-1), torch.ones(len(got), dtype=torch.float64))


def test_meta_gradient_matches_reference() -> None:
    learner = _learner(fce=True)
    episodes = _episodes(3)
    got, _ = learner.meta_gradient(episodes)
    with settings.vmap_tasks(False):
        looped, _ = learner.meta_gradient(episodes)
    c = learner.context
    cells = {"forward_reader": _torch_cell(c.forward_reader), "backward_reader": _torch_cell(c.backward_reader),
             "attention_reader": _torch_cell(c.attention_reader)}
    params = {n: p.detach().clone().requires_grad_(True) for n, p in learner.model.named_parameters()}
    log_t = learner.log_temperature.detach().clone().requires_grad_(True)
    total = 0.0
    for ep in episodes:
        lp = _reference_log_probs(learner.model, params, tuple(cells.values()), log_t.exp(), ep.support.x, ep.support.y,
                                  ep.query.x, 3, 2)
        total = total + F.nll_loss(lp, ep.query.y)
    total = total / len(episodes)
    leaves = {**params, "matching:log_temperature": log_t}
    for name, cell in cells.items():  # torch's names -> ours (bias_hh is fixed at zero in ours)
        leaves[f"matching:context.{name}.input_gates.weight"] = cell.weight_ih
        leaves[f"matching:context.{name}.input_gates.bias"] = cell.bias_ih
        leaves[f"matching:context.{name}.hidden_gates.weight"] = cell.weight_hh
    ref = dict(zip(leaves, torch.autograd.grad(total, list(leaves.values()))))
    assert set(got) == set(ref)
    for name, g in ref.items():
        assert torch.allclose(got[name], g, atol=1e-9), (name, (got[name] - g).abs().max())
        assert torch.allclose(looped[name], g, atol=1e-9), name


def test_refusals() -> None:
    learner = _learner(fce=True)
    x = torch.randn(4, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="no example"):
        learner.adapt(TensorData(x, torch.tensor([0, 1, 0, 1])))  # class 2 missing
    with pytest.raises(ValueError, match="0..2"):
        learner.adapt(TensorData(x, torch.tensor([0, 1, 2, 3])))
    with pytest.raises(TypeError, match="int64"):
        learner.adapt(TensorData(x, torch.tensor([0.0, 1.0, 2.0, 1.0], dtype=torch.float64)))
    with pytest.raises(ValueError, match="fce_dim"):
        MatchingNet(MLP(4, (8,), 5).double(), n_way=3, fce_dim=6).adapt(TensorData(x[:3], torch.tensor([0, 1, 2])))
    with pytest.raises(ValueError, match="n_way"):
        MatchingNet(nn.Identity(), n_way=1)
