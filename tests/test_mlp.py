"""MLP forward pass: BatchNorm against the textbook formula, running statistics, eval mode,
shapes, the flax peer check, zero-init symmetry and bad input."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research.lib import backprop, mlp, optim

F64 = jnp.float64
ACTS = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
NP_ACT = {
    "sigmoid": lambda u: 1 / (1 + np.exp(-u)),
    "tanh": np.tanh,
    "relu": lambda u: np.where(u > 0, u, 0.0),
    "leaky_relu": lambda u: np.where(u > 0, u, 0.01 * u),
    "linear": lambda u: u,
}


def _data(spec, batch=16, seed=1, dtype=F64):
    return jax.random.normal(jax.random.key(seed), (batch, spec.sizes[0]), dtype)


def _random_bn(params, state, key):
    """Move gamma/beta and the running statistics off their initial values so tests see them act."""
    params = [dict(p) for p in params]
    state = [dict(s) for s in state]
    for l, s in enumerate(state):
        k1, k2, k3, k4, key = jax.random.split(key, 5)
        n = s["mean"].shape[0]
        params[l]["gamma"] = 1 + 0.3 * jax.random.normal(k1, (n,), F64)
        params[l]["beta"] = 0.2 * jax.random.normal(k2, (n,), F64)
        s["mean"] = 0.5 * jax.random.normal(k3, (n,), F64)
        s["var"] = jnp.exp(jax.random.normal(k4, (n,), F64))
    return params, state


def _numpy_forward(params, state, x, spec, train):
    """The textbook MLP+BN in float64 numpy: a second, independent statement of the maths."""
    a = np.asarray(x)
    new_state = []
    f = NP_ACT[spec.activation]
    for l, p in enumerate(params):
        z = a @ np.asarray(p["w"]) + np.asarray(p["b"])
        if l == len(params) - 1:
            return z, new_state
        if spec.batchnorm:
            if train:
                mu = z.mean(axis=0)
                var = ((z - mu) ** 2).mean(axis=0)  # biased: divide by B
                m = spec.bn_momentum
                new_state.append({"mean": m * np.asarray(state[l]["mean"]) + (1 - m) * mu,
                                  "var": m * np.asarray(state[l]["var"]) + (1 - m) * var})
            else:
                mu, var = np.asarray(state[l]["mean"]), np.asarray(state[l]["var"])
                new_state.append(state[l])
            z = np.asarray(p["gamma"]) * (z - mu) / np.sqrt(var + spec.bn_eps) + np.asarray(p["beta"])
        a = f(z)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_init_structure_and_shapes(batchnorm):
    spec = mlp.MLPSpec((7, 5, 4, 3), batchnorm=batchnorm)
    params, state = mlp.init(jax.random.key(0), spec)
    assert len(params) == 3
    for l, (layer, (n_in, n_out)) in enumerate(zip(params, spec.weight_shapes())):
        chex.assert_shape(layer["w"], (n_in, n_out))
        chex.assert_shape(layer["b"], (n_out,))
        chex.assert_type(layer["w"], jnp.float32)
        hidden_bn = batchnorm and l < 2
        assert set(layer) == ({"w", "b", "gamma", "beta"} if hidden_bn else {"w", "b"})
        if hidden_bn:
            chex.assert_trees_all_equal(layer["gamma"], jnp.ones(n_out))
            chex.assert_trees_all_equal(layer["beta"], jnp.zeros(n_out))
    assert len(state) == (2 if batchnorm else 0)
    for s, n in zip(state, (5, 4)):
        chex.assert_trees_all_equal(s, {"mean": jnp.zeros(n), "var": jnp.ones(n)})
    logits, new_state = mlp.apply(params, state, jnp.ones((9, 7)), spec, train=True)
    chex.assert_shape(logits, (9, 3))
    chex.assert_trees_all_equal_shapes(new_state, state)


def test_init_is_a_function_of_the_key():
    spec = mlp.MLPSpec((6, 5, 3))
    a = mlp.init(jax.random.key(3), spec)
    chex.assert_trees_all_equal(a, mlp.init(jax.random.key(3), spec))
    assert not np.array_equal(a[0][0]["w"], mlp.init(jax.random.key(4), spec)[0][0]["w"])


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_forward_equals_textbook_formula(activation, batchnorm, train):
    spec = mlp.MLPSpec((6, 9, 7, 4), activation=activation, batchnorm=batchnorm, weight_init="xavier_normal")
    params, state = mlp.init(jax.random.key(0), spec, F64)
    params, state = _random_bn(params, state, jax.random.key(5))
    x = _data(spec)
    logits, new_state = mlp.apply(params, state, x, spec, train=train)
    ref_logits, ref_state = _numpy_forward(params, state, x, spec, train)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-12, atol=1e-13)
    chex.assert_trees_all_close(new_state, ref_state, rtol=1e-12, atol=1e-14)


def test_running_statistics_update_and_eval_uses_them():
    spec = mlp.MLPSpec((4, 6, 3), batchnorm=True, bn_momentum=0.8, activation="tanh")
    params, state = mlp.init(jax.random.key(0), spec, F64)
    x = 3.0 + 2.0 * _data(spec, batch=32)
    z = x @ params[0]["w"] + params[0]["b"]
    _, s1 = mlp.apply(params, state, x, spec, train=True)
    # running = m * running + (1 - m) * batch, with the biased batch variance
    np.testing.assert_allclose(s1[0]["mean"], 0.2 * z.mean(0), rtol=1e-13)
    np.testing.assert_allclose(s1[0]["var"], 0.8 + 0.2 * z.var(0), rtol=1e-13)
    _, s2 = mlp.apply(params, s1, x, spec, train=True)
    np.testing.assert_allclose(s2[0]["mean"], 0.8 * 0.2 * z.mean(0) + 0.2 * z.mean(0), rtol=1e-13)
    # eval mode: normalizes with the running statistics and leaves them alone
    logits_eval, s_eval = mlp.apply(params, s2, x[:5], spec, train=False)
    chex.assert_trees_all_equal(s_eval, s2)
    _, _, trace = mlp.forward(params, s2, x[:5], spec, train=False)
    zhat = (z[:5] - s2[0]["mean"]) / np.sqrt(s2[0]["var"] + spec.bn_eps)
    np.testing.assert_allclose(trace.xhat[0], zhat, rtol=1e-12)
    # eval output of one example does not depend on the rest of the batch; train output does
    one_eval, _ = mlp.apply(params, s2, x[:1], spec, train=False)
    np.testing.assert_allclose(one_eval[0], logits_eval[0], rtol=1e-13)
    train_a, _ = mlp.apply(params, s2, x[:5], spec, train=True)
    train_b, _ = mlp.apply(params, s2, x[:6], spec, train=True)
    assert not np.allclose(train_a[0], train_b[0])


def test_batchnorm_output_is_standardized_in_train_mode():
    spec = mlp.MLPSpec((5, 8, 2), batchnorm=True, activation="linear")
    params, state = mlp.init(jax.random.key(1), spec, F64)
    _, _, trace = mlp.forward(params, state, 4.0 + 3.0 * _data(spec, batch=50), spec, train=True)
    np.testing.assert_allclose(trace.xhat[0].mean(0), 0.0, atol=1e-14)
    var = trace.xhat[0].var(0)
    z_var = trace.z[0].var(0)
    np.testing.assert_allclose(var, z_var / (z_var + spec.bn_eps), rtol=1e-12)


def test_trace_holds_every_layer_and_matches_apply():
    spec = mlp.MLPSpec((6, 8, 7, 5, 3), activation="tanh", batchnorm=True)
    params, state = mlp.init(jax.random.key(2), spec, F64)
    x = _data(spec)
    logits, new_state, tr = mlp.forward(params, state, x, spec, train=True)
    chex.assert_trees_all_equal((logits, new_state), mlp.apply(params, state, x, spec, train=True))
    assert len(tr.inputs) == len(tr.z) == 4 and len(tr.pre) == len(tr.post) == 3
    chex.assert_trees_all_equal(tr.inputs[0], x)
    for l in range(3):
        chex.assert_shape([tr.z[l], tr.pre[l], tr.post[l]], (16, spec.sizes[l + 1]))
        chex.assert_trees_all_equal(tr.post[l], jnp.tanh(tr.pre[l]))
        chex.assert_trees_all_equal(tr.inputs[l + 1], tr.post[l])
    chex.assert_trees_all_equal(tr.z[-1], logits)


class _FlaxMLP(nn.Module):
    """The same network from flax's own layers: Dense (+ BatchNorm) + activation."""

    sizes: tuple
    activation: str
    batchnorm: bool
    momentum: float
    eps: float

    @nn.compact
    def __call__(self, x, train: bool):
        act = {"sigmoid": nn.sigmoid, "tanh": nn.tanh, "relu": nn.relu,
               "leaky_relu": nn.leaky_relu, "linear": lambda u: u}[self.activation]
        for n in self.sizes[1:-1]:
            x = nn.Dense(n, dtype=F64, param_dtype=F64)(x)
            if self.batchnorm:
                x = nn.BatchNorm(use_running_average=not train, momentum=self.momentum, epsilon=self.eps,
                                 dtype=F64, param_dtype=F64, use_fast_variance=False,
                                 force_float32_reductions=False)(x)
            x = act(x)
        return nn.Dense(self.sizes[-1], dtype=F64, param_dtype=F64)(x)


def _to_flax(params, state, spec):
    p, bs = {}, {}
    for l, layer in enumerate(params):
        p[f"Dense_{l}"] = {"kernel": layer["w"], "bias": layer["b"]}
        if spec.batchnorm and l < spec.n_hidden:
            p[f"BatchNorm_{l}"] = {"scale": layer["gamma"], "bias": layer["beta"]}
            bs[f"BatchNorm_{l}"] = {"mean": state[l]["mean"], "var": state[l]["var"]}
    return {"params": p, "batch_stats": bs} if spec.batchnorm else {"params": p}


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("batchnorm", [False, True])
def test_flax_peer_check(activation, batchnorm):
    spec = mlp.MLPSpec((6, 9, 7, 4), activation=activation, batchnorm=batchnorm, weight_init="he_normal",
                       bias_init="normal", bias_init_kwargs={"stddev": 0.1})
    params, state = mlp.init(jax.random.key(0), spec, F64)
    params, state = _random_bn(params, state, jax.random.key(9))
    net = _FlaxMLP(spec.sizes, activation, batchnorm, spec.bn_momentum, spec.bn_eps)
    variables = _to_flax(params, state, spec)
    chex.assert_trees_all_equal_structs(
        jax.tree.map(jnp.shape, variables),
        jax.tree.map(jnp.shape, net.init(jax.random.key(0), jnp.zeros((2, 6), F64), train=False)),
    )
    x = _data(spec, batch=12)
    for train in (True, False):
        ours, ours_state = mlp.apply(params, state, x, spec, train=train)
        if batchnorm and train:
            theirs, updates = net.apply(variables, x, train=True, mutable=["batch_stats"])
            theirs_state = [updates["batch_stats"][f"BatchNorm_{l}"] for l in range(spec.n_hidden)]
            chex.assert_trees_all_close(ours_state, theirs_state, rtol=1e-13, atol=1e-15)
        else:
            theirs = net.apply(variables, x, train=train)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("sizes", [(20, 33, 17, 10), (12, 8, 8, 8, 5), (784, 64, 10)])
@pytest.mark.parametrize("init", [("zeros", {}), ("constant", {"value": 0.3})])
def test_zero_init_keeps_hidden_units_identical(sizes, init):
    """Notes 000-002: with equal initial weights every hidden unit of a layer gets the same
    gradient and stays the same unit. Checked bit for bit after 150 SGD steps in float32 (the
    default dtype). In float64 XLA's CPU matmul treats leftover columns of odd widths with another
    summation order, which breaks the tie at the 1e-17 level; the maths is the same."""
    name, kwargs = init
    spec = mlp.MLPSpec(sizes, activation="sigmoid", weight_init=name, weight_init_kwargs=kwargs)
    params, state = mlp.init(jax.random.key(0), spec)
    x = jax.random.normal(jax.random.key(1), (64, sizes[0]))
    y = jax.random.randint(jax.random.key(2), (64,), 0, sizes[-1])
    opt = optim.sgd(0.5)

    @jax.jit
    def step(p, s):
        g = backprop.grads(p, state, x, y, spec, "softmax_ce").grads
        u, s = opt.update(g, s)
        return optax.apply_updates(p, u), s

    p, s = params, opt.init(params)
    for _ in range(150):
        p, s = step(p, s)
    for l in range(spec.n_hidden):
        w, b = np.asarray(p[l]["w"]), np.asarray(p[l]["b"])
        assert np.array_equal(w, np.repeat(w[:, :1], w.shape[1], axis=1)), f"layer {l} units differ"
        assert np.array_equal(b, np.full_like(b, b[0]))
    # the weights did move: the units are identical, not frozen
    assert not np.array_equal(np.asarray(p[0]["w"]), np.asarray(params[0]["w"]))
    assert np.abs(np.asarray(p[-1]["w"]) - np.asarray(params[-1]["w"])).max() > 1e-3


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"sizes": (4, -3, 2)}, "-3"),
        ({"sizes": (4, 0, 2)}, "0"),
        ({"sizes": (4,)}, "sizes"),
        ({"sizes": (4, 2.5, 2)}, "2.5"),
        ({"sizes": (4, 3, 2), "activation": "swish"}, "swish"),
        ({"sizes": (4, 3, 2), "weight_init": "kaiming"}, "kaiming"),
        ({"sizes": (4, 3, 2), "bias_init": "ones"}, "ones"),
        ({"sizes": (4, 3, 2), "weight_init": "sparse", "weight_init_kwargs": {"connections": 5}}, "connections=5"),
        ({"sizes": (4, 3, 2), "weight_init": "normal", "weight_init_kwargs": {"std": 1.0}}, "std"),
        ({"sizes": (4, 3, 2), "bn_momentum": 1.5}, "1.5"),
        ({"sizes": (4, 3, 2), "bn_eps": -1.0}, "-1.0"),
        ({"sizes": (4, 3, 2), "batchnorm": "yes"}, "yes"),
    ],
)
def test_bad_spec_is_one_clear_value_error(kwargs, needle):
    with pytest.raises(ValueError) as err:
        mlp.MLPSpec(**kwargs)
    msg = str(err.value)
    assert needle in msg and "accepted" in msg and msg.startswith("MLPSpec.")


def test_mismatched_input_width_is_refused():
    spec = mlp.MLPSpec((5, 3, 2))
    params, state = mlp.init(jax.random.key(0), spec)
    with pytest.raises(ValueError, match=r"\(8, 4\).*\(batch, 5\)"):
        mlp.apply(params, state, jnp.ones((8, 4)), spec, train=True)
    with pytest.raises(ValueError, match="batch, 5"):
        mlp.apply(params, state, jnp.ones((5,)), spec, train=True)


def test_spec_is_hashable_and_static_under_jit():
    spec = mlp.MLPSpec([5, 3, 2], weight_init="sparse", weight_init_kwargs={"connections": 2})
    assert spec.sizes == (5, 3, 2) and hash(spec) == hash(mlp.MLPSpec((5, 3, 2), weight_init="sparse",
                                                                         weight_init_kwargs={"connections": 2}))
    params, state = mlp.init(jax.random.key(0), spec)
    f = jax.jit(mlp.apply, static_argnames=("spec", "train"))
    chex.assert_trees_all_close(f(params, state, jnp.ones((3, 5)), spec=spec, train=True),
                                mlp.apply(params, state, jnp.ones((3, 5)), spec, True))


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 3, 5), (32, 64, 10)])
def test_engine_matmul_derivative_equals_jnp_matmul(shape):
    """mlp.matmul's written-out backward pass gives jnp.matmul's derivatives in float64: the same
    products, summed in an order the GEMM kernel picks (a^T delta vs (delta^T a)^T), so equal to
    within a few ulps of the largest term, not bitwise."""
    b, n, m = shape
    ka, kw, kc = jax.random.split(jax.random.key(sum(shape)), 3)
    a, w = jax.random.normal(ka, (b, n), F64), jax.random.normal(kw, (n, m), F64)
    c = jax.random.normal(kc, (b, m), F64)
    ours = jax.grad(lambda a, w: jnp.sum(jnp.sin(mlp.matmul(a, w)) * c), argnums=(0, 1))(a, w)
    theirs = jax.grad(lambda a, w: jnp.sum(jnp.sin(a @ w) * c), argnums=(0, 1))(a, w)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o, t, rtol=0, atol=64 * np.finfo(np.float64).eps * b * n)


def test_engine_matmul_mixed_dtypes_give_each_input_its_own_dtype():
    """float64 data into float32 weights (x64 on): jnp promotes the product, and the cotangents
    must come back as float64 for the data and float32 for the weights, as jnp.matmul's do."""
    a = jax.random.normal(jax.random.key(0), (4, 3), F64)
    w = jax.random.normal(jax.random.key(1), (3, 2), jnp.float32)
    ours = jax.grad(lambda a, w: jnp.sum(mlp.matmul(a, w) ** 2), argnums=(0, 1))(a, w)
    theirs = jax.grad(lambda a, w: jnp.sum((a @ w) ** 2), argnums=(0, 1))(a, w)
    assert [g.dtype for g in ours] == [g.dtype for g in theirs] == [F64, jnp.float32]
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o, t, rtol=1e-6)
