"""The width_transfer study's coordinate check (microsoft/mup's ``get_coord_data``, Tensor Programs V
Appendix D): every layer's output size and per-step change over the first SGD steps at each width,
seeds vmapped, and the slopes of log(size) against log(width) that its claims read."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from research.engine import config as config_lib, keys as keys_lib, train as train_lib
from research.lib import mlp


def coordinate_check(ctx) -> dict[str, np.ndarray]:
    """Per config arm: sizes and per-step changes of every layer's output over the first steps,
    at every width, seeds vmapped (see the module docstring)."""
    from research.studies.width_transfer.study import grid_arm  # the training runs' arms, at each width

    full, ds = ctx.full, ctx.dataset
    p = full.params
    widths, lr = [int(w) for w in p.widths], 2.0 ** float(p.coord_log2_lr)
    coord = full.with_arms({f"{n}@w{w}": grid_arm(full, n, w, lr) for n in full.arms for w in widths})
    out = {}
    for n in full.arms:
        rms, delta, div = [], [], []
        for w in widths:
            r, d, dv = _coord_one(coord.arms[f"{n}@w{w}"], ds, ctx.keys, int(p.coord_steps), int(p.coord_batch))
            rms.append(r), delta.append(d), div.append(dv)
        out[f"{n}/coord_rms"] = np.stack(rms, axis=1).astype(np.float64)
        out[f"{n}/coord_delta"] = np.stack(delta, axis=1).astype(np.float64)
        out[f"{n}/coord_diverged_at"] = np.stack(div, axis=1)
    return out


def _coord_one(arm, ds, keys, steps: int, batch: int):
    n_train, dim = ds.train.x.shape
    prog = train_lib.program(arm, n_train, dim, ds.num_classes)
    if steps * prog.batch_size > n_train:
        raise config_lib.ConfigError(
            f"config.params.coord_steps={steps} is invalid; accepted: at most {n_train // prog.batch_size} "
            f"(steps of batch {prog.batch_size} within one epoch of {n_train} examples)")
    spec, dtype = arm.spec, jnp.dtype(arm.train.dtype)
    h = train_lib.hyper(arm)
    x_tr, y_tr = jnp.asarray(ds.train.x, dtype), jnp.asarray(ds.train.y)
    probe = jnp.asarray(ds.val.x[:batch], dtype)

    def measure(params, bn_state):
        logits, _, trace = mlp.forward(params, bn_state, probe, spec, train=True)
        return [*trace.post, logits]

    def rms(a):
        return jnp.sqrt(jnp.mean(jnp.square(a)))

    def one(key):
        carry = prog.init(key, h.init_scale, spec)
        order = jax.random.permutation(jax.random.fold_in(keys_lib.stream(key, "shuffle"), 0), n_train)
        idx = order[: steps * prog.batch_size].reshape(steps, prog.batch_size)
        first = measure(carry.params, carry.bn_state)

        def step(state, ix):
            c, prev = state
            c, _ = prog.step(c, h, x_tr[ix], y_tr[ix])
            now = measure(c.params, c.bn_state)
            return (c, now), (jnp.stack([rms(a) for a in now]), jnp.stack([rms(a - b) for a, b in zip(now, prev)]))

        (carry, _), (sizes, changes) = jax.lax.scan(step, (carry, first), idx)
        sizes = jnp.concatenate([jnp.stack([rms(a) for a in first])[None], sizes])
        return sizes, changes, carry.diverged_at

    sizes, changes, div = jax.jit(jax.vmap(one))(keys)
    return np.asarray(sizes), np.asarray(changes), np.asarray(div)


def layer_names(n_layers: int) -> list[str]:
    return [f"h{l + 1}" for l in range(n_layers - 1)] + ["logits"]


def slopes(values: np.ndarray, widths) -> np.ndarray:
    """Per seed, step and layer: the least-squares slope of log(value) against log(width), from
    ``values`` of shape (seeds, widths, steps, layers); NaN where a value is not positive and finite."""
    x = np.log(np.asarray(widths, np.float64))
    x = x - x.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(np.where(np.isfinite(values) & (values > 0), values, np.nan))
    return np.einsum("swtl,w->stl", y - y.mean(axis=1, keepdims=True), x) / np.sum(x * x)


def coord_slopes(full, results, name) -> dict[str, np.ndarray]:
    """Per seed (steps averaged), the slopes the coordinate claims read: ``"<layer> size"`` for the
    hidden layers' outputs after steps 1..T and ``"<layer> change"`` for every layer's per-step
    change; a seed whose check diverged at some width is NaN."""
    widths = results["widths"]
    size = slopes(results[f"{name}/coord_rms"][:, :, 1:], widths).mean(axis=1)   # (seeds, layers)
    change = slopes(results[f"{name}/coord_delta"], widths).mean(axis=1)
    dead = (results[f"{name}/coord_diverged_at"] >= 0).any(axis=1)
    size[dead], change[dead] = np.nan, np.nan
    names = layer_names(size.shape[1])
    out = {f"{l} size": size[:, i] for i, l in enumerate(names[:-1])}
    out.update({f"{l} change": change[:, i] for i, l in enumerate(names)})
    return out


def init_logit_slope(results, name) -> float:
    """Slope of the logits' size at initialization (step 0), seeds pooled: -1/2 under muP (output
    init variance 1/fan_in^2), 0 under SP. Shown in the claim text."""
    s = slopes(results[f"{name}/coord_rms"][:, :, :1], results["widths"])[:, 0, -1]
    return float(mean_alive(s))


def mean_alive(a):
    """Mean over seeds of the finite values (NaN where none is)."""
    finite = np.isfinite(a)
    count = finite.sum(axis=0)
    return np.where(count > 0, np.where(finite, a, 0.0).sum(axis=0) / np.maximum(count, 1), np.nan)
