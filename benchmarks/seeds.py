"""python benchmarks/seeds.py [--quick] [--device cpu|gpu]

Shows how fast this engine trains many seeds at once, next to its own per-seed loop, PyTorch and
the machine's ceiling, all measured side by side in one process (absolute times on a shared
machine are not comparable across runs; ratios within a run are).

Rows, per workload and number of seeds S:

* ``gemm``: a float32 2048^3 matmul in jax, the run's peak GFLOP/s (best before and after the rows);
* ``engine``: the engine's batched program over S seeds: ``Program.epoch`` (the code the study
  runner compiles) through ``train.many``, vmapped over cache-sized groups of seeds
  (``train.cache_group``; the table shows ``[g<size>]``), one epoch of ``steps`` minibatch steps
  per call: reshuffle, momentum SGD, divergence freeze, a validation pass. On a CPU the script starts XLA with one host device per core (``--host-devices``) and this
  row splits the seeds evenly over them with ``shard_map`` (each device runs the one-device
  program on its share, as the study runner does with several devices; results are bitwise those
  of one device); the table shows ``x<devices>``. Small ops run one per core instead of being
  split over both cores' threads, which is what the deep-narrow net needs;
* ``engine-1dev``: the same program on one device (its intra-op threads use every core);
* ``engine-vmap``: the same with every seed in one ``jit(vmap)`` (what the study runner compiled
  before it used ``train.many``; still its program on an accelerator);
* ``engine-loop``: the engine's baseline: a Python loop over seeds, ``jit(Program.epoch)`` per seed;
* ``engine-optax``: the engine with optax's stock ``sgd(momentum)`` in place of the hand-written rule;
* ``torch-seq``: PyTorch, a Python loop over seeds, ``nn.Sequential`` + ``torch.optim.SGD(momentum)``;
* ``torch-func``: PyTorch ``torch.func`` (``functional_call`` + ``vmap`` + ``grad``) over seeds,
  the momentum step done with ``torch._foreach`` ops.

Workloads: ``wide`` 784-256-256-256-256-10, batch 128; ``deep`` 32 inputs, 10 hidden layers of 32,
10 outputs, batch 32; each with and without BatchNorm (Linear -> BN -> ReLU). Synthetic N(0, 1)
inputs and uniform labels drawn from one jax key, the same arrays for every implementation.
Dense GFLOP/s counts 6 * P * B per step (P = weight-matrix entries: 2PB forward, 4PB backward).
Compile (jax) or the first call's excess over a steady one (torch) is reported apart and left out
of throughput. Timed calls go round-robin across implementations, 10 ms apart, at least ``reps``
each and until each has run ``min_seconds``; the best call counts (the machine is shared).
Memory: the engine's compiled ``memory_analysis()`` (arguments + outputs - donated + temporaries,
less the data) over the training state's bytes (params + optimizer state + BN state, S seeds);
torch rows give their RSS growth instead (approximate). PyTorch runs on as many threads as XLA's
CPU client (``--torch-threads`` overrides). Also checked: no recompile when only the key, the
learning-rate values or the data change, and the AOT compile time of the default study's programs.

Writes a table to stdout, ``benchmarks/results/seeds-<device>[-quick].json`` and ``.png``
(throughput vs S). Needs the ``bench`` extra (``pip install -e ".[bench]"``, torch==2.13.0) for
the torch rows; without torch they are skipped with a note. ``--quick`` is a smoke run (no
BatchNorm, S = 1 and the targeted S, fewer rows); the full run takes under 10 minutes on 2 quiet
cores.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib.util
import json
import os
import platform
import sys
import threading
import time
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `python benchmarks/seeds.py` from anywhere uses this checkout's research/
    sys.path.insert(0, ROOT)


def cpu_threads() -> int:
    """Threads XLA's CPU client uses: one per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _host_devices_flag(argv: list[str]) -> None:
    """Before jax starts: one XLA host device per core (``--host-devices`` overrides; left alone
    when XLA_FLAGS already sets a count). The engine row splits its seeds over them."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return
    n = cpu_threads()
    for i, a in enumerate(argv):
        if a.startswith("--host-devices="):
            n = int(a.split("=", 1)[1])
        elif a == "--host-devices" and i + 1 < len(argv):
            n = int(argv[i + 1])
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={max(1, n)}".strip()


if __name__ == "__main__":
    _host_devices_flag(sys.argv[1:])

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

from research.engine import config as config_lib, train  # noqa: E402

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


# ---------------------------------------------------------------- the engine


def arm_config(w: Workload, steps: int):
    """The resolved arm config of a workload: ReLU, He init, momentum SGD, one epoch of ``steps``."""
    c = config_lib.defaults()
    c.model.update({"hidden": tuple(w.sizes[1:-1]), "activation": "relu", "batchnorm": w.batchnorm,
                    "weight_init": "he_normal"})
    c.train.update({"optimizer": "momentum", "optimizer_kwargs": {"alpha": ALPHA}, "lr": LR, "batch_size": w.batch,
                    "epochs": 1, "evals_per_epoch": 1})
    c.arms = {"bench": {}}
    return config_lib.resolve(config_lib.merged(c), "bench")


@dataclasses.dataclass(frozen=True)
class OptaxProgram(train.Program):
    """The engine with optax's stock ``sgd(lr, momentum)``: m <- alpha m + g, theta -= lr m."""

    def transform(self, lr) -> optax.GradientTransformation:
        return optax.sgd(lr, momentum=dict(self.optimizer_kwargs)["alpha"])


def program(w: Workload, steps: int, stock_optax: bool = False) -> train.Program:
    prog = train.program(arm_config(w, steps), w.batch * steps, w.sizes[0], w.sizes[-1])
    if stock_optax:
        prog = OptaxProgram(**{f.name: getattr(prog, f.name) for f in dataclasses.fields(prog)})
    return prog


def start_state(prog: train.Program, n: int, key: jax.Array):
    """``(carry, hyper, run keys)`` for ``n`` fresh runs."""
    keys = jax.random.split(key, n)
    carry = jax.jit(jax.vmap(lambda k: prog.init(k, 1.0, prog.spec)))(keys)
    hyper = train.Hyper(jnp.full((n,), LR, jnp.float32), jnp.zeros((n,), jnp.float32), jnp.ones((n,), jnp.float32))
    return carry, hyper, keys


def tree_bytes(tree) -> int:
    return sum(leaf.nbytes for leaf in jax.tree.leaves(tree))


def state_bytes(carry) -> int:
    """The training state: params + optimizer state + BatchNorm state."""
    return tree_bytes((carry.params, carry.opt_state, carry.bn_state))


def compiled_peak(compiled, data_bytes: int) -> int:
    """Bytes a compiled program holds at its peak, beyond the data: live arguments and outputs
    (donated arguments counted once) plus XLA's temporaries."""
    m = compiled.memory_analysis()
    return (m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
            + m.temp_size_in_bytes - data_bytes)


CHUNK_AXES = (0, 0, 0, None, None, None, None, None)  # Program.epoch: per-run carry, hyper, key; shared rest


def engine_program(prog: train.Program, group, mesh=None):
    """The engine's chunk program over runs: ``Program.epoch`` through ``train.many``, the carry
    donated and (with a group) updated in place group by group; over ``mesh``'s devices if given."""
    return train.many(prog.epoch, in_axes=CHUNK_AXES, group=group, carry=group is not None, mesh=mesh,
                      donate_argnums=0)


class Engine:
    """The engine's batched program over S seeds, compiled ahead of time and called once per timing.
    ``devices``: the seeds are split evenly over them (``train.many``'s ``mesh``: each device runs
    the one-device program on its share, as the study runner does); one device when S does not
    divide."""

    def __init__(self, w, S, steps, data: Data, key, stock_optax=False, grouped=True, devices=None):
        prog = program(w, steps, stock_optax)
        devices = list(devices or [DEVICE])
        if S % len(devices):
            devices = devices[:1]
        self.devices = len(devices)
        mesh = Mesh(np.asarray(devices), ("runs",))
        put = lambda tree: jax.device_put(tree, NamedSharding(mesh, P("runs")))
        self.carry, self.hyper, self.keys = (put(t) for t in start_state(prog, S, key))
        self.data, self.epoch = jax.device_put(data.jax, NamedSharding(mesh, P())), 0
        self.group = train.cache_group(prog, S // self.devices, self.devices) if grouped else None
        fn = engine_program(prog, self.group, mesh if self.devices > 1 else None)
        t0 = time.perf_counter()
        self.compiled = fn.lower(self.carry, self.hyper, self.keys, jnp.int32(0), *self.data).compile()
        self.compile_s = time.perf_counter() - t0
        self.state = state_bytes(self.carry)
        # memory_analysis() of a program over several devices is one device's: times the devices
        self.mem = self.devices * compiled_peak(self.compiled, data.bytes)

    def __call__(self):
        self.epoch += 1
        self.carry, m = self.compiled(self.carry, self.hyper, self.keys, jnp.int32(self.epoch), *self.data)
        jax.block_until_ready(m)


class EngineLoop:
    """The engine's baseline: one jitted per-seed epoch, called seed after seed from Python. The
    per-seed program is compiled once per workload and reused for every S."""

    programs: dict = {}

    def __init__(self, w, S, steps, data: Data, key):
        prog = program(w, steps)
        carry, hyper, keys = start_state(prog, S, key)
        row = lambda tree, i: jax.tree.map(lambda a: a[i], tree)
        self.runs = [(row(carry, i), row(hyper, i), keys[i]) for i in range(S)]
        self.data, self.epoch = data.jax, 0
        c, h, k = self.runs[0]
        if (w, steps) not in self.programs:
            t0 = time.perf_counter()
            compiled = jax.jit(prog.epoch, donate_argnums=0).lower(c, h, k, jnp.int32(0), *self.data).compile()
            self.programs[w, steps] = compiled, time.perf_counter() - t0
        self.compiled, self.compile_s = self.programs[w, steps]
        self.state = state_bytes(carry)
        # all S states are held at once; one seed's program runs at a time
        self.mem = self.state + compiled_peak(self.compiled, data.bytes) - state_bytes(c)

    def __call__(self):
        self.epoch += 1
        out = []
        for c, h, k in self.runs:
            c, m = self.compiled(c, h, k, jnp.int32(self.epoch), *self.data)
            out.append((c, h, k))
        self.runs = out
        jax.block_until_ready([r[0] for r in out])


def recompiles(w: Workload, steps: int) -> dict:
    """Backend compiles and jit cache size when only the key, the learning rate values or the data
    change between calls of the engine's program (S=2); all should stay at the first compile."""
    prog = program(w, steps)
    fn = engine_program(prog, train.cache_group(prog, 2))
    data_a, data_b = Data(w, steps, jax.random.key(10)), Data(w, steps, jax.random.key(11))
    carry, hyper, keys = start_state(prog, 2, jax.random.key(0))
    changes = {  # every input made before counting: only the program's own compiles are counted
        "key": (hyper, jax.random.split(jax.random.key(99), 2), data_a),
        "lr": (hyper._replace(lr=jnp.asarray([0.3, 0.003], jnp.float32)), keys, data_a),
        "data": (hyper, keys, data_b),
    }
    epochs = [jnp.int32(e) for e in range(4)]
    jax.block_until_ready((changes, epochs))
    events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, *_a, **_k: events.append(name) if name == BACKEND_COMPILE else None)
    carry, _ = fn(carry, hyper, keys, epochs[0], *data_a.jax)
    jax.block_until_ready(carry)
    before, out = len(events), {"first_call": len(events)}
    for e, (what, (h, k, d)) in enumerate(changes.items(), start=1):
        carry, _ = fn(carry, h, k, epochs[e], *d.jax)
        jax.block_until_ready(carry)
        out[what] = len(events) - before
        before = len(events)
    out["jit_cache_size"] = fn._cache_size() if hasattr(fn, "_cache_size") else None
    return out


def default_study_compile() -> dict:
    """AOT compile seconds of the engine's epoch program for each group of configs/init_study.py,
    on one slice of ``runs_per_call`` runs: as the study runner builds it today (``jit(vmap)``,
    key ``<activation>``) and cache-grouped (``<activation>/grouped``); shapes only, no data read."""
    from research.engine import data as data_lib

    spec = importlib.util.spec_from_file_location("init_study", os.path.join(ROOT, "configs", "init_study.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    full = config_lib.merged(module.get_config())
    groups: dict[str, str] = {}
    for arm in full.arms:
        groups.setdefault(config_lib.static_key(config_lib.resolve(full, arm)), arm)
    n_train = data_lib.train_size(full.data)
    dim = config_lib.input_dim(full)
    out = {}
    for arm_name in groups.values():
        arm = config_lib.resolve(full, arm_name)
        prog = train.program(arm, n_train, dim, 10)
        n = min(arm.train.runs_per_call, full.seeds * len(full.arms))
        keys = jax.ShapeDtypeStruct((n,), jax.random.key(0).dtype)
        carry = jax.eval_shape(jax.vmap(lambda k: prog.init(k, 1.0, prog.spec)), keys)
        f32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.dtype(arm.train.dtype))
        i32 = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.int32)
        hyper = train.Hyper(f32(n), f32(n), f32(n))
        data = (f32(n_train, dim), i32(n_train), f32(full.data.n_val, dim), i32(full.data.n_val))
        for label, group in ((arm.model.activation, None),
                             (arm.model.activation + "/grouped", train.cache_group(prog, n))):
            t0 = time.perf_counter()
            engine_program(prog, group).lower(carry, hyper, keys, i32(), *data).compile()
            out[label] = time.perf_counter() - t0
    return out


# ---------------------------------------------------------------- PyTorch


def torch_net(torch, w: Workload):
    layers = []
    for i, (a, b) in enumerate(zip(w.sizes[:-1], w.sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(w.sizes) - 2:
            if w.batchnorm:
                layers.append(torch.nn.BatchNorm1d(b, momentum=1 - 0.9, eps=1e-5))  # the engine's bn defaults
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_data(torch, data: Data, device):
    """The run's arrays as torch tensors (labels as int64, what cross_entropy takes)."""
    x, y, vx, vy = (torch.from_numpy(np.array(a)) for a in data.numpy)
    return x.to(device), y.long().to(device), vx.to(device), vy.long().to(device)


class RssPeak:
    """Peak resident-memory growth of this process while the body runs, sampled every 2 ms."""

    def __init__(self):
        import psutil

        self.proc, self.peak, self.start = psutil.Process(), 0, 0

    def __enter__(self):
        self.start = self.peak = self.proc.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(0.002):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def grown(self) -> int:
        return self.peak - self.start


class TorchSeq:
    """PyTorch the usual way: one model and one ``torch.optim.SGD(momentum)`` per seed, in turn."""

    def __init__(self, torch, w, S, steps, data: Data, device):
        self.torch, self.steps, self.batch = torch, steps, w.batch
        torch.manual_seed(0)
        with RssPeak() as rss:
            self.nets = [torch_net(torch, w).to(device) for _ in range(S)]
            self.opts = [torch.optim.SGD(n.parameters(), lr=LR, momentum=ALPHA) for n in self.nets]
            self.x, self.y, self.vx, self.vy = torch_data(torch, data, device)
            self.gens = [torch.Generator().manual_seed(i) for i in range(S)]
            t0 = time.perf_counter()
            self()
            self.compile_s = time.perf_counter() - t0  # the first call; its excess is reported
        params = sum(p.numel() * p.element_size() for n in self.nets for p in n.parameters())
        buffers = sum(b.numel() * b.element_size() for n in self.nets for b in n.buffers() if b.is_floating_point())
        self.state = 2 * params + buffers  # params + momentum buffers + BN running stats
        self.mem = rss.grown

    def __call__(self):
        torch, B = self.torch, self.batch
        F = torch.nn.functional
        for net, opt, gen in zip(self.nets, self.opts, self.gens):
            order = torch.randperm(self.x.shape[0], generator=gen).to(self.x.device)
            for t in range(self.steps):
                idx = order[t * B:(t + 1) * B]
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(self.x[idx]), self.y[idx]).backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                F.cross_entropy(net(self.vx), self.vy)
            net.train()
        if self.x.is_cuda:
            torch.cuda.synchronize()


class TorchFunc:
    """PyTorch's functional way: the seeds' parameters stacked, ``vmap(grad(functional_call))``
    for all seeds' gradients in one call, momentum SGD as ``torch._foreach`` ops."""

    def __init__(self, torch, w, S, steps, data: Data, device):
        from torch.func import functional_call, grad, stack_module_state, vmap

        self.torch, self.steps, self.batch, self.S = torch, steps, w.batch, S
        torch.manual_seed(0)
        with RssPeak() as rss:
            nets = [torch_net(torch, w).to(device) for _ in range(S)]
            self.params, self.buffers = stack_module_state(nets)
            self.velocity = {k: torch.zeros_like(v) for k, v in self.params.items()}
            self.base = copy.deepcopy(nets[0]).to("meta")
            del nets
            base, F = self.base, torch.nn.functional

            def loss(p, b, x, y):
                return F.cross_entropy(functional_call(base, (p, b), (x,)), y)

            self.grads = vmap(grad(loss))
            self.evaluate = vmap(loss, in_dims=(0, 0, None, None))  # every seed on the shared validation set
            self.x, self.y, self.vx, self.vy = torch_data(torch, data, device)
            self.gens = [torch.Generator().manual_seed(i) for i in range(S)]
            t0 = time.perf_counter()
            self()
            self.compile_s = time.perf_counter() - t0
        self.state = sum(t.numel() * t.element_size() for d in (self.params, self.velocity) for t in d.values()) + sum(
            b.numel() * b.element_size() for b in self.buffers.values() if b.is_floating_point())
        self.mem = rss.grown

    def __call__(self):
        torch, B = self.torch, self.batch
        names = list(self.params)
        p, v = [self.params[k] for k in names], [self.velocity[k] for k in names]
        order = torch.stack([torch.randperm(self.x.shape[0], generator=g) for g in self.gens]).to(self.x.device)
        for t in range(self.steps):
            idx = order[:, t * B:(t + 1) * B]
            g = self.grads(self.params, self.buffers, self.x[idx], self.y[idx])
            with torch.no_grad():  # torch.optim.SGD's rule: m <- alpha m + g; theta -= lr m
                torch._foreach_mul_(v, ALPHA)
                torch._foreach_add_(v, [g[k] for k in names])
                torch._foreach_add_(p, v, alpha=-LR)
        self.base.eval()
        with torch.no_grad():
            self.evaluate(self.params, self.buffers, self.vx, self.vy)
        self.base.train()
        if self.x.is_cuda:
            torch.cuda.synchronize()


# ---------------------------------------------------------------- running, reporting


def build(impl, w, S, steps, data, key, torch, torch_device):
    if impl == "engine":  # the seeds split over every device of the run's kind (host devices: one per core)
        return Engine(w, S, steps, data, key, devices=ENGINE_DEVICES)
    if impl == "engine-1dev":
        return Engine(w, S, steps, data, key)
    if impl == "engine-optax":
        return Engine(w, S, steps, data, key, stock_optax=True, devices=ENGINE_DEVICES)
    if impl == "engine-vmap":  # every seed in one vmap, no groups (the runner's program on an accelerator)
        return Engine(w, S, steps, data, key, grouped=False)
    if impl == "engine-loop":
        return EngineLoop(w, S, steps, data, key)
    cls = TorchSeq if impl == "torch-seq" else TorchFunc
    return cls(torch, w, S, steps, data, torch_device)


def measure_cell(w: Workload, S: int, plan: Plan, impls, torch, torch_device) -> list[dict]:
    """Every implementation on one workload and S: built (compiled, warmed), then timed
    round-robin ``plan.reps`` times; the best call of each counts."""
    steps = plan.steps[w.name]
    data = Data(w, steps, jax.random.key(0))
    runners = {impl: build(impl, w, S, steps, data, jax.random.key(1), torch, torch_device) for impl in impls}
    for r in runners.values():  # one untimed call each: first-call effects out of the timings
        r()
    best = {impl: float("inf") for impl in runners}
    spent = {impl: 0.0 for impl in runners}
    for round_ in range(MAX_ROUNDS):  # round-robin: a burst of load hits every implementation alike
        if round_ >= plan.reps and min(spent.values()) >= plan.min_seconds:
            break
        for impl, r in runners.items():
            time.sleep(SETTLE)
            t = best_time(r, 1)
            best[impl], spent[impl] = min(best[impl], t), spent[impl] + t
    rows = []
    for impl, r in runners.items():
        if impl.startswith("torch"):  # no compile: what the first call took beyond a steady one
            r.compile_s = max(0.0, r.compile_s - best[impl])
        rate = S * steps / best[impl]
        rows.append({"workload": w.label, "S": S, "impl": impl, "group": getattr(r, "group", None),
                     "devices": getattr(r, "devices", 1),
                     "steps": steps, "seconds": best[impl],
                     "seed_steps_per_s": rate, "gflops": rate * w.flops_per_step / 1e9,
                     "compile_s": r.compile_s, "state_bytes": r.state, "mem_bytes": r.mem,
                     "mem_kind": "rss-growth" if impl.startswith("torch") else "compiled"})
    return rows


def add_ratios(rows: list[dict], peak: float) -> None:
    index = {(r["workload"], r["S"], r["impl"]): r for r in rows}
    for r in rows:
        r["frac_peak"] = r["gflops"] / peak
        for ref in ("torch-seq", "engine-loop"):
            other = index.get((r["workload"], r["S"], ref))
            r[f"vs_{ref}"] = r["seed_steps_per_s"] / other["seed_steps_per_s"] if other else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(rows: list[dict], peak: float) -> str:
    head = (f"{'workload':9} {'S':>4} {'impl':17} {'seed-steps/s':>12} {'GFLOP/s':>8} {'%peak':>6} "
            f"{'vs torch-seq':>12} {'vs own loop':>11} {'compile s':>9} {'mem/state':>9}")
    lines = [f"GEMM peak {peak:.1f} GFLOP/s (float32 matmul, best of the run)", head, "-" * len(head)]
    for r in rows:
        mem = r["mem_bytes"] / r["state_bytes"] if r["state_bytes"] else None
        impl = r["impl"] + (f"[g{r['group']}]" if r.get("group") else "") + (
            f"x{r['devices']}" if r.get("devices", 1) > 1 else "")
        lines.append(f"{r['workload']:9} {r['S']:>4} {impl:17} {r['seed_steps_per_s']:>12.0f} "
                     f"{r['gflops']:>8.1f} {100 * r['frac_peak']:>5.1f}% {fmt(r['vs_torch-seq'], '>11.2f')}x "
                     f"{fmt(r['vs_engine-loop'], '>10.2f')}x {r['compile_s']:>9.2f} "
                     f"{fmt(mem, '>8.2f')}{'~' if r['mem_kind'] == 'rss-growth' else ' '}")
    return "\n".join(lines)


def targets(rows: list[dict], compile_s: dict, recompile: dict) -> list[tuple[str, bool | None, str]]:
    """(target, met, measured) for each target of the benchmark."""
    index = {(r["workload"], r["S"], r["impl"]): r for r in rows}
    out = []
    wide, deep = index.get(("wide", 32, "engine")), index.get(("deep", 128, "engine"))
    if wide:
        out.append(("wide S=32: >= 85% of GEMM peak", wide["frac_peak"] >= 0.85, f"{100 * wide['frac_peak']:.1f}%"))
        if wide["vs_torch-seq"] is not None:
            out.append(("wide S=32: >= 2.2x torch-seq", wide["vs_torch-seq"] >= 2.2, f"{wide['vs_torch-seq']:.2f}x"))
    if deep:
        if deep["vs_torch-seq"] is not None:
            out.append(("deep S=128: >= 30x torch-seq", deep["vs_torch-seq"] >= 30, f"{deep['vs_torch-seq']:.1f}x"))
        out.append(("deep S=128: >= 5x own loop", deep["vs_engine-loop"] >= 5, f"{deep['vs_engine-loop']:.2f}x"))
    # A small state is outweighed by one group's gradients, updated state and activations
    # (momentum at S=1: state 2P, temporaries >= 3P), so the bound is checked where the state is
    # large enough to matter: beyond a quarter of train.CACHE_BYTES, as train.cache_group does.
    big = [r for r in rows if r["impl"] == "engine" and r["state_bytes"] > train.CACHE_BYTES // 4]
    if big:
        worst = max(big, key=lambda r: r["mem_bytes"] / r["state_bytes"])
        out.append((f"engine peak memory <= 1.5x state beyond data (state > {train.CACHE_BYTES // 4 >> 20} MiB)",
                    worst["mem_bytes"] <= 1.5 * worst["state_bytes"],
                    f"max {worst['mem_bytes'] / worst['state_bytes']:.2f}x ({worst['workload']} S={worst['S']}) "
                    f"over {len(big)} rows"))
    if compile_s:
        out.append(("default study compile < 10 s per group", max(compile_s.values()) < 10,
                    ", ".join(f"{k} {v:.1f}s" for k, v in compile_s.items())))
    for w, counts in recompile.items():
        n = sum(counts[k] for k in ("key", "lr", "data"))
        out.append((f"{w}: no recompile when key / lr / data change", n == 0,
                    f"compiles {counts['key']}/{counts['lr']}/{counts['data']}, jit cache {counts['jit_cache_size']}"))
    return out


def plot(rows: list[dict], peak: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    labels = list(dict.fromkeys(r["workload"] for r in rows))
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 3.8), squeeze=False)
    for ax, label in zip(axes[0], labels):
        for impl in IMPLS:
            pts = sorted((r["S"], r["seed_steps_per_s"]) for r in rows if r["workload"] == label and r["impl"] == impl)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=impl)
        w = next(w for w in workloads() if w.label == label)
        ax.axhline(peak * 1e9 / w.flops_per_step, color="k", ls="--", lw=0.8, label="GEMM peak")
        ax.set(xscale="log", yscale="log", xlabel="seeds S", title=label)
        ticks = sorted({r["S"] for r in rows if r["workload"] == label})
        ax.set_xticks(ticks, labels=[str(s) for s in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes[0][0].set_ylabel("seed-steps / s")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def versions(torch) -> dict:
    return {"python": platform.python_version(), "jax": jax.__version__, "optax": optax.__version__,
            "numpy": np.__version__, "torch": torch.__version__ if torch else None}


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer seeds, steps and repeats (< 2 min)")
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    ap.add_argument("--torch-threads", type=int, default=0,
                    help="torch.set_num_threads (default: the XLA CPU thread count, as the comparison asks)")
    ap.add_argument("--only", default="", help="comma-separated workload labels, e.g. wide,deep+bn")
    ap.add_argument("--impls", default="", help=f"comma-separated subset of {','.join(IMPLS)} (default: the plan's)")
    ap.add_argument("--host-devices", type=int, default=0,
                    help="XLA host devices the engine row splits its seeds over (default: one per core; set "
                         "before jax starts, so only from the command line)")
    return ap.parse_args(argv)


def setup_torch(args, impls: list, threads: int):
    """``(torch or None, its device, its thread count, impls)``: torch rows dropped, with a note,
    when torch or (on ``--device gpu``) CUDA is missing."""
    try:
        import torch
    except ImportError:
        print("torch not installed: torch rows skipped (pip install -e '.[bench]' installs torch==2.13.0)")
        return None, "cpu", None, [i for i in impls if not i.startswith("torch")]
    torch_threads = args.torch_threads or threads
    torch.set_num_threads(torch_threads)
    if args.device == "gpu":
        if torch.cuda.is_available():
            return torch, "cuda", torch_threads, impls
        print("torch sees no CUDA device: torch rows skipped on --device gpu")
        return torch, "cpu", torch_threads, [i for i in impls if not i.startswith("torch")]
    return torch, "cpu", torch_threads, impls


def report(rows, peak, recompile, compile_s) -> list:
    """Print the table and the checks; returns the targets."""
    print()
    print(table(rows, peak))
    print("\nmem/state: engine rows from XLA's memory_analysis; '~' marks torch RSS growth (approximate)")
    print("\nrecompiles when only key / lr values / data change (S=2 engine program): "
          + "; ".join(f"{w}: {c['key']}/{c['lr']}/{c['data']} compiles, jit cache size {c['jit_cache_size']}"
                      for w, c in recompile.items()))
    print("default study (configs/init_study.py) AOT compile per group: "
          + ", ".join(f"{k} {v:.2f}s" for k, v in compile_s.items()))
    checks = targets(rows, compile_s, recompile)
    print("\ntargets:")
    for what, ok, measured in checks:
        print(f"  [{'met' if ok else 'MISSED'}] {what}: {measured}")
    return checks


def main(argv=None) -> int:
    args = parse(argv)
    global DEVICE, ENGINE_DEVICES
    device = pick_device(args.device)
    jax.config.update("jax_default_device", device)
    DEVICE, ENGINE_DEVICES = device, jax.devices(device.platform)
    plan = QUICK if args.quick else FULL
    threads = cpu_threads()
    torch, torch_device, torch_threads, impls = setup_torch(
        args, [i for i in (args.impls.split(",") if args.impls else plan.impls) if i], threads)
    chosen = [w for w in workloads() if w.label in plan.seeds and (not args.only or w.label in args.only.split(","))]
    load = os.getloadavg()[0]
    print(f"device {device} | engine over {len(ENGINE_DEVICES)} {device.platform} device(s) | XLA CPU threads {threads} | torch.set_num_threads({torch_threads}) on {torch_device} | "
          f"load average {load:.2f} | steps/call {plan.steps} | at least {plan.reps} calls, {plan.min_seconds}s each")
    if load > 0.5:
        print(f"warning: the machine is busy (load {load:.2f}); timings are noisy, and PyTorch with more than one "
              "thread can run 10x slower when its threads are descheduled: ratios vs torch are unreliable")

    t_start = time.perf_counter()
    peak = gemm_peak(plan.gemm_n, 5 * plan.reps)
    rows = []
    for w in chosen:
        for S in plan.seeds[w.label]:
            cell = measure_cell(w, S, plan, impls, torch, torch_device)
            rows.extend(cell)
            print(f"  {w.label} S={S}: " + ", ".join(f"{r['impl']} {r['seed_steps_per_s']:.0f}" for r in cell), flush=True)
    peak = max(peak, gemm_peak(plan.gemm_n, 5 * plan.reps))  # before and after the rows: the run's best
    add_ratios(rows, peak)
    recompile = {w.name: recompiles(w, plan.steps[w.name]) for w in chosen if not w.batchnorm}
    compile_s = default_study_compile()
    checks = report(rows, peak, recompile, compile_s)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end; total {time.perf_counter() - t_start:.0f}s")

    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"seeds-{args.device}{'-quick' if args.quick else ''}")
    meta = {"device": str(device), "platform": platform.platform(), "processor": platform.processor(),
            "xla_cpu_threads": threads, "engine_devices": len(ENGINE_DEVICES), "torch_threads": torch_threads, "torch_device": torch_device,
            "versions": versions(torch), "plan": dataclasses.asdict(plan), "gemm_peak_gflops": peak,
            "flops_per_step": "6 * P * B, P = weight-matrix entries", "lr": LR, "alpha": ALPHA,
            "load_average_start": load, "load_average_end": os.getloadavg(),
            "seconds": time.perf_counter() - t_start}
    with open(stem + ".json", "w") as f:
        json.dump({"meta": meta, "rows": rows, "recompiles": recompile, "default_study_compile_s": compile_s,
                   "targets": [{"target": t, "met": ok, "measured": m} for t, ok, m in checks]}, f, indent=1)
    plot(rows, peak, stem + ".png")
    print(f"wrote {stem}.json and {stem}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
