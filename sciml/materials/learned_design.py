"""Learned experiment design: a policy that picks a material's next measurement, meta-trained
across many synthetic alloys by policy gradients to cut the t50 error in as few measurements as
possible.

The greedy rule ``suggest_next`` looks one step ahead at one quantity (the variance of log t50 at
one temperature) under a linearized posterior. The policy scores each candidate measurement from
that same quantity and from what the greedy rule ignores (where the candidate sits on the
predicted transformation curve, its temperature, how far it lies from what was measured, how
many measurements are left), and is trained on whole design episodes: the reward is the mean
log t50 error after each addition, so an early good measurement counts more than a late one. It
starts as the greedy rule (the score is ``greedy_weight`` times the log of the greedy criterion,
the rest of the network zero), so training can only move it where episodes say it should.

Training is REINFORCE with a leave-one-out baseline (several sampled episodes per alloy, each
judged against the others' mean), and the policy kept is the one with the lowest error on
validation alloys, checked every few iterations (the untrained, greedy policy included).

Example:
    >>> policy = DesignPolicy()
    >>> train_design_policy(policy, learner, train_tasks, noise_sd=0.03, val_tasks=val_tasks)
    >>> sequential_design(learner, new_material, noise_sd=0.03, policy=policy)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from sciml.materials.design import design_episode
from sciml.tasks import Task

DESIGN_FEATURES = (
    "log_variance_share",
    "predicted_fraction",
    "transition",
    "log_curve_sd",
    "decades_from_t50",
    "temperature_offset",
    "nearest_measured",
    "budget_left",
)
"""What the policy sees of each candidate (columns of :func:`candidate_features`):

- ``log_variance_share``: ln of the share of the posterior variance of ln t50 (at the target
  temperature) a measurement there would remove (the greedy criterion; floored at 1e-4);
- ``predicted_fraction``: the calibrated curve's transformed fraction X there;
- ``transition``: ``4 X (1 - X)``, 1 mid-transformation and 0 on the plateaus;
- ``log_curve_sd``: ln of the curve's posterior sd there over the noise sd (clipped to +-5);
- ``decades_from_t50``: ``log10(t / t50(T))`` under the current calibration (clipped to +-5);
- ``temperature_offset``: ``(T - T_target) / 100 K``;
- ``nearest_measured``: distance to the nearest measured point, in decades of time and 100 K
  (capped at 3);
- ``budget_left``: the share of the planned additions still to come (1 at the first).
"""


def candidate_features(posterior: Any, candidates: Tensor, measured: Tensor, target_temperature_K: float, budget_left: float) -> Tensor:
    """Features of each candidate measurement under the current calibration (:data:`DESIGN_FEATURES`).

    The variance share uses the rank-one update of the linearized posterior: a measurement with
    prediction gradient ``j`` leaves ``Var[g] - (g^T C j)^2 / (sigma^2 + j^T C j)`` of the variance
    ``g^T C g`` of ``g = ln t50(T_target)`` (``C`` the posterior covariance, ``sigma`` the noise sd).

    Args:
        posterior: The :class:`~sciml.meta.posterior.LaplacePosterior` of a JMAK-Arrhenius
            calibration.
        candidates: Candidate inputs, ``[m, 2]`` (time [s], temperature [K]).
        measured: Inputs already measured, ``[n, 2]``.
        target_temperature_K: Temperature [K] whose t50 the design is about.
        budget_left: Share of the planned additions still to come, in [0, 1].

    Returns:
        ``[m, 8]`` float64.
    """
    if candidates.ndim != 2 or candidates.shape[1] != 2 or measured.ndim != 2 or measured.shape[1] != 2:
        raise ValueError(f"candidates and measured must be [m, 2] (time s, temperature K); got {tuple(candidates.shape)} and "
                         f"{tuple(measured.shape)}.")
    law = posterior.model
    candidates, measured = candidates.double(), measured.double()
    mean, jac = posterior.jacobian(lambda p: functional_call(law, p, (candidates,)).reshape(-1))
    _, grad_g = posterior.jacobian(lambda p: law.t50(target_temperature_K, p).log().reshape(()))
    cov = posterior.cov.double()
    cj = jac @ cov  # [m, P]
    curve_var = (cj * jac).sum(1).clamp_min(0.0)
    var_before = (grad_g @ cov @ grad_g).clamp_min(1e-30)
    reduction = (cj @ grad_g) ** 2 / (posterior.noise_sd**2 + curve_var)
    share = (reduction / var_before).clamp(1e-4, 1.0)
    with torch.no_grad():
        t50 = law.t50(candidates[:, 1], dict(posterior.params)).double()
    log_t = candidates[:, 0].log10()
    decades = (log_t - t50.log10()).nan_to_num(0.0, 5.0, -5.0).clamp(-5.0, 5.0)
    dist = ((log_t[:, None] - measured[:, 0].log10()[None]) ** 2 + ((candidates[:, 1:2] - measured[None, :, 1]) / 100.0) ** 2).sqrt()
    nearest = dist.min(1).values.clamp(max=3.0) if len(measured) else torch.full_like(log_t, 3.0)
    x = mean.detach().clamp(0.0, 1.0)
    return torch.stack([
        share.log(), x, 4.0 * x * (1.0 - x), (0.5 * (curve_var + 1e-30).log() - torch.log(torch.tensor(posterior.noise_sd))).clamp(-5.0, 5.0),
        decades, (candidates[:, 1] - target_temperature_K) / 100.0, nearest, torch.full_like(log_t, float(budget_left)),
    ], dim=1).detach()


class DesignPolicy(nn.Module):
    """Scores candidate measurements; the next measurement is the best-scored one (or, in
    training, a draw from the softmax of the scores).

    ``score = w . f + MLP(f)`` on the :data:`DESIGN_FEATURES` ``f`` of each candidate. Before
    training ``w`` is ``greedy_weight`` on ``log_variance_share`` and zero elsewhere and the MLP's
    last layer is zero, so the best-scored candidate is exactly ``suggest_next``'s choice.

    Args:
        hidden: Width of the MLP's hidden layer.
        greedy_weight: Initial weight of ``log_variance_share`` (also the sharpness of the
            initial sampling distribution: candidates are drawn in proportion to
            ``share ** greedy_weight``).
        seed: Seeds the MLP's hidden layer (the global random state is left untouched).
    """

    def __init__(self, hidden: int = 16, greedy_weight: float = 2.0, seed: int = 0) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {hidden}.")
        width = len(DESIGN_FEATURES)
        self.hidden, self.greedy_weight = int(hidden), float(greedy_weight)
        self.linear = nn.Linear(width, 1, bias=False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.weight[0, DESIGN_FEATURES.index("log_variance_share")] = greedy_weight
            self.mlp[-1].weight.zero_()
            self.mlp[-1].bias.zero_()
        self.double()
        self.history_: list[dict[str, float]] = []
        self.selected_iteration_: int | None = None

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' dtype."""
        return self.linear.weight.dtype

    def forward(self, features: Tensor) -> Tensor:
        """Scores ``[m]`` of candidates with features ``[m, len(DESIGN_FEATURES)]``."""
        if features.ndim != 2 or features.shape[1] != len(DESIGN_FEATURES):
            raise ValueError(f"features must be [m, {len(DESIGN_FEATURES)}] ({', '.join(DESIGN_FEATURES)}); got {tuple(features.shape)}.")
        return (self.linear(features) + self.mlp(features)).squeeze(1)

    def save(self, directory: str | Path) -> Path:
        """Write ``policy.json`` (settings, features, training history) and ``state.pt`` (a
        plain dict of tensors) to ``directory``; returns it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        doc = {"class": "DesignPolicy", "hidden": self.hidden, "greedy_weight": self.greedy_weight, "features": list(DESIGN_FEATURES),
               "selected_iteration": self.selected_iteration_, "history": self.history_}
        (directory / "policy.json").write_text(json.dumps(doc, indent=2))
        torch.save({k: v.detach().cpu() for k, v in self.state_dict().items()}, directory / "state.pt")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> DesignPolicy:
        """A policy written by :meth:`save`.

        Raises:
            CheckpointError: naming the file that is missing, unreadable, or saved with other
                features than this version's :data:`DESIGN_FEATURES`.
        """
        from sciml.meta.checkpoint import CheckpointError, load_state, load_tensors

        path = Path(directory) / "policy.json"
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CheckpointError(f"{path}: not a saved design policy ({err}).") from None
        if doc.get("features") != list(DESIGN_FEATURES):
            raise CheckpointError(f"{path}: saved with features {doc.get('features')}, this version reads {list(DESIGN_FEATURES)}.")
        policy = cls(hidden=int(doc["hidden"]), greedy_weight=float(doc["greedy_weight"]))
        load_state(policy, load_tensors(Path(directory) / "state.pt"), str(directory))
        policy.selected_iteration_, policy.history_ = doc.get("selected_iteration"), list(doc.get("history", []))
        return policy

    def weights(self) -> dict[str, float]:
        """The linear part's weight per feature (what the policy reads most, at a glance)."""
        return {name: float(w) for name, w in zip(DESIGN_FEATURES, self.linear.weight[0].detach())}


def leave_one_out_advantages(rewards: Tensor) -> Tensor:
    """Each episode's reward minus the mean reward of the other episodes of the same task.

    Args:
        rewards: ``[tasks, rollouts]`` (rollouts >= 2).

    Returns:
        ``[tasks, rollouts]``. With this baseline the policy gradient stays unbiased: an
        episode's baseline does not depend on its own actions.
    """
    if rewards.ndim != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be [tasks, rollouts] with rollouts >= 2, got {tuple(rewards.shape)}.")
    r = rewards.shape[1]
    return rewards - (rewards.sum(1, keepdim=True) - rewards) / (r - 1)


def policy_gradient_loss(log_probs: Tensor, rewards: Tensor) -> Tensor:
    """REINFORCE loss whose gradient is minus an unbiased estimate of the gradient of the
    expected reward: ``-mean(A * log_prob)`` with the :func:`leave_one_out_advantages` ``A``.

    Args:
        log_probs: Log-probability of each sampled episode under the policy (with its graph),
            ``[tasks, rollouts]``.
        rewards: The episodes' rewards, ``[tasks, rollouts]`` (no graph).
    """
    if log_probs.shape != rewards.shape:
        raise ValueError(f"log_probs {tuple(log_probs.shape)} and rewards {tuple(rewards.shape)} must have the same shape.")
    return -(leave_one_out_advantages(rewards.detach()) * log_probs).mean()


def _design_error(episode: Any) -> float:
    """Mean ln t50 error after each addition (the quantity the policy minimizes)."""
    errs = episode.t50_log_error[1:] or episode.t50_log_error
    return sum(errs) / len(errs)


def validation_error(policy: DesignPolicy, learner: Any, tasks: Sequence[Task], noise_sd: float, *, start_shots: int, added: int) -> float:
    """Mean over ``tasks`` of the best-scored design's mean ln t50 error after each addition."""
    with torch.no_grad():
        errs = [_design_error(design_episode(learner, t, noise_sd, "learned", start_shots=start_shots, added=added, policy=policy))
                for t in tasks]
    return sum(errs) / len(errs)


def train_design_policy(
    policy: DesignPolicy,
    learner: Any,
    tasks: Sequence[Task],
    noise_sd: float,
    *,
    val_tasks: Sequence[Task],
    start_shots: int = 3,
    added: int = 5,
    iterations: int = 60,
    tasks_per_iteration: int = 4,
    rollouts: int = 4,
    lr: float = 0.01,
    eval_every: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> DesignPolicy:
    """Meta-train ``policy`` on design episodes of ``tasks`` (REINFORCE, leave-one-out baseline).

    Each iteration draws ``tasks_per_iteration`` materials and ``rollouts`` sampled episodes of
    each (start from the ``start_shots`` earliest points, add ``added`` by the policy); an
    episode's reward is minus its mean ln t50 error after each addition. Every ``eval_every``
    iterations, and before the first, the best-scored policy is judged on ``val_tasks``; the
    state with the lowest validation error is kept (``selected_iteration_``; 0 is the untrained,
    greedy policy).

    Args:
        policy: The policy to train (in place).
        learner: A fitted law learner (JMAK-Arrhenius) that calibrates after each measurement.
        tasks: Training materials, each with ``temperatures_K`` and ``t50_s`` (truth or reference)
            in metadata and more than ``start_shots + added`` points.
        noise_sd: Measurement noise sd of the fraction [1].
        val_tasks: Validation materials (never the test materials).
        start_shots, added: As :func:`~sciml.materials.design.design_episode`.
        iterations: Policy-gradient steps.
        tasks_per_iteration: Materials per step.
        rollouts: Sampled episodes per material (>= 2).
        lr: Adam learning rate.
        eval_every: Validation period, in iterations.
        seed: Seeds the draws of materials and of the sampled picks.
        progress: Show a progress bar.

    Returns:
        ``policy`` with the selected state, ``history_`` (``iteration``, ``train_log_error``,
        ``val_log_error``) and ``selected_iteration_``.
    """
    from tqdm.auto import tqdm

    tasks, val_tasks = list(tasks), list(val_tasks)
    if added < 1:
        raise ValueError(f"added must be >= 1 to train a design policy, got {added}.")
    if rollouts < 2:
        raise ValueError(f"rollouts must be >= 2 for the leave-one-out baseline, got {rollouts}.")
    if not tasks or not val_tasks:
        raise ValueError("train_design_policy needs training and validation materials.")
    small = [t.name for t in [*tasks, *val_tasks] if len(t) <= start_shots + added]
    if small:
        raise ValueError(f"Materials with too few points for {start_shots} + {added} measurements: {small[:5]}"
                         f"{' ...' if len(small) > 5 else ''}; leave them out or lower start_shots/added.")
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    best = validation_error(policy, learner, val_tasks, noise_sd, start_shots=start_shots, added=added)
    best_state, policy.selected_iteration_ = copy.deepcopy(policy.state_dict()), 0
    policy.history_ = [{"iteration": 0, "val_log_error": best}]
    for it in tqdm(range(1, iterations + 1), desc="design policy", disable=not progress, leave=False):
        picks = torch.randint(len(tasks), (tasks_per_iteration,), generator=g).tolist()
        log_probs, rewards = [], []
        for i in picks:
            for _ in range(rollouts):
                ep = design_episode(learner, tasks[i], noise_sd, "learned", start_shots=start_shots, added=added, policy=policy,
                                    sample=True, seed=int(torch.randint(2**31 - 1, (1,), generator=g)))
                log_probs.append(ep.log_prob)
                rewards.append(-_design_error(ep))
        rewards_t = torch.tensor(rewards, dtype=policy.dtype).reshape(tasks_per_iteration, rollouts)
        loss = policy_gradient_loss(torch.stack(log_probs).reshape(tasks_per_iteration, rollouts), rewards_t)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        row: dict[str, float] = {"iteration": it, "train_log_error": float(-rewards_t.mean())}
        if it % eval_every == 0 or it == iterations:
            row["val_log_error"] = validation_error(policy, learner, val_tasks, noise_sd, start_shots=start_shots, added=added)
            if row["val_log_error"] < best:
                best, best_state, policy.selected_iteration_ = row["val_log_error"], copy.deepcopy(policy.state_dict()), it
        policy.history_.append(row)
    policy.load_state_dict(best_state)
    return policy
