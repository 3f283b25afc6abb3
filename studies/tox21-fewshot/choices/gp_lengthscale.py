"""The GP head's initial lengthscale, chosen on held-out molecules of the training assays only.

Usage: ``python studies/tox21-fewshot/choices/gp_lengthscale.py RUN_DIR`` with a run of this study
(its frozen body is read from ``RUN_DIR/priors/tox21-gp-head``). Trains the GP head with each initial
lengthscale on the fit split of the training assays and prints ROC-AUC and ECE (%) on balanced
supports drawn from the held-out molecules of the training assays (3 seeds).
"""
import sys

import torch

from sciml.chem import benchmark as B
from sciml.chem.fewshot import (
    BalancedEpisodes,
    balanced_support,
    rarer_label_count,
    split_molecules,
    validation_episodes,
)
from sciml.evaluation.metrics import BINARY_PROBABILITY_METRICS
from sciml.evaluation.protocol import few_shot_results
from sciml.meta import DeepKernelGP
from sciml.models import MLP
from sciml.prior import load_prior
from sciml.tasks import EmbeddingCache, TaskSet

torch.set_num_threads(2)
run = sys.argv[1]
data = B.load_assay_tasks("tox21", "hu")
fit, held = split_molecules(data.train, 0.2, seed=0)
enc = load_prior(f"{run}/priors/tox21-gp-head").encoder
cache = EmbeddingCache(enc)
fit_e, held_e = cache.encode(fit), TaskSet(cache.encode(held))
val = cache.encode(validation_episodes(held, [10, 1], queries=32, seed=1))
usable = TaskSet(t for t in held_e if rarer_label_count(t) > 10)


def median_distance(head: DeepKernelGP, x: torch.Tensor) -> float:
    """The median heuristic: median distance between the (untrained) head's features."""
    with torch.no_grad():
        d = torch.cdist(head.model(x), head.model(x))
    return float(d[torch.triu(torch.ones_like(d, dtype=torch.bool), diagonal=1)].median())


sample = torch.cat([t.data.x for t in fit_e])[::max(1, sum(len(t) for t in fit_e) // 2000)]
for label in ("lengthscale 5.0", "median heuristic"):
    torch.manual_seed(0)
    head = DeepKernelGP(MLP(300, (), 128), task="classification", lengthscale=5.0, outer_lr=1e-3, meta_batch_size=9)
    if label == "median heuristic":
        torch.manual_seed(0)
        ls = median_distance(head, sample)
        head = DeepKernelGP(MLP(300, (), 128), task="classification", lengthscale=ls, outer_lr=1e-3, meta_batch_size=9)
        print(f"median distance between features: {ls:.3f}")
    head.fit(BalancedEpisodes(fit_e, [10, 1], queries=8), val, iterations=300, eval_every=50, seed=0, progress=False)
    r = few_shot_results(head, usable, shots=[10, 1], steps=[0], seeds=range(3), metrics=BINARY_PROBABILITY_METRICS,
                         resample=balanced_support)
    print(label, (r.groupby(["metric", "shots"]).value.mean() * 100).round(2).to_dict(), head.hyperparameters())
