"""Parametrizations (SP, NTK, muP) as data on the MLP spec: the per-layer scales against Tensor
Programs V's Table 3 at several widths, SP exactly at the base width, the init variances measured,
the hand backward pass against jax.grad under NTK and muP (SP: test_backprop.py), per-layer learning
rates as a scaled update, clear errors, and a tiny muP run through the engine."""

import math
from functools import partial

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats

from research.engine import config as config_lib, data, train
from research.lib import backprop, losses, mlp, optim, parametrization as P

F64 = jnp.float64
BASE = 64
WIDTHS = (64, 128, 256, 512, 1024, 2048)
FIELDS = ("init_std", "multiplier", "lr_w", "lr_b")

# The tables, written as exponents e of the width multiplier m = width / BASE (scale = m^e), per
# layer kind and field (init_std, multiplier, lr_w, lr_b), independently of the module's formulas.
# muP, Tensor Programs V Table 3 (no multipliers): init var input 1/fan_in, hidden 1/fan_in,
# output 1/fan_in^2 (SP: 1/fan_in, so init_std exponent -1/2 relative to SP); SGD LR input
# fan_out, hidden 1, output 1/fan_in; Adam LR input 1, hidden 1/fan_in, output 1/fan_in; biases
# (vector-like, fan_out infinite except at the output) like input weights.
TABLE = {
    ("sp", "sgd"): {"input": (0, 0, 0, 0), "hidden": (0, 0, 0, 0), "output": (0, 0, 0, 0)},
    ("sp", "adam"): {"input": (0, 0, 0, 0), "hidden": (0, 0, 0, 0), "output": (0, 0, 0, 0)},
    ("mup", "sgd"): {"input": (0, 0, 1, 1), "hidden": (0, 0, 0, 1), "output": (-0.5, 0, -1, 0)},
    ("mup", "adam"): {"input": (0, 0, 0, 0), "hidden": (0, 0, -1, 0), "output": (-0.5, 0, -1, 0)},
    # NTK: W = w / sqrt(m_in) for an infinite fan-in, w drawn sqrt(m_in) wider; rates unscaled
    ("ntk", "sgd"): {"input": (0, 0, 0, 0), "hidden": (0.5, -0.5, 0, 0), "output": (0.5, -0.5, 0, 0)},
    ("ntk", "adam"): {"input": (0, 0, 0, 0), "hidden": (0.5, -0.5, 0, 0), "output": (0.5, -0.5, 0, 0)},
}
SGD_LIKE, ADAM_LIKE = ("sgd", "momentum", "nesterov"), ("adam", "rmsprop", "adagrad")


def _spec(width, name, depth_hidden=3, base=BASE, **kw):
    return mlp.MLPSpec((784, *([width] * depth_hidden), 10), parametrization=name, base_width=base, **kw)


def _kinds(n_hidden):
    return ["input"] + ["hidden"] * (n_hidden - 1) + ["output"]


@pytest.mark.parametrize("name,fam", sorted(TABLE))
def test_scales_follow_the_papers_table_at_every_width(name, fam):
    for width in WIDTHS:
        spec = _spec(width, name)
        m = width / BASE
        for opt in SGD_LIKE if fam == "sgd" else ADAM_LIKE:
            got = P.scales(spec, opt)
            assert len(got) == spec.depth
            for kind, s in zip(_kinds(spec.n_hidden), got):
                want = [m ** e for e in TABLE[name, fam][kind]]
                np.testing.assert_allclose([getattr(s, f) for f in FIELDS], want, rtol=1e-14,
                                           err_msg=f"{name} {opt} width {width} {kind}")


def test_mup_absolute_exponents_match_table_3():
    """Table 3 in absolute terms: slope of log(quantity) against log(width) over the widths, with
    the effective init variance (init_std * multiplier)^2 * 2/fan_in (He's scheme) and the rate
    lr_w: input var 0 (finite fan-in), hidden -1, output -2; SGD rate input +1, hidden 0, output
    -1; Adam rate input 0, hidden -1, output -1."""
    logw = np.log(WIDTHS)
    slope = lambda ys: np.polyfit(logw, np.log(ys), 1)[0]
    want_var, want_lr = (0, -1, -2), {"sgd": (1, 0, -1), "adam": (0, -1, -1)}
    for fam in ("sgd", "adam"):
        per_width = [P.scales(_spec(w, "mup", depth_hidden=2), fam) for w in WIDTHS]
        for l in range(3):
            fan_in = [_spec(w, "mup", depth_hidden=2).sizes[l] for w in WIDTHS]
            var = [(s[l].init_std * s[l].multiplier) ** 2 * 2 / f for s, f in zip(per_width, fan_in)]
            assert slope(var) == pytest.approx(want_var[l], abs=1e-12)
            assert slope([s[l].lr_w for s in per_width]) == pytest.approx(want_lr[fam][l], abs=1e-12)


def test_each_hidden_dimension_has_its_own_multiplier_and_no_hidden_layer_means_no_scaling():
    spec = mlp.MLPSpec((20, 256, 128, 5), parametrization="mup", base_width=64)
    sgd = P.scales(spec, "sgd")
    assert (sgd[0].lr_w, sgd[1].lr_w, sgd[1].lr_b, sgd[2].lr_w) == (4.0, 1.0, 2.0, 0.5)
    assert P.scales(spec, "adam")[1].lr_w == 0.25  # 1 / m_in of the 256-wide fan-in
    assert P.width_multipliers(spec) == (None, 4.0, 2.0, None)
    for name in P.NAMES:
        flat = mlp.MLPSpec((20, 5), parametrization=name, base_width=64)
        assert P.scales(flat, "adam") == (P.UNIT,)


@pytest.mark.parametrize("name", P.NAMES)
@pytest.mark.parametrize("batchnorm", [False, True])
def test_at_the_base_width_every_parametrization_is_sp_bitwise(name, batchnorm):
    sp = _spec(BASE, "sp", depth_hidden=2, batchnorm=batchnorm, base=0)
    other = _spec(BASE, name, depth_hidden=2, batchnorm=batchnorm)
    for opt in optim.available():
        assert all(s == P.UNIT for s in P.scales(other, opt))
    key, x = jax.random.key(0), jax.random.normal(jax.random.key(1), (16, 784))
    p_sp, s_sp = mlp.init(key, sp)
    p_o, s_o = mlp.init(key, other)
    chex.assert_trees_all_equal((p_sp, s_sp), (p_o, s_o))
    chex.assert_trees_all_equal(mlp.apply(p_sp, s_sp, x, sp, train=True), mlp.apply(p_o, s_o, x, other, train=True))
    base_rule = optim.get("adam", lr=0.1)
    assert P.transform(other, "adam", base_rule) is base_rule


@pytest.mark.parametrize("name", P.NAMES)
def test_effective_init_variance_is_the_stated_one(name):
    """Chi-square on the sum of squares (known mean 0): sum(W^2) / var ~ chi2(n) for the stated
    effective variance var; fixed key, two-sided p >= 1e-4 (the estimate's relative error is
    ~sqrt(2/n), 0.2% on the hidden layers, 1.4% on the output: a wrong power of width fails by far)."""
    width = 1024
    spec = _spec(width, name, depth_hidden=2)
    params, _ = mlp.init(jax.random.key(7), spec, F64)
    eff = P.effective_weights(params, spec)
    for l, (w, W) in enumerate(zip((p["w"] for p in params), eff)):
        fan_in = spec.sizes[l]
        sp_var = 2.0 / fan_in  # He normal
        stated = {"sp": sp_var, "ntk": sp_var,
                  "mup": sp_var if l < spec.depth - 1 else 2.0 * BASE / fan_in ** 2}[name]
        # NTK's trained parameter w is width-independent in the infinite fan-in layers: 2/base
        raw = 2.0 / BASE if name == "ntk" and l > 0 else stated
        for arr, var in ((W, stated), (w, raw)):
            n = arr.size
            q = float(jnp.sum(jnp.square(arr))) / var
            p = 2 * min(stats.chi2.cdf(q, n), stats.chi2.sf(q, n))
            assert p >= 1e-4, f"{name} layer {l}: sample var {q / n * var:.4g}, stated {var:.4g}, p={p:.2g}"


def _problem(spec, seed, batch=9):
    """Params (weights at the parametrization's init scale, biases, BatchNorm's gamma and beta
    and running statistics away from their trivial values), inputs and labels, drawn with numpy
    (eager jax random ops would compile once per shape, slower than the whole test)."""
    rng = np.random.default_rng(seed)
    params, state = [], []
    for l, ((n_in, n_out), s) in enumerate(zip(spec.weight_shapes(), P.forward_scales(spec))):
        layer = {"w": rng.normal(size=(n_in, n_out)) * s.init_std / math.sqrt(n_in),
                 "b": 0.1 * rng.normal(size=n_out)}
        if spec.batchnorm and l < spec.n_hidden:
            layer["gamma"] = 1 + 0.3 * rng.normal(size=n_out)
            layer["beta"] = 0.2 * rng.normal(size=n_out)
            state.append({"mean": 0.3 * rng.normal(size=n_out), "var": 0.5 + rng.uniform(size=n_out)})
        params.append(layer)
    x = rng.normal(size=(batch, spec.sizes[0]))
    y = rng.integers(0, spec.sizes[-1], size=batch).astype(np.int32)
    return jax.tree.map(lambda a: jnp.asarray(a, F64) if a.dtype == np.float64 else jnp.asarray(a),
                        (params, state, x, y))


# SP's hand pass is tested at length in test_backprop.py; muP in Table 3's form has no forward
# multiplier (only its init differs from SP's): one width; NTK's multipliers 1/sqrt(m_in) run over
# widths (base 8: multipliers 3 and 12; at the base width every parametrization is SP bitwise).
@pytest.mark.parametrize("name,widths", [("mup", (32,)), ("ntk", (24, 96))])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_hand_backprop_equals_jax_grad(name, widths, batchnorm):
    l2 = 0.01
    for width in widths:
        spec = mlp.MLPSpec((7, width, width, 5), activation="tanh", batchnorm=batchnorm,
                           parametrization=name, base_width=8)
        assert any(s.init_std != 1.0 for s in P.forward_scales(spec))
        params, state, x, y = _problem(spec, seed=width)
        # BatchNorm's eval mode (running statistics) at the first width only: compiles cost time
        for train_mode in ((True, False) if batchnorm and width == widths[0] else (True,)):
            hand, value, auto = _both_grads(params, state, x, y, spec, l2, train_mode)
            np.testing.assert_allclose(hand.loss, value, rtol=1e-12)
            floor = 1e-12 * max(np.max(np.abs(g)) for g in jax.tree.leaves(auto))
            chex.assert_trees_all_close(hand.grads, auto, rtol=1e-10, atol=floor)


@partial(jax.jit, static_argnames=("spec", "train_mode"))
def _both_grads(params, state, x, y, spec, l2, train_mode):
    hand = backprop.grads(params, state, x, y, spec, "softmax_ce", l2=l2, train=train_mode)

    def objective(p):
        logits, _ = mlp.apply(p, state, x, spec, train=train_mode)
        return losses.get("softmax_ce")(logits, y) + losses.l2_penalty(p, l2)

    value, auto = jax.value_and_grad(objective)(params)
    return hand, value, auto


@pytest.mark.parametrize("opt", optim.available())
def test_scaled_update_is_a_per_layer_learning_rate(opt):
    """chain(rule(lr), per_layer_lr) against the rule run leaf by leaf at lr * its layer's scale,
    over 6 steps of random float64 gradients."""
    spec = mlp.MLPSpec((6, 32, 32, 3), batchnorm=True, parametrization="mup", base_width=8)
    lr = 0.03
    params, _ = mlp.init(jax.random.key(0), spec, F64)
    layer_scales = P.scales(spec, opt)
    assert any(s.lr_w != 1.0 or s.lr_b != 1.0 for s in layer_scales)
    chained = P.transform(spec, opt, optim.get(opt, lr=lr))
    state = chained.init(params)
    by_hand = [{k: optim.get(opt, lr=lr * (s.lr_w if k == "w" else s.lr_b)) for k in layer}
               for layer, s in zip(params, layer_scales)]
    hand_states = [{k: by_hand[l][k].init(v) for k, v in layer.items()} for l, layer in enumerate(params)]
    for step in range(6):
        rng = np.random.default_rng(step)
        g = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), F64), params)
        updates, state = chained.update(g, state, params)
        want = []
        for l, layer in enumerate(g):
            row = {}
            for k, v in layer.items():
                row[k], hand_states[l][k] = by_hand[l][k].update(v, hand_states[l][k])
            want.append(row)
        chex.assert_trees_all_close(updates, want, rtol=1e-12, atol=0)


def test_sp_and_ntk_leave_the_rule_alone():
    base_rule = optim.get("momentum", lr=0.1)
    for name in ("sp", "ntk"):
        spec = _spec(512, name, depth_hidden=2, base=0 if name == "sp" else BASE)
        assert P.transform(spec, "momentum", base_rule) is base_rule
        assert P.transform(spec, "a.user:rule", base_rule) is base_rule  # no family needed


@pytest.mark.parametrize("kwargs,match", [
    ({"parametrization": "muP"}, "MLPSpec.parametrization='muP' is invalid; accepted: sp, ntk, mup"),
    ({"parametrization": None}, "MLPSpec.parametrization=None is invalid; accepted: sp, ntk, mup"),
    ({"base_width": -1}, "MLPSpec.base_width=-1 is invalid; accepted: an integer >= 0"),
    ({"base_width": True}, "MLPSpec.base_width=True is invalid"),
    ({"base_width": 64.0}, "MLPSpec.base_width=64.0 is invalid"),
    ({"parametrization": "mup"}, "MLPSpec.base_width=0 is invalid with parametrization='mup'; accepted: the base"),
    ({"parametrization": "ntk"}, "MLPSpec.base_width=0 is invalid with parametrization='ntk'"),
])
def test_bad_parametrization_or_base_width_is_refused(kwargs, match):
    with pytest.raises(ValueError, match="^" + match.replace("(", r"\(").replace(")", r"\)")):
        mlp.MLPSpec((4, 3, 2), **kwargs)


def test_unknown_optimizer_family_and_parametrization_are_refused():
    spec = _spec(128, "mup", depth_hidden=1)
    with pytest.raises(ValueError, match=r"optimizer 'lbfgs' has no known parametrization family; accepted: "
                                         r"sgd, momentum, nesterov \(SGD-like\), adam, rmsprop, adagrad \(Adam-like\)"):
        P.scales(spec, "lbfgs")
    with pytest.raises(ValueError, match="parametrization 'xx' is invalid; accepted: sp, ntk, mup"):
        P.check_name("xx")
    with pytest.raises(ValueError, match="per_layer_lr: updates have 1 layers"):
        P.per_layer_lr(spec, "sgd").update([{"w": jnp.ones(2)}], optax.EmptyState())
    assert hash(spec) == hash(_spec(128, "mup", depth_hidden=1))


def _config(**model):
    c = config_lib.defaults()
    c.seeds = 1
    c.model.hidden = (32, 32)
    c.model.update(model)
    c.train.update({"epochs": 3, "batch_size": 16, "evals_per_epoch": 1, "lr": 0.05, "dtype": "float64"})
    c.arms = {"a": {}}
    return c


@pytest.mark.parametrize("model,match", [
    ({"parametrization": "bogus"}, "config.model.parametrization='bogus' is invalid; accepted: one of sp, ntk, mup"),
    ({"base_width": -3}, "config.model.base_width=-3 is invalid; accepted: an integer >= 0"),
    ({"parametrization": "mup"}, "config.arms.a.model: MLPSpec.base_width=0 is invalid with parametrization='mup'"),
])
def test_bad_config_keys_are_refused(model, match):
    with pytest.raises(config_lib.ConfigError, match="^" + match):
        config_lib.validate(_config(**model))


def test_mup_with_an_optimizer_of_no_known_family_is_refused_in_the_config():
    c = _config(parametrization="mup", base_width=16)
    c.train.optimizer, c.train.optimizer_kwargs = "research.lib.optim:sgd", {}
    with pytest.raises(config_lib.ConfigError, match=r"^config.arms.a.train.optimizer: optimizer "
                                                      r"'research.lib.optim:sgd' has no known parametrization family"):
        config_lib.validate(c)


def _separable(n=240):
    """Each class lights its own block of pixels, plus deterministic noise: learnable in a few epochs."""
    labels = (np.arange(n) % 10).astype(np.int32)
    noise = (np.arange(n * 784) * 7919 % 97).reshape(n, 784)
    images = noise.copy()
    for c in range(10):
        images[labels == c, c * 70:(c + 1) * 70] += 150
    return data.make_splits(images.astype(np.uint8), labels, jax.random.key(0), n_val=40, n_test=40,
                            name="synthetic", dtype=np.float64)


def test_mup_trains_through_the_engine():
    ds = _separable()
    c = _config(parametrization="mup", base_width=16)
    config_lib.validate(c)
    arm = config_lib.resolve(config_lib.merged(c), "a")
    carry, m = jax.jit(train.make_train(arm, ds))(jax.random.key(2))
    loss = np.asarray(m.train_loss).ravel()
    assert np.all(np.isfinite(loss)) and loss[-1] < 0.5 * loss[0], loss
    assert int(carry.diverged_at) == -1
    # the program follows the parametrization: muP's rates are chained onto the rule, its output
    # layer starts 1/sqrt(2) as wide as SP's (width 32 over base 16), other layers as SP's
    prog = train.program(arm, ds.train.x.shape[0], 784, 10)
    assert prog.spec.parametrization == "mup" and prog.spec.base_width == 16
    sp_arm = config_lib.resolve(config_lib.merged(_config()), "a")
    sp_prog = train.program(sp_arm, ds.train.x.shape[0], 784, 10)
    mup_state, sp_state = prog.transform(0.1).init(carry.params), sp_prog.transform(0.1).init(carry.params)
    assert isinstance(sp_state, optim.MomentumState)
    assert isinstance(mup_state[0], optim.MomentumState) and isinstance(mup_state[1], optax.EmptyState)
    mup0 = prog.init(jax.random.key(2), 1.0, prog.spec).params
    sp0 = sp_prog.init(jax.random.key(2), 1.0, sp_prog.spec).params
    chex.assert_trees_all_equal(mup0[:2], sp0[:2])
    np.testing.assert_allclose(mup0[2]["w"], sp0[2]["w"] / math.sqrt(2), rtol=1e-15)
