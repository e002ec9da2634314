"""Training as pure, compiled programs: one run is a function of its key, many runs are a vmap.

``make_train(config, dataset)`` returns ``train(key) -> (carry, metrics)`` in the purejaxrl style:
initialize, then ``lax.scan`` over epochs, each a ``lax.scan`` over minibatch steps with the
training set reshuffled by key, and ``jit(vmap(train))(keys)`` runs many seeds at once.

The study runner uses the same pieces chunked: :class:`Program` holds everything static about a
group of arms (shapes, activation, optimizer rule, loss, batch size), :meth:`Program.epoch` is one
chunk, and the per-run hyperparameters (:class:`Hyper`: learning rate, L2, init scale) are traced
arrays, so arms that differ only in those share one compiled program.

A run whose loss or parameters become NaN/inf is frozen where it stood: its parameters stop
changing, ``diverged_at`` records the step, and its later losses are NaN. Other runs in the same
program are unaffected (vmap keeps them independent).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from research import backprop, config as config_lib, losses, mlp, optim


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

    @property
    def steps_per_epoch(self) -> int:
        return self.steps_per_eval * self.evals_per_epoch

    def transform(self, lr) -> optax.GradientTransformation:
        return optim.get(self.optimizer, lr=lr, **dict(self.optimizer_kwargs))

    def init(self, key: jax.Array, init_scale, arm_spec: mlp.MLPSpec) -> Carry:
        """A fresh run: ``arm_spec``'s init scheme, weights times ``init_scale``."""
        params, bn_state = mlp.init(jax.random.fold_in(key, 0), arm_spec, jnp.dtype(self.dtype))
        params = [dict(layer, w=layer["w"] * jnp.asarray(init_scale, layer["w"].dtype)) for layer in params]
        opt_state = self.transform(1.0).init(params)  # the state's structure does not depend on lr
        return Carry(params, bn_state, opt_state, jnp.zeros([], jnp.int32), jnp.full([], -1, jnp.int32))

    def loss_and_grads(self, params, bn_state, x, y, l2):
        if self.grad == "hand":
            out = backprop.grads(params, bn_state, x, y, self.spec, self.loss, l2=l2)
            return out.loss, out.grads, out.state

        def objective(p):
            logits, new_state = mlp.apply(p, bn_state, x, self.spec, train=True)
            return losses.get(self.loss)(logits, y) + losses.l2_penalty(p, l2), new_state

        (value, new_state), grads = jax.value_and_grad(objective, has_aux=True)(params)
        return value, grads, new_state

    def step(self, carry: Carry, hyper: Hyper, x, y) -> tuple[Carry, jax.Array]:
        """One minibatch update; frozen once non-finite."""
        value, grads, new_bn = self.loss_and_grads(carry.params, carry.bn_state, x, y, hyper.l2)
        updates, new_opt = self.transform(hyper.lr).update(grads, carry.opt_state, carry.params)
        new_params = optax.apply_updates(carry.params, updates)
        finite = jnp.isfinite(value) & jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(new_params)]))
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

    def epoch(self, carry: Carry, hyper: Hyper, key: jax.Array, epoch, train_x, train_y, val_x, val_y):
        """One chunk: a reshuffled pass over the training set, evaluated ``evals_per_epoch`` times."""
        order = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 1), epoch), train_x.shape[0])
        batches = order[: self.steps_per_epoch * self.batch_size].reshape(
            self.evals_per_epoch, self.steps_per_eval, self.batch_size)

        def one_step(c, idx):
            return self.step(c, hyper, train_x[idx], train_y[idx])

        def segment(c, idx):
            c, step_losses = jax.lax.scan(one_step, c, idx)
            val_loss, val_acc, q = self._evaluate(c.params, c.bn_state, val_x, val_y)
            dead = c.diverged_at >= 0
            return c, Metrics(jnp.mean(step_losses), jnp.where(dead, jnp.nan, val_loss), val_acc, q)

        return jax.lax.scan(segment, carry, batches)


def program(arm, n_train: int, input_dim: int, num_classes: int) -> Program:
    """The :class:`Program` of a resolved arm config on a training set of ``n_train`` examples."""
    t = arm.train
    steps_per_epoch = n_train // t.batch_size
    if steps_per_epoch < t.evals_per_epoch:
        raise config_lib.ConfigError(
            f"config.train.batch_size={t.batch_size} is invalid; accepted: at most "
            f"{n_train // t.evals_per_epoch} (the training split has {n_train} examples and "
            f"evals_per_epoch={t.evals_per_epoch} needs that many minibatches per epoch)")
    return Program(
        spec=config_lib.spec(arm, input_dim, num_classes),
        optimizer=t.optimizer,
        optimizer_kwargs=tuple(sorted(config_lib.plain(t.optimizer_kwargs).items())),
        loss=t.loss,
        grad=t.grad,
        batch_size=t.batch_size,
        steps_per_eval=steps_per_epoch // t.evals_per_epoch,
        evals_per_epoch=t.evals_per_epoch,
        dtype=t.dtype,
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


def many(fn, in_axes=0, group: int | None = None, **jit_kwargs):
    """``fn`` of one run made a compiled program over a leading run axis (``in_axes`` as vmap's:
    0 for per-run arguments, None for shared ones). ``group=None`` is ``jit(vmap(fn))``; an integer
    runs ``vmap`` over groups of that many runs and ``lax.map`` over the groups, one group after the
    other, so the working set is one group's instead of every run's."""
    batched = jax.vmap(fn, in_axes=in_axes)
    if group is None:
        return jax.jit(batched, **jit_kwargs)

    def grouped(*args):
        axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(args)
        per_run = tuple(a for a, ax in zip(args, axes) if ax is not None)

        def one(rows):
            it = iter(rows)
            return fn(*(next(it) if ax is not None else a for a, ax in zip(args, axes)))

        return jax.lax.map(one, per_run, batch_size=group)

    return jax.jit(grouped, **jit_kwargs)


def run_many(config, dataset, keys: jax.Array, hypers: Hyper | None = None) -> tuple[Carry, Metrics]:
    """Train one run per key (and per row of ``hypers``, if given: the leading axis of its arrays
    matches ``keys``) as one compiled program: ``jit(vmap(train))``. For studies that train
    in-process without the group runner's checkpoints."""
    train = make_train(config, dataset)
    if hypers is None:
        return jax.jit(jax.vmap(train))(keys)
    dtype = jnp.dtype(config.train.dtype)
    hypers = Hyper(*(jnp.asarray(v, dtype) for v in hypers))
    return jax.jit(jax.vmap(train))(keys, hypers)
