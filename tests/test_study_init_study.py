"""The init study's design: rates tuned per init on tuning seeds only, time to target with censoring,
the notes' regime as its own claim family, and both configs through the real command on tiny overrides.

The verdict logic shared with the other training studies (stuck / trains, margins, divergence as
failure) is in test_claims_training.py."""

import jax
import numpy as np
import pytest
from studyrun import run_and_check

import claimkit
from research.engine import config as config_lib, experiment, keys as keys_lib, study as study_lib
from research.engine import tuning as engine_tuning
from research.studies.init_study import notes_config, study as init_study, tuning

SEEDS = 4


def _full(config=None, **params):
    c = config or study_lib.load("init_study").get_config()
    c.seeds = SEEDS
    for key, value in params.items():
        c.params[key] = value
    return experiment.resolve(c)


def test_tuning_runs_on_its_own_seeds_and_only_for_arms_without_a_rate():
    full = _full()
    tfull = engine_tuning.experiment(full, tuning.grids(full))
    assert (tfull.seed, tfull.seeds) == (1000, 4) and full.seed == 0
    tuned = tuning.tuned(full)
    # arms that set their own train.lr (sigmoid zeros and sparse, every relu arm) are not tuned
    assert sorted(tuned) == sorted(f"sigmoid-{i}" for i in ("small_random", "lecun_normal", "xavier_normal", "he_normal"))
    assert set(tfull.arms) == {engine_tuning.tune_arm(n, i) for n in tuned for i in range(4)}
    assert tfull.arms["sigmoid-he_normal@tune03"].traced.lr == 3.0
    assert tfull.arms["sigmoid-he_normal@tune00"].train.epochs == 16  # tuned at the scoring budget
    # an activation with a grid tunes an arm that leaves its rate to the base config
    c = study_lib.load("init_study").get_config()
    c.arms = {"r": {"model": {"activation": "relu"}}, "s": {"model": {"activation": "sigmoid"}}}
    c.params.tune_lrs = {"relu": (0.01, 0.1)}
    assert tuning.tuned(experiment.resolve(c)) == ["r"]
    # no tuning key is a scoring key
    score, tune = keys_lib.run_keys(full.seed, 32), keys_lib.run_keys(tfull.seed, tfull.seeds)
    s = {tuple(np.asarray(jax.random.key_data(k)).ravel()) for k in score}
    t = {tuple(np.asarray(jax.random.key_data(k)).ravel()) for k in tune}
    assert not s & t


def test_tune_seed_equal_to_the_seed_is_refused_in_one_line():
    full = _full(tune_seed=0)
    with pytest.raises(config_lib.ConfigError, match=r"^config.params.tune_seed=0 is invalid; accepted: a seed "
                                                     r"other than config.seed=0"):
        tuning.check(full)
    tuning.check(_full(tune_seed=0, tune_lrs={}))  # nothing tuned: no tuning keys to collide


@pytest.mark.parametrize("bad", [{"sigmoid": (1.0, 0.3)}, {"sigmoid": (0.0, 1.0)}, {"sigmoid": (0.3, "fast")}, {"sigmoid": "fast"}])
def test_a_bad_grid_is_refused_naming_it(bad):
    c = study_lib.load("init_study").get_config()
    c.params.tune_lrs = bad
    with pytest.raises(config_lib.ConfigError, match=r"^config.params.tune_lrs=.* is invalid; accepted: a dict "
                                                     r"\{activation: strictly increasing"):
        experiment.resolve(c)


def test_rates_come_from_the_tuning_arrays_only():
    """The rate is read from the tuning runs; a scored arm's own curves (here best at another rate)
    cannot move it, and an untuned arm keeps its config rate."""
    full = _full()
    res = {}
    for n in tuning.tuned(full):
        g = tuning.grid(full, n)
        best = 0 if n.endswith("lecun_normal") else 2
        val, div = zip(*[claimkit.rising_curves([0.9 if i == best else 0.5] * 4) for i in range(len(g))])
        res[f"{n}/tune_val_acc"], res[f"{n}/tune_diverged_at"] = np.stack(val, axis=1), np.stack(div, axis=1)
    r = tuning.rates(full, res)
    assert r["sigmoid-he_normal"] == 1.0 and r["sigmoid-lecun_normal"] == 0.1 and r["relu-he_normal"] == 0.03
    assert r["sigmoid-zeros"] == 0.3 and r["relu-sparse"] == 0.03
    res["sigmoid-he_normal/val_acc"] = np.ones((SEEDS, 4))  # a scoring array: ignored by selection
    assert tuning.rates(full, res)["sigmoid-he_normal"] == 1.0


def test_time_to_target_censors_seeds_that_never_reach_or_diverge():
    steps = np.array([[100, 200, 300, 400]] * 4)
    val = np.array([[0.5, 0.85, 0.9, 0.9],     # reaches 0.8 at 200
                    [0.5, 0.6, 0.7, 0.81],     # at 400
                    [0.5, 0.6, 0.7, 0.75],     # never: censored at 400
                    [0.9, 0.9, 0.9, 0.9]])     # reaches at 100 but diverged: failure, censored
    res = {"a/val_acc": val, "a/diverged_at": np.array([-1, -1, -1, 250]), "a/steps": steps}
    times, reached = init_study.time_to_target(res, "a", 0.8)
    np.testing.assert_array_equal(times, [200, 400, 400, 400])
    np.testing.assert_array_equal(reached, [True, True, False, False])
    r = init_study.reach_summary(res, "a", 0.8)
    # KM: 1 of 4 at 200 -> 0.25; 1 of 3 at risk at 400 -> 1 - 0.75 * 2/3 = 0.5: the median is 400
    assert (r["km_q25"], r["km_median"], r["km_q75"]) == (200.0, 400.0, None)
    assert r["fraction_reached"] == 0.5 and r["budget"] == 400
    val[1, -1] = 0.79  # now only one of four reaches it: the median lies beyond the budget
    r = init_study.reach_summary(res, "a", 0.8)
    assert r["km_median"] is None and r["fraction_reached"] == 0.25


def _notes_results(full, finals):
    res = {}
    for n in full.arms:
        val, div = claimkit.rising_curves(finals.get(n, [0.9] * SEEDS), evals=5)
        res.update({f"{n}/val_acc": val, f"{n}/diverged_at": div,
                    f"{n}/steps": np.tile(np.arange(1, 6) * 800, (SEEDS, 1)), f"{n}/lr": np.full(SEEDS, 1.0)})
    return res


def test_the_notes_regime_is_its_own_claim_and_can_go_both_ways():
    full = _full(notes_config.get_config())
    got = claimkit.claims_by_id("init_study", full, _notes_results(full, {}))
    assert set(got) == {"init_study.notes.scaled_inits_train"}
    c = got["init_study.notes.scaled_inits_train"]
    assert c.holds and c.measured == pytest.approx(0.9)
    assert "sgd, sigmoid_mse, batch 10, 4000 updates, [0, 1] pixels" in c.claim and "from {0.3, 1, 3, 10}" in c.claim
    # curves 0.1, 0.3, 0.5, 0.7, 0.9 at steps 800..4000: 0.8 is first reached at 4000 by every seed
    assert "lecun_normal 4000 (4/4)" in c.claim
    bad = _notes_results(full, {"notes-xavier_normal": [0.9, 0.9, 0.75, 0.9]})
    c = claimkit.claims_by_id("init_study", full, bad)["init_study.notes.scaled_inits_train"]
    assert not c.holds and "xavier_normal >4000 (3/4)" not in c.claim and "xavier_normal 4000 (3/4)" in c.claim


def test_init_study_runs_through_the_command_on_tiny_overrides(tmp_path):
    summary = run_and_check(tmp_path, "init_study", [
        "--config.seeds=2", "--config.data.limit_train=256", "--config.model.hidden=(16,)",
        "--config.eval.hist_seeds=1", "--config.params.tune_seeds=2", "--config.params.tune_lrs.sigmoid=(0.3,3.0)",
        "--config.arms['sigmoid-he_normal'].train.epochs=2"],
        {f"init_study.{a}.{s}" for a in ("relu", "sigmoid")
         for s in ("zeros_at_chance", "small_random_stalls", "scaled_inits_train")})
    arms = summary["arms"]
    assert arms["sigmoid-he_normal"]["lr"] in (0.3, 3.0) and arms["relu-he_normal"]["lr"] == 0.03  # its own
    assert arms["sigmoid-zeros"]["lr"] == 0.3
    assert arms["sigmoid-he_normal"]["time_to_target"]["budget"] == 2 * 4  # its own schedule: 2 epochs of 256 / 64 steps
    assert arms["sigmoid-lecun_normal"]["time_to_target"]["budget"] == 16 * 4
    assert arms["relu-he_normal"]["time_to_target"]["budget"] == 4 * 4


@pytest.mark.slow  # batch 10: ~1 min on 2 cores
def test_init_study_notes_runs_through_the_command_on_tiny_overrides(tmp_path):
    summary = run_and_check(tmp_path, "init_study_notes", [
        "--config.seeds=2", "--config.data.limit_train=200", "--config.model.hidden=(16,)",
        "--config.eval.hist_seeds=1", "--config.train.max_steps=40", "--config.params.tune_lrs.sigmoid=(1.0,)"],
        {"init_study.notes.scaled_inits_train"})
    assert all(a["lr"] == 1.0 and a["time_to_target"]["budget"] == 40 for a in summary["arms"].values())
