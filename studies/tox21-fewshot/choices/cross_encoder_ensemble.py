"""An ensemble across encoders: the frozen-body learners of several of Hu et al.'s encoders, weighted
by greedy ensemble selection on held-out molecules of the training assays only.

Usage: ``python studies/tox21-fewshot/choices/cross_encoder_ensemble.py [ENCODER_FILE ...]``
(default: ``gcn_supervised_contextpred.pth graphsage_supervised_contextpred.pth``; about 7 min per
encoder on 2 CPU cores). For every encoder the study's protocol trains the body multi-task (20
epochs) and the MAML head, GP head and MatchingNet on it. Each learner's probabilities on balanced
supports (k = 10 and 1, 3 draws) from the held-out molecules of the training assays choose the
weights (20 rounds, :func:`sciml.meta.ensemble.greedy_weights`); the test assays are read only to
print the ensemble's ROC-AUC (10 seeds, mean and 95% CI over seeds) beside every member's.
"""
import sys

import numpy as np

from sciml.chem import benchmark as B
from sciml.chem.fewshot import balanced_support, usable_held_out
from sciml.evaluation.tables import mean_ci
from sciml.meta.ensemble import greedy_weights, mean_roc_auc, validation_probabilities
from sciml.tasks import EmbeddingCache, TaskSet

encoders = sys.argv[1:] or ["gcn_supervised_contextpred.pth", "graphsage_supervised_contextpred.pth"]
data = B.load_assay_tasks("tox21", "hu")
held_probs, test_probs = {}, {}
for file in encoders:
    bench = B.assay_benchmark(data.train, data.test, learners=[B.FROZEN_HEAD, B.GP_HEAD, B.MATCHING], shots=(10, 1), seeds=10,
                              model={"encoder": file}, training={"pretrain_epochs": 20}, dataset="tox21",
                              log=lambda m, f=file: print(f"{f}: {m}", flush=True))
    body = {id(encoder) for _, encoder in bench.learners.values()}
    assert len(body) == 1, "the frozen-body learners of one encoder share its body"
    cache = EmbeddingCache(next(iter(bench.learners.values()))[1])
    held_e = TaskSet(cache.encode(usable_held_out(bench.details["held"], (10, 1))))
    test_e = TaskSet(cache.encode(data.test))
    for label, (learner, _) in bench.learners.items():
        name = f"{file.split('_')[0]}: {label}"
        held_probs[name] = validation_probabilities(learner, held_e, shots=(10, 1), seeds=range(3), resample=balanced_support)
        test_probs[name] = {k: [validation_probabilities(learner, test_e, shots=(k,), seeds=[s], resample=balanced_support)
                                for s in range(10)] for k in (10, 1)}

weights, selection = greedy_weights(held_probs, rounds=20)
print(selection.to_string())


def per_seed(k: int, combine) -> str:
    """Mean and 95% CI over seeds of the mean test ROC-AUC (%) of one seed's episodes."""
    scores = [100 * mean_roc_auc(combine(s)) for s in range(10)]
    mean, half = mean_ci(np.asarray(scores))
    return f"{mean:.2f} +- {half:.2f}"


def ensemble_episodes(k: int, s: int) -> list:
    """The ensemble's test episodes of seed ``s``: the weighted mean of its members' probabilities."""
    members = {n: test_probs[n][k][s] for n in weights if weights[n] > 0}
    first = next(iter(members.values()))
    return [(sum(weights[n] * members[n][i][0] for n in members), first[i][1]) for i in range(len(first))]


print("weights:", {n: round(w, 2) for n, w in weights.items() if w > 0})
for name in test_probs:
    print(f"{name:50s} 10-shot {per_seed(10, lambda s, n=name: test_probs[n][10][s])}   1-shot {per_seed(1, lambda s, n=name: test_probs[n][1][s])}")
print(f"{'ensemble across encoders':50s} 10-shot {per_seed(10, lambda s: ensemble_episodes(10, s))}   1-shot {per_seed(1, lambda s: ensemble_episodes(1, s))}")
