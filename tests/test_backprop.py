"""The hand-derived backward pass against jax.grad in float64, over activations x BatchNorm x
loss x L2 x train/eval, across widths and depths (hypothesis draws the shapes)."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from research.lib import backprop, losses, mlp

F64 = jnp.float64
ACTS = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
LOSSES = ("softmax_ce", "sigmoid_ce", "sigmoid_mse")
RTOL = 1e-10
# BatchNorm makes the bias of its layer's linear map irrelevant: its exact gradient is 0, and both
# sides return rounding noise (~1e-17) there. Entries are compared with an absolute floor of
# ATOL_SCALE times the largest gradient entry of the whole network, far below any real gradient.
ATOL_SCALE = 1e-12


def _problem(sizes, activation, batchnorm, batch, seed, loss):
    spec = mlp.MLPSpec(tuple(sizes), activation=activation, batchnorm=batchnorm, weight_init="xavier_normal",
                       bias_init="normal", bias_init_kwargs={"stddev": 0.1})
    key = jax.random.key(seed)
    k_init, k_x, k_y, k_bn = jax.random.split(key, 4)
    params, state = mlp.init(k_init, spec, F64)
    if batchnorm:  # gamma, beta and running statistics away from their trivial initial values
        for l, s in enumerate(state):
            k1, k2, k3, k_bn = jax.random.split(k_bn, 4)
            n = s["mean"].shape[0]
            params[l]["gamma"] = 1 + 0.3 * jax.random.normal(k1, (n,), F64)
            params[l]["beta"] = 0.2 * jax.random.normal(k2, (n,), F64)
            s["mean"] = 0.3 * jax.random.normal(k3, (n,), F64)
            s["var"] = 0.5 + jax.random.uniform(k3, (n,), F64)
    x = jax.random.normal(k_x, (batch, sizes[0]), F64)
    if loss == "softmax_ce":
        y = jax.random.randint(k_y, (batch,), 0, sizes[-1])
    else:  # multi-label 0/1 targets for the K-class logistic costs
        y = jax.random.bernoulli(k_y, 0.3, (batch, sizes[-1])).astype(F64)
    return spec, params, state, x, y


def _objective(spec, state, x, y, loss, l2, train):
    def f(params):
        logits, _ = mlp.apply(params, state, x, spec, train)
        return losses.get(loss)(logits, y) + losses.l2_penalty(params, l2)
    return f


def _max_rel_error(hand, auto):
    """max |hand - auto| / max|auto| over the network's gradient entries."""
    scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(auto))
    return max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(hand), jax.tree.leaves(auto))) / scale


def _check(sizes, activation, batchnorm, loss, l2, train, batch=8, seed=0):
    spec, params, state, x, y = _problem(sizes, activation, batchnorm, batch, seed, loss)
    out = backprop.grads(params, state, x, y, spec, loss, l2=l2, train=train)
    f = _objective(spec, state, x, y, loss, l2, train)
    auto = jax.grad(f)(params)
    chex.assert_trees_all_equal_structs(out.grads, params)
    scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(auto))
    for hand_leaf, auto_leaf in zip(jax.tree.leaves(out.grads), jax.tree.leaves(auto)):
        np.testing.assert_allclose(hand_leaf, auto_leaf, rtol=RTOL, atol=ATOL_SCALE * scale)
    np.testing.assert_allclose(out.loss, f(params), rtol=1e-14)
    chex.assert_trees_all_close(out.state, mlp.apply(params, state, x, spec, train)[1], rtol=1e-14)
    return spec, params, state, x, y, out


GRID = list(itertools.product(ACTS, (False, True), LOSSES, (0.0, 0.05), (True, False)))


@pytest.mark.parametrize("activation, batchnorm, loss, l2, train", GRID)
def test_hand_backprop_equals_jax_grad(activation, batchnorm, loss, l2, train):
    _check((6, 9, 7, 4), activation, batchnorm, loss, l2, train)


# Each new shape costs a round of op compilation (~6 s on 2 cores), so a few draws per run; the
# fixed grid above covers every activation x BN x loss x L2 x mode combination.
@settings(max_examples=4, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=2, max_size=6),
    batch=st.integers(2, 10),
    activation=st.sampled_from(ACTS),
    batchnorm=st.booleans(),
    loss=st.sampled_from(LOSSES),
    l2=st.sampled_from([0.0, 0.1]),
    seed=st.integers(0, 2**16),
)
def test_hand_backprop_equals_jax_grad_any_shape(sizes, batch, activation, batchnorm, loss, l2, seed):
    _check(sizes, activation, batchnorm, loss, l2, train=True, batch=batch, seed=seed)


@pytest.mark.parametrize("activation, batchnorm", [("sigmoid", False), ("relu", True), ("tanh", True)])
@pytest.mark.parametrize("loss", LOSSES)
def test_deltas_are_dloss_dz(activation, batchnorm, loss):
    """deltas[l] = dL/dz^l per example. A bias of shape (batch, width) added to z^l has exactly
    that gradient, so jax.grad through the library's own forward pass gives the reference."""
    spec, params, state, x, y, out = _check((5, 8, 6, 3), activation, batchnorm, loss, 0.0, True, batch=7)
    wide = [dict(p, b=jnp.broadcast_to(p["b"], (7,) + p["b"].shape)) for p in params]
    ref = jax.grad(_objective(spec, state, x, y, loss, 0.0, True))(wide)
    assert len(out.deltas) == spec.depth
    for l in range(spec.depth):
        chex.assert_shape(out.deltas[l], (7, spec.sizes[l + 1]))
        scale = float(jnp.abs(ref[l]["b"]).max())
        np.testing.assert_allclose(out.deltas[l], ref[l]["b"], rtol=RTOL, atol=ATOL_SCALE * scale)


def test_sigmoid_mse_delta_is_minus_the_notes_delta():
    """Note 000: output error y(1 - y)(t - y), with update w <- w + eta delta x. Ours is the
    gradient of the batch mean: deltas[-1] = -y(1 - y)(t - y) / B."""
    spec, params, state, x, y, out = _check((4, 5, 3), "sigmoid", False, "sigmoid_mse", 0.0, True, batch=6)
    yhat = jax.nn.sigmoid(mlp.apply(params, state, x, spec, True)[0])
    notes_delta = yhat * (1 - yhat) * (y - yhat)
    np.testing.assert_allclose(out.deltas[-1], -notes_delta / 6, rtol=1e-14)


def test_batchnorm_makes_the_preceding_bias_gradient_vanish():
    spec, params, state, x, y, out = _check((5, 8, 6, 3), "tanh", True, "softmax_ce", 0.0, True)
    scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(out.grads))
    for l in range(spec.n_hidden):
        assert float(jnp.abs(out.grads[l]["b"]).max()) < 1e-14 * scale
        assert float(jnp.abs(out.grads[l]["beta"]).max()) > 1e-6 * scale


def test_l2_only_touches_weight_matrices():
    spec, params, state, x, y, _ = _check((5, 8, 3), "relu", True, "softmax_ce", 0.0, True)
    g0 = backprop.grads(params, state, x, y, spec, "softmax_ce", l2=0.0).grads
    g1 = backprop.grads(params, state, x, y, spec, "softmax_ce", l2=0.3).grads
    for a, b, p in zip(g0, g1, params):
        np.testing.assert_allclose(b["w"] - a["w"], 0.3 * p["w"], rtol=1e-12, atol=1e-15)
        for k in set(p) - {"w"}:
            chex.assert_trees_all_equal(a[k], b[k])


def test_loss_by_function_and_unknown_loss():
    spec, params, state, x, y, out = _check((4, 5, 3), "tanh", False, "softmax_ce", 0.0, True)
    chex.assert_trees_all_equal(backprop.grads(params, state, x, y, spec, losses.softmax_ce), out)
    with pytest.raises(ValueError, match="'hinge'.*accepted: softmax_ce"):
        backprop.grads(params, state, x, y, spec, "hinge")


def test_grads_under_jit_and_vmap_over_seeds():
    spec, params, state, x, y, out = _check((4, 6, 3), "relu", True, "softmax_ce", 0.0, True)
    jitted = jax.jit(backprop.grads, static_argnames=("spec", "loss"))(params, state, x, y, spec=spec, loss="softmax_ce")
    chex.assert_trees_all_close(jitted, out, rtol=1e-13, atol=1e-16)
    keys = jax.random.split(jax.random.key(4), 3)
    batched = jax.vmap(lambda k: mlp.init(k, spec, F64)[0])(keys)
    gs = jax.vmap(lambda p: backprop.grads(p, state, x, y, spec, "softmax_ce").grads)(batched)
    for i, k in enumerate(keys):
        one = backprop.grads(mlp.init(k, spec, F64)[0], state, x, y, spec, "softmax_ce").grads
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[i], gs), one, rtol=1e-12, atol=1e-15)
