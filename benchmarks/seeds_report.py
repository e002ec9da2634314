"""benchmarks/seeds.py's running and reporting: building and timing every implementation on one
cell, the ratios, the table, the targets check and the plot."""

from __future__ import annotations

import time

import jax

from research.engine import train

import seeds_common as common
from seeds_common import IMPLS, MAX_ROUNDS, SETTLE, Data, Plan, Workload, best_time, workloads
from seeds_engine import Engine, EngineLoop
from seeds_torch import TorchFunc, TorchSeq


def build(impl, w, S, steps, data, key, torch, torch_device):
    if impl == "engine":  # the seeds split over every device of the run's kind (host devices: one per core)
        return Engine(w, S, steps, data, key, devices=common.ENGINE_DEVICES)
    if impl == "engine-1dev":
        return Engine(w, S, steps, data, key)
    if impl == "engine-optax":
        return Engine(w, S, steps, data, key, stock_optax=True, devices=common.ENGINE_DEVICES)
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

