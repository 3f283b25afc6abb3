"""Simulated classes, the phase CNN, and nearest centroid as a ProtoNet without learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("astropy", reason="the period search needs astropy: pip install 'sciml[astro]'")

from sciml.astro import find_period
from sciml.astro.dataset import simulated_pool
from sciml.astro.simulate import CLASSES, simulate
from sciml.meta import ProtoNet
from sciml.models import PhaseCNN
from sciml.tasks import EpisodeSampler


@pytest.mark.parametrize("name", ["RR_Lyrae_ab", "Classical_Cepheid", "Delta_Scuti", "Mira"])
def test_simulated_periods_are_recovered(name: str) -> None:
    lc, truth = simulate(name, np.random.default_rng(3))
    found = find_period(lc, min_period=0.02)
    assert abs(1 / found - 1 / truth["period"]) < 0.2 / lc.baseline
    lo, hi = CLASSES[name].period_d
    assert lo <= truth["period"] <= hi


def test_simulated_pool_and_cnn_shapes() -> None:
    pool = simulated_pool(per_class=4, n_bins=32, seed=1)
    assert pool.phase.shape == (4 * len(CLASSES), 32) and np.isfinite(pool.phase).all()
    cnn = PhaseCNN(channels=(8,), out_features=6)
    out = cnn(torch.tensor(pool.phase, dtype=torch.float32))
    assert out.shape == (len(pool.names), 6)
    shifted = cnn(torch.roll(torch.tensor(pool.phase[:2], dtype=torch.float32), 5, dims=1))
    assert torch.allclose(shifted, out[:2], atol=1e-5)  # circular convolutions + global pooling: phase-shift invariant


def test_nearest_centroid_is_protonet_without_learning() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(6).repeat_interleave(10)
    x = torch.randn(60, 3, generator=g) + 3 * torch.nn.functional.one_hot(y % 3, 3).float()
    ep = EpisodeSampler(x, y, range(6), n_way=3, k_shot=2, n_query=4).sample(g)
    logits = ProtoNet(nn.Identity(), n_way=3).adapt(ep).predict(ep.query.x)
    centroids = torch.stack([ep.support.x[ep.support.y == c].mean(0) for c in range(3)])
    assert torch.equal(logits.argmax(-1), torch.cdist(ep.query.x, centroids).argmin(-1))


def test_rr_lyrae_from_sesar_templates() -> None:
    from sciml.data import reference_file

    if reference_file("astro/rrlyrae_templates/RRLyr_ugriz_templates.tar.gz") is None:
        pytest.skip("needs the reference data: set SCIML_DATA_DIR to the folder holding astro/rrlyrae_templates/")
    from sciml.astro.simulate import SesarTemplates
    from sciml.data.astro import load_sesar_templates

    templates = SesarTemplates(*load_sesar_templates("g"))
    assert len(templates.stars) == 483 and set(templates.stars.type) == {"ab", "c"}
    lc, truth = simulate("RR_Lyrae_c", np.random.default_rng(0), rrlyrae=templates)
    assert truth["period"] in set(templates.stars.P)
    assert abs(1 / find_period(lc, min_period=0.1) - 1 / truth["period"]) < 0.1 / lc.baseline
