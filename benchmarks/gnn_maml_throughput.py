"""GNN MAML on molecules: sciml's functional engine against a per-task clone-and-adapt loop.

Compared side by side, interleaved in one process, same GIN, same meta-batch, same molecules:

* ``sciml``: ``MAML.meta_step`` on the task-batched path (``sciml.meta.task_batched``: every
  task's support molecules in one PyG batch, message passing once over all of them, each task's
  own weights applied to its own atoms, one backward pass for the whole meta-batch);
* ``sciml per task``: the same with ``settings.task_batched_models(False)`` (``torch.func``
  inner loop task by task, each task's molecules collated into one PyG batch);
* ``clone-and-adapt``: for every task a deep copy of the module whose parameters are replaced
  by differentiable clones, adapted with ``torch.autograd.grad(create_graph=True)`` and
  written back into the copy (the pattern of the published few-shot molecular code, after
  learn2learn's ``clone()``/``adapt()``).

Both compute second-order MAML with the same inner learning rate and steps; the script checks
their meta-gradients agree before timing. The same comparison is made for ANIL (head-only
adaptation), where sciml embeds the whole meta-batch in one PyG batch and runs only the head's
inner loop per task, while the loop re-runs the GIN at every inner step of every task. Molecules: Tox21 (``SCIML_DATA_DIR`` or download);
a meta-batch is the 9 training assays, each with 10 + 10 support and 16 query molecules.

The timings run twice, each in a fresh process (``TIMING_ALLOCATORS``): with glibc's default
allocator, and with the settings the ``sciml`` command starts with and
``sciml.allocator.keep_freed_memory()`` gives a script (freed memory kept in the heap). The
task-batched path allocates activations of several megabytes per layer for the whole meta-batch;
glibc's defaults hand them back to the kernel on ``free``, so each is faulted in and zeroed again
on the next layer. Also printed: the share of the loop's CPU time in matrix products, which every
path computes alike, and the bound on any path's speed over the loop that follows from it.

Memory: the peak resident memory that one meta-gradient adds, for second-order MAML,
first-order MAML and ANIL at 1, 5 and 10 inner steps, each measured in a fresh process on the
first meta-batch: the peak counter is reset after the setup, and the table gives ``peak RSS - RSS
before the meta-gradient`` (Linux only). Three tables (``MEMORY_ALLOCATORS``): glibc's default
allocator; every block above 64 KiB served by its own ``mmap`` and returned on ``free``, whose
peak is close to what the tensors hold at once; and sciml's allocator settings.

CGCNN: MAML at the dielectric-families study's settings on matbench dielectric's anion families,
task-batched against per task (skipped without the data).

Usage: ``python benchmarks/gnn_maml_throughput.py [--repeats 10] [--hidden 300] [--norm layer|batch] [--no-memory]
[--no-cgcnn]``.
The last line is ``gnn_maml_vs_clone_loop=<ratio> gnn_anil_vs_clone_loop=<ratio>``:
meta-iterations/s of sciml over the loop's with sciml's allocator settings (the line above it
gives the same ratios with glibc's defaults).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from sciml import settings
from sciml.allocator import SETTINGS
from sciml.chem.dataset import featurize_cached
from sciml.chem.fewshot import BalancedEpisodes, label_tasks, protocol_split
from sciml.data import load_moleculenet
from sciml.meta import ANIL, MAML
from sciml.meta.functional import bce_logits_loss
from sciml.models.gnn import GIN
from sciml.tasks import Task


def _replace_params(module: nn.Module, params: dict[str, torch.Tensor]) -> None:
    for name, value in params.items():
        owner, _, attr = name.rpartition(".")
        module.get_submodule(owner)._parameters[attr] = value


def clone_and_adapt_step(model: nn.Module, tasks: list[Task], lr: float, steps: int, opt: torch.optim.Optimizer,
                         head_only: bool = False) -> dict[str, torch.Tensor]:
    """Per-task clone-and-adapt MAML (second order; ANIL with ``head_only``); returns the
    meta-gradient after stepping."""
    meta = dict(model.named_parameters())
    total = 0.0
    for t in tasks:
        clone = copy.deepcopy(model)
        fast = {n: p.clone() for n, p in meta.items()}
        _replace_params(clone, fast)
        adapted = [n for n in fast if n.startswith("head.")] if head_only else list(fast)
        for _ in range(steps):
            loss = bce_logits_loss(clone(t.support.x), t.support.y)
            grads = torch.autograd.grad(loss, [fast[n] for n in adapted], create_graph=True)
            fast = {**fast, **{n: fast[n] - lr * g for n, g in zip(adapted, grads)}}
            _replace_params(clone, fast)
        total = total + bce_logits_loss(clone(t.query.x), t.query.y)
    opt.zero_grad()
    (total / len(tasks)).backward()
    out = {n: p.grad.detach().clone() for n, p in meta.items()}
    opt.step()
    return out


def _relative_difference(got: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> float:
    """Largest absolute difference over all meta-gradient entries, relative to the largest
    reference entry (a bias followed by BatchNorm has a gradient of zero up to round-off, so a
    per-tensor ratio would compare round-off with round-off)."""
    scale = max(float(g.abs().max()) for g in ref.values())
    return max(float((got[n] - ref[n]).abs().max()) for n in ref) / max(scale, 1e-12)


MEMORY_LEARNERS = {"second-order MAML": ("MAML", False), "first-order MAML": ("MAML", True), "ANIL": ("ANIL", False)}


def _status_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process [MiB], from Linux ``/proc``."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _minor_faults() -> int:
    """Pages this process has faulted in so far (fresh or handed back to the kernel earlier)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _timed(step: Callable[[], object], seconds: list[float], faults: list[int]) -> None:
    """Run ``step``; append its wall time [s] and the pages it faulted in."""
    f0, t0 = _minor_faults(), time.perf_counter()
    step()
    seconds.append(time.perf_counter() - t0)
    faults.append(_minor_faults() - f0)


def _meta_batches(count: int) -> list[list[Task]]:
    """The benchmark's meta-batches (seeds ``0..count-1``): the 9 Tox21 training assays, 10 + 10
    support and 16 query molecules each."""
    df = load_moleculenet("tox21")
    mols = featurize_cached(df.smiles.tolist(), "simple", df.attrs["sha256"])
    train, _ = protocol_split(label_tasks(df, mols), "tox21")
    source = BalancedEpisodes(train, 10, queries=8)
    return [source.sample_batch(len(train), torch.Generator().manual_seed(i)) for i in range(count)]


def _memory_child(learner: str, steps: int, hidden: int) -> None:
    """Print the peak memory [MiB] one meta-gradient adds (run in a fresh process): the peak
    counter (``VmHWM``) is reset after the setup through ``/proc/self/clear_refs``."""
    torch.set_num_threads(2)
    (batch,) = _meta_batches(1)
    cls, first_order = MEMORY_LEARNERS[learner]
    torch.manual_seed(0)
    model = GIN(1, hidden=hidden, norm="layer")
    kwargs = {"first_order": first_order} if cls == "MAML" else {}
    meta = (MAML if cls == "MAML" else ANIL)(model, loss="bce", inner_lr=0.3, inner_steps=steps, meta_batch_size=len(batch), **kwargs)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set size
    before = _status_mib("VmRSS")
    meta.meta_gradient(batch)
    print(json.dumps({"extra_mib": _status_mib("VmHWM") - before}))


MEMORY_ALLOCATORS = {
    "glibc default": {},
    "freed memory returned at once": {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"},
    "sciml's allocator settings": SETTINGS,
}
"""Allocator settings of the memory table's columns. With glibc's defaults, freed blocks of up to
32 MiB may stay in the heap and count in the peak; serving every block above 64 KiB by its own
``mmap`` (returned on ``free``) makes the peak close to the memory the tensors hold at once;
sciml's settings (the ``sciml`` command, ``sciml.allocator.keep_freed_memory()``) keep every
freed block in the heap for reuse."""


def memory_table(hidden: int) -> None:
    """Peak memory of one meta-gradient per learner and inner-step count, each in a fresh process,
    under each of :data:`MEMORY_ALLOCATORS`."""
    print(f"memory of one meta-gradient (GIN hidden {hidden}, 9 tasks x 36 molecules), peak resident memory added [MiB]:")
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    for label, allocator in MEMORY_ALLOCATORS.items():
        print(f"{label:>20}: " + " ".join(f"{k:>8}" for k in (1, 5, 10)) + " inner steps")
        for learner in MEMORY_LEARNERS:
            cells = []
            for steps in (1, 5, 10):
                out = subprocess.run([sys.executable, __file__, "--memory-child", learner, str(steps), "--hidden", str(hidden)],
                                     capture_output=True, text=True, check=True,
                                     env={**base, **allocator, "SCIML_ALLOCATOR": "system"})
                cells.append(json.loads(out.stdout.strip().splitlines()[-1])["extra_mib"])
            print(f"{learner:>20}: " + " ".join(f"{c:8.0f}" for c in cells))


def cgcnn_comparison(repeats: int) -> None:
    """CGCNN MAML at the dielectric-families study's settings (CGCNN 64/3/128 with LayerNorm, 3
    inner steps, meta-batch 5 anion families, k + 10 crystals each): the task-batched path against
    the per-task path, interleaved, after checking their meta-gradients agree."""
    import numpy as np

    from sciml.data.paths import reference_file
    from sciml.materials import family_benchmark as families
    from sciml.materials.crystal_graph import featurize_structures_cached
    from sciml.materials.families import family_labels, family_tasks
    from sciml.models import CGCNN

    if reference_file("crystals/matbench_dielectric.json.gz") is None:
        print("CGCNN: skipped (needs crystals/matbench_dielectric.json.gz under SCIML_DATA_DIR or network access)")
        return
    df = families.load_family_structures("dielectric", 0)
    graphs = featurize_structures_cached(df.structure.tolist(), df.id.tolist(), f"{df.attrs['sha256']}|0", 8.0, 12)
    labels = family_labels([df.structure.iloc[r] for r in graphs.rows], "anion")
    tasks = family_tasks(graphs.graphs, df[df.attrs["target"]].to_numpy()[graphs.rows], labels, 20, transform=np.log10)
    torch.manual_seed(0)
    learner = MAML(CGCNN(1, atom_dim=64, layers=3, hidden=128, norm="layer"), inner_lr=0.005, inner_steps=3, meta_batch_size=5)
    g = torch.Generator().manual_seed(0)
    for k in (5, 10):
        batches = [tasks.sample_batch(5, g, shots=k, query_size=10) for _ in range(repeats + 1)]
        batched, _ = learner.meta_gradient(batches[0])
        with settings.task_batched_models(False):
            per_task, _ = learner.meta_gradient(batches[0])
        diff = _relative_difference(batched, per_task)
        on, off = [], []
        for batch in batches[1:]:  # interleaved
            t0 = time.perf_counter()
            learner.meta_gradient(batch)
            on.append(time.perf_counter() - t0)
            with settings.task_batched_models(False):
                t0 = time.perf_counter()
                learner.meta_gradient(batch)
                off.append(time.perf_counter() - t0)
        print(f"CGCNN MAML, 5 families x ({k} + 10) crystals, 3 inner steps: task-batched {statistics.median(on) * 1e3:.0f} ms, "
              f"per task {statistics.median(off) * 1e3:.0f} ms per meta-gradient ({statistics.median(off) / statistics.median(on):.2f}x); "
              f"largest relative meta-gradient difference {diff:.1e}")


TIMING_ALLOCATORS = {k: MEMORY_ALLOCATORS[k] for k in ("glibc default", "sciml's allocator settings")}
"""Allocator settings the timings run under, each in a fresh process: glibc's defaults (a Python
script as started), and what the ``sciml`` command starts with and
``sciml.allocator.keep_freed_memory()`` gives a running script (freed memory kept in the heap;
the last line's ratios)."""

MATRIX_PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addbmm")
"""The profiler's names of the matrix products both paths compute alike."""


def matrix_product_share(step: Callable[[], object]) -> float:
    """Share of ``step``'s self CPU time in :data:`MATRIX_PRODUCTS` (one profiled call)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    times = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    return sum(times.get(k, 0.0) for k in MATRIX_PRODUCTS) / sum(times.values())


def timing(args: argparse.Namespace) -> dict[str, float]:
    """GIN MAML and ANIL against the clone-and-adapt loop (and MAML against its per-task path),
    interleaved in this process, then the CGCNN comparison; returns the loop/sciml ratios."""
    torch.manual_seed(0)
    batches = _meta_batches(args.repeats + 1)
    molecules = sum(len(t.data) for t in batches[0])
    lr = 0.3

    ratios = {}
    for label, cls, head_only in (("maml", MAML, False), ("anil", ANIL, True)):
        torch.manual_seed(0)
        model = GIN(1, hidden=args.hidden, norm=args.norm)
        ref = copy.deepcopy(model)
        learner = cls(model, loss="bce", inner_lr=lr, inner_steps=args.inner_steps, meta_batch_size=len(batches[0]), outer_lr=1e-3)
        ours_opt = learner._make_optimizer()
        ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
        g_ours, _ = learner.meta_gradient(batches[0])
        g_ref = clone_and_adapt_step(copy.deepcopy(ref), batches[0], lr, args.inner_steps, torch.optim.SGD(ref.parameters(), lr=0.0),
                                     head_only)
        diff = _relative_difference(g_ours, g_ref)
        print(f"{label.upper()}: GIN hidden {args.hidden}, norm {args.norm}, {len(batches[0])} tasks x ({molecules // len(batches[0])} molecules), "
              f"{args.inner_steps} inner step(s), second order; largest meta-gradient difference sciml vs loop (relative to the largest entry): {diff:.1e}")
        per_task = cls(copy.deepcopy(ref), loss="bce", inner_lr=lr, inner_steps=args.inner_steps, meta_batch_size=len(batches[0]),
                       outer_lr=1e-3)
        per_task_opt = per_task._make_optimizer()
        ours_t, ref_t, per_task_t = [], [], []
        faults: dict[str, list[int]] = {"sciml": [], "clone-and-adapt loop": [], "sciml per task": []}
        for batch in batches[1:]:  # interleaved
            _timed(partial(learner.meta_step, batch, ours_opt), ours_t, faults["sciml"])
            _timed(partial(clone_and_adapt_step, ref, batch, lr, args.inner_steps, ref_opt, head_only), ref_t,
                   faults["clone-and-adapt loop"])
            if not head_only:  # ANIL embeds the whole meta-batch either way
                with settings.task_batched_models(False):
                    _timed(partial(per_task.meta_step, batch, per_task_opt), per_task_t, faults["sciml per task"])
        timed = [("sciml", ours_t), ("clone-and-adapt loop", ref_t)] + ([("sciml per task", per_task_t)] if per_task_t else [])
        for name, ts in timed:
            med = statistics.median(ts)
            print(f"{name:>22}: {med * 1e3:8.1f} ms/meta-iteration, {molecules / med:8.0f} molecules/s, "
                  f"{statistics.median(faults[name]):7.0f} pages faulted in (medians of {len(ts)})")
        ratios[label] = statistics.median(ref_t) / statistics.median(ours_t)
        if per_task_t:
            print(f"{'':>22}  task-batched over per task: {statistics.median(per_task_t) / statistics.median(ours_t):.2f}x")
        if not head_only:
            share = matrix_product_share(lambda m=ref, o=ref_opt: clone_and_adapt_step(m, batches[1], lr, args.inner_steps, o))
            print(f"{'':>22}  the loop spends {share:.0%} of its CPU time in matrix products, which every path computes alike, so "
                  f"no path with the same products runs faster than {1 / share:.2f}x the loop (profiled once; the profiler's "
                  "overhead on the small operations lowers the share, so the bound is generous)")
    if not args.no_cgcnn:
        cgcnn_comparison(args.repeats)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=300)
    parser.add_argument("--inner-steps", type=int, default=1)
    parser.add_argument("--norm", default="layer", choices=["layer", "batch"],
                        help="the GIN's normalization (batch: each task normalized by its own molecules)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory table")
    parser.add_argument("--no-cgcnn", action="store_true", help="skip the CGCNN comparison")
    parser.add_argument("--memory-child", nargs=2, metavar=("LEARNER", "STEPS"), help=argparse.SUPPRESS)
    parser.add_argument("--timing-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(args.memory_child[0], int(args.memory_child[1]), args.hidden)
        return
    if args.timing_child:
        torch.set_num_threads(2)
        print(json.dumps(timing(args)))
        return
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    passed = [a for a in sys.argv[1:] if a != "--no-memory"]
    ratios: dict[str, dict[str, float]] = {}
    for label, allocator in TIMING_ALLOCATORS.items():
        print(f"--- timings with {label}" + (f" ({' '.join(f'{k}={v}' for k, v in allocator.items())})" if allocator else ""), flush=True)
        out = subprocess.run([sys.executable, __file__, *passed, "--timing-child"], capture_output=True, text=True, check=True,
                             env={**base, **allocator, "SCIML_ALLOCATOR": "system"})
        lines = out.stdout.strip().splitlines()
        print("\n".join(lines[:-1]), flush=True)
        ratios[label] = json.loads(lines[-1])
    if not args.no_memory:
        memory_table(args.hidden)
    default = ratios["glibc default"]
    print(f"with glibc's default allocator: MAML {default['maml']:.2f}x, ANIL {default['anil']:.2f}x the loop")
    tuned = ratios["sciml's allocator settings"]
    print(f"gnn_maml_vs_clone_loop={tuned['maml']:.2f} gnn_anil_vs_clone_loop={tuned['anil']:.2f}")


if __name__ == "__main__":
    main()
