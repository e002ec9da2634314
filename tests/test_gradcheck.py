"""Note 001's two-sided gradient check: exact where the maths is, and hand backprop within 1e-7."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.lib import backprop, gradcheck, losses, mlp

F64 = jnp.float64


def test_central_difference_is_exact_for_quadratics():
    """For f quadratic the two-sided difference has no truncation error: only round-off."""
    a = jnp.array([0.5, 2.0, -1.5], F64)
    x = {"u": jnp.array([1.0, -2.0, 3.0], F64), "v": [jnp.array(0.25, F64)]}
    f = lambda p: jnp.sum(a * p["u"] ** 2) + 3.0 * p["v"][0] ** 2 + 7.0 * p["v"][0]
    g = gradcheck.numerical_grad(f, x, eps=1e-3)
    chex.assert_trees_all_equal_structs(g, x)
    np.testing.assert_allclose(g["u"], 2 * a * x["u"], rtol=1e-11)
    np.testing.assert_allclose(g["v"][0], 6.0 * 0.25 + 7.0, rtol=1e-11)


@pytest.mark.parametrize("eps", [1e-1, 1e-2, 1e-3])
def test_central_difference_truncation_error_is_eps_squared(eps):
    """((x+e)^3 - (x-e)^3) / 2e = 3x^2 + e^2 exactly: the error term the notes' choice of eps trades."""
    x = jnp.array([0.5, -1.0, 2.0], F64)
    g = gradcheck.numerical_grad(lambda v: jnp.sum(v**3), x, eps=eps)
    np.testing.assert_allclose(g, 3 * x**2 + eps**2, rtol=1e-10)
    assert float(jnp.abs(g - 3 * x**2).min()) > 0.5 * eps**2


def test_relative_error_values():
    a = {"p": jnp.array([3.0, 4.0]), "q": jnp.array([1.0, 0.0])}
    assert gradcheck.relative_error(a, a) == 0.0
    assert gradcheck.relative_error(jnp.array([3.0, 4.0]), jnp.zeros(2)) == 1.0
    np.testing.assert_allclose(gradcheck.relative_error(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])), np.sqrt(2) / 2)
    b = {"p": jnp.array([3.0, 4.0]), "q": jnp.array([1.0, 0.1])}
    np.testing.assert_allclose(gradcheck.relative_error(a, b), 0.1 / (1.0 + np.sqrt(1.01)), rtol=1e-6)
    assert gradcheck.relative_error(jnp.zeros(3), jnp.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="trees differ"):
        gradcheck.relative_error([jnp.zeros(2)], [jnp.zeros(2), jnp.zeros(1)])
    with pytest.raises(ValueError, match="eps=0"):
        gradcheck.numerical_grad(jnp.sum, jnp.ones(2), eps=0)


@pytest.mark.parametrize(
    "activation, batchnorm, loss",
    [("sigmoid", False, "sigmoid_ce"), ("sigmoid", False, "sigmoid_mse"), ("tanh", True, "softmax_ce"),
     ("relu", False, "softmax_ce"), ("leaky_relu", True, "sigmoid_ce"), ("linear", False, "softmax_ce")],
)
def test_hand_backprop_passes_the_notes_gradient_check(activation, batchnorm, loss):
    """Hand gradients vs two-sided differences at the notes' eps = 1e-4, below 1e-7 in float64.
    BatchNorm layers' pre-BN biases have an exact gradient of 0 (see backprop's docstring); both
    sides are pure round-off there, so those leaves are checked to be ~0 instead of by ratio."""
    spec = mlp.MLPSpec((5, 7, 6, 3), activation=activation, batchnorm=batchnorm, weight_init="xavier_normal",
                       bias_init="normal", bias_init_kwargs={"stddev": 0.1})
    params, state = mlp.init(jax.random.key(0), spec, F64)
    x = jax.random.normal(jax.random.key(1), (8, 5), F64)
    y = jax.random.randint(jax.random.key(2), (8,), 0, 3)
    f = lambda p: losses.get(loss)(mlp.apply(p, state, x, spec, True)[0], y) + losses.l2_penalty(p, 0.01)
    hand = backprop.grads(params, state, x, y, spec, loss, l2=0.01).grads
    num = gradcheck.numerical_grad(f, params, eps=1e-4)
    zero_grad = lambda tree: [{k: v for k, v in layer.items() if not (batchnorm and l < spec.n_hidden and k == "b")}
                              for l, layer in enumerate(tree)]
    err = gradcheck.relative_error(zero_grad(hand), zero_grad(num))
    assert err < 1e-7, err
    if batchnorm:
        for l in range(spec.n_hidden):
            assert float(jnp.abs(hand[l]["b"]).max()) < 1e-15
            assert float(jnp.abs(num[l]["b"]).max()) < 1e-9
