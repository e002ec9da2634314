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
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from research.lib import backprop, losses, mlp, optim
from research.engine import config as config_lib, keys as keys_lib


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

    @property
    def steps_per_epoch(self) -> int:
        return self.steps_per_eval * self.evals_per_epoch

    def transform(self, lr) -> optax.GradientTransformation:
        return optim.get(self.optimizer, lr=lr, **dict(self.optimizer_kwargs))

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
        order = jax.random.permutation(jax.random.fold_in(keys_lib.stream(key, "shuffle"), epoch), train_x.shape[0])
        n_segments = self.segments or self.evals_per_epoch  # a last, partial epoch runs fewer
        batches = order[: n_segments * self.steps_per_eval * self.batch_size].reshape(
            n_segments, self.steps_per_eval, self.batch_size)

        def one_step(c, idx):
            return self.step(c, hyper, train_x[idx], train_y[idx])

        def segment(c, idx):
            c, step_losses = jax.lax.scan(one_step, c, idx)
            val_loss, val_acc, q = self._evaluate(c.params, c.bn_state, val_x, val_y)
            dead = c.diverged_at >= 0
            probe = None if self.probe is None else self.probe(c.params, c.bn_state, val_x)
            return c, Metrics(jnp.mean(step_losses), jnp.where(dead, jnp.nan, val_loss), val_acc, q, probe)

        return jax.lax.scan(segment, carry, batches)


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


CACHE_BYTES = 20 * 2**20  # working set aimed at per group of runs on a CPU; on the 2-core EPYC (32 MB
# L3) of benchmarks/seeds.py, groups of 2 wide (784-256x4-10) and 16-32 deep-narrow (10x32) runs
# measured fastest, all runs in one vmap 20-30% slower
TEMP_FRACTION = 0.5  # when the runs' state is large, a group's temporaries stay within this fraction of it


def cache_group(prog: Program, n_runs: int, devices: int = 1) -> int | None:
    """Runs per group for :func:`many` (a divisor of ``n_runs``, the runs one device computes per
    call). On a CPU: as many runs as keep a group's working set (state, gradients, one minibatch's
    activations) within ``CACHE_BYTES``; and once the state of all runs outgrows a quarter of
    that, few enough that the group's temporaries (gradients, the updated state before the
    divergence check, activations) stay within ``TEMP_FRACTION`` of it, so the program holds
    little beyond the state itself. None (every run at once) on an accelerator, where one wide
    vmap is what it wants. ``devices``: how many CPU devices run at once and share the cache,
    each getting an equal part of ``CACHE_BYTES``. The study runner leaves it at 1 so its group
    size, and so its numbers, do not depend on the device count."""
    if jax.default_backend() != "cpu":
        return None
    cache = CACHE_BYTES // max(1, devices)
    one = jax.eval_shape(lambda k: prog.init(k, 1.0, prog.spec), jax.ShapeDtypeStruct((), jax.random.key(0).dtype))
    nbytes = lambda tree: sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))
    state, grads = nbytes(one), nbytes(one.params)
    activations = 4 * prog.batch_size * sum(prog.spec.sizes) * jnp.dtype(prog.dtype).itemsize  # z, u, a, error
    bound = cache // (state + grads + activations)
    if n_runs * state > cache // 4:
        bound = min(bound, int(TEMP_FRACTION * n_runs * state // (grads + state + activations)))
    return _divisor_at_most(n_runs, max(1, bound))


def _divisor_at_most(n: int, bound: int) -> int:
    return max(d for d in range(1, min(bound, n) + 1) if n % d == 0)


def many(fn, in_axes=0, group: int | None = None, carry: bool = False, mesh=None, **jit_kwargs):
    """``fn`` of one run made one compiled program over a leading run axis (``in_axes`` as vmap's:
    0 for per-run arguments, None for shared ones).

    ``group=None`` is ``jit(vmap(fn))``: every run advances together. With an integer ``group``
    the program runs ``vmap`` over ``group`` runs at a time (the largest divisor of the run count
    not above it; one run is called unbatched) and loops over the groups, so the working set is
    one group's, not every run's: on a CPU a group whose state fits in cache trains faster than
    all runs at once (:func:`cache_group` picks the size). With ``carry=True``, ``fn(carry, ...)``
    returns ``(carry, outputs)`` and the carry (argument 0, per run) is updated in place group by
    group, so no second copy of it is held (donate it: ``donate_argnums=0``). Each run computes
    what it computes under ``jit(vmap(fn))``; in float64 the results are bit-identical for groups
    of 2 or more (a group of 1, unbatched, is summed in another order: equal to ~1e-15).

    ``mesh`` (a one-axis :class:`jax.sharding.Mesh`) splits the runs over its devices with
    ``shard_map``: each device runs exactly the program it would run alone on its share of the
    runs, so results do not depend on the device count.
    """
    batched = jax.vmap(fn, in_axes=in_axes)
    if group is None and mesh is None:
        return jax.jit(batched, **jit_kwargs)
    if group is None:
        return jax.jit(_per_device(batched, in_axes, mesh), **jit_kwargs)

    def grouped(*args):
        axes = _axes(in_axes, len(args))
        if carry and axes[0] is None:
            raise ValueError("many(carry=True): the carry (argument 0) must be per run (in_axes 0)")
        per_run = [ax is not None for ax in axes]
        n = next(jax.tree.leaves(a)[0].shape[0] for a, p in zip(args, per_run) if p)
        size = _divisor_at_most(n, group)
        take = lambda tree, i: jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, i * size, size), tree)
        put = lambda tree, part, i: jax.tree.map(
            lambda a, b: jax.lax.dynamic_update_slice_in_dim(a, b, i * size, 0), tree, part)

        def call(i, first):
            """Group ``i`` through ``fn``; ``first`` stands in for argument 0 (the carry in place)."""
            rows = [take(a, i) if p else a for a, p in zip((first, *args[1:]), per_run)]
            if size > 1:
                return batched(*rows)
            # a vmap of one leaves size-1 batch dimensions that XLA:CPU sends to slower generic kernels
            unwrapped = [jax.tree.map(lambda r: r[0], a) if p else a for a, p in zip(rows, per_run)]
            return jax.tree.map(lambda o: o[None], fn(*unwrapped))

        shapes = jax.eval_shape(call, 0, args[0])
        empty = lambda t: jnp.zeros((n, *t.shape[1:]), t.dtype)
        if carry:
            def body(i, state):
                new_carry, out = call(i, state[0])
                return put(state[0], new_carry, i), put(state[1], out, i)

            return jax.lax.fori_loop(0, n // size, body, (args[0], jax.tree.map(empty, shapes[1])))
        return jax.lax.fori_loop(0, n // size, lambda i, o: put(o, call(i, args[0]), i), jax.tree.map(empty, shapes))

    return jax.jit(grouped if mesh is None else _per_device(grouped, in_axes, mesh), **jit_kwargs)


def _axes(in_axes, n_args: int) -> tuple:
    """vmap's ``in_axes`` as one entry per argument."""
    return tuple(in_axes) if isinstance(in_axes, (tuple, list)) else (in_axes,) * n_args


def _per_device(fn, in_axes, mesh):
    """``fn`` over runs, each device of the one-axis ``mesh`` calling it on its own block of runs."""
    from jax.sharding import PartitionSpec as P

    def wrapped(*args):
        specs = tuple(P() if ax is None else P(mesh.axis_names[0]) for ax in _axes(in_axes, len(args)))
        # No collectives inside, so the varying-axis check has nothing to protect; it would refuse
        # mlp.matmul's custom VJP, whose data cotangent varies over runs while the data does not.
        return jax.shard_map(fn, mesh=mesh, in_specs=specs, out_specs=P(mesh.axis_names[0]),
                             check_vma=False)(*args)

    return wrapped


def one_shot(fn, *args):
    """Compile and run a program used once (initial parameters, measurements at init): XLA's
    backend optimizations cost seconds per random draw at compile time and buy nothing for a
    single call."""
    return jax.jit(fn).lower(*args).compile(compiler_options={"xla_backend_optimization_level": 0})(*args)


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
