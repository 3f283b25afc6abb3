"""``sciml serve`` under load: latency, throughput and memory of the prior service.

Starts ``python -m sciml serve`` on loopback (a subprocess) with two priors written to a
temporary folder, drives it with concurrent asynchronous clients (httpx), and stops by itself:

* ``jmak``: a JMAK-Arrhenius prior (MAML, Gauss-Newton inner loop, briefly meta-trained on a
  synthetic tungsten family). The mix: each client calibrates a new alloy from 3-5 measurements
  (``POST /priors/jmak/calibrate``), then predicts 5 new points with that calibration
  (``POST /calibrations/{id}/predict``), and again.

  - *paced* (the last line): ``--clients`` clients together offer ``--rate`` requests/s, each on
    its own fixed schedule; a request's latency counts from its scheduled start, so a server that
    falls behind is charged for the queue (no coordinated omission);
  - *closed loop*: the same clients send as fast as they are answered. The throughput is the
    server's capacity; the latency is then the queue of ``--clients`` requests (Little's law:
    mean latency = clients / throughput), not the time of one request.

* ``molecules``: a GIN encoder (300 wide, 5 layers, fixed BatchNorm statistics) and a MAML
  logistic head. One calibration on 10 + 10 Tox21 molecules, then every client scores batches of
  ``--batch`` molecules (``POST /calibrations/{id}/predict``): molecules scored per second.
* memory: the server's resident set size after 1,000 and after 10,000 JMAK calibrations (the
  calibration cache keeps 1,000).

Client and server share the machine's cores; the client's own time is part of what is measured.

Usage: ``python benchmarks/serve_load.py [--clients 50] [--requests 2000] [--rate 200]
[--threads 2] [--calibrations 10000]``. Needs the ``serve`` extra and httpx; Tox21 from
``SCIML_DATA_DIR`` (or a download). The last line is ``serve_p50_ms=<x> serve_p99_ms=<x>
serve_rps=<x> serve_errors=<n>`` for the paced JMAK mix.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


# ------------------------------------------------------------------------------------ priors
def jmak_prior(root: Path) -> Path:
    """A JMAK-Arrhenius MAML prior, meta-trained for 30 iterations on a synthetic tungsten family."""
    from sciml.materials import SyntheticAlloyFamily
    from sciml.meta import MAML
    from sciml.models.laws import JMAKArrhenius
    from sciml.prior import Prior
    from sciml.prior.domains.law import JMAK_ARRHENIUS_SCHEMA, LawDomain

    torch.manual_seed(0)
    law = JMAKArrhenius(T_ref=1573.15, k_ref=1e-4, Q=400.0, n=1.5).double()
    learner = MAML(law, inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=10, inner_prior_precision=0.01,
                   first_order=True, outer_lr=0.01, meta_batch_size=8)
    learner.fit(SyntheticAlloyFamily("W_recrystallization").tasks(24, seed=0), iterations=30, shots=[3, 5], progress=False)
    schema = JMAK_ARRHENIUS_SCHEMA.with_training_ranges(np.array([[60.0, 1373.15], [3.6e6, 1773.15]]))
    prior = Prior(learner, LawDomain(schema), noise={"kind": "gaussian", "sd": 0.05, "unit": "1"}, name="jmak")
    return prior.save(root / "jmak")


def molecule_prior(root: Path) -> Path:
    """A GIN encoder (300 x 5, fixed BatchNorm statistics) with a MAML logistic head."""
    from sciml.meta import MAML
    from sciml.models import MLP
    from sciml.models.gnn import GIN
    from sciml.prior import Prior
    from sciml.prior.domains.molecules import MoleculeDomain

    torch.manual_seed(0)
    encoder = GIN(1, hidden=300, layers=5, norm="frozen_batch")
    head = MAML(MLP(300, (), 1), loss="bce", inner_lr=0.5, inner_steps=5)
    return Prior(head, MoleculeDomain("simple"), encoder=encoder, encoder_method="embed", name="molecules").save(root / "molecules")


# ------------------------------------------------------------------------------ requests
def alloy_rows(rng: np.random.Generator, n: int, with_x: bool = True) -> list[dict[str, float]]:
    """``n`` measurements of a random tungsten-like alloy (hours, Celsius, fraction X with noise
    0.02)."""
    from sciml.models.laws import JMAKArrhenius

    hours = np.exp(rng.uniform(math.log(0.2), math.log(20), n)).round(4)
    celsius = rng.uniform(1200, 1400, n).round(2)
    rows = [{"time": float(h), "temperature": float(c)} for h, c in zip(hours, celsius)]
    if with_x:
        alloy = JMAKArrhenius(T_ref=1573.15, k_ref=1e-4 * math.exp(rng.normal(0, 0.7)), Q=400.0 * math.exp(rng.normal(0, 0.1)),
                              n=1.5 * math.exp(rng.normal(0, 0.15))).double()
        with torch.no_grad():
            x = alloy(torch.tensor(np.stack([hours * 3600, celsius + 273.15], axis=1))).reshape(-1).numpy()
        for row, value in zip(rows, np.clip(x + rng.normal(0, 0.02, n), 0.0, 1.0).round(4)):
            row["X"] = float(value)
    return rows


UNITS = {"time": "h", "temperature": "C"}


class Recorder:
    """Latencies [s] and errors of one phase."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.calibrations = 0
        self.first_error = ""

    def note(self, started: float, reply: object | None, error: str = "") -> bool:
        ok = reply is not None and getattr(reply, "status_code", 0) < 300
        if ok:
            self.latencies.append(time.perf_counter() - started)
        else:
            self.errors += 1
            if not self.first_error:
                self.first_error = error or f"{reply.status_code}: {reply.text[:200]}"  # type: ignore[union-attr]
        return ok

    def summary(self, elapsed: float) -> dict[str, float]:
        lat = np.array(self.latencies) * 1e3
        return {"p50_ms": float(np.percentile(lat, 50)) if lat.size else math.nan,
                "p99_ms": float(np.percentile(lat, 99)) if lat.size else math.nan,
                "rps": lat.size / elapsed, "errors": self.errors, "n": lat.size}


async def send(client, rec: Recorder, started: float, method: str, url: str, body: dict) -> dict | None:
    try:
        reply = await client.request(method, url, json=body)
    except Exception as err:  # noqa: BLE001 - every failure is counted and the first one shown
        rec.note(started, None, f"{type(err).__name__}: {err}")
        return None
    return reply.json() if rec.note(started, reply) else None


async def jmak_mix(base: str, clients: int, requests: int, rate: float | None, seed: int) -> tuple[Recorder, float]:
    """``requests`` requests of the calibrate + predict mix from ``clients`` clients; paced at
    ``rate`` requests/s in total, or closed loop when ``rate`` is None."""
    import httpx

    rec = Recorder()
    per_client = requests // clients
    interval = clients / rate if rate else 0.0

    async def one(c: int, client) -> None:
        rng = np.random.default_rng([seed, c])
        cal_id = None
        start = time.perf_counter() + (interval * c / clients if rate else 0.0)
        for i in range(per_client):
            scheduled = start + i * interval if rate else time.perf_counter()
            if rate:
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            if cal_id is None or i % 2 == 0:
                body = {"units": UNITS, "rows": alloy_rows(rng, int(rng.integers(3, 6)))}
                reply = await send(client, rec, scheduled, "POST", f"{base}/priors/jmak/calibrate", body)
                cal_id = reply["id"] if reply else None
                rec.calibrations += reply is not None
            else:
                body = {"units": UNITS, "rows": alloy_rows(rng, 5, with_x=False)}
                await send(client, rec, scheduled, "POST", f"{base}/calibrations/{cal_id}/predict", body)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(c, client) for c in range(clients)))
        elapsed = time.perf_counter() - t0
    return rec, elapsed


async def molecule_scoring(base: str, clients: int, molecules: list[str], support: tuple[list[str], list[int]],
                           batch: int, total: int) -> tuple[Recorder, float, int]:
    """Molecules scored per second by ``clients`` clients sending batches of ``batch``."""
    import httpx

    rec = Recorder()
    async with httpx.AsyncClient(timeout=120) as client:
        reply = await client.post(f"{base}/priors/molecules/calibrate", json={"smiles": support[0], "labels": support[1]})
        reply.raise_for_status()
        cal_id = reply.json()["id"]
        batches = [molecules[(i * batch) % len(molecules):][:batch] for i in range(total // batch)]
        queue: asyncio.Queue = asyncio.Queue()
        for b in batches:
            queue.put_nowait(b)
        scored = 0

        async def worker() -> None:
            nonlocal scored
            while not queue.empty():
                b = queue.get_nowait()
                started = time.perf_counter()
                out = await send(client, rec, started, "POST", f"{base}/calibrations/{cal_id}/predict", {"smiles": b})
                if out is not None:
                    scored += len(out["predictions"])

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return rec, time.perf_counter() - t0, scored


async def calibrations_only(base: str, clients: int, count: int, seed: int) -> tuple[Recorder, float]:
    """``count`` JMAK calibrations from ``clients`` clients, closed loop."""
    import httpx

    rec = Recorder()

    async def one(c: int, client) -> None:
        rng = np.random.default_rng([seed, c, 1])
        for _ in range(count // clients):
            body = {"units": UNITS, "rows": alloy_rows(rng, 3)}
            reply = await send(client, rec, time.perf_counter(), "POST", f"{base}/priors/jmak/calibrate", body)
            rec.calibrations += reply is not None

    async with httpx.AsyncClient(timeout=120) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(c, client) for c in range(clients)))
        return rec, time.perf_counter() - t0


# -------------------------------------------------------------------------------- server
def rss_mib(pid: int) -> float:
    """Resident set size of a process [MiB] (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def start_server(priors: list[Path], threads: int, cache: int) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "sciml", "serve", *map(str, priors), "--port", str(port), "--threads", str(threads),
           "--cache-size", str(cache), "--log-level", "warning"]
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115 - read on failure
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)  # a file: a full pipe would block it
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {Path(log.name).read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not answer /health within 120 s")


def line(name: str, s: dict[str, float]) -> str:
    return (f"{name:34s} p50 {s['p50_ms']:8.1f} ms  p99 {s['p99_ms']:8.1f} ms  {s['rps']:7.1f} req/s  "
            f"errors {s['errors']}  ({s['n']} answered)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000, help="requests per JMAK phase")
    parser.add_argument("--rate", type=float, default=200.0, help="offered requests/s of the paced JMAK phase")
    parser.add_argument("--threads", type=int, default=2, help="the server's --threads")
    parser.add_argument("--calibrations", type=int, default=10_000, help="calibrations of the memory phase")
    parser.add_argument("--molecules", type=int, default=5000, help="molecules scored")
    parser.add_argument("--batch", type=int, default=50, help="molecules per scoring request")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sciml.data import load_moleculenet

    tox21 = load_moleculenet("tox21")
    task = tox21.attrs["tasks"][0]
    labelled = tox21.dropna(subset=[task])
    positives = labelled[labelled[task] == 1].smiles.head(10).tolist()
    negatives = labelled[labelled[task] == 0].smiles.head(10).tolist()
    query = tox21.smiles.iloc[100:1100].tolist()

    with tempfile.TemporaryDirectory() as tmp:
        print("building priors ...", flush=True)
        paths = [jmak_prior(Path(tmp)), molecule_prior(Path(tmp))]
        proc, base = start_server(paths, args.threads, cache=1000)
        try:
            print(f"server pid {proc.pid} at {base}; {args.clients} clients; server --threads {args.threads}; "
                  f"{os.cpu_count()} CPUs; RSS at start {rss_mib(proc.pid):.0f} MiB", flush=True)
            warm, _ = asyncio.run(jmak_mix(base, 10, 100, None, args.seed + 99))
            closed, t_closed = asyncio.run(jmak_mix(base, args.clients, args.requests, None, args.seed))
            s_closed = closed.summary(t_closed)
            print(line("jmak mix, closed loop", s_closed), flush=True)
            paced, t_paced = asyncio.run(jmak_mix(base, args.clients, args.requests, args.rate, args.seed + 1))
            s_paced = paced.summary(t_paced)
            print(line(f"jmak mix, paced at {args.rate:g} req/s", s_paced), flush=True)
            mol, t_mol, scored = asyncio.run(molecule_scoring(base, args.clients, query, (positives + negatives, [1] * 10 + [0] * 10),
                                                              args.batch, args.molecules))
            s_mol = mol.summary(t_mol)
            print(line(f"molecules, batches of {args.batch}", s_mol) + f"  -> {scored / t_mol:.0f} molecules/s", flush=True)
            done = warm.calibrations + closed.calibrations + paced.calibrations
            for target in (1000, args.calibrations):
                if target > done:
                    rec, _ = asyncio.run(calibrations_only(base, args.clients, target - done, args.seed + target))
                    if rec.errors:
                        print(f"memory phase: {rec.errors} errors, first: {rec.first_error}")
                    done += rec.calibrations
                print(f"RSS after {done} calibrations: {rss_mib(proc.pid):.0f} MiB", flush=True)
            import httpx

            held = httpx.get(f"{base}/health").json()["calibrations"]
            print(f"calibrations held by the cache: {held} (bound 1000)")
            for rec, name in ((closed, "closed"), (paced, "paced"), (mol, "molecules")):
                if rec.errors:
                    print(f"{name}: first error: {rec.first_error}")
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"serve_p50_ms={s_paced['p50_ms']:.1f} serve_p99_ms={s_paced['p99_ms']:.1f} "
          f"serve_rps={s_paced['rps']:.1f} serve_errors={paced.errors}")


if __name__ == "__main__":
    main()
