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
import dataclasses
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `python benchmarks/seeds.py` from anywhere uses this checkout's research/
    sys.path.insert(0, ROOT)
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # its modules (seeds_*.py) beside it, also under `python -m benchmarks.seeds`
    sys.path.insert(0, HERE)


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
import numpy as np  # noqa: E402
import optax  # noqa: E402

import seeds_common as common  # noqa: E402
from seeds_common import ALPHA, FULL, IMPLS, LR, QUICK, gemm_peak, pick_device, workloads  # noqa: E402
from seeds_engine import default_study_compile, recompiles  # noqa: E402
from seeds_report import add_ratios, measure_cell, plot, report  # noqa: E402


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
    ap.add_argument("--main-study", action="store_true",
                    help="only the end-to-end row: the README's main study beside the GEMM ceiling and torch-seq "
                         "on its workload (benchmarks/seeds_main.py)")
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


def main(argv=None) -> int:
    args = parse(argv)
    if args.main_study:
        import seeds_main

        seeds_main.measure(args.quick)
        return 0
    device = pick_device(args.device)
    jax.config.update("jax_default_device", device)
    common.DEVICE, common.ENGINE_DEVICES = device, jax.devices(device.platform)
    ENGINE_DEVICES = common.ENGINE_DEVICES
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
