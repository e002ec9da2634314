"""Many runs of one per-run function as one compiled program: :func:`many` (one vmap, or on a CPU a
loop over cache-sized groups of vmapped runs with the carry updated in place, or split over the
devices of a mesh with ``shard_map``), :func:`cache_group` (the group size for a CPU's cache) and
:func:`one_shot` (compile once without backend optimizations, for programs run once). Used by
:mod:`research.engine.train` and the group runner; it knows nothing of what a run computes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


CACHE_BYTES = 20 * 2**20  # working set aimed at per group of runs on a CPU; on the 2-core EPYC (32 MB
# L3) of benchmarks/seeds.py, groups of 2 wide (784-256x4-10) and 16-32 deep-narrow (10x32) runs
# measured fastest, all runs in one vmap 20-30% slower
RUNS_AXIS = "group_runs"  # vmap's axis name over the runs :func:`many` batches (a collective over it
# spans one group of one device, never the mesh's devices)
TEMP_FRACTION = 0.5  # when the runs' state is large, a group's temporaries stay within this fraction of it


def cache_group(prog, n_runs: int, devices: int = 1) -> int | None:
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

    The vmap's axis is named ``RUNS_AXIS``: ``fn`` may reduce over the runs it is batched with (the
    training program's divergence check does, to branch once for them all).
    """
    batched = jax.vmap(fn, in_axes=in_axes, axis_name=RUNS_AXIS)
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
