"""Data-parallel meta-training: 2 gloo ranks take the same steps as one process on the union
of their tasks (float64, to 1e-10)."""

from __future__ import annotations

import pytest
import torch
import torch.multiprocessing as mp

from sciml.meta.distributed import rank_seed, shard_size, world
from tests.meta.distributed_cases import CASES, fit_on_rank, free_port

STEPS, SEED = 3, 7


def _single_process_reference(case: str, world_size: int) -> dict[str, torch.Tensor]:
    """Plain meta-steps on the tasks every rank would draw, concatenated (no process group)."""
    learner, tasks, sampling = CASES[case]()
    optimizer = learner._make_optimizer()
    gens = [torch.Generator().manual_seed(rank_seed(SEED, r, world_size)) for r in range(world_size)]
    per_rank = learner.meta_batch_size // world_size
    for _ in range(STEPS):
        batch = [t for g in gens for t in tasks.sample_batch(per_rank, g, **sampling)]
        learner.meta_step(batch, optimizer)
    return learner.state_dict()


def _available(case: str) -> bool:
    if case.endswith("_gin"):
        import importlib.util

        return all(importlib.util.find_spec(m) is not None for m in ("rdkit", "torch_geometric"))
    return True


@pytest.fixture(scope="module")
def two_rank_states(tmp_path_factory) -> dict[str, dict[str, torch.Tensor]]:
    """Every case fitted by one 2-rank gloo job (one spawn for all cases)."""
    out = tmp_path_factory.mktemp("ranks")
    cases = [c for c in sorted(CASES) if _available(c)]
    mp.spawn(fit_on_rank, args=(2, free_port(), ",".join(cases), STEPS, SEED, str(out / "{case}.pt")), nprocs=2, join=True)
    return {c: torch.load(out / f"{c}.pt", weights_only=True) for c in cases}


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_ranks_take_the_steps_of_one_process(case: str, two_rank_states) -> None:
    if not _available(case):
        pytest.skip("needs RDKit and torch-geometric: pip install 'sciml[chem,graph]'")
    got = dict(two_rank_states[case])
    got.pop("rng")
    want = _single_process_reference(case, 2)
    start = CASES[case]()[0].state_dict()
    assert set(got) == set(want)
    assert sum(float((want[n] - start[n]).abs().max()) for n in want) > 1e-3  # the steps moved the parameters
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-10, msg=f"{case}: {name}")


def test_two_ranks_resume_an_interrupted_run_exactly(tmp_path) -> None:
    whole, resumed, ckpt = tmp_path / "whole.pt", tmp_path / "resumed.pt", str(tmp_path / "ckpt")
    mp.spawn(fit_on_rank, args=(2, free_port(), "maml_mlp", 8, SEED, str(whole)), nprocs=2, join=True)
    mp.spawn(fit_on_rank, args=(2, free_port(), "maml_mlp", 8, SEED, str(resumed), ckpt, 5), nprocs=2, join=True)
    assert not resumed.exists()  # interrupted at iteration 5, after the checkpoint of iteration 4
    assert torch.load(tmp_path / "ckpt" / "checkpoint.pt", weights_only=True)["iteration"] == 4
    mp.spawn(fit_on_rank, args=(2, free_port(), "maml_mlp", 8, SEED, str(resumed), ckpt, None, True), nprocs=2, join=True)
    a, b = torch.load(whole, weights_only=True), torch.load(resumed, weights_only=True)
    assert a.keys() == b.keys()
    for name in a:  # parameters, and rank 0's global RNG after fit
        assert torch.equal(a[name], b[name]), name


def test_one_process_keeps_its_seed_and_shards_must_be_equal() -> None:
    assert world() == (0, 1)
    assert rank_seed(5, 0, 1) == 5
    assert len({rank_seed(5, r, 4) for r in range(4)}) == 4
    assert shard_size(8, 2) == 4
    with pytest.raises(ValueError, match="does not split evenly over 3 ranks"):
        shard_size(8, 3)
