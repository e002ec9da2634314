"""The deep_relu study (He et al. 2015): its variance maths and a tiny run through the CLI (its
training goes through the engine's ctx.train, tested in test_engine)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from studyrun import run_and_check

from research.engine import experiment, files, tuning
from research.engine.config import ConfigError
from research.lib import mlp
from research.studies.deep_relu import study as R

IDS = {"deep_relu.variance_ratio_xavier", "deep_relu.variance_ratio_he", "deep_relu.he_learns"}


@pytest.mark.slow  # the whole study through the CLI (10-25 s); .ci/run runs the slow marker too
def test_tiny_run_reports_its_claims(tmp_path):
    summary = run_and_check(tmp_path, "deep_relu", [
        "--config.seeds=2", "--config.data.limit_train=128", "--config.model.hidden=(8,8,8)",
        "--config.train.epochs=1", "--config.params.n_examples=32", "--config.params.tune_seeds=2",
        "--config.params.tune_lrs={'xavier': (0.1, 0.3), 'he': (0.003, 0.01)}"], IDS)
    assert set(summary["arms"]) == {"xavier", "he"}
    # each arm tuned at run time on its own grid, and trained at the rate chosen from its tuning runs
    m = files.read_npz(str(tmp_path / "metrics.npz"))
    for arm, grid in (("xavier", (0.1, 0.3)), ("he", (0.003, 0.01))):
        assert m[f"{arm}/tune_val_acc"].shape[:2] == (2, 2) and m[f"{arm}/tune_diverged_at"].shape == (2, 2)
        chosen = grid[tuning.choose(m[f"{arm}/tune_val_acc"], m[f"{arm}/tune_diverged_at"])]
        np.testing.assert_array_equal(m[f"{arm}/lr"], [chosen, chosen])
        assert summary["tuning"][arm]["chosen"] == chosen and summary["tuning"][arm]["lrs"] == list(grid)
    text = {c["id"]: c["claim"] for c in summary["claims"]}
    assert "He's -3" in text["deep_relu.variance_ratio_xavier"]  # 4 linear layers: 3 halvings
    assert "theory's +0" in text["deep_relu.variance_ratio_he"]
    kinds = {c["id"]: c["kind"] for c in summary["claims"]}
    assert kinds["deep_relu.variance_ratio_xavier"] == "check" and kinds["deep_relu.variance_ratio_he"] == "finding"
    # the identity the check tests holds in a real run: same keys, ReLU, zero biases
    assert next(c for c in summary["claims"] if c["id"] == "deep_relu.variance_ratio_xavier")["holds"]


@pytest.mark.parametrize("init,expected", [("lecun_normal", 0.5), ("he_normal", 1.0)])
def test_relu_layer_multiplies_the_variance_by_half_n_var_w(init, expected):
    """He et al.'s eq. (8)-(9): Var[y_2] = 1/2 n Var[w] Var[y_1] for zero-mean symmetric y_1. Two wide
    layers (512 units, 256 N(0,1) inputs, fixed key): over 20 keys the ratio's relative spread measured
    2.3% (sd 0.0114 around 0.5024 for 1/n), so the bound, 12%, is five of those."""
    spec = mlp.MLPSpec((256, 512, 512, 10), activation="relu", weight_init=init)
    params, _ = mlp.init(jax.random.key(11), spec, jnp.float64)
    x = jax.random.normal(jax.random.key(12), (256, 256), jnp.float64)
    sq = R.layer_second_moments(params, x, spec)
    assert sq.shape == (3,)
    assert abs(float(sq[1] / sq[0]) - expected) < 0.12 * expected
    # the first layer sees N(0, 1) inputs directly: Var[y_1] = n Var[w] E[x^2] = n Var[w]
    assert abs(float(sq[0]) - 2 * expected) < 0.12 * 2 * expected


def test_layer_second_moments_are_means_of_squares_of_the_linear_outputs():
    spec = mlp.MLPSpec((5, 4, 3, 2), activation="relu", weight_init="he_normal")
    params, _ = mlp.init(jax.random.key(0), spec, jnp.float64)
    x = jax.random.normal(jax.random.key(1), (6, 5), jnp.float64)
    w, b = [p["w"] for p in params], [p["b"] for p in params]
    y1 = x @ w[0] + b[0]
    y2 = jnp.maximum(y1, 0) @ w[1] + b[1]
    y3 = jnp.maximum(y2, 0) @ w[2] + b[2]
    expected = [float(jnp.mean(y * y)) for y in (y1, y2, y3)]
    np.testing.assert_allclose(R.layer_second_moments(params, x, spec), expected, rtol=1e-12)
    np.testing.assert_allclose(R.log2_ratio(jnp.asarray(expected)), np.log2(np.asarray(expected) / expected[0]),
                               rtol=0, atol=1e-12)


def test_theory_halves_per_layer_for_one_over_n_and_holds_level_for_two_over_n():
    np.testing.assert_array_equal(R.theory_log2_ratio(30, 1.0), -np.arange(30.0))
    np.testing.assert_array_equal(R.theory_log2_ratio(30, 2.0), np.zeros(30))
    assert R.theory_log2_ratio(30, 1.0)[-1] == -29


def test_default_config_tunes_each_arm_at_run_time_on_full_size_data_where_installed():
    from research.studies.deep_relu import config as cfg

    full = experiment.resolve(cfg.get_config())
    assert full.data.name == "fashion_mnist_or_mnist5k"
    assert full.train.max_steps == 1000 and full.train.epochs == 5
    assert set(full.params.tune_lrs) == {"xavier", "he"} and full.params.tune_seed != full.seed
    assert R._grids(full) == {n: tuple(cfg.TUNE_LRS[n]) for n in ("xavier", "he")}


@pytest.mark.parametrize("params,match", [({"tune_lrs": {"nope": (0.1,)}}, "names 'nope', not an arm"),
                                          ({"tune_seed": 0}, "tune_seed=0 is invalid")])
def test_bad_tuning_settings_are_refused_before_anything_runs(params, match):
    from types import SimpleNamespace
    from research.studies.deep_relu import config as cfg

    c = cfg.get_config()
    c.params.update(params)
    full = experiment.resolve(c)
    with pytest.raises(ConfigError, match=match):
        R.compute(SimpleNamespace(full=full))  # no dataset, keys or train: refused first
