"""benchmarks/seeds.py's shared pieces: constants, the workloads and run plans, the device, the
timing helpers, the GEMM ceiling and the synthetic data. Imports jax: seeds.py sets XLA's host
device count before it imports this module."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout (seeds.py puts it on sys.path)

DEVICE = None  # main() sets: the device of the run, and the devices the engine row splits seeds over
ENGINE_DEVICES: list = []

LR, ALPHA = 0.01, 0.9
MAX_ROUNDS = 12
SETTLE = 0.01  # seconds between timed calls: the previous library's idle threads stop spinning first
VAL = 64  # validation examples evaluated once per call (the engine's per-epoch evaluation)
BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple
    batch: int
    batchnorm: bool

    @property
    def label(self) -> str:
        return self.name + ("+bn" if self.batchnorm else "")

    @property
    def weights(self) -> int:
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def flops_per_step(self) -> int:
        return 6 * self.weights * self.batch


WIDE, DEEP = (784, 256, 256, 256, 256, 10), (32,) * 11 + (10,)


def workloads() -> list[Workload]:
    return [Workload(name, sizes, batch, bn) for name, sizes, batch in (("wide", WIDE, 128), ("deep", DEEP, 32))
            for bn in (False, True)]


IMPLS = ("engine", "engine-1dev", "engine-vmap", "engine-loop", "engine-optax", "torch-seq", "torch-func")


@dataclasses.dataclass(frozen=True)
class Plan:
    seeds: dict       # workload label -> the S values measured
    steps: dict       # workload name -> minibatch steps per timed call
    reps: int         # at least this many timed calls per implementation...
    min_seconds: float  # ...and until each has run this long (short calls get more tries), best call counts
    gemm_n: int
    impls: tuple


FULL = Plan(seeds={w.label: (1, 32, 128) if w.batchnorm else (1, 8, 32, 128) for w in workloads()},
            steps={"wide": 8, "deep": 32}, reps=2, min_seconds=0.5, gemm_n=2048,
            # engine-vmap and engine-optax are opt-in (--impls): with them the full run took 11+ min
            impls=tuple(i for i in IMPLS if i not in ("engine-vmap", "engine-optax")))
# the smoke run: the two targeted cells and S=1, no BatchNorm
QUICK = Plan(seeds={"wide": (1, 32), "deep": (1, 128)}, steps={"wide": 12, "deep": 32}, reps=2, min_seconds=0.3,
             gemm_n=2048,
             impls=("engine", "engine-1dev", "engine-loop", "torch-seq"))


# ---------------------------------------------------------------- device, ceiling, data


def pick_device(kind: str):
    """The jax device to run on; one line on stderr and exit code 2 when ``--device gpu`` finds none."""
    if kind == "cpu":
        return jax.devices("cpu")[0]
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    if not gpus:
        found = ", ".join(str(d) for d in jax.devices())
        print(f"error: --device gpu: no GPU visible to jax (found: {found}); install a CUDA jaxlib "
              "(pip install -U 'jax[cuda12]') on a machine with an NVIDIA GPU, or run with --device cpu",
              file=sys.stderr)
        raise SystemExit(2)
    return gpus[0]


def best_time(fn: Callable[[], object], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def gemm_peak(n: int, reps: int) -> float:
    """Peak float32 GFLOP/s of this run: the best of ``reps`` n^3 matmuls."""
    a = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(2), (n, n), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()
    return 2 * n ** 3 / best_time(lambda: matmul(a, b).block_until_ready(), reps) / 1e9


class Data:
    """Training and validation arrays for one workload, drawn once from a key; the same arrays
    (as jax and as numpy) feed every implementation."""

    def __init__(self, w: Workload, steps: int, key: jax.Array):
        kx, ky = jax.random.split(key)
        n = w.batch * steps + VAL
        x = jax.random.normal(kx, (n, w.sizes[0]), jnp.float32)
        y = jax.random.randint(ky, (n,), 0, w.sizes[-1], jnp.int32)
        self.n_train = w.batch * steps
        self.jax = (x[:self.n_train], y[:self.n_train], x[self.n_train:], y[self.n_train:])
        self.numpy = tuple(np.asarray(a) for a in self.jax)
        self.bytes = sum(a.nbytes for a in self.numpy)
