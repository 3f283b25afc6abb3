"""Siamese networks: nearest-support logits and contrastive meta-gradients (vmapped and looped)
against plain loops over pairs, learning on separable classes, and the contract's refusals."""

from __future__ import annotations

import pytest
import torch

from sciml import settings
from sciml.meta import SiameseNet
from sciml.models import MLP
from sciml.tasks import EpisodeSampler, TensorData

MARGIN = 1.5


def _episodes(n: int = 3, spread: float = 1.0):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(5).repeat_interleave(12)
    x = torch.randn(60, 4, generator=g, dtype=torch.float64) + spread * y[:, None].double()
    return EpisodeSampler(x, y, classes=range(5), n_way=3, k_shot=2, n_query=2).sample_batch(n, g)


def _learner() -> SiameseNet:
    torch.manual_seed(0)
    return SiameseNet(MLP(4, (8,), 3, activation="tanh").double(), n_way=3, margin=MARGIN, meta_batch_size=3)


def _reference_loss(embed, sx, sy, qx, qy) -> torch.Tensor:
    """Hadsell et al. (2006) over every (query, support) pair, one pair at a time."""
    terms = []
    for i in range(len(qx)):
        for j in range(len(sx)):
            d = torch.linalg.vector_norm(embed(qx[i:i + 1])[0] - embed(sx[j:j + 1])[0])
            terms.append(0.5 * d**2 if qy[i] == sy[j] else 0.5 * torch.clamp(MARGIN - d, min=0) ** 2)
    return torch.stack(terms).mean()


def test_a_query_takes_the_class_of_its_nearest_support_example() -> None:
    learner = _learner()
    ep = _episodes(1)[0]
    logits = learner.adapt(ep.support).predict(ep.query.x)
    embed = learner.model
    with torch.no_grad():
        d2 = torch.cdist(embed(ep.query.x), embed(ep.support.x)) ** 2
    for i in range(len(ep.query.x)):
        for c in range(3):
            assert logits[i, c].item() == pytest.approx(-d2[i, ep.support.y == c].min().item(), rel=1e-9, abs=1e-12)


def test_meta_gradient_matches_a_loop_over_pairs() -> None:
    learner = _learner()
    episodes = _episodes(3)
    got, _ = learner.meta_gradient(episodes)
    with settings.vmap_tasks(False):
        looped, _ = learner.meta_gradient(episodes)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in learner.model.named_parameters()}

    def embed(x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(learner.model, params, (x,))

    total = sum(_reference_loss(embed, ep.support.x, ep.support.y, ep.query.x, ep.query.y) for ep in episodes) / len(episodes)
    ref = dict(zip(params, torch.autograd.grad(total, list(params.values()))))
    assert set(got) == set(ref)
    for name, g in ref.items():
        assert torch.allclose(got[name], g, atol=1e-10), (name, (got[name] - g).abs().max())
        assert torch.allclose(looped[name], g, atol=1e-10), name


def test_it_learns_to_separate_classes() -> None:
    g = torch.Generator().manual_seed(1)
    # the class sits in 2 of 4 inputs; the other 2 carry loud noise an untrained encoder mixes in
    y = torch.arange(6).repeat_interleave(20)
    centres = torch.cat([torch.randn(6, 2, generator=g, dtype=torch.float64) * 2, torch.zeros(6, 2, dtype=torch.float64)], 1)
    x = centres[y] + torch.randn(120, 4, generator=g, dtype=torch.float64) * torch.tensor([0.3, 0.3, 4.0, 4.0], dtype=torch.float64)
    train = EpisodeSampler(x, y, classes=range(3), n_way=3, k_shot=2, n_query=4)
    test = EpisodeSampler(x, y, classes=range(3, 6), n_way=3, k_shot=2, n_query=6).sample_batch(20, torch.Generator().manual_seed(2))

    def accuracy(learner: SiameseNet) -> float:
        return sum(float((learner.adapt(ep.support).predict(ep.query.x).argmax(1) == ep.query.y).double().mean()) for ep in test) / 20

    torch.manual_seed(0)
    learner = SiameseNet(MLP(4, (8,), 3, activation="tanh").double(), n_way=3, margin=MARGIN, meta_batch_size=3, outer_lr=0.01)
    before = accuracy(learner)  # 0.31 here: the noise inputs dominate the random embedding
    learner.fit(train, iterations=150, progress=False)
    after = accuracy(learner)  # 0.73 here, on classes never seen in training
    assert after > before + 0.25, (before, after)


def test_refusals() -> None:
    learner = _learner()
    x = torch.randn(4, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="no example"):
        learner.adapt(TensorData(x, torch.tensor([0, 1, 0, 1])))
    with pytest.raises(ValueError, match="0..2"):
        learner.adapt(TensorData(x, torch.tensor([0, 1, 2, 3])))
    with pytest.raises(ValueError, match="margin must be > 0"):
        SiameseNet(MLP(4, (8,), 3), n_way=3, margin=0.0)
