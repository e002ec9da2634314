"""Training as pure, compiled programs: one run is a function of its key, many runs are a vmap.

``make_train(config, dataset)`` returns ``train(key) -> (carry, metrics)`` in the purejaxrl style:
initialize, then ``lax.scan`` over epochs, each a ``lax.scan`` over minibatch steps with the
training set reshuffled by key, and ``jit(vmap(train))(keys)`` runs many seeds at once.

The study runner uses the same pieces chunked: :class:`Program` holds everything static about a
group of arms (shapes, activation, optimizer rule, loss, batch size), :meth:`Program.epoch` is one
chunk, and the per-run hyperparameters (:class:`Hyper`: learning rate, L2, init scale) are traced
arrays, so arms that differ only in those share one compiled program. :func:`many` compiles a
chunk over many runs: one vmap, or (on a CPU, :func:`cache_group`) a loop over cache-sized groups
of vmapped runs with the carry updated in place, faster and with little held beyond the state.

A run whose loss or parameters become NaN/inf is frozen where it stood: its parameters stop
changing, ``diverged_at`` records the step, and its later losses are NaN. Other runs in the same
program are unaffected (vmap keeps them independent).

Where that is checked (``train.divergence_check``, ``Program.check``):

* ``"step"`` (the default): every step tests the loss and the new parameters and selects, per run,
  the new state or the old one. The selects and the finiteness reduction are passes over the
  parameters and the optimizer state that XLA:CPU does not fuse with the update (~14% of the main
  study's step time in a profile).
* ``"segment"``: the steps between two evaluations run unchecked; then a run that was frozen
  before the segment is put back as it was (step counter advanced: what the per-step check keeps),
  and a run that fell in it (a non-finite loss, or a non-finite parameter at the end) takes its
  segment again from the start with the per-step check, so it freezes at the step it would have.
  That is exact: a non-finite parameter entry stays non-finite under ``p + u`` (inf + finite = inf,
  inf - inf = NaN, NaN + x = NaN), so a run whose losses and last parameters are finite had no
  step the per-step check would have frozen. The redo is one ``cond`` for the runs of a vmap (over
  ``RUNS_AXIS``, which :func:`many` binds), taken only when one of them fell, and the others keep
  their unchecked results, so no run's numbers depend on the runs it is batched with.
  It is the same arithmetic, not the same bits: without the selects XLA fuses the bias gradients'
  batch sums with the momentum update and sums them in another order, so float32 results move at
  rounding level (float64: ~1e-13 after 200 steps), which chaotic runs then amplify. Main study:
  chunks 6% faster end to end (194.0 -> 182.7 s; benchmarks/README.md); every claim's verdict the same.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.lib import backprop, losses, mlp, optim, parametrization
from research.engine import config as config_lib, keys as keys_lib
from research.engine.batching import (CACHE_BYTES, RUNS_AXIS, TEMP_FRACTION, cache_group, many,  # noqa: F401
                                      one_shot)  # (public here too)


class Hyper(NamedTuple):
    """Per-run hyperparameters; scalars for one run, arrays with a leading run axis for many."""

    lr: jax.Array
    l2: jax.Array
    init_scale: jax.Array


class Carry(NamedTuple):
    params: list
    bn_state: list
    opt_state: object
    step: jax.Array         # minibatch steps taken
    diverged_at: jax.Array  # step at which the loss or parameters became non-finite; -1 if never


class Metrics(NamedTuple):
    """One entry per evaluation point (``evals_per_epoch`` per epoch)."""

    train_loss: jax.Array  # mean training loss over the steps since the previous evaluation
    val_loss: jax.Array
    val_acc: jax.Array
    # 15th/50th/85th percentiles over the validation set of one unit's input to its activation
    # (unit 0 of the last hidden layer, eval mode): Ioffe & Szegedy's Figure 1(b, c)
    unit_q: jax.Array
    # what the program's probe measures at each evaluation point (None without a probe)
    probe: jax.Array | None = None


METRIC_TRAILING = {"train_loss": (), "val_loss": (), "val_acc": (), "unit_q": (3,)}
UNIT_QUANTILES = (0.15, 0.5, 0.85)


@dataclasses.dataclass(frozen=True)
class Program:
    """Everything static about a compiled training program; hashable."""

    spec: mlp.MLPSpec
    optimizer: str
    optimizer_kwargs: tuple
    loss: str
    grad: str
    batch_size: int
    steps_per_eval: int
    evals_per_epoch: int
    dtype: str
    segments: int = 0   # evaluation segments this chunk runs (0: evals_per_epoch, a whole epoch)
    # probe(params, bn_state, val_x) -> array, measured at every evaluation point (a study's hook)
    probe: Any = None
    # where divergence is checked (config.DIVERGENCE_CHECKS): "step", or "segment" (unchecked steps,
    # the per-step check redone for a run that fell in the segment); see the module docstring
    check: str = "step"

    @property
    def steps_per_epoch(self) -> int:
        return self.steps_per_eval * self.evals_per_epoch

    def transform(self, lr) -> optax.GradientTransformation:
        """The update rule at rate ``lr``, its steps scaled per layer as the spec's parametrization
        says (the rule itself under SP)."""
        return parametrization.transform(self.spec, self.optimizer,
                                         optim.get(self.optimizer, lr=lr, **dict(self.optimizer_kwargs)))

    def init(self, key: jax.Array, init_scale, arm_spec: mlp.MLPSpec) -> Carry:
        """A fresh run: ``arm_spec``'s init scheme, weights times ``init_scale``."""
        params, bn_state = mlp.init(keys_lib.stream(key, "init"), arm_spec, jnp.dtype(self.dtype))
        params = [dict(layer, w=layer["w"] * jnp.asarray(init_scale, layer["w"].dtype)) for layer in params]
        opt_state = self.transform(1.0).init(params)  # the state's structure does not depend on lr
        return Carry(params, bn_state, opt_state, jnp.zeros([], jnp.int32), jnp.full([], -1, jnp.int32))

    def loss_and_grads(self, params, bn_state, x, y, l2):
        if self.grad == "hand":
            out = backprop.grads(params, bn_state, x, y, self.spec, self.loss, l2=l2)
            return out.loss, out.grads, out.state

        def objective(p):
            logits, new_state = mlp.apply(p, bn_state, x, self.spec, train=True, matmul=mlp.matmul)
            return losses.get(self.loss)(logits, y) + losses.l2_penalty(p, l2), new_state

        (value, new_state), grads = jax.value_and_grad(objective, has_aux=True)(params)
        return value, grads, new_state

    def advance(self, carry: Carry, hyper: Hyper, x, y):
        """One minibatch's loss and updated state ``(value, params, bn_state, opt_state)``, unchecked."""
        value, grads, new_bn = self.loss_and_grads(carry.params, carry.bn_state, x, y, hyper.l2)
        updates, new_opt = self.transform(hyper.lr).update(grads, carry.opt_state, carry.params)
        return value, optax.apply_updates(carry.params, updates), new_bn, new_opt

    def step(self, carry: Carry, hyper: Hyper, x, y) -> tuple[Carry, jax.Array]:
        """One minibatch update; frozen once non-finite."""
        value, new_params, new_bn, new_opt = self.advance(carry, hyper, x, y)
        finite = jnp.isfinite(value) & _finite(new_params)
        alive = carry.diverged_at < 0
        ok = finite & alive
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)
        carry = Carry(
            params=keep(new_params, carry.params),
            bn_state=keep(new_bn, carry.bn_state),
            opt_state=keep(new_opt, carry.opt_state),
            step=carry.step + 1,
            diverged_at=jnp.where(alive & ~finite, carry.step, carry.diverged_at),
        )
        return carry, jnp.where(ok, value, jnp.nan)

    def unchecked_step(self, carry: Carry, hyper: Hyper, x, y) -> tuple[Carry, jax.Array]:
        """One minibatch update with no divergence check: :meth:`step` for a run that stays finite."""
        value, new_params, new_bn, new_opt = self.advance(carry, hyper, x, y)
        return Carry(new_params, new_bn, new_opt, carry.step + 1, carry.diverged_at), value

    def steps(self, step_on) -> Callable:
        """``steps(carry, idx) -> (carry, losses)``: ``step_on(step, c, i)`` scanned over a
        segment's minibatch indices ``idx``, divergence checked as ``self.check`` says (module
        docstring)."""
        per_step = lambda c, idx: jax.lax.scan(lambda c, i: step_on(self.step, c, i), c, idx)
        if self.check == "step":
            return per_step

        def checked(c, idx):
            out, losses = jax.lax.scan(lambda c, i: step_on(self.unchecked_step, c, i), c, idx)
            dead = c.diverged_at >= 0
            fell = ~dead & ~(jnp.all(jnp.isfinite(losses)) & _finite(out.params))
            # Only a run that fell in this segment needs its steps again, checked; the batch's cond is
            # one branch for all its runs (``_any_run``), so it runs rarely, and the other runs keep
            # their unchecked results whatever it computed for them.
            again, again_losses = jax.lax.cond(_any_run(fell), lambda: per_step(c, idx), lambda: (out, losses))
            # A run frozen before the segment stays as it was: per_step would keep it, step by step.
            frozen = c._replace(step=c.step + idx.shape[0])
            pick = lambda a, b, f: jnp.where(dead, f, jnp.where(fell, b, a))
            return (jax.tree.map(pick, out, again, frozen),
                    pick(losses, again_losses, jnp.full_like(losses, jnp.nan)))

        return checked

    def evaluate(self, params, bn_state, x, y) -> tuple[jax.Array, jax.Array]:
        """Loss and accuracy in eval mode (BatchNorm on its running statistics)."""
        loss, acc, _ = self._evaluate(params, bn_state, x, y)
        return loss, acc

    def _evaluate(self, params, bn_state, x, y):
        logits, _, trace = mlp.forward(params, bn_state, x, self.spec, train=False)
        acc = jnp.mean((jnp.argmax(logits, axis=-1) == y).astype(logits.dtype))
        if trace.pre:
            q = jnp.quantile(trace.pre[-1][:, 0], jnp.asarray(UNIT_QUANTILES, logits.dtype))
        else:
            q = jnp.full((len(UNIT_QUANTILES),), jnp.nan, logits.dtype)
        return losses.get(self.loss)(logits, y), acc, q

    def epoch(self, carry: Carry, hyper: Hyper, key: jax.Array, epoch, train_x, train_y, val_x, val_y, split=None):
        """One chunk: a reshuffled pass over the training set, evaluated ``evals_per_epoch`` times.
        ``split``: with resampled splits (``Dataset.splits`` > 1), the one this run trains and
        validates on; its inputs then come as ``(pool, rows, tables)`` (:class:`data.Pixels`) and its
        labels with a leading split axis, and a minibatch is ``tables[split][pool[rows[split, idx]]]``:
        only its own rows are gathered, the very values the one-split arrays hold."""
        n_train = train_x.shape[0] if split is None else train_x[1].shape[1]
        order = jax.random.permutation(jax.random.fold_in(keys_lib.stream(key, "shuffle"), epoch), n_train)
        n_segments = self.segments or self.evals_per_epoch  # a last, partial epoch runs fewer
        batches = order[: n_segments * self.steps_per_eval * self.batch_size].reshape(
            n_segments, self.steps_per_eval, self.batch_size)
        if split is not None:
            pool, rows, tables = val_x
            val_x, val_y = tables[split][pool[rows[split]]], val_y[split]

        def one_step(step, c, idx):
            if split is not None:
                pool, rows, tables = train_x
                return step(c, hyper, tables[split][pool[rows[split, idx]]], train_y[split, idx])
            return step(c, hyper, train_x[idx], train_y[idx])

        train_steps = self.steps(one_step)

        def segment(c, idx):
            c, step_losses = train_steps(c, idx)
            val_loss, val_acc, q = self._evaluate(c.params, c.bn_state, val_x, val_y)
            dead = c.diverged_at >= 0
            probe = None if self.probe is None else self.probe(c.params, c.bn_state, val_x)
            return c, Metrics(jnp.mean(step_losses), jnp.where(dead, jnp.nan, val_loss), val_acc, q, probe)

        return jax.lax.scan(segment, carry, batches)


def _finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _any_run(flag: jax.Array) -> jax.Array:
    """Whether ``flag`` holds for any run of the vmap over ``RUNS_AXIS`` (unbatched, so a ``cond`` on
    it stays a branch); unbatched runs, or a vmap without that axis name, answer for themselves."""
    try:
        return jax.lax.psum(flag.astype(jnp.int32), RUNS_AXIS) > 0
    except NameError:  # the axis is not bound here
        return flag


def schedule(prog: Program, epochs: int, max_steps: int = 0) -> list[int]:
    """Evaluation segments per epoch chunk: ``epochs`` whole epochs, or fewer when ``max_steps``
    (> 0) stops training earlier, at the last evaluation point within it (the last chunk then
    runs part of an epoch, on the same minibatches the whole epoch would begin with)."""
    total = epochs * prog.evals_per_epoch
    if max_steps:
        total = min(total, max_steps // prog.steps_per_eval)
    full, rest = divmod(total, prog.evals_per_epoch)
    return [prog.evals_per_epoch] * full + ([rest] if rest else [])


def program(arm, n_train: int, input_dim: int, num_classes: int) -> Program:
    """The :class:`Program` of a resolved arm config on a training set of ``n_train`` examples."""
    t = arm.train
    steps_per_epoch = n_train // t.batch_size
    if steps_per_epoch < t.evals_per_epoch:
        raise config_lib.ConfigError(
            f"config.train.batch_size={t.batch_size} is invalid; accepted: at most "
            f"{n_train // t.evals_per_epoch} (the training split has {n_train} examples and "
            f"evals_per_epoch={t.evals_per_epoch} needs that many minibatches per epoch)")
    steps_per_eval = steps_per_epoch // t.evals_per_epoch
    if 0 < t.max_steps < steps_per_eval:
        raise config_lib.ConfigError(
            f"config.train.max_steps={t.max_steps} is invalid; accepted: 0 (whole epochs) or at least "
            f"{steps_per_eval} (the steps between two evaluations)")
    return Program(
        spec=config_lib.spec(arm, input_dim, num_classes),
        optimizer=t.optimizer,
        optimizer_kwargs=tuple(sorted(config_lib.plain(t.optimizer_kwargs).items())),
        loss=t.loss,
        grad=t.grad,
        batch_size=t.batch_size,
        steps_per_eval=steps_per_eval,
        evals_per_epoch=t.evals_per_epoch,
        dtype=t.dtype,
        check=t.divergence_check,
    )


def hyper(arm) -> Hyper:
    dtype = jnp.dtype(arm.train.dtype)
    return Hyper(*(jnp.asarray(arm.train[k], dtype) for k in config_lib.TRACED))


def make_train(config, dataset):
    """``train(key, hyper=the config's) -> (final Carry, Metrics of shape (epochs, evals_per_epoch))``
    for one run of a resolved arm config on ``dataset``; pure, so ``jax.jit(jax.vmap(train))(keys)``
    runs seeds, and ``vmap`` over ``(keys, hypers)`` runs a grid of learning rates, L2 or init scales."""
    prog = program(config, dataset.train.x.shape[0], dataset.train.x.shape[1], dataset.num_classes)
    arm_spec = config_lib.spec(config, dataset.train.x.shape[1], dataset.num_classes)
    h = hyper(config)
    dtype = jnp.dtype(config.train.dtype)
    data = (jnp.asarray(dataset.train.x, dtype), jnp.asarray(dataset.train.y),
            jnp.asarray(dataset.val.x, dtype), jnp.asarray(dataset.val.y))

    def train(key, h: Hyper = h):
        carry = prog.init(key, h.init_scale, arm_spec)

        def one_epoch(c, e):
            return prog.epoch(c, h, key, e, *data)

        return jax.lax.scan(one_epoch, carry, jnp.arange(config.train.epochs))

    return train


def run_many(config, dataset, keys: jax.Array, hypers: Hyper | None = None) -> tuple[Carry, Metrics]:
    """Train one run per key (and per row of ``hypers``, if given: the leading axis of its arrays
    matches ``keys``) as one compiled program: ``jit(vmap(train))``, on a CPU over cache-sized
    groups of runs (:func:`many`, :func:`cache_group`). For studies that train in-process without
    the group runner's checkpoints."""
    train = make_train(config, dataset)
    prog = program(config, dataset.train.x.shape[0], dataset.train.x.shape[1], dataset.num_classes)
    group = cache_group(prog, keys.shape[0])
    if hypers is None:
        return many(train, group=group)(keys)
    dtype = jnp.dtype(config.train.dtype)
    hypers = Hyper(*(jnp.asarray(v, dtype) for v in hypers))
    return many(train, group=group)(keys, hypers)
