"""Where a group's runs go: how many devices, how many calls (slices) of how many runs, what is
padding. Pure arithmetic (:func:`plan`, :func:`layout`) and the moves it implies (:func:`slices`).

A group of ``n_runs`` runs goes through its compiled program in slices of equal size, so one
compile serves them all and a slice's state stays in cache (measured ~1.5x the throughput of one
call over a 192-run group on 2 CPU cores). Each slice is split over the devices of a one-axis mesh
(``shard_map``), each device running the one-device program on its share. XLA's kernels for
another batch shape round differently (float32, ~3e-7), so what a device computes at once is the
same whatever the device count: on a CPU a vmap over ``group`` runs (``train.cache_group`` of
``runs_per_call``), on an accelerator one vmap over ``runs_per_call`` runs. That keeps 1 and N
devices, and 1 and N processes, bitwise equal.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from research.engine import batching, distributed

AXIS = "runs"  # the mesh's axis over runs


def layout(n_runs: int, n_dev: int, per_call: int, group: int | None) -> tuple[int, int]:
    """``(per_device, n_slices)``: the runs each device computes per call and the number of calls
    (slices) for ``n_runs`` runs on ``n_dev`` devices, at most ``per_call`` runs a device per call.
    As few slices as ``per_call`` allows; within them, each device's share is the fewest ``group``s
    of runs that cover the runs, so at most ``group - 1`` runs a device are padding (copies): 96
    runs on 2 devices at 32 a call are 2 slices of 2 x 24, not of 2 x 32 with 32 copies.
    ``group`` None (accelerators: one vmap over a device's runs) keeps ``per_call`` runs a device,
    so the vmap's batch shape, and with it float32 rounding, does not depend on ``n_dev``."""
    n_slices = -(-n_runs // (per_call * n_dev))
    if group is None:
        return per_call, n_slices
    need = -(-n_runs // (n_slices * n_dev))
    return -(-need // group) * group, n_slices


@dataclasses.dataclass(frozen=True)
class Plan:
    n_runs: int
    n_dev: int       # devices the group uses
    per_device: int  # runs a device computes per call
    n_slices: int    # calls per chunk
    group: int | None  # runs vmapped at once on a CPU (train.many's group); None: all of a device's

    @property
    def slice_size(self) -> int:
        return self.per_device * self.n_dev

    @property
    def n_padded(self) -> int:
        return self.n_slices * self.slice_size

    def rows(self, i: int) -> slice:
        """The group's runs (not padding) that slice ``i`` computes, as rows of its first ones."""
        return slice(i * self.slice_size, min((i + 1) * self.slice_size, self.n_runs))


def plan(prog, n_runs: int, runs_per_call: int) -> Plan:
    """The :class:`Plan` of a group of ``n_runs`` runs of the training program ``prog`` on this
    process's view of the devices. Its vmap size is the cache group of ``min(runs_per_call,
    n_runs)`` runs (``batching.cache_group`` with its devices left at 1; None on accelerators), so
    it does not depend on the device count. One process: a group of fewer blocks of runs than
    devices runs on as many devices as it has blocks (no device computes padding only). Several
    processes: every device takes part."""
    base = min(runs_per_call, n_runs)
    group = batching.cache_group(prog, base)
    n_dev = len(jax.devices())
    if jax.process_count() == 1:
        n_dev = min(n_dev, -(-n_runs // base))
    per_device, n_slices = layout(n_runs, n_dev, base, group)
    return Plan(n_runs, n_dev, per_device, n_slices, group)


def mesh(n: int) -> Mesh:
    return Mesh(np.asarray(jax.devices()[:n]), (AXIS,))


def pad(tree, total: int):
    """Repeat the first run until the leading axis is ``total`` long (devices must divide it)."""
    def pad_one(a):
        extra = total - a.shape[0]
        return a if extra == 0 else jnp.concatenate([a, jnp.repeat(a[:1], extra, axis=0)])
    return jax.tree.map(pad_one, tree)


def slices(p: Plan, tree, m: Mesh) -> list:
    """``tree`` (leading axis: the group's runs) padded and cut into the plan's slices, each
    sharded over the mesh's devices."""
    tree, size = pad(tree, p.n_padded), p.slice_size
    runs = NamedSharding(m, P(AXIS))
    return [jax.tree.map(lambda a: distributed.put(a[i * size:(i + 1) * size], runs), tree)
            for i in range(p.n_slices)]
