"""Data-parallel meta-training: one meta-iteration with 1 rank against 2 ranks.

Three layouts of the same meta-iteration (same meta-batch, same engine, second-order or
first-order as the study uses it), timed in turn, interleaved over rounds:

* ``1 rank x 1 thread``: one process draws the whole meta-batch;
* ``2 ranks x 1 thread``: two gloo processes (``torch.distributed``), each draws half the
  meta-batch, and one ``all_reduce`` averages the meta-gradients (``Learner.fit``'s path);
* ``1 rank x 2 threads``: one process, torch's intra-op threads instead of ranks.

Workloads:

* ``gnn``: the Tox21 GIN MAML episode setup of ``studies/tox21-fewshot`` (GIN 300 x 5, batch
  norm with per-task statistics, 10 + 10 support and up to 16 query molecules per episode, 1
  inner step, second order), 8 episodes per meta-batch (the study's 9 does not split over 2
  ranks); molecules from ``SCIML_DATA_DIR`` or downloaded;
* ``jmak``: the JMAK-Arrhenius law of ``studies/jmak-synthetic-alloys`` (first-order MAML,
  10 damped Gauss-Newton inner steps), 32 synthetic isotherms per meta-batch.

Time per meta-iteration is the median over ``--steps`` iterations after one warm-up, measured on
rank 0 between barriers; each round starts fresh processes, so process start-up and data loading
are not timed. Speed-up = time of 1 rank x 1 thread / time of the layout.

Usage: ``python benchmarks/distributed_scaling.py [--rounds 3] [--steps 8] [--hidden 300]``.
The last line is ``gnn_2rank_speedup=<x> jmak_2rank_speedup=<x>``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

LAYOUTS = (("1 rank x 1 thread", 1, 1), ("2 ranks x 1 thread", 2, 1), ("1 rank x 2 threads", 1, 2))


def _gnn_workload(hidden: int, meta_batch: int) -> tuple[Any, Any]:
    from sciml.chem.dataset import featurize_cached
    from sciml.chem.fewshot import BalancedEpisodes, label_tasks, protocol_split
    from sciml.data import load_moleculenet
    from sciml.meta import MAML
    from sciml.models.gnn import GIN

    df = load_moleculenet("tox21")
    mols = featurize_cached(df.smiles.tolist(), "simple", df.attrs["sha256"])
    train, _ = protocol_split(label_tasks(df, mols), "tox21")
    torch.manual_seed(0)
    learner = MAML(GIN(1, hidden=hidden, layers=5, norm="batch"), loss="bce", inner_lr=0.05, inner_steps=1,
                   meta_batch_size=meta_batch, outer_lr=1e-3)
    return learner, BalancedEpisodes(train, 10, queries=8)


def _jmak_workload(meta_batch: int) -> tuple[Any, Any]:
    from sciml.materials.synthetic_alloys import SyntheticAlloyFamily
    from sciml.meta import MAML

    family = SyntheticAlloyFamily(family="W_recrystallization", temperatures_per_alloy=3, points_per_isotherm=10, noise_sd=0.03)
    tasks = family.tasks(160, seed=0)
    torch.manual_seed(0)
    learner = MAML(family.nominal_law(), first_order=True, outer_lr=0.01, meta_batch_size=meta_batch,
                   inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=10, inner_damping=0.01, inner_prior_precision=0.003)
    return learner, tasks


SAMPLING = {"gnn": {}, "jmak": {"shots": [2, 3, 5, 8]}}  # jmak: as studies/jmak-synthetic-alloys samples supports


def _worker(rank: int, world: int, port: int, threads: int, workload: str, args: dict[str, Any], out: str) -> None:
    import torch.distributed as dist

    from sciml.meta.distributed import rank_seed

    torch.set_num_threads(threads)
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=world)
    if workload == "gnn":
        learner, source = _gnn_workload(args["hidden"], args["gnn_batch"])
    else:
        learner, source = _jmak_workload(args["jmak_batch"])
    per_rank = learner.meta_batch_size // world
    g = torch.Generator().manual_seed(rank_seed(0, rank, world))
    batches = [source.sample_batch(per_rank, g, **SAMPLING[workload]) for _ in range(args["steps"] + 1)]
    opt = learner._make_optimizer()
    times = []
    for i, batch in enumerate(batches):
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        learner.meta_step(batch, opt)  # averages the meta-gradient over ranks (all_reduce)
        if world > 1:
            dist.barrier()
        if i:  # the first is a warm-up
            times.append(time.perf_counter() - t0)
    if rank == 0:
        Path(out).write_text(json.dumps(times))
    if world > 1:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _time_layout(workload: str, world: int, threads: int, args: dict[str, Any]) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "times.json")
        mp.spawn(_worker, args=(world, _free_port(), threads, workload, args, out), nprocs=world, join=True)
        return json.loads(Path(out).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the three layouts")
    parser.add_argument("--steps", type=int, default=8, help="timed meta-iterations per layout and round")
    parser.add_argument("--hidden", type=int, default=300, help="GIN width")
    parser.add_argument("--workloads", default="gnn,jmak")
    parsed = parser.parse_args()
    args = {"hidden": parsed.hidden, "steps": parsed.steps, "gnn_batch": 8, "jmak_batch": 32}
    print(f"{os.cpu_count()} CPU cores; torch {torch.__version__}; {parsed.rounds} rounds x {parsed.steps} timed "
          "meta-iterations per layout; median ms per meta-iteration, speed-up against 1 rank x 1 thread")
    speedups: dict[str, float] = {}
    for workload in parsed.workloads.split(","):
        times: dict[str, list[float]] = {label: [] for label, _, _ in LAYOUTS}
        for _ in range(parsed.rounds):
            for label, world, threads in LAYOUTS:
                times[label] += _time_layout(workload, world, threads, args)
        base = statistics.median(times[LAYOUTS[0][0]])
        what = (f"GIN {parsed.hidden}x5 MAML, {args['gnn_batch']} Tox21 episodes" if workload == "gnn"
                else f"JMAK-Arrhenius MAML (Gauss-Newton x 10), {args['jmak_batch']} isotherms")
        print(f"\n{workload}: {what} per meta-iteration")
        print(f"{'layout':>22} {'ms/iter':>9} {'spread':>17} {'speed-up':>9}")
        for label, _, _ in LAYOUTS:
            ts = sorted(times[label])
            med = statistics.median(ts)
            q1, q3 = ts[len(ts) // 4], ts[(3 * len(ts)) // 4]
            print(f"{label:>22} {med * 1e3:9.1f} {f'[{q1 * 1e3:.1f}, {q3 * 1e3:.1f}]':>17} {base / med:9.2f}")
        speedups[workload] = base / statistics.median(times[LAYOUTS[1][0]])
    print(f"gnn_2rank_speedup={speedups.get('gnn', float('nan')):.2f} jmak_2rank_speedup={speedups.get('jmak', float('nan')):.2f}")


if __name__ == "__main__":
    main()
