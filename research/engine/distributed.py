"""Many processes, one run: JAX's own multi-controller runtime (``jax.distributed``).

Every process runs the same command. ``initialize`` joins them (coordinator address, process
count and id from flags, or from the environment JAX and SLURM already use); after it
``jax.devices()`` lists every process's devices, and the group runner's mesh over them shards the
seed axis across hosts. Each process computes the same host-side values (configs, keys, the data
split, the reports' statistics: all deterministic), so only process 0 writes shared files: it
holds the workdir lock, writes config.json, checkpoints, results and the report, and tells the
others whether each step succeeded (:func:`on_main`), so a refusal is one line on every process
instead of a hang. Arrays that span processes are only read through :func:`host`, which gathers
them; never ``np.asarray`` on one.

Environment: ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0), ``JAX_NUM_PROCESSES``,
``JAX_PROCESS_ID``; under SLURM (``SLURM_NTASKS`` > 1) JAX reads the task's rank, the count and
the first node's address itself. On CPUs the cross-process collectives are gloo.
"""

from __future__ import annotations

import os

import jax
import numpy as np

ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
_MESSAGE = 2048  # bytes of an error message sent from process 0 to the others


class DistributedError(ValueError):
    """The process flags or environment do not describe one multi-process run."""


def _int(name, value, lo):
    try:
        out = int(value)
    except (TypeError, ValueError):
        out = None
    if out is None or out < lo:
        raise DistributedError(f"{name}={value!r} is invalid; accepted: an integer >= {lo}")
    return out


def settings(coordinator=None, num_processes=None, process_id=None, environ=None) -> dict | None:
    """The arguments for ``jax.distributed.initialize``, from flags first, then the environment;
    None for a single-process run. Checked before anything starts."""
    env = os.environ if environ is None else environ
    coordinator = coordinator or env.get("JAX_COORDINATOR_ADDRESS") or None
    num_processes = num_processes if num_processes is not None else env.get("JAX_NUM_PROCESSES") or None
    process_id = process_id if process_id is not None else env.get("JAX_PROCESS_ID") or None
    slurm = _int("SLURM_NTASKS", env["SLURM_NTASKS"], 1) > 1 if env.get("SLURM_NTASKS") else False
    if coordinator is None and num_processes is None and process_id is None:
        return {} if slurm else None  # {}: let JAX detect SLURM's layout
    if num_processes is not None and _int("num_processes", num_processes, 1) == 1 and coordinator is None:
        return None
    if coordinator is None or (not slurm and (num_processes is None or process_id is None)):
        raise DistributedError(
            f"coordinator_address={coordinator!r}, num_processes={num_processes!r}, process_id={process_id!r} "
            "do not describe a multi-process run; accepted: all three (flags or JAX_COORDINATOR_ADDRESS, "
            "JAX_NUM_PROCESSES, JAX_PROCESS_ID), or none (one process; under SLURM, JAX reads them itself)")
    host, _, port = str(coordinator).rpartition(":")
    if not host or not port.isdigit():
        raise DistributedError(f"coordinator_address={coordinator!r} is invalid; accepted: host:port of process 0")
    out = {"coordinator_address": str(coordinator)}
    if num_processes is not None:
        out["num_processes"] = _int("num_processes", num_processes, 1)
    if process_id is not None:
        out["process_id"] = _int("process_id", process_id, 0)
        if "num_processes" in out and out["process_id"] >= out["num_processes"]:
            raise DistributedError(f"process_id={process_id!r} is invalid; accepted: 0 .. {out['num_processes'] - 1}")
    if host in ("127.0.0.1", "localhost") and out.get("process_id") == 0:
        out["coordinator_bind_address"] = f"127.0.0.1:{port}"  # a local test run listens on loopback only
    return out


def cpu_devices(environ=None) -> int | None:
    """The CPU device count a run should start JAX with: one host device per core, unless the user
    set it (``--xla_force_host_platform_device_count`` in ``XLA_FLAGS``, or ``JAX_NUM_CPU_DEVICES``),
    then None. XLA:CPU otherwise gives one device every core for intra-op threads, and the small
    products of many small runs pay more for the threading than the work; the runner puts each
    device's share of a group's seeds on it (each device runs the one-device program on the same
    blocks of runs, so the numbers do not depend on the count). Measured on the main study, 2 cores:
    290 s vs 337 s on one device (benchmarks/README.md)."""
    env = os.environ if environ is None else environ
    if "xla_force_host_platform_device_count" in env.get("XLA_FLAGS", "") or env.get("JAX_NUM_CPU_DEVICES"):
        return None
    return max(1, os.cpu_count() or 1)


def use_cpu_devices(environ=None) -> None:
    """Start JAX's CPU backend with :func:`cpu_devices` devices (before the backend starts; a no-op when
    the user chose the count)."""
    n = cpu_devices(environ)
    if n is not None:
        try:
            jax.config.update("jax_num_cpu_devices", n)
        except RuntimeError:  # the backend already runs (the command called in-process): keep its devices
            pass


def initialize(args: dict | None) -> bool:
    """Join the run described by :func:`settings` (before any jax computation); False if single-process."""
    if args is None:
        return False
    if jax.config.jax_platforms in (None, "", "cpu") or "cpu" in str(jax.config.jax_platforms):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**args)
    return True


def is_main() -> bool:
    return jax.process_index() == 0


def multi() -> bool:
    return jax.process_count() > 1


def host(x) -> np.ndarray:
    """A host copy of ``x`` (read-only, as np.asarray of an array), gathered from every process when it spans several."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def put(a, sharding):
    """``a`` (host or one process's array, the same value on every process) laid out by the global
    ``sharding``; each process places only its own devices' parts."""
    if not multi():
        return jax.device_put(a, sharding)
    if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(put(jax.random.key_data(a), sharding), impl=jax.random.key_impl(a))
    a = np.asarray(a)
    return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])


def broadcast(tree):
    """Process 0's value of ``tree`` (numpy arrays of the same shapes everywhere) on every process."""
    if not multi():
        return tree
    from jax.experimental import multihost_utils

    # As bytes: jax would carry a float64 or int64 array as 32 bits when x64 is off.
    leaves, treedef = jax.tree.flatten(tree)
    arrays = [np.asarray(leaf) for leaf in leaves]  # (np.ascontiguousarray would make a 0-d array 1-d)
    raw = multihost_utils.broadcast_one_to_all([np.ascontiguousarray(a).reshape(-1).view(np.uint8) for a in arrays])
    out = [np.array(r, np.uint8).view(a.dtype).reshape(a.shape) for r, a in zip(raw, arrays)]  # writable copies
    return jax.tree.unflatten(treedef, out)


def barrier(name: str) -> None:
    if multi():
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def on_main(fn, errors=()):
    """Run ``fn()`` on process 0 only and tell every process how it went: its value on process 0
    (None elsewhere); an exception raised by ``fn`` is raised on process 0 as itself and on the
    others as the first of ``errors`` whose name matches (else RuntimeError), with the same text."""
    if not multi():
        return fn()
    value, failure = None, None
    if is_main():
        try:
            value = fn()
        except Exception as err:  # told to the others, then raised here unchanged
            failure = err
    text = "" if failure is None else f"{type(failure).__name__}\n{failure}"
    raw = np.zeros((_MESSAGE,), np.uint8)
    encoded = text.encode()[:_MESSAGE - 1]
    raw[:len(encoded)] = np.frombuffer(encoded, np.uint8)
    raw = broadcast(raw)
    if failure is not None:
        raise failure
    message = bytes(raw[raw != 0]).decode(errors="replace")
    if message:
        name, _, body = message.partition("\n")
        kind = next((e for e in errors if e.__name__ == name), RuntimeError)
        raise kind(f"process 0: {body}" if kind is RuntimeError else body)
    return value
