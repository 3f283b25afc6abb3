"""A learner factory can start every learner meta-trained on synthetic alloys, trained once."""

from __future__ import annotations

import pytest
import torch

from sciml.materials.benchmark import pretrained_on_synthetic
from sciml.materials.synthetic_alloys import SyntheticAlloyFamily
from sciml.meta import MAML
from sciml.models.laws import JMAK

GN = {"inner_optimizer": "gauss_newton", "inner_lr": 1.0, "inner_steps": 10, "inner_damping": 0.01, "inner_prior_precision": 0.01}
FIT = {"iterations": 20, "shots": [2, 3, 5, 8], "query_size": 5, "seed": 0}


def _maml() -> MAML:
    return MAML(SyntheticAlloyFamily().nominal_law().double(), first_order=True, outer_lr=0.01, meta_batch_size=8, **GN)


def test_synthetic_pretraining_moves_the_start_once_for_every_held_out_material() -> None:
    made = pretrained_on_synthetic(_maml, 6, FIT)
    plain, first, second = _maml(), made(), made()
    p, a, b = plain.state_dict(), first.state_dict(), second.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same pre-trained start for every held-out material
    moved = [k for k in a if not torch.allclose(a[k], p[k])]
    assert moved  # 20 meta-iterations on synthetic alloys moved the start away from the nominal law
    assert first is not second


def test_an_isothermal_law_is_refused() -> None:
    made = pretrained_on_synthetic(lambda: MAML(JMAK().double(), **GN), 6, FIT)
    with pytest.raises(ValueError, match="material level only"):
        made()
