"""Cost functions against their formulas in float64 numpy, and the L2 penalty's reach."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.lib import losses, mlp

F64 = jnp.float64


def _case(batch=6, k=4, seed=0):
    kz, ky = jax.random.split(jax.random.key(seed))
    z = 2.0 * jax.random.normal(kz, (batch, k), F64)
    y = jax.random.randint(ky, (batch,), 0, k)
    return z, y, np.eye(k)[np.asarray(y)]


def test_softmax_ce_formula():
    z, y, t = _case()
    zn = np.asarray(z)
    p = np.exp(zn) / np.exp(zn).sum(1, keepdims=True)
    np.testing.assert_allclose(losses.softmax_ce(z, y), -np.mean(np.log(p[np.arange(6), np.asarray(y)])), rtol=1e-14)
    np.testing.assert_allclose(losses.softmax_ce(z, jnp.asarray(t)), losses.softmax_ce(z, y), rtol=1e-15)


def test_sigmoid_ce_is_the_notes_k_class_logistic_cost():
    z, y, t = _case()
    s = 1 / (1 + np.exp(-np.asarray(z)))
    ref = -np.mean(np.sum(t * np.log(s) + (1 - t) * np.log(1 - s), axis=1))
    np.testing.assert_allclose(losses.sigmoid_ce(z, y), ref, rtol=1e-13)
    np.testing.assert_allclose(losses.sigmoid_ce(z, jnp.asarray(t)), ref, rtol=1e-13)


def test_sigmoid_ce_is_finite_for_huge_logits():
    z = jnp.array([[1000.0, -1000.0]], F64)
    np.testing.assert_allclose(losses.sigmoid_ce(z, jnp.array([[1.0, 0.0]])), 0.0, atol=1e-300)
    np.testing.assert_allclose(losses.sigmoid_ce(z, jnp.array([[0.0, 1.0]])), 2000.0, rtol=1e-15)


def test_sigmoid_mse_formula():
    z, y, t = _case()
    s = 1 / (1 + np.exp(-np.asarray(z)))
    np.testing.assert_allclose(losses.sigmoid_mse(z, y), np.mean(0.5 * np.sum((t - s) ** 2, 1)), rtol=1e-14)


@pytest.mark.parametrize("loss", list(losses.LOSSES))
def test_losses_are_batch_means(loss):
    z, y, _ = _case(batch=8)
    f = losses.get(loss)
    per_example = np.array([f(z[i:i + 1], y[i:i + 1]) for i in range(8)])
    np.testing.assert_allclose(f(z, y), per_example.mean(), rtol=1e-14)


def test_l2_penalty_counts_weight_matrices_only():
    spec = mlp.MLPSpec((5, 4, 3), batchnorm=True, bias_init="normal")
    params, _ = mlp.init(jax.random.key(0), spec, F64)
    ref = 0.5 * 0.2 * sum(float(np.sum(np.asarray(p["w"]) ** 2)) for p in params)
    np.testing.assert_allclose(losses.l2_penalty(params, 0.2), ref, rtol=1e-14)
    moved = [dict(p, **{k: v + 1.0 for k, v in p.items() if k != "w"}) for p in params]
    chex.assert_trees_all_equal(losses.l2_penalty(moved, 0.2), losses.l2_penalty(params, 0.2))
    assert float(losses.l2_penalty(params, 0.0)) == 0.0


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="'mse'.*accepted: softmax_ce, sigmoid_ce, sigmoid_mse"):
        losses.get("mse")
