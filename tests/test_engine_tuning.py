"""The engine's learning-rate tuning (research/engine/tuning.py), shared by the studies that tune:
the grid rule, the choice by validation, the tuning experiment on its own keys and the seed check.

How each study picks its tuned arms and grids, and what it does with the choice, is tested with the
study (test_claims_training.py for batchnorm, test_study_init_study.py for init_study)."""

import jax
import numpy as np
import pytest

import claimkit
from research.engine import config as config_lib, experiment, keys as keys_lib, study as study_lib, tuning


def test_choose_takes_the_best_tuning_mean_and_never_a_mostly_diverged_rate():
    # rates 0.1, 0.3, 1, 3 on 4 tuning seeds; 1.0's survivors are best but 3 of 4 diverged
    accs = [[0.80] * 4, [0.85] * 4, [0.97] * 4, [0.1] * 4]
    curves = [claimkit.rising_curves(a, d) for a, d in zip(accs, [(), (), (0, 1, 2), ()])]
    val = np.stack([c[0] for c in curves], axis=1)
    div = np.stack([c[1] for c in curves], axis=1)
    assert tuning.choose(val, div) == 1
    # one of 4 diverged (not most): counted at chance, 1.0 still wins (0.1 + 3 * 0.97) / 4 = 0.7525 < 0.85 loses
    div[:, 2] = [5, -1, -1, -1]
    assert tuning.choose(val, div) == 1
    val[:, 2, -1] = [0.97, 1.0, 1.0, 1.0]  # (0.1 + 3) / 4 = 0.775 still below 0.85
    assert tuning.choose(val, div) == 1
    div[:, 2] = -1  # none diverged: the best mean wins
    assert tuning.choose(val, div) == 2


def test_choose_never_takes_a_rate_most_of_whose_runs_diverged_even_above_chance():
    # the majority rule itself, where counting at chance alone would not exclude the rate: rate 0 ends at
    # 0.2, rate 1 at 0.99 on its survivors. 3 of 4 diverged: mean 0.3225 > 0.2, yet rate 0 is chosen;
    # 2 of 4 (not most): mean 0.545, rate 1 is chosen
    acc = np.stack([np.full((4, 2), 0.2), np.full((4, 2), 0.99)], axis=1)  # (tune seeds, rates, evals)
    assert tuning.choose(acc, np.array([[-1, 7], [-1, 7], [-1, 7], [-1, -1]])) == 0
    assert tuning.choose(acc, np.array([[-1, 7], [-1, 7], [-1, -1], [-1, -1]])) == 1


@pytest.mark.parametrize("grid,ok", [
    ((), True), ((0.3, 1.0, 3), True), ([0.1], True),
    ((1.0, 0.3), False), ((0.3, 0.3), False), ((0.0, 1.0), False), ((-1.0,), False),
    ((0.3, float("inf")), False), ((0.3, float("nan")), False), ((0.3, "fast"), False), ((True,), False),
    ("fast", False), (0.3, False),
])
def test_a_grid_is_a_strictly_increasing_list_of_finite_positive_rates(grid, ok):
    assert tuning.rates_ok(grid) is ok
    rule, text = tuning.rates_rule("empty: untuned")
    assert rule is tuning.rates_ok and text == "a strictly increasing list of finite rates > 0 (empty: untuned)"


def _full(**params):
    """A two-arm config of a study that declares the tuning PARAMS; ``b`` sets its own weight init."""
    c = study_lib.load("init_study").get_config()
    c.seeds = 16
    c.arms = {"a": {"model": {"activation": "sigmoid"}},
              "b": {"model": {"activation": "sigmoid", "weight_init": "he_normal"}, "train": {"epochs": 3}}}
    for key, value in params.items():
        c.params[key] = value
    return experiment.resolve(c)


def test_the_tuning_experiment_has_its_own_keys_and_one_arm_per_arm_and_rate():
    full = _full()
    t = tuning.experiment(full, {"a": (0.1, 1.0), "b": (0.3,)})
    assert (t.seed, t.seeds) == (1000, 4) and full.seed == 0  # tune_seed, tune_seeds
    assert list(t.arms) == ["a@tune00", "a@tune01", "b@tune00"] == [
        tuning.tune_arm("a", 0), tuning.tune_arm("a", 1), tuning.tune_arm("b", 0)]
    assert {n: a.traced.lr for n, a in t.arms.items()} == {"a@tune00": 0.1, "a@tune01": 1.0, "b@tune00": 0.3}
    # everything else of the arm is kept: its own overrides, at its own budget
    assert t.arms["b@tune00"].model["weight_init"] == "he_normal" and t.arms["b@tune00"].train.epochs == 3
    assert tuning.with_lr(full, "b", 2) == {"model": {"activation": "sigmoid", "weight_init": "he_normal"},
                                            "train": {"epochs": 3, "lr": 2.0}}
    tune = {tuple(np.asarray(jax.random.key_data(k)).ravel()) for k in keys_lib.run_keys(t.seed, t.seeds)}
    score = {tuple(np.asarray(jax.random.key_data(k)).ravel()) for k in keys_lib.run_keys(full.seed, full.seeds)}
    assert len(tune) == 4 and not tune & score


def test_tuning_on_the_scored_seed_is_refused_in_one_line_only_when_something_is_tuned():
    full = _full(tune_seed=0)
    with pytest.raises(config_lib.ConfigError, match=r"^config\.params\.tune_seed=0 is invalid; accepted: a seed "
                                                     r"other than config\.seed=0 \(tuning runs must not share the "
                                                     r"claim runs' keys\)$"):
        tuning.check_seed(full, {"a": (0.1,)}, runs="claim")
    tuning.check_seed(full, {"a": (), "b": ()})  # nothing tuned: no tuning keys to collide
    tuning.check_seed(_full(), {"a": (0.1,)})     # tune_seed 1000, seed 0


def test_tune_trains_every_tuning_arm_with_the_study_start_hook(monkeypatch):
    """tune passes the study's start hook to the tuning runs (init_zoo's LSUV arm is tuned as it is
    trained), never opens the test split, and stacks each arm's runs by rate."""
    from research.engine import runner

    full = _full()
    calls = []

    def fake_train(self, arms=None, start=None, finish=None, probe=None):
        calls.append((sorted(self.full.arms) if arms is None else sorted(arms), start,
                      self.study.arms_to_test(self.full, {})))
        return {f"{n}/{k}": np.full((self.full.seeds, 2), i, float) if k == "val_acc" else np.full((self.full.seeds,), -1)
                for i, n in enumerate(self.full.arms) for k in ("val_acc", "diverged_at")}

    monkeypatch.setattr(runner.Context, "train", fake_train)
    ctx = runner.Context(full, study_lib.load("init_study"), "unused", progress=False, dataset=object())
    hook = lambda *a: None
    out = tuning.tune(ctx, {"a": (0.1, 1.0), "b": (0.3,)}, start=hook)
    assert calls == [(["a@tune00", "a@tune01", "b@tune00"], hook, set())]
    assert out["a/tune_val_acc"].shape == (4, 2, 2) and out["a/tune_val_acc"][0, :, 0].tolist() == [0, 1]
    assert out["b/tune_diverged_at"].shape == (4, 1)


def test_describe_says_how_the_rates_were_chosen():
    full = _full()
    assert tuning.describe(full, {}) == "rates from the config, no tuning"
    assert tuning.describe(full, {}, "untouched") == "untouched"
    assert tuning.describe(full, {"tune_lrs": np.asarray([0.1, 0.3])}) == (
        "each tuned arm's rate the best mean final validation accuracy of {0.1, 0.3} on 4 tuning seeds "
        "(seed 1000), not the claim's")
