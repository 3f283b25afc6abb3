"""The allocator settings of :mod:`sciml.allocator`: a molecular GCN's forward pass with glibc's
default ``malloc`` against the tuned settings, side by side in one run.

Each setting runs in its own fresh interpreter (glibc reads them at start), alternating, on the
same molecules: Hu et al.'s GCN architecture (5 layers, 300 wide, random weights) embedding
2,048 copies of a few drug-like molecules in one batch, evaluation mode, no gradient. Reported:
wall time and the process's user and kernel time per forward pass (median over repeats).

Usage: ``python benchmarks/allocator.py [--repeats 5] [--molecules 2048]``. The last line is
``allocator_speedup=<default wall / tuned wall> default_sys_s=<x> tuned_sys_s=<x>``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from sciml.allocator import SETTINGS

SMILES = ["CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
          "O=C(O)c1ccccc1O", "c1ccc2c(c1)ccc1ccccc12", "CCN(CC)CCNC(=O)c1ccc(N)cc1", "Clc1ccc(cc1)C(c1ccccc1)N1CCN(CC1)C"]

_CHILD = r"""
import json, resource, sys, time
import torch
from torch_geometric.data import Batch
from sciml.chem.featurize import smiles_to_graph
from sciml.models.gnn import HuGNN
torch.set_num_threads(2)
smiles, n, repeats = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
graphs = [smiles_to_graph(s, "hu") for s in smiles]
batch = Batch.from_data_list([graphs[i % len(graphs)] for i in range(n)])
torch.manual_seed(0)
net = HuGNN("gcn", 1, layers=5, hidden=300).eval()
rows = []
for _ in range(repeats + 1):
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with torch.no_grad():
        net.embed(batch)
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    rows.append((t1 - t0, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime))
print(json.dumps(rows[1:]))
"""


def _run(tuned: bool, molecules: int, repeats: int) -> list[list[float]]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env["SCIML_ALLOCATOR"] = "system"
    if tuned:
        env.update(SETTINGS)
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(SMILES), str(molecules), str(repeats)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--molecules", type=int, default=2048)
    args = parser.parse_args()
    rows: dict[bool, list[list[float]]] = {False: [], True: []}
    for _ in range(2):  # alternate, so drift of the machine hits both
        for tuned in (False, True):
            rows[tuned] += _run(tuned, args.molecules, args.repeats)
    med = {t: [statistics.median(r[i] for r in rows[t]) for i in range(3)] for t in rows}
    for t, name in ((False, "glibc default"), (True, "tuned (sciml.allocator)")):
        print(f"{name:>24}: wall {med[t][0]:.3f} s, user {med[t][1]:.3f} s, kernel {med[t][2]:.3f} s per forward of {args.molecules} molecules")
    print(f"allocator_speedup={med[False][0] / med[True][0]:.2f} default_sys_s={med[False][2]:.3f} tuned_sys_s={med[True][2]:.3f}")


if __name__ == "__main__":
    main()
