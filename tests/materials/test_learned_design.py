"""Learned experiment design: features against the posterior they summarize, the untrained
policy against suggest_next, the policy gradient against the exact gradient of a bandit."""

from __future__ import annotations

import math

import pytest
import torch

from sciml.materials.design import design_episode, sequential_design
from sciml.materials.learned_design import (
    DESIGN_FEATURES,
    DesignPolicy,
    candidate_features,
    leave_one_out_advantages,
    policy_gradient_loss,
    train_design_policy,
    validation_error,
)
from sciml.materials.recrystallization import early_design
from sciml.materials.synthetic_alloys import SyntheticAlloyFamily
from sciml.meta import PriorMAP


@pytest.fixture(scope="module")
def setting() -> tuple[PriorMAP, list, list]:
    family = SyntheticAlloyFamily()
    learner = PriorMAP(family.nominal_law().double(), inner_steps=10).fit(family.material_tasks(10, seed=0))
    return learner, list(family.material_tasks(4, seed=1)), list(family.material_tasks(3, seed=2))


def _posterior(learner: PriorMAP, task, shots: int = 4):
    split = early_design(task, shots)
    ad = learner.adapt(split.support)
    return learner.posterior(ad, split.support, 0.03), split


def test_variance_share_is_what_measuring_there_would_remove(setting) -> None:
    learner, tasks, _ = setting
    post, split = _posterior(learner, tasks[0])
    t_mid = float(sorted(tasks[0].metadata["temperatures_K"])[1])
    feats = candidate_features(post, split.query.x, split.support.x, t_mid, 1.0)
    law = learner.model
    before = post.variance(lambda p: law.t50(t_mid, p))
    for i in range(len(split.query)):
        after = post.condition_on_inputs(split.query.x[i : i + 1].double()).variance(lambda p: law.t50(t_mid, p))
        assert math.exp(float(feats[i, 0])) == pytest.approx(max(1.0 - after / before, 1e-4), rel=1e-6, abs=1e-9)


def test_features_by_hand(setting) -> None:
    learner, tasks, _ = setting
    post, split = _posterior(learner, tasks[1])
    x = split.query.x.double()
    t_mid = 1500.0
    feats = candidate_features(post, x, split.support.x, t_mid, 0.6)
    col = {name: feats[:, i] for i, name in enumerate(DESIGN_FEATURES)}
    mean, lo, hi = post.predict(x, include_noise=False)
    assert torch.allclose(col["predicted_fraction"], mean.clamp(0, 1))
    assert torch.allclose(col["transition"], 4 * mean.clamp(0, 1) * (1 - mean.clamp(0, 1)))
    sd = (hi - lo) / (2 * 1.6448536269514722)
    assert torch.allclose(col["log_curve_sd"], (sd / 0.03).log().clamp(-5, 5), atol=1e-6)
    t50 = torch.tensor([float(learner.model.t50(float(T), dict(post.params))) for T in x[:, 1]], dtype=torch.float64)
    assert torch.allclose(col["decades_from_t50"], (x[:, 0].log10() - t50.log10()).clamp(-5, 5))
    assert torch.allclose(col["temperature_offset"], (x[:, 1] - t_mid) / 100)
    for i in range(len(x)):
        d = min(math.hypot(math.log10(x[i, 0]) - math.log10(s[0]), (x[i, 1] - s[1]) / 100) for s in split.support.x.tolist())
        assert float(col["nearest_measured"][i]) == pytest.approx(min(d, 3.0))
    assert torch.all(col["budget_left"] == 0.6)


def test_untrained_policy_picks_what_suggest_next_picks(setting) -> None:
    learner, tasks, _ = setting
    policy = DesignPolicy()
    for task in tasks:
        greedy = design_episode(learner, task, 0.03, "suggest_next", added=5)
        learned = design_episode(learner, task, 0.03, "learned", added=5, policy=policy)
        assert torch.equal(greedy.picked, learned.picked), task.name
        assert greedy.t50_rel_error == learned.t50_rel_error


def test_leave_one_out_advantages_by_hand() -> None:
    adv = leave_one_out_advantages(torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 4.0]]))
    assert torch.allclose(adv, torch.tensor([[-1.5, 0.0, 1.5], [-2.0, -2.0, 4.0]]))


def test_policy_gradient_is_unbiased_on_a_bandit() -> None:
    """One pick among 6 candidates of known rewards: the mean gradient of the loss over many
    sampled picks is minus the exact gradient of the expected reward."""
    torch.manual_seed(0)
    policy = DesignPolicy(hidden=4)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.3 * torch.randn_like(p))
    feats = torch.randn(6, len(DESIGN_FEATURES), dtype=torch.float64)
    reward = torch.tensor([0.0, 1.0, -2.0, 0.5, 3.0, -1.0], dtype=torch.float64)
    exact = torch.autograd.grad((torch.softmax(policy(feats), 0) * reward).sum(), list(policy.parameters()))
    logp = torch.log_softmax(policy(feats), 0)
    tasks, rollouts = 20000, 4
    picks = torch.multinomial(logp.detach().exp(), tasks * rollouts, replacement=True, generator=torch.Generator().manual_seed(1))
    loss = policy_gradient_loss(logp[picks].reshape(tasks, rollouts), reward[picks].reshape(tasks, rollouts))
    estimate = torch.autograd.grad(loss, list(policy.parameters()))
    flat_exact = torch.cat([g.reshape(-1) for g in exact])
    flat_est = -torch.cat([g.reshape(-1) for g in estimate])
    assert torch.linalg.norm(flat_est - flat_exact) < 0.05 * torch.linalg.norm(flat_exact)


def test_training_keeps_the_best_validated_state_and_is_reproducible(setting) -> None:
    learner, tasks, val = setting
    runs = []
    for _ in range(2):
        policy = DesignPolicy()
        train_design_policy(policy, learner, tasks, 0.03, val_tasks=val, added=3, iterations=4, tasks_per_iteration=2, rollouts=2,
                            lr=2.0, eval_every=2, seed=3, progress=False)
        runs.append(policy)
    a, b = runs
    assert a.history_ == b.history_
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    checked = {r["iteration"]: r["val_log_error"] for r in a.history_ if "val_log_error" in r}
    assert sorted(checked) == [0, 2, 4]
    assert a.selected_iteration_ == min(checked, key=checked.get)
    assert a.selected_iteration_ != 4  # a setting (large steps) whose last state is not its best: the kept state is restored
    assert validation_error(a, learner, val, 0.03, start_shots=3, added=3) == pytest.approx(checked[a.selected_iteration_])


def test_bad_input_is_named(setting) -> None:
    learner, tasks, val = setting
    with pytest.raises(ValueError, match="needs a policy"):
        design_episode(learner, tasks[0], 0.03, "learned")
    with pytest.raises(ValueError, match="Unknown strategy"):
        design_episode(learner, tasks[0], 0.03, "greedy")
    with pytest.raises(ValueError, match="Unknown strategies"):
        sequential_design(learner, tasks[0], 0.03, strategies=["greedy"])
    isotherm = SyntheticAlloyFamily().tasks(1, seed=0)[0]
    with pytest.raises(ValueError, match="temperatures_K"):
        design_episode(learner, isotherm, 0.03, "random")
    with pytest.raises(ValueError, match="rollouts"):
        train_design_policy(DesignPolicy(), learner, tasks, 0.03, val_tasks=val, rollouts=1)
    with pytest.raises(ValueError, match="too few points"):
        train_design_policy(DesignPolicy(), learner, tasks, 0.03, val_tasks=val, added=40)
    with pytest.raises(ValueError, match=r"\[m, 8\]"):
        DesignPolicy()(torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\[m, 2\]"):
        candidate_features(_posterior(learner, tasks[0])[0], torch.ones(3), torch.ones(2, 2), 1500.0, 1.0)


def test_sequential_design_adds_the_learned_strategy_only_with_a_policy(setting) -> None:
    learner, tasks, _ = setting
    plain = sequential_design(learner, tasks[0], 0.03, added=2)
    assert set(plain.strategy) == {"suggest_next", "random", "equally spaced"}
    both = sequential_design(learner, tasks[0], 0.03, added=2, policy=DesignPolicy())
    assert set(both.strategy) == {"suggest_next", "random", "equally spaced", "learned"}
    assert list(both[both.strategy == "learned"].shots) == [3, 4, 5]


def test_saved_policy_scores_like_the_original(tmp_path, setting) -> None:
    from sciml.meta.checkpoint import CheckpointError

    policy = DesignPolicy(hidden=5, seed=7)
    with torch.no_grad():
        policy.linear.weight.add_(0.1)
        policy.mlp[-1].weight.fill_(0.2)
    policy.selected_iteration_ = 3
    loaded = DesignPolicy.load(policy.save(tmp_path / "p"))
    feats = torch.randn(4, len(DESIGN_FEATURES), dtype=torch.float64)
    assert torch.equal(loaded(feats), policy(feats)) and loaded.selected_iteration_ == 3
    (tmp_path / "p" / "state.pt").write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match="state.pt"):
        DesignPolicy.load(tmp_path / "p")
    with pytest.raises(CheckpointError, match="not a saved design policy"):
        DesignPolicy.load(tmp_path / "nowhere")


def test_design_tables_and_paired_wins_by_hand() -> None:
    import pandas as pd

    from sciml.materials.design import design_tables, paired_wins, sequential_rows
    from sciml.tasks import Task, TensorData

    def task(name: str) -> Task:
        data = TensorData(torch.zeros(1, 2), torch.zeros(1))
        return Task(data, data, name=name, group=name)

    table = pd.DataFrame({"strategy": ["suggest_next", "learned", "suggest_next", "learned"], "seed": 0, "shots": [4] * 4,
                          "t50_rel_error": [0.4, 0.1, 0.1, 0.3], "t50_log_error": 0.0})
    rows = pd.concat([sequential_rows(table.iloc[:2], task("a"), "L", study="s", dataset="d", steps=1),
                      sequential_rows(table.iloc[2:], task("b"), "L", study="s", dataset="d", steps=1)])
    assert set(rows.learner) == {"L/suggest_next", "L/learned"} and set(rows.metric) == {"t50_rel_error"}
    median, share = design_tables(rows, within=0.2)
    assert median.loc["learned", 4] == pytest.approx(0.2) and median.loc["suggest_next", 4] == pytest.approx(0.25)
    assert share.loc["learned", 4] == 0.5 and share.loc["suggest_next", 4] == 0.5
    wins = paired_wins(rows).iloc[0]
    assert (wins.better, wins.equal, wins.worse) == (1, 0, 1)
    assert wins["median error ratio"] == pytest.approx((0.25 + 3.0) / 2)
