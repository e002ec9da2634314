"""The main study end to end, beside the GEMM ceiling and PyTorch on the same workload.

``python benchmarks/seeds_main.py [--quick]`` (or ``python benchmarks/seeds.py --main-study``).
One process, three measurements, ratios between them:

* ``gemm``: the float32 2048^3 matmul ceiling, best before and after the other rows;
* ``engine``: ``research.engine.runner.run`` of ``configs/init_study.py`` (the README's main
  study) into a fresh temporary workdir, wall time from the call to its return: data, init,
  histograms, compiles, training, checkpoints (the default, at most one a minute), the test split,
  the report and its figures. Its dense work is ``6 * P * B`` FLOP per seed-step (P weight entries,
  B the batch; forward 2PB, backward 4PB), the count the issue used (92,160 seed-steps, 13.4 TFLOP);
  validation passes and everything else are overhead on top of it;
* ``shapes``: the dense products of one training step alone, at the study's layer shapes, batch and
  runner group size (forward ``x W`` per layer, ``a^T delta`` per layer, ``delta W^T`` for every layer
  but the first), over the runner's groups of runs and its devices (``train.many``: runs_per_call
  runs a device, ``shard_map`` over one device per core as the runner uses them), each run on its
  own inputs, in one compiled program: what the matrix shapes
  themselves allow on this machine, so the gap between it and the engine's chunks is the rest
  (activations, loss, optimizer, divergence freeze, gathers, evaluation), not the shapes;
* ``torch-seq``: the user's alternative, PyTorch the usual way on the same workload: the same net
  (784-390-156-62-25-10), sigmoid and ReLU, the same MNIST split and batch, momentum SGD (torch's
  ``v = a v + g; p -= lr v`` is the engine's rule with v scaled by lr), a validation pass at the
  study's evaluation points, one seed after another. It trains ``--torch-runs`` runs per
  activation for the study's whole budget and the table extrapolates its seed-steps/s to the
  study's seed-steps (data loading, the test split and the report are not counted for it:
  favourable to torch).

Ratios: engine's share of the GEMM ceiling end to end (``dense FLOP / wall / ceiling``) and inside
its training chunks alone, and engine vs torch-seq in seed-steps/s. Writes
``benchmarks/results/main-study-<device>[-quick].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from seeds_common import gemm_peak  # noqa: E402

CONFIG = os.path.join(ROOT, "configs", "init_study.py")


def _config(quick: bool, check: str = ""):
    from experiments.run_all import load_config

    c = load_config(CONFIG)
    if quick:
        c.seeds = 4
    if check:  # train.divergence_check (research/engine/train.py): the config's own unless given
        c.train.divergence_check = check
    return c


def dense_flop_per_step(sizes, batch) -> int:
    return 6 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def engine_row(config) -> dict:
    from research.engine import experiment, runner

    full = experiment.resolve(config)
    with tempfile.TemporaryDirectory() as workdir:
        t0 = time.perf_counter()
        runner.run(config, workdir, progress=False, log=lambda *_: None)
        wall = time.perf_counter() - t0
        with open(os.path.join(workdir, "meta.json")) as f:
            meta = json.load(f)
    groups = meta["groups"].values()
    seed_steps = sum(g["seed_steps"] for g in groups)
    phases = {}
    for g in groups:
        for k, v in g.get("phase_seconds", {}).items():
            phases[k] = phases.get(k, 0.0) + v
    arm = next(iter(full.arms.values()))
    sizes = (full.input_dim, *arm.model.hidden, full.num_classes)
    return {"wall_s": wall, "seed_steps": seed_steps, "phases_s": phases, "sizes": sizes,
            "batch": arm.train.batch_size, "devices": meta["devices"],
            "flop": seed_steps * dense_flop_per_step(sizes, arm.train.batch_size)}


def shapes_row(config, steps: int = 62, reps: int = 3) -> dict:
    """GFLOP/s of the dense products of ``steps`` training steps per run at the study's shapes, batch
    and group size, laid out over the devices as the runner lays out a slice (see the module
    docstring)."""
    import jax.numpy as jnp

    from research.engine import experiment, placement, train as train_lib

    full = experiment.resolve(config)
    arm = next(iter(full.arms.values()))
    prog = train_lib.program(arm, 4000, full.input_dim, full.num_classes)
    # the runner's slice: runs_per_call runs a device, in cache-sized groups, one block per device
    per_device = min(arm.train.runs_per_call, full.seeds * len(full.arms))
    group = train_lib.cache_group(prog, per_device) or per_device
    devices = jax.devices()
    runs = per_device * len(devices)
    sizes, batch = prog.spec.sizes, prog.batch_size
    ws = [jnp.full((runs, a, b), 0.01, jnp.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    xs = jax.random.normal(jax.random.key(0), (steps, batch, sizes[0]), jnp.float32)
    scale = jnp.linspace(1.0, 2.0, runs, dtype=jnp.float32)

    def one_run(w, s, xs):
        def step(acc, x):
            acts = [x * s]  # a run's own inputs, as in training (no product shared between runs)
            for wl in w:
                acts.append(acts[-1] @ wl)
            delta = acts[-1]
            for layer in range(len(w) - 1, -1, -1):
                acc = acc + (acts[layer].T @ delta).sum()
                if layer:
                    delta = delta @ w[layer].T
            return acc, None

        return jax.lax.scan(step, jnp.float32(0.0), xs)[0]

    mesh = placement.mesh(len(devices)) if len(devices) > 1 else None  # the runner's mesh
    prog_fn = train_lib.many(one_run, in_axes=(0, 0, None), group=group, mesh=mesh)
    fn = prog_fn.lower(ws, scale, xs).compile()
    call = lambda: fn(ws, scale, xs)
    call().block_until_ready()
    best = min(_timed(call) for _ in range(reps))
    weights = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    flop = runs * steps * 2 * batch * (2 * sum(weights) + sum(weights[1:]))
    return {"gflops": flop / best / 1e9, "group": group, "runs": runs, "steps": steps, "devices": len(devices)}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn().block_until_ready()
    return time.perf_counter() - t0


def torch_row(torch, config, runs_per_activation: int) -> dict:
    """Sequential PyTorch training of the study's workload; seed-steps/s over the runs timed."""
    from research.engine import data as data_lib, experiment, train as train_lib

    full = experiment.resolve(config)
    ds = data_lib.load(full.data)
    x, y = torch.from_numpy(np.asarray(ds.train.x, np.float32)), torch.from_numpy(np.asarray(ds.train.y)).long()
    vx, vy = torch.from_numpy(np.asarray(ds.val.x, np.float32)), torch.from_numpy(np.asarray(ds.val.y)).long()
    F = torch.nn.functional
    seconds, seed_steps = 0.0, 0
    by_act = {}
    for name, arm in full.arms.items():  # one arm per activation: the rows differ only by the weights' values
        by_act.setdefault(arm.model.activation, (name, arm))
    for act, (name, arm) in by_act.items():
        prog = train_lib.program(arm, x.shape[0], x.shape[1], full.num_classes)
        sizes = (full.input_dim, *arm.model.hidden, full.num_classes)
        steps = prog.steps_per_eval * sum(train_lib.schedule(prog, arm.train.epochs, arm.train.max_steps))
        fn = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}[act]
        for seed in range(runs_per_activation + 1):  # the first run warms torch up and is not timed
            torch.manual_seed(seed)
            layers = []
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                layers.append(torch.nn.Linear(a, b))
                if i < len(sizes) - 2:
                    layers.append(fn())
            net = torch.nn.Sequential(*layers)
            opt = torch.optim.SGD(net.parameters(), lr=float(arm.train.lr),
                                  momentum=float(dict(arm.train.optimizer_kwargs).get("alpha", 0.9)))
            gen = torch.Generator().manual_seed(seed)
            t0 = time.perf_counter()
            step = 0
            while step < steps:
                order = torch.randperm(x.shape[0], generator=gen)
                for t in range(prog.steps_per_epoch):
                    if step == steps:
                        break
                    idx = order[t * prog.batch_size:(t + 1) * prog.batch_size]
                    opt.zero_grad(set_to_none=True)
                    F.cross_entropy(net(x[idx]), y[idx]).backward()
                    opt.step()
                    step += 1
                    if step % prog.steps_per_eval == 0:
                        with torch.no_grad():
                            (net(vx).argmax(1) == vy).float().mean().item()
            if seed:
                seconds += time.perf_counter() - t0
                seed_steps += steps
    return {"seconds": seconds, "seed_steps": seed_steps, "rate": seed_steps / seconds,
            "threads": torch.get_num_threads()}


def measure(quick: bool = False, torch_runs: int = 0, out_dir: str | None = None, check: str = "") -> dict:
    config = _config(quick, check)
    reps = 3 if quick else 5
    peak = gemm_peak(2048, reps)
    eng = engine_row(config)
    shp = shapes_row(config)
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        tor = torch_row(torch, config, torch_runs or (1 if quick else 3))
    except ImportError:
        tor = None
        print("torch not installed: the torch-seq row is skipped (pip install -e '.[bench]')")
    peak = max(peak, gemm_peak(2048, reps))
    ideal = eng["flop"] / (peak * 1e9)
    chunks = eng["phases_s"].get("chunks", float("nan"))
    rate = eng["seed_steps"] / eng["wall_s"]
    out = {"gemm_gflops": peak, "engine": eng, "shapes": shp, "torch_seq": tor, "ideal_s": ideal,
           "shapes_vs_ceiling": shp["gflops"] / peak,
           "chunks_vs_shapes": eng["flop"] / (shp["gflops"] * 1e9) / chunks,
           "engine_vs_ceiling": ideal / eng["wall_s"], "chunks_vs_ceiling": ideal / chunks,
           "engine_rate": rate, "engine_vs_torch_seq": rate / tor["rate"] if tor else None,
           "divergence_check": config.train.divergence_check,
           "quick": quick, "device": jax.default_backend(), "jax": jax.__version__,
           "torch": getattr(sys.modules.get("torch"), "__version__", None)}
    print(f"main study ({'quick: 4 seeds' if quick else 'as configured'}), {eng['seed_steps']:,} seed-steps of "
          f"{'-'.join(map(str, eng['sizes']))} at batch {eng['batch']}, {eng['flop'] / 1e12:.2f} TFLOP dense, "
          f"{len(eng['devices'])} device(s), divergence checked every {config.train.divergence_check}")
    print(f"  gemm ceiling       {peak:8.1f} GFLOP/s  -> the dense work alone would take {ideal:6.1f} s")
    print(f"  dense products at the study's shapes alone {shp['gflops']:8.1f} GFLOP/s (groups of {shp['group']}, {shp['devices']} device(s)): "
          f"{out['shapes_vs_ceiling']:6.1%} of the ceiling")
    print(f"  engine end to end  {eng['wall_s']:8.1f} s         {rate:8.0f} seed-steps/s  "
          f"{out['engine_vs_ceiling']:6.1%} of the ceiling")
    print("    phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in eng["phases_s"].items())
          + f"; chunks alone {out['chunks_vs_ceiling']:.1%} of the ceiling, "
          f"{out['chunks_vs_shapes']:.1%} of the shapes' own rate")
    if tor:
        print(f"  torch-seq          {eng['seed_steps'] / tor['rate']:8.1f} s (extrapolated from {tor['seed_steps']:,} "
              f"seed-steps) {tor['rate']:8.0f} seed-steps/s, {tor['threads']} threads")
        print(f"  engine vs torch-seq: {out['engine_vs_torch_seq']:.2f}x")
    out_dir = out_dir or os.path.join(ROOT, "benchmarks", "results")
    os.makedirs(out_dir, exist_ok=True)
    tag = ("-quick" if quick else "") + (f"-{check}" if check else "")
    path = os.path.join(out_dir, f"main-study-{jax.default_backend()}{tag}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, default=float)
    print(f"  -> {os.path.relpath(path, ROOT)}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 seeds instead of the study's 32; 1 torch run per activation")
    ap.add_argument("--torch-runs", type=int, default=0, help="torch-seq runs timed per activation (default 3)")
    ap.add_argument("--divergence-check", choices=("step", "segment"), default="",
                    help="train.divergence_check for the engine row (default: the config's, 'step'); "
                         "a value given names the results file main-study-<device>-<value>.json")
    args = ap.parse_args(argv)
    from research.engine import distributed

    distributed.use_cpu_devices()  # as experiments.run starts JAX: one host device per core unless set
    measure(args.quick, args.torch_runs, check=args.divergence_check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
