"""The compiled meta-gradient equals the eager one."""

from __future__ import annotations

import pytest
import torch

from sciml.meta import MAML, LearnedOptimizer
from sciml.models import MLP
from tests.conftest import sinusoid_tasks


@pytest.mark.slow
@pytest.mark.parametrize("cls", [MAML, LearnedOptimizer])
def test_compiled_meta_gradient_matches_eager(cls: type) -> None:
    tasks = sinusoid_tasks(5, 5, 6, dtype=torch.float32)
    torch.manual_seed(0)
    eager = cls(MLP(1, (16, 16), 1), inner_lr=0.05, inner_steps=2)
    if isinstance(eager, LearnedOptimizer):
        with torch.no_grad():  # a rule that does something
            for p in eager.rule.parameters():
                p.normal_(0.0, 0.5)
    compiled = cls(MLP(1, (16, 16), 1), inner_lr=0.05, inner_steps=2, compile=True)
    compiled.load_state_dict(eager.state_dict())
    g_eager, l_eager = eager.meta_gradient(tasks)
    g_comp, l_comp = compiled.meta_gradient(tasks)
    assert compiled._compiled is not None
    assert torch.allclose(l_eager, l_comp, atol=1e-6)
    for k in g_eager:
        assert torch.allclose(g_eager[k], g_comp[k], atol=1e-5), k
