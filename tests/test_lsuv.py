"""LSUV (Mishkin & Matas 2016): unit output variance per layer, a pure per-layer rescale, bounded
iterations, validated inputs, determinism, jit/vmap."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.lib import lsuv as lsuv_lib, mlp

F64 = jnp.float64
TOL = 0.05
SIZES = (24, 48, 48, 48, 10)
# One compiled LSUV per (spec, tol, max_iter, batch_size, shapes): the tests reuse it.
lsuv = jax.jit(lsuv_lib.lsuv, static_argnames=("spec", "tol", "max_iter", "batch_size"))
output_variances = jax.jit(lsuv_lib.output_variances, static_argnames="spec")


def _setup(activation="tanh", batchnorm=False, dtype=jnp.float32, init="orthogonal", bias_init="zeros", n=1024):
    spec = mlp.MLPSpec(SIZES, activation=activation, batchnorm=batchnorm, weight_init=init, bias_init=bias_init)
    params, state = mlp.init(jax.random.key(0), spec, dtype)
    # non-isotropic inputs: per-feature scales from 0.2 to 3, so an orthogonal init is not already unit-variance
    scales = jnp.linspace(0.2, 3.0, SIZES[0], dtype=dtype)
    x = jax.random.normal(jax.random.key(1), (n, SIZES[0]), dtype) * scales
    held_out = jax.random.normal(jax.random.key(2), (n, SIZES[0]), dtype) * scales
    return spec, params, state, x, held_out


@pytest.mark.parametrize("activation,batchnorm", [("tanh", False), ("relu", False), ("relu", True)])
def test_every_layer_has_unit_variance_on_x_and_on_held_out_data(activation, batchnorm):
    spec, params, state, x, held_out = _setup(activation, batchnorm)
    before = output_variances(params, state, spec=spec, x=x)
    assert np.max(np.abs(np.asarray(before) - 1)) > 0.3  # the test can fail: the init is far from unit variance
    new, new_state, iters = lsuv(jax.random.key(3), params, state, spec=spec, x=x, tol=TOL, max_iter=10)
    var = np.asarray(output_variances(new, new_state, spec=spec, x=x))  # Var(z) of mlp.forward's trace
    assert np.all(np.abs(var - 1) < TOL), var
    # Held-out batch of the same distribution, 1024 rows: a variance estimated from 1024 examples
    # has a relative standard error of about sqrt(2 / 1024) ~ 0.045 per unit and far less averaged
    # over 48 units; TOL + 0.1 is several standard errors of the difference of two such estimates.
    var_ho = np.asarray(output_variances(new, new_state, spec=spec, x=held_out))
    assert np.all(np.abs(var_ho - 1) < TOL + 0.1), var_ho
    assert iters.shape == (spec.depth,) and iters.dtype == jnp.int32
    assert np.all((np.asarray(iters) >= 0) & (np.asarray(iters) <= 10))


def test_one_rescale_per_layer_is_exact_with_zero_bias_and_a_fixed_batch():
    """Var(a W s) = s^2 Var(a W): with zero biases and the input of layer l fixed, one rescale hits 1."""
    spec, params, state, x, _ = _setup("relu", dtype=F64)
    new, new_state, iters = lsuv(jax.random.key(0), params, state, spec=spec, x=x, tol=1e-9, max_iter=10)
    np.testing.assert_array_equal(iters, np.ones(spec.depth))
    np.testing.assert_allclose(output_variances(new, new_state, spec=spec, x=x), 1.0, atol=1e-12)


def test_is_a_pure_per_layer_rescale_in_float64():
    spec, params, state, x, _ = _setup("tanh", dtype=F64, bias_init="normal")
    new, _, _ = lsuv(jax.random.key(0), params, state, spec=spec, x=x, tol=TOL, max_iter=10)
    for old_layer, new_layer in zip(params, new):
        ratio = np.asarray(new_layer["w"] / old_layer["w"])
        assert ratio.min() > 0
        np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-12)  # one scalar: directions unchanged
        np.testing.assert_array_equal(new_layer["b"], old_layer["b"])


def test_nonzero_biases_need_iterations_and_respect_max_iter():
    """With biases one rescale misses (Var(aWs + b) != s^2 Var(aW + b)): some layer wants a second
    rescale at tol 1e-4, and none gets more than max_iter."""
    spec, params, state, x, _ = _setup("tanh", bias_init="normal")
    _, _, capped = lsuv(jax.random.key(0), params, state, spec=spec, x=x, tol=1e-4, max_iter=2)
    assert np.all(np.asarray(capped) <= 2) and np.max(np.asarray(capped)) == 2


def test_already_normalized_params_are_left_alone():
    spec, params, state, x, _ = _setup("tanh")
    new, new_state, _ = lsuv(jax.random.key(0), params, state, spec=spec, x=x, tol=TOL, max_iter=10)
    again, _, iters = lsuv(jax.random.key(0), new, new_state, spec=spec, x=x, tol=TOL, max_iter=10)
    np.testing.assert_array_equal(iters, np.zeros(spec.depth))
    for a, b in zip(new, again):
        np.testing.assert_array_equal(a["w"], b["w"])


def test_minibatch_mode_uses_the_key_and_is_deterministic():
    spec, params, state, x, _ = _setup("relu")
    run = functools.partial(lsuv, params=params, state=state, spec=spec, x=x, tol=TOL, max_iter=10,
                            batch_size=64)
    a, _, ia = run(jax.random.key(5))
    b, _, ib = run(jax.random.key(5))
    c, _, _ = run(jax.random.key(6))
    np.testing.assert_array_equal(ia, ib)
    for la, lb in zip(a, b):
        np.testing.assert_array_equal(la["w"], lb["w"])
    assert any(not np.array_equal(la["w"], lc["w"]) for la, lc in zip(a, c))
    # full-batch mode ignores the key
    f1 = lsuv(jax.random.key(5), params, state, spec=spec, x=x, tol=TOL, max_iter=10)[0]
    f2 = lsuv(jax.random.key(6), params, state, spec=spec, x=x, tol=TOL, max_iter=10)[0]
    for l1, l2 in zip(f1, f2):
        np.testing.assert_array_equal(l1["w"], l2["w"])


def test_vmap_over_seeds_matches_one_at_a_time():
    spec, _, state, x, _ = _setup("relu")
    keys = jax.random.split(jax.random.key(0), 3)
    stacked = jax.lax.map(lambda k: mlp.init(k, spec)[0], keys)  # (vmapped batched QR can hang on CPU)
    many, _, iters = jax.vmap(lambda k, p: lsuv(k, p, state, spec=spec, x=x, tol=TOL, max_iter=10))(keys, stacked)
    assert iters.shape == (3, spec.depth)
    one = lsuv(keys[1], jax.tree.map(lambda a: a[1], stacked), state, spec=spec, x=x, tol=TOL, max_iter=10)
    for a, b in zip(one[0], many):
        np.testing.assert_allclose(a["w"], b["w"][1], rtol=1e-6)


def test_batchnorm_running_statistics_match_the_batch():
    spec, params, state, x, _ = _setup("relu", batchnorm=True)
    new, new_state, _ = lsuv(jax.random.key(0), params, state, spec=spec, x=x, tol=TOL, max_iter=10)
    train_logits, _ = mlp.apply(new, new_state, x, spec, train=True)
    eval_logits, _ = mlp.apply(new, new_state, x, spec, train=False)
    np.testing.assert_allclose(eval_logits, train_logits, rtol=1e-4, atol=1e-4)
    for layer_old, layer_new in zip(params[:-1], new[:-1]):
        np.testing.assert_array_equal(layer_old["gamma"], layer_new["gamma"])
        np.testing.assert_array_equal(layer_old["beta"], layer_new["beta"])


@pytest.mark.parametrize("kwargs,match", [
    ({"tol": 0.0}, "tol=0.0"), ({"tol": -0.1}, "tol=-0.1"), ({"tol": float("nan")}, "tol=nan"),
    ({"tol": True}, "tol=True"), ({"max_iter": 0}, "max_iter=0"), ({"max_iter": 1.5}, "max_iter=1.5"),
    ({"x": np.zeros((8, 23), np.float32)}, r"x.shape=\(8, 23\).*\(batch, 24\)"),
    ({"x": np.zeros((1, 24), np.float32)}, r"x.shape=\(1, 24\).*at least 2"),
    ({"batch_size": 1}, "batch_size=1"), ({"batch_size": 9}, r"batch_size=9.*\[2, 8\]"),
])
def test_bad_inputs_raise_naming_the_value(kwargs, match):
    spec, params, state, _, _ = _setup()
    args = {"key": jax.random.key(0), "params": params, "state": state, "spec": spec,
            "x": np.zeros((8, 24), np.float32), "tol": 0.1, "max_iter": 10, **kwargs}
    batch_size = args.pop("batch_size", None)
    with pytest.raises(ValueError, match=match) as err:
        lsuv_lib.lsuv(**args, batch_size=batch_size)
    assert "accepted" in str(err.value)


def test_bad_params_and_state_raise():
    spec, params, state, x, _ = _setup()
    with pytest.raises(ValueError, match="params.*4 layer dicts"):
        lsuv_lib.lsuv(jax.random.key(0), params[:-1], state, spec, x, 0.1, 10)
    bn_spec = mlp.MLPSpec(SIZES, batchnorm=True)
    with pytest.raises(ValueError, match="state.*3 BatchNorm"):
        lsuv_lib.lsuv(jax.random.key(0), mlp.init(jax.random.key(0), bn_spec)[0], [], bn_spec, x, 0.1, 10)
