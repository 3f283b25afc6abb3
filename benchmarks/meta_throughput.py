"""Meta-iterations per second of sciml's vmapped engine against per-task baselines.

Compared side by side, interleaved in one process, same model, same meta-batch, same data:

* ``sciml``: ``Learner.meta_gradient`` + Adam step: on the MLP the task-batched path
  (per-task parameters as a leading dimension, plain autograd; ``sciml.meta.task_batched``),
  on the law one vmapped ``torch.func`` computation;
* ``sciml vmap``: the same with ``settings.task_batched_models(False)`` (the vmapped path), where
  the task-batched path applies;
* ``sciml compiled``: the same with ``compile=True`` (``torch.compile`` of the vmapped
  meta-gradient and a fused Adam step; compilation time excluded, reported separately);
* ``loop``: a plain per-task loop with ``torch.autograd.grad(create_graph=True)`` inner steps
  (the pattern of most published MAML code);
* ``higher``: ``higher.innerloop_ctx`` per task (skipped if ``higher`` is not installed:
  ``pip install sciml[bench]``).

Cases: (a) sinusoid MAML, K = 10 support + 10 query, meta-batch 25, 1 inner step, MLP
1-40-40-1, second and first order; (b) JMAK (2-parameter law), 64 tasks, 5 inner SGD steps,
second order. Also prints the largest meta-gradient difference between sciml and the loop, and
Reptile's and FineTune's meta-steps on (a), eager against ``compile=True``, and the compile time
of the first compiled meta-step at each new meta-batch shape (support size, task count), and
the cost of one outer Adam step, default against fused.

Each round runs every arm in turn; an arm's iterations/s is the median over the rounds of a
block of consecutive meta-steps (about 20 ms of them, as a training loop runs them). The same
ratios with one step per arm per round, where a step runs right after the other arms and takes
longer (by a few hundred microseconds on the sub-millisecond arms; the cause is not isolated), are
printed beside them.

Usage: ``python benchmarks/meta_throughput.py [--repeats 30]``. The last line is
``sinusoid_so_vs_loop=<ratio> jmak_so_vs_loop=<ratio>``: iterations/s of sciml over the
loop's, with ``compile=True`` where it compiled (the eager ratios are printed above it).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call

from sciml import settings
from sciml.data import SinusoidTasks
from sciml.meta import MAML, FineTune, Reptile
from sciml.meta.functional import mse_loss
from sciml.meta.task_batched import task_batched_inputs
from sciml.models import JMAK, MLP
from sciml.settings import validate_inputs
from sciml.tasks import Task, TensorData


def loop_step(model: nn.Module, tasks: list[Task], lr: float, steps: int, first_order: bool, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Per-task MAML with torch.autograd.grad; returns the meta-gradient after stepping."""
    params = dict(model.named_parameters())
    total = 0.0
    for t in tasks:
        fast = params
        for _ in range(steps):
            loss = mse_loss(functional_call(model, fast, (t.support.x,)), t.support.y)
            grads = torch.autograd.grad(loss, list(fast.values()), create_graph=not first_order)
            fast = {n: p - lr * g for (n, p), g in zip(fast.items(), grads)}
        total = total + mse_loss(functional_call(model, fast, (t.query.x,)), t.query.y)
    opt.zero_grad()
    (total / len(tasks)).backward()
    grads = {n: p.grad.detach().clone() for n, p in params.items()}
    opt.step()
    return grads


def higher_step(model: nn.Module, tasks: list[Task], lr: float, steps: int, first_order: bool, opt: torch.optim.Optimizer) -> None:
    """Per-task MAML with higher (copy_initial_weights=False so gradients reach the model)."""
    import higher

    inner = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    for t in tasks:
        with higher.innerloop_ctx(model, inner, copy_initial_weights=False, track_higher_grads=not first_order) as (fmodel, diffopt):
            for _ in range(steps):
                diffopt.step(mse_loss(fmodel(t.support.x), t.support.y))
            (mse_loss(fmodel(t.query.x), t.query.y) / len(tasks)).backward()
    opt.step()


def sciml_step(learner: MAML, tasks: list[Task], opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    grads, _ = learner.meta_gradient(tasks)
    learner._apply_gradient(grads, opt)
    return grads


def jmak_tasks(n: int, g: torch.Generator) -> list[Task]:
    tasks = []
    for i in range(n):
        t50 = 10 ** (2 + 2 * float(torch.rand((), generator=g)))
        nn_ = 0.8 + 2 * float(torch.rand((), generator=g))
        t = torch.logspace(math.log10(t50) - 1, math.log10(t50) + 1, 12)
        y = (1 - torch.exp(-math.log(2) * (t / t50) ** nn_) + 0.02 * torch.randn(12, generator=g)).clamp(0, 1)
        tasks.append(Task(TensorData(t[::2], y[::2]), TensorData(t[1::2], y[1::2]), name=f"a{i}"))
    return tasks


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


BLOCK_S = 0.02
"""Seconds of consecutive steps in one timed block (at least one step)."""


def timed_block(fn: Callable[[], object], steps: int) -> float:
    """Seconds per step over ``steps`` consecutive calls (steady state, as in a training loop)."""
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def interleaved(arms: dict[str, Callable[[], object]], repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Steps per second of each arm, measured in rounds that run every arm in turn: ``(steady,
    single)``. ``steady`` times blocks of consecutive steps (about :data:`BLOCK_S` each), as a
    training loop runs them; ``single`` times one step right after the other arms ran, which
    takes longer (a few hundred microseconds that weigh on sub-millisecond steps only; the cause
    is not isolated). Medians over the rounds."""
    steps = {k: max(1, int(BLOCK_S / timed(fn))) for k, fn in arms.items()}
    single: dict[str, list[float]] = {k: [] for k in arms}
    steady: dict[str, list[float]] = {k: [] for k in arms}
    for _ in range(repeats):
        for k, fn in arms.items():
            single[k].append(timed(fn))
            steady[k].append(timed_block(fn, steps[k]))
    rate = lambda times: {k: 1.0 / statistics.median(v) for k, v in times.items()}
    return rate(steady), rate(single)


def without_checks(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` with sciml's input checks off (the hand-written baselines call the model's forward,
    which would otherwise check its inputs; sciml's own arms keep their checks)."""

    def run() -> object:
        with validate_inputs(False):
            return fn()

    return run


def compare(name: str, make_model: Callable[[], nn.Module], tasks: list[Task], lr: float, steps: int, first_order: bool, repeats: int, with_higher: bool) -> float:
    torch.manual_seed(0)
    models = {k: make_model() for k in ("sciml", "compiled", "loop", "higher")}
    for m in list(models.values())[1:]:
        m.load_state_dict(models["sciml"].state_dict())
    learner = MAML(models["sciml"], inner_lr=lr, inner_steps=steps, first_order=first_order)
    compiled = MAML(models["compiled"], inner_lr=lr, inner_steps=steps, first_order=first_order, compile=True)
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-12) for k, m in models.items()}
    opts["sciml"], opts["compiled"] = learner._make_optimizer(), compiled._make_optimizer()
    for key in ("sciml", "compiled"):
        for g in opts[key].param_groups:
            g["lr"] = 1e-12  # keep all models on the same weights
    g_sciml = sciml_step(learner, tasks, opts["sciml"])
    start = time.perf_counter()
    try:
        with validate_inputs(False):
            g_comp = sciml_step(compiled, tasks, opts["compiled"])
        compile_s = time.perf_counter() - start
        comp_diff = max(float((g_comp[n] - g_sciml[n]).abs().max() / (g_sciml[n].abs().max() + 1e-12)) for n in g_sciml)
    except Exception as err:  # noqa: BLE001 - report and go on without the compiled variant
        print(f"{name}: torch.compile failed ({type(err).__name__}: {err}); eager only")
        compiled = None
    with validate_inputs(False):
        g_loop = loop_step(models["loop"], tasks, lr, steps, first_order, opts["loop"])
    diff = max(float((g_sciml[n] - g_loop[n]).abs().max() / (g_loop[n].abs().max() + 1e-12)) for n in g_loop)

    def vmapped() -> None:
        with settings.task_batched_models(False):
            sciml_step(learner, tasks, opts["sciml"])

    arms: dict[str, Callable[[], object]] = {"sciml": lambda: sciml_step(learner, tasks, opts["sciml"])}
    if task_batched_inputs(learner, tasks) is not None:
        arms["vmap"] = vmapped
    if compiled is not None:
        arms["compiled"] = lambda: sciml_step(compiled, tasks, opts["compiled"])
    arms["loop"] = without_checks(lambda: loop_step(models["loop"], tasks, lr, steps, first_order, opts["loop"]))
    if with_higher:
        arms["higher"] = without_checks(lambda: higher_step(models["higher"], tasks, lr, steps, first_order, opts["higher"]))
    rate, single = interleaved(arms, repeats)
    line = f"{name}: sciml {rate['sciml']:.1f} it/s, loop {rate['loop']:.1f} it/s"
    if "higher" in rate:
        line += f", higher {rate['higher']:.1f} it/s (sciml/higher {rate['sciml'] / rate['higher']:.1f}x)"
    print(f"{line}; sciml/loop {rate['sciml'] / rate['loop']:.1f}x; max relative meta-gradient difference vs loop {diff:.1e}")
    if "vmap" in rate:
        print(f"{name}: sciml task-batched {rate['sciml']:.1f} it/s, vmapped {rate['vmap']:.1f} it/s (vmap/loop "
              f"{rate['vmap'] / rate['loop']:.1f}x; task-batched/vmap {rate['sciml'] / rate['vmap']:.1f}x)")
    if "compiled" in rate:
        print(
            f"{name}: sciml compiled {rate['compiled']:.1f} it/s (compiled/loop {rate['compiled'] / rate['loop']:.1f}x, "
            f"compiled/eager {rate['compiled'] / rate['sciml']:.1f}x; compilation {compile_s:.0f} s; "
            f"max relative difference vs eager {comp_diff:.1e})"
        )
    print(f"{name}: one step at a time between the other arms: " + ", ".join(
        f"{k}/loop {single[k] / single['loop']:.1f}x" for k in single if k != "loop"))
    best = "compiled" if "compiled" in rate else "sciml"
    return rate[best] / rate["loop"]


def compare_steps(name: str, make: Callable[..., object], tasks: list[Task], repeats: int) -> None:
    """Meta-steps per second of a learner with its own meta-step (Reptile, FineTune), eager
    against ``compile=True``, interleaved; parameters checked equal after the first step."""
    learners, opts = [], []
    for compile_ in (False, True):
        torch.manual_seed(0)
        learner = make(compile=compile_)
        learners.append(learner)
        opts.append(learner._make_optimizer())
    with validate_inputs(False):
        learners[0].meta_step(tasks, opts[0])
        start = time.perf_counter()
        learners[1].meta_step(tasks, opts[1])
        compile_s = time.perf_counter() - start
        diff = max(float((a - b).detach().abs().max()) for a, b in zip(learners[0].model.parameters(), learners[1].model.parameters()))
        rate, _ = interleaved({str(i): (lambda i=i: learners[i].meta_step(tasks, opts[i])) for i in (0, 1)}, repeats)
    eager, compiled = rate["0"], rate["1"]
    print(f"{name}: eager {eager:.1f} it/s, compiled {compiled:.1f} it/s (compiled/eager {compiled / eager:.1f}x; compilation "
          f"{compile_s:.0f} s; max parameter difference after one step {diff:.1e})")


def adam_step_cost(name: str, model: nn.Module, repeats: int) -> None:
    """Microseconds of one outer Adam step on ``model``'s parameters (gradients set, step,
    zeroed), torch's default implementation (eager learners) against ``fused=True``
    (``compile=True`` learners), interleaved; parameters compared after 5 steps."""
    torch.manual_seed(0)
    grads = [torch.randn_like(p) for p in model.parameters()]
    copies, opts = [], []
    for fused in (None, True):
        params = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
        copies.append(params)
        opts.append(torch.optim.Adam(params, lr=1e-3, fused=fused))

    def step(i: int) -> None:
        for p, g in zip(copies[i], grads):
            p.grad = g.clone()
        opts[i].step()
        opts[i].zero_grad(set_to_none=True)

    for _ in range(5):
        step(0)
        step(1)
    diff = max(float((a - b).detach().abs().max()) for a, b in zip(copies[0], copies[1]))
    rate, _ = interleaved({"default": lambda: step(0), "fused": lambda: step(1)}, repeats)
    print(f"{name}: outer Adam step {1e6 / rate['default']:.0f} us default, {1e6 / rate['fused']:.0f} us fused "
          f"(max parameter difference after 5 steps {diff:.1e})")


def compile_across_shapes(g: torch.Generator) -> None:
    """Seconds of the first compiled sinusoid MAML meta-step at each new meta-batch shape (support
    size, task count), in order: the first shape compiles a static graph; the first change of a
    dimension recompiles once with that dimension dynamic (torch's automatic dynamic shapes);
    every later shape reuses a graph. Run before anything else is compiled in the process; the
    inductor's on-disk cache still shortens a rerun."""
    torch.manual_seed(0)
    learner = MAML(MLP(1, (40, 40), 1), inner_lr=0.01, compile=True)
    opt = learner._make_optimizer()
    cells = []
    for shots, n in ((10, 25), (5, 25), (20, 25), (10, 16), (7, 9), (10, 25)):
        tasks = SinusoidTasks(shots=shots, query=10).sample_batch(n, g)
        cells.append(f"{n} x {shots}: {timed(lambda tasks=tasks: learner.meta_step(tasks, opt)):.1f} s")
    print("compiled sinusoid MAML, first meta-step at each new shape (tasks x support): " + ", ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    try:
        import higher  # noqa: F401

        with_higher = True
    except ImportError:
        with_higher = False
        print("higher not installed: comparing against the plain loop only (pip install higher)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    compile_across_shapes(torch.Generator().manual_seed(1))  # first: nothing compiled in this process yet
    g = torch.Generator().manual_seed(0)
    sin = SinusoidTasks(shots=10, query=10).sample_batch(25, g)
    mlp = lambda: MLP(1, (40, 40), 1)
    so = compare("sinusoid MAML second order", mlp, sin, 0.01, 1, False, args.repeats, with_higher)
    compare("sinusoid MAML first order", mlp, sin, 0.01, 1, True, args.repeats, with_higher)
    jm = compare("JMAK 64 tasks x 5 steps, second order", lambda: JMAK(k=1e-3, n=1.5), jmak_tasks(64, g), 0.5, 5, False, max(5, args.repeats // 3), with_higher)
    compare_steps("sinusoid Reptile (5 steps on support and query)", lambda **kw: Reptile(mlp(), inner_lr=0.01, **kw), sin, args.repeats)
    compare_steps("sinusoid FineTune (pooled training)", lambda **kw: FineTune(mlp(), outer_lr=1e-3, **kw), sin, args.repeats)
    adam_step_cost("sinusoid MLP 1-40-40-1", mlp(), args.repeats)
    adam_step_cost("JMAK", JMAK(k=1e-3, n=1.5), args.repeats)
    print(f"sinusoid_so_vs_loop={so:.2f} jmak_so_vs_loop={jm:.2f}")


if __name__ == "__main__":
    main()
