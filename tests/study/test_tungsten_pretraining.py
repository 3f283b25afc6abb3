"""A tungsten learner table can meta-train first on synthetic alloys, once per study."""

from __future__ import annotations

import copy

import pytest
import torch

from sciml.study.kinds.jmak_tungsten import DEFAULTS, _factories


def test_synthetic_pretraining_moves_the_start_once_for_every_held_out_material() -> None:
    cfg = copy.deepcopy(DEFAULTS)
    cfg["train"].update(iterations=3, query_size=5)
    maml = dict(DEFAULTS["learners"]["MAML"])
    made = _factories(cfg, {"plain": maml, "pretrained": {**maml, "pretrain_alloys": 6, "pretrain_iterations": 20}})
    plain, first, second = made["plain"](), made["pretrained"](), made["pretrained"]()
    p, a, b = plain.state_dict(), first.state_dict(), second.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same pre-trained start for every held-out material
    moved = [k for k in a if not torch.allclose(a[k], p[k])]
    assert moved  # 20 meta-iterations on synthetic alloys moved the start away from the nominal law
    with pytest.raises(ValueError, match="material level only"):
        _factories(cfg, {"iso": {**maml, "pretrain_alloys": 6}}, isothermal=True)["iso"]()
