"""Tests for research.lib.optim: closed forms, an independent numpy reference, optax agreement, pytrees.

Everything runs in float64. Tolerances: closed forms and references that perform the same
floating-point recursion are compared at rtol 1e-12 (the recursions differ only by the order of a
few roundings per step, ~1e-16 each, over <= 200 steps); closed forms that sum a series differently
from the recursion (rmsprop, adam) at rtol 1e-10.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

jax.config.update("jax_enable_x64", True)

from research.lib import optim  # noqa: E402

RTOL = 1e-12
STEPS = 200

# Diagonal, ill-conditioned quadratic f = 0.5 * sum(a_i theta_i^2); lr * a = (0.012, 0.12, 1.2) < 2
A_DIAG = np.array([1.0, 10.0, 100.0])
LR_Q = 0.012
THETA0 = np.array([1.0, -2.0, 0.5])


def run(opt, grad_fn, theta0, steps=STEPS):
    """Trajectory theta_1..theta_steps (as numpy, shape (steps, d)) of opt on grad_fn from theta0."""
    theta0 = jnp.asarray(theta0, jnp.float64)

    def body(carry, _):
        theta, state = carry
        updates, state = opt.update(grad_fn(theta), state, theta)
        theta = optax.apply_updates(theta, updates)
        return (theta, state), theta

    _, traj = jax.lax.scan(body, (theta0, opt.init(theta0)), None, length=steps)
    assert traj.dtype == jnp.float64
    return np.asarray(traj)


def quad_grad(theta):
    return jnp.asarray(A_DIAG) * theta


# --------------------------------------------------------------------------- closed forms


def test_sgd_closed_form_on_quadratic():
    traj = run(optim.sgd(LR_Q), quad_grad, THETA0)
    t = np.arange(1, STEPS + 1)[:, None]
    expected = (1.0 - LR_Q * A_DIAG) ** t * THETA0
    np.testing.assert_allclose(traj, expected, rtol=RTOL, atol=0)


def _matrix_power_traj(m_of_a, alpha):
    """theta_t from (theta_t, v_t) = M^t (theta_0, 0), per coordinate, in float64."""
    out = np.empty((STEPS, A_DIAG.size))
    for i, (a, th0) in enumerate(zip(A_DIAG, THETA0)):
        m = m_of_a(a, alpha)
        for t in range(1, STEPS + 1):
            out[t - 1, i] = (np.linalg.matrix_power(m, t) @ np.array([th0, 0.0]))[0]
    return out


@pytest.mark.parametrize("alpha", [0.5, 0.9])
def test_momentum_closed_form_on_quadratic(alpha):
    def m_of_a(a, alpha):
        return np.array([[1 - LR_Q * a, -alpha], [LR_Q * a, alpha]])

    traj = run(optim.momentum(LR_Q, alpha), quad_grad, THETA0)
    expected = _matrix_power_traj(m_of_a, alpha)
    # theta_t oscillates through 0, so entries near a zero crossing have no relative accuracy;
    # the absolute floor is 1e-12 of |theta_0|.
    np.testing.assert_allclose(traj, expected, rtol=1e-10, atol=1e-12 * np.abs(THETA0).max())
    assert np.abs(traj[-1]).max() < 1e-2 * np.abs(THETA0).max()  # and it does converge


@pytest.mark.parametrize("alpha", [0.5, 0.9])
def test_nesterov_closed_form_on_quadratic(alpha):
    def m_of_a(a, alpha):
        return np.array([[1 - LR_Q * a * (1 + alpha), -(alpha**2)], [LR_Q * a, alpha]])

    traj = run(optim.nesterov(LR_Q, alpha), quad_grad, THETA0)
    expected = _matrix_power_traj(m_of_a, alpha)
    np.testing.assert_allclose(traj, expected, rtol=1e-10, atol=1e-12 * np.abs(THETA0).max())


def test_momentum_and_nesterov_differ():
    a = run(optim.momentum(LR_Q, 0.9), quad_grad, THETA0, 20)
    b = run(optim.nesterov(LR_Q, 0.9), quad_grad, THETA0, 20)
    assert np.abs(a - b).max() > 1e-2


def test_alpha_zero_momentum_is_sgd():
    s = run(optim.sgd(LR_Q), quad_grad, THETA0, 50)
    for rule in (optim.momentum, optim.nesterov):
        np.testing.assert_allclose(run(rule(LR_Q, 0.0), quad_grad, THETA0, 50), s, rtol=RTOL, atol=0)


# Constant gradient (linear loss f = g . theta): accumulators have closed forms.
G_CONST = np.array([0.5, -2.0, 3.0, 1e-3])
THETA0_LIN = np.array([0.3, -0.1, 2.0, 1.0])


def const_grad(theta):
    return jnp.asarray(G_CONST) + 0.0 * theta


@pytest.mark.parametrize("eps", [1e-10, 1e-2])
def test_adagrad_closed_form_constant_gradient(eps):
    lr = 0.1
    traj = run(optim.adagrad(lr, eps), const_grad, THETA0_LIN)
    k = np.arange(1, STEPS + 1)[:, None]
    expected = THETA0_LIN - lr * G_CONST * np.cumsum(1.0 / np.sqrt(k * G_CONST**2 + eps), axis=0)
    np.testing.assert_allclose(traj, expected, rtol=RTOL, atol=0)


@pytest.mark.parametrize("decay,eps", [(0.9, 1e-8), (0.99, 1e-2)])
def test_rmsprop_closed_form_constant_gradient(decay, eps):
    lr = 0.01
    traj = run(optim.rmsprop(lr, decay, eps), const_grad, THETA0_LIN)
    k = np.arange(1, STEPS + 1)[:, None]
    expected = THETA0_LIN - lr * G_CONST * np.cumsum(1.0 / np.sqrt((1 - decay**k) * G_CONST**2 + eps), axis=0)
    np.testing.assert_allclose(traj, expected, rtol=1e-10, atol=0)


@pytest.mark.parametrize("b1,b2,eps", [(0.9, 0.999, 1e-8), (0.5, 0.9, 1e-3)])
def test_adam_closed_form_constant_gradient(b1, b2, eps):
    """Bias-corrected moments are exactly g and g^2, so every step is -lr * g / (|g| + eps)."""
    lr = 0.01
    traj = run(optim.adam(lr, b1, b2, eps), const_grad, THETA0_LIN)
    t = np.arange(1, STEPS + 1)[:, None]
    expected = THETA0_LIN - t * lr * G_CONST / (np.abs(G_CONST) + eps)
    # some coordinates pass through 0, where only an absolute bound (1e-13 of the O(1) values) applies
    np.testing.assert_allclose(traj, expected, rtol=1e-10, atol=1e-13)


# --------------------------------------------------------------------------- numpy reference


def numpy_reference(name, grad_fn, theta0, steps, lr_at, **hp):
    """Plain float64 numpy loop of the docstring equations; lr_at(t) is the rate at count t."""
    theta = np.array(theta0, np.float64)
    v = np.zeros_like(theta)  # velocity / r / first moment
    s = np.zeros_like(theta)  # adam's second moment
    out = []
    for t in range(steps):
        g = np.asarray(grad_fn(theta), np.float64)
        eta = lr_at(t)
        if name == "sgd":
            theta = theta - eta * g
        elif name == "momentum":
            v = hp["alpha"] * v + eta * g
            theta = theta - v
        elif name == "nesterov":
            v = hp["alpha"] * v + eta * g
            theta = theta - (hp["alpha"] * v + eta * g)
        elif name == "adagrad":
            v = v + g * g
            theta = theta - eta * g / np.sqrt(v + hp["eps"])
        elif name == "rmsprop":
            v = hp["decay"] * v + (1 - hp["decay"]) * g * g
            theta = theta - eta * g / np.sqrt(v + hp["eps"])
        elif name == "adam":
            b1, b2 = hp["b1"], hp["b2"]
            v = b1 * v + (1 - b1) * g
            s = b2 * s + (1 - b2) * g * g
            k = t + 1
            theta = theta - eta * (v / (1 - b1**k)) / (np.sqrt(s / (1 - b2**k)) + hp["eps"])
        else:
            raise KeyError(name)
        out.append(theta)
    return np.array(out)


REF_CASES = [
    ("adagrad", 0.5, {"eps": 1e-10}),
    ("rmsprop", 0.01, {"decay": 0.9, "eps": 1e-8}),
    ("adam", 0.01, {"b1": 0.9, "b2": 0.999, "eps": 1e-8}),
    ("momentum", LR_Q, {"alpha": 0.9}),
    ("nesterov", LR_Q, {"alpha": 0.9}),
    ("sgd", LR_Q, {}),
]


@pytest.mark.parametrize("name,lr,hp", REF_CASES)
def test_matches_numpy_reference_on_quadratic(name, lr, hp):
    steps = 100
    traj = run(optim.get(name, lr=lr, **hp), quad_grad, THETA0, steps)
    ref = numpy_reference(name, lambda th: A_DIAG * th, THETA0, steps, lambda t: lr, **hp)
    np.testing.assert_allclose(traj, ref, rtol=1e-10, atol=1e-13)
    assert np.abs(traj[-1]).max() < np.abs(THETA0).max()  # made progress


# --------------------------------------------------------------------------- optax agreement


def _random_quadratic(d=6, seed=0):
    """f = 0.5 theta^T A theta + b . theta, A SPD with eigenvalues in [0.5, 20], minimum != 0."""
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    q, _ = np.linalg.qr(np.asarray(jax.random.normal(k1, (d, d), jnp.float64)))
    a = q @ np.diag(np.geomspace(0.5, 20.0, d)) @ q.T
    b = np.asarray(jax.random.normal(k2, (d,), jnp.float64))
    theta0 = np.asarray(jax.random.normal(k3, (d,), jnp.float64)) * 3.0
    aj, bj = jnp.asarray(a), jnp.asarray(b)
    return (lambda th: aj @ th + bj), theta0


OPTAX_CASES = [
    ("momentum", lambda: optim.momentum(0.02, 0.9), lambda: optax.sgd(0.02, momentum=0.9)),
    ("momentum_a05", lambda: optim.momentum(0.05, 0.5), lambda: optax.sgd(0.05, momentum=0.5)),
    ("nesterov", lambda: optim.nesterov(0.02, 0.9), lambda: optax.sgd(0.02, momentum=0.9, nesterov=True)),
    ("sgd", lambda: optim.sgd(0.05), lambda: optax.sgd(0.05)),
    ("adam", lambda: optim.adam(0.05, 0.9, 0.999, 1e-8), lambda: optax.adam(0.05, 0.9, 0.999, 1e-8)),
    ("adam_b", lambda: optim.adam(0.02, 0.8, 0.99, 1e-4), lambda: optax.adam(0.02, 0.8, 0.99, 1e-4)),
    ("rmsprop", lambda: optim.rmsprop(0.01, 0.9, 1e-8), lambda: optax.rmsprop(0.01, 0.9, 1e-8)),
    (
        "adagrad",
        lambda: optim.adagrad(0.5, 1e-10),
        lambda: optax.adagrad(0.5, initial_accumulator_value=0.0, eps=1e-10),
    ),
]


@pytest.mark.parametrize("label,ours,theirs", OPTAX_CASES, ids=[c[0] for c in OPTAX_CASES])
def test_agrees_with_optax(label, ours, theirs):
    """Same trajectory as optax over 150 steps, rtol 1e-12 (only rounding order differs)."""
    grad_fn, theta0 = _random_quadratic()
    a = run(ours(), grad_fn, theta0, 150)
    b = run(theirs(), grad_fn, theta0, 150)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-14)
    assert np.abs(a[-1] - theta0).max() > 0.1  # it moved


def _schedule():
    # 0.05 for 30 steps, then 0.005, then 5e-4 from step 60 on
    return optax.piecewise_constant_schedule(0.05, {30: 0.1, 60: 0.1})


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_momentum_with_changing_rate_differs_from_optax_and_follows_notes(name):
    grad_fn, theta0 = _random_quadratic(seed=1)
    sched, alpha, steps = _schedule(), 0.9, 100
    ours = run(optim.get(name, lr=sched, alpha=alpha), grad_fn, theta0, steps)
    theirs = run(optax.sgd(sched, momentum=alpha, nesterov=(name == "nesterov")), grad_fn, theta0, steps)
    # before the first change (steps 1..30 use count 0..29) they agree ...
    np.testing.assert_allclose(ours[:30], theirs[:30], rtol=1e-10, atol=1e-13)
    # ... afterwards optax rescales its whole accumulated velocity and the two part ways
    assert np.abs(ours[30:] - theirs[30:]).max() > 1e-3
    assert not np.allclose(ours, theirs, rtol=1e-3, atol=1e-6)
    # ours is exactly the notes' recursion v = alpha v + lr_t g with lr_t = sched(count)
    rates = [float(sched(jnp.asarray(t, jnp.int32))) for t in range(steps)]
    ref = numpy_reference(name, lambda th: np.asarray(grad_fn(jnp.asarray(th))), theta0, steps,
                          lambda t: rates[t], alpha=alpha)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name,hp", [("adagrad", {"eps": 1e-10}), ("rmsprop", {"decay": 0.9, "eps": 1e-8}),
                                     ("adam", {"b1": 0.9, "b2": 0.999, "eps": 1e-8})])
def test_adaptive_rules_with_schedule_match_reference(name, hp):
    grad_fn, theta0 = _random_quadratic(seed=2)
    # harmonic decay, one correctly rounded division per step: identical eagerly and under jit.
    # (optax.exponential_decay computes a float32 pow whose last bit differs between eager and
    # jitted evaluation, which would make the reference, not the rule, the source of mismatch.)
    sched = lambda count: 0.05 / (count + 1)  # noqa: E731
    steps = 80
    ours = run(optim.get(name, lr=sched, **hp), grad_fn, theta0, steps)
    rates = [float(sched(jnp.asarray(t, jnp.int32))) for t in range(steps)]
    ref = numpy_reference(name, lambda th: np.asarray(grad_fn(jnp.asarray(th))), theta0, steps,
                          lambda t: rates[t], **hp)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-13)


# --------------------------------------------------------------------------- schedules: count


def test_schedule_called_with_count_zero_first():
    """lr = 0.1 * (count + 1): the k-th update (k = 0, 1, ...) must be exactly -0.1 (k + 1) g."""
    opt = optim.sgd(lambda count: 0.1 * (count + 1))
    g = jnp.array([1.0, -3.0, 0.25])
    params = jnp.zeros(3)
    state = opt.init(params)
    for k in range(5):
        upd, state = opt.update(g, state, params)
        chex.assert_trees_all_equal(upd, -(0.1 * (k + 1)) * g)
        assert int(state.count) == k + 1


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_first_step_uses_schedule_at_zero(name):
    sched = lambda count: 0.1 * (count + 1)  # noqa: E731
    g = {"w": jnp.array([1.0, -3.0, 0.25])}
    params = {"w": jnp.ones(3)}
    with_sched, with_const = optim.get(name, lr=sched), optim.get(name, lr=0.1)
    u1, _ = with_sched.update(g, with_sched.init(params), params)
    u2, _ = with_const.update(g, with_const.init(params), params)
    chex.assert_trees_all_equal(u1, u2)
    # and a constant schedule equals the constant rate over many steps
    a = run(optim.get(name, lr=lambda c: 0.01), quad_grad, THETA0, 30)
    b = run(optim.get(name, lr=0.01), quad_grad, THETA0, 30)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=0)


# --------------------------------------------------------------------------- pytrees / jit


NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def _tree(scale):
    return {
        "w": scale * jnp.arange(6.0, dtype=jnp.float64).reshape(3, 2) - 1.0,
        "b": [scale * jnp.array([0.5, -1.5]), jnp.asarray(scale * 2.0)],
    }


def _loss(params):
    return (jnp.sum(jnp.sin(params["w"]) ** 2) + jnp.sum(params["b"][0] ** 4)
            + 0.5 * params["b"][1] ** 2)


def _run_tree(opt, params, steps, jit):
    update = jax.jit(opt.update) if jit else opt.update
    grad = jax.jit(jax.grad(_loss)) if jit else jax.grad(_loss)
    state = opt.init(params)
    for _ in range(steps):
        upd, state = update(grad(params), state, params)
        params = optax.apply_updates(params, upd)
    return params, state


@pytest.mark.parametrize("name", NAMES)
def test_pytree_params_state_and_jit(name):
    opt = optim.get(name, lr=0.05)
    params = _tree(1.0)
    state = opt.init(params)
    assert isinstance(state, tuple) and hasattr(state, "_fields")  # a NamedTuple
    assert int(state.count) == 0
    upd, new_state = opt.update(jax.grad(_loss)(params), state, params)
    chex.assert_trees_all_equal_structs(upd, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(upd, params)
    assert type(new_state) is type(state) and int(new_state.count) == 1
    chex.assert_trees_all_equal_shapes_and_dtypes(new_state, state)  # state dtype is stable

    # elementwise rule: each leaf evolves exactly as if it were the only parameter
    g = jax.grad(_loss)(params)
    for leaf_p, leaf_g, leaf_u in zip(jax.tree.leaves(params), jax.tree.leaves(g), jax.tree.leaves(upd)):
        single = optim.get(name, lr=0.05)
        u, _ = single.update(leaf_g, single.init(leaf_p), leaf_p)
        chex.assert_trees_all_equal(u, leaf_u)

    # jit gives the same results as eager (XLA may fuse multiply-adds: rtol 1e-12)
    p_eager, s_eager = _run_tree(opt, params, 10, jit=False)
    p_jit, s_jit = _run_tree(opt, params, 10, jit=True)
    chex.assert_trees_all_close(p_jit, p_eager, rtol=1e-12, atol=1e-15)
    chex.assert_trees_all_close(s_jit, s_eager, rtol=1e-12, atol=1e-15)
    assert int(s_jit.count) == 10
    assert _loss(p_eager) < _loss(params)


@pytest.mark.parametrize("name", NAMES)
def test_params_argument_is_optional(name):
    opt = optim.get(name, lr=0.05)
    params = _tree(1.0)
    g = jax.grad(_loss)(params)
    a, _ = opt.update(g, opt.init(params))
    b, _ = opt.update(g, opt.init(params), params)
    chex.assert_trees_all_equal(a, b)


# --------------------------------------------------------------------------- registry / validation


def test_available():
    assert set(optim.available()) == set(NAMES) and len(optim.available()) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_get_builds_each_rule(name):
    opt = optim.get(name, lr=0.1)
    assert isinstance(opt, optax.GradientTransformation)
    direct = getattr(optim, name)(0.1)
    g, p = {"x": jnp.array([0.3, -1.0])}, {"x": jnp.array([1.0, 2.0])}
    chex.assert_trees_all_equal(opt.update(g, opt.init(p), p), direct.update(g, direct.init(p), p))


def test_get_unknown_name():
    with pytest.raises(ValueError) as e:
        optim.get("lbfgs", lr=0.1)
    msg = str(e.value)
    assert "lbfgs" in msg and "accepted" in msg and "momentum" in msg and "adam" in msg


@pytest.mark.parametrize("name,kw", [("adam", {"beta1": 0.9}), ("sgd", {"momentum": 0.9}),
                                     ("momentum", {"nesterov": True})])
def test_get_unknown_kwarg(name, kw):
    with pytest.raises(ValueError) as e:
        optim.get(name, lr=0.1, **kw)
    assert next(iter(kw)) in str(e.value) and "lr" in str(e.value)


@pytest.mark.parametrize(
    "factory,kw,shown",
    [
        (optim.sgd, {"lr": -0.1}, "lr=-0.1"),
        (optim.sgd, {"lr": float("nan")}, "lr=nan"),
        (optim.adam, {"lr": float("nan")}, "lr=nan"),
        (optim.momentum, {"lr": -1.0}, "lr=-1.0"),
        (optim.momentum, {"lr": 0.1, "alpha": 1.5}, "alpha=1.5"),
        (optim.momentum, {"lr": 0.1, "alpha": 1.0}, "alpha=1.0"),
        (optim.nesterov, {"lr": 0.1, "alpha": 1.5}, "alpha=1.5"),
        (optim.nesterov, {"lr": 0.1, "alpha": -0.1}, "alpha=-0.1"),
        (optim.adagrad, {"lr": 0.1, "eps": 0.0}, "eps=0.0"),
        (optim.adagrad, {"lr": -0.1}, "lr=-0.1"),
        (optim.rmsprop, {"lr": 0.1, "decay": 1.0}, "decay=1.0"),
        (optim.rmsprop, {"lr": 0.1, "eps": -1e-8}, "eps=-1e-08"),
        (optim.adam, {"lr": 0.1, "b1": 1.0}, "b1=1.0"),
        (optim.adam, {"lr": 0.1, "b2": -0.5}, "b2=-0.5"),
        (optim.adam, {"lr": 0.1, "eps": -1e-8}, "eps=-1e-08"),
        (optim.sgd, {"lr": "0.1"}, "lr='0.1'"),
    ],
)
def test_invalid_values_raise(factory, kw, shown):
    with pytest.raises(ValueError) as e:
        factory(**kw)
    assert shown in str(e.value)


def test_get_validates_values_too():
    with pytest.raises(ValueError, match="alpha=1.5"):
        optim.get("momentum", lr=0.1, alpha=1.5)
    with pytest.raises(ValueError, match="lr=-0.1"):
        optim.get("adam", lr=-0.1)


def test_zero_lr_is_allowed_and_does_nothing():
    for name in NAMES:
        traj = run(optim.get(name, lr=0.0), quad_grad, THETA0, 5)
        np.testing.assert_array_equal(traj, np.broadcast_to(THETA0, traj.shape))


def test_float64_schedule_keeps_float32_state():
    """A rate computed in float64 must not promote float32 parameters' optimizer state."""
    p = jnp.ones(3, jnp.float32)
    for name in optim.available():
        kw = {"lr": lambda c: jnp.asarray(0.1, jnp.float64) / (c + 1)}
        opt = optim.get(name, **kw)
        state = opt.init(p)
        step, new_state = opt.update(p, state, p)
        assert step.dtype == jnp.float32, name
        chex.assert_trees_all_equal_dtypes(new_state, state)
        jax.lax.scan(lambda s, _: (opt.update(p, s, p)[1], None), state, None, length=2)


@pytest.mark.parametrize("bad", [float("inf"), -0.1, float("nan")])
def test_non_finite_or_negative_rates_refused_also_as_arrays(bad):
    with pytest.raises(ValueError, match="lr="):
        optim.sgd(bad)
    with pytest.raises(ValueError, match="lr="):
        optim.momentum(jnp.asarray(bad))
