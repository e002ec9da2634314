"""benchmarks/seeds.py's engine rows: the engine's programs over seeds (batched, per-seed loop,
stock optax), the memory accounting, the recompile check and the default study's compile time."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from research.engine import config as config_lib, train

import seeds_common as common
from seeds_common import ALPHA, BACKEND_COMPILE, LR, ROOT, Data, Workload


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
        devices = list(devices or [common.DEVICE])
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

