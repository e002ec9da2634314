"""Build a workdir's summary, claims, report and figures from its saved arrays alone.

``build(workdir)`` reads ``config.json`` and ``metrics.npz`` (never retrains), writes
``summary.json`` (per arm: mean and 95% CI over seeds, seed and divergence counts; ``claims``),
``report.md`` and ``figures/*.png``. ``python -m experiments.report --workdir W`` calls it.
"""

from __future__ import annotations

import os

import ml_collections
import numpy as np

from research import claims as claims_lib, config as config_lib, files, stats

# Studies run by their own module: each has compute, claims, summary and figures.
ANALYSES = config_lib.ANALYSES


def summarize(full, results: dict[str, np.ndarray]) -> dict:
    """Per arm: final validation and test accuracy, steps to the target accuracy, divergence.
    Diverged seeds are counted and left out of every mean."""
    target = full.eval.target_accuracy
    arms = {}
    for name in full.arms:
        val = results[f"{name}/val_acc"]
        alive = results[f"{name}/diverged_at"] < 0
        reached = val >= target
        first = claims_lib.first_reach(results, name, target)
        arms[name] = {
            "n_seeds": int(val.shape[0]),
            "n_diverged": int((~alive).sum()),
            "final_val_acc": stats.mean_ci(val[alive, -1]),
            "test_acc": stats.mean_ci(results[f"{name}/test_acc"][alive]),
            "final_train_loss": stats.mean_ci(results[f"{name}/train_loss"][alive, -1]),
            "steps_to_target": stats.mean_ci(first[alive]),
            "n_reached_target": int(reached[alive].any(axis=1).sum()),
        }
    return {"target_accuracy": target, "arms": arms}


def _activation(full, name):
    return full.arms[name].get("model", {}).get("activation", full.model.activation)


def _figures(full, results, fig_dir) -> list[tuple[str, str]]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(fig_dir, exist_ok=True)
    out = []
    acts = list(dict.fromkeys(_activation(full, n) for n in full.arms))
    steps = results["steps"]

    fig, axes = plt.subplots(1, len(acts), figsize=(6 * len(acts), 4.2), squeeze=False)
    for ax, act in zip(axes[0], acts):
        for name in (n for n in full.arms if _activation(full, n) == act):
            alive = results[f"{name}/diverged_at"] < 0
            stats.band(ax, steps, results[f"{name}/val_acc"][alive], label=name)
        ax.axhline(full.eval.target_accuracy, color="grey", ls=":", lw=1)
        ax.set(title=f"{act}: validation accuracy (mean, 95% CI over {full.seeds} seeds)",
               xlabel="minibatch step", ylabel="accuracy", ylim=(0, 1))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "val_accuracy.png"), dpi=110)
    plt.close(fig)
    out.append(("Validation accuracy during training", "figures/val_accuracy.png"))

    if full.study == "optimizers" and "quadratic/sgd/path" in results:
        out += _optimizer_figures(full, results, fig_dir, plt)
    if full.study == "hparam_search":
        out += _hparam_figure(full, results, fig_dir, plt)
    if full.study == "batchnorm":
        names = list(full.arms)
        fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False, sharey=True)
        for ax, name in zip(axes[0], names):
            q = results[f"{name}/unit_q"]  # (seeds, evals, 3)
            for j, label in enumerate(("15th", "50th", "85th")):
                ax.plot(steps, np.nanmean(q[:, :, j], axis=0), label=label)
            ax.set(title=name, xlabel="minibatch step")
        axes[0, 0].set_ylabel("input to a last-hidden-layer sigmoid")
        axes[0, 0].legend(fontsize=8)
        fig.suptitle("Percentiles of one unit's input over training (mean over seeds)")
        fig.tight_layout()
        fig.savefig(os.path.join(fig_dir, "unit_input_percentiles.png"), dpi=100)
        plt.close(fig)
        out.append(("Input distribution of one last-hidden-layer unit", "figures/unit_input_percentiles.png"))

    for act in acts:
        names = [n for n in full.arms if _activation(full, n) == act and f"{n}/init_act_samples" in results]
        if not names:
            continue
        n_layers = results[f"{names[0]}/init_act_samples"].shape[1]
        fig, axes = plt.subplots(len(names), n_layers, figsize=(2.6 * n_layers, 1.9 * len(names)), squeeze=False)
        for i, name in enumerate(names):
            samples = results[f"{name}/init_act_samples"]
            stds = results[f"{name}/init_act_std"].mean(axis=0)
            for l in range(n_layers):
                ax = axes[i, l]
                ax.hist(samples[:, l].ravel(), bins=full.eval.hist_bins, color="C0")
                ax.set_yticks([])
                ax.set_title(f"layer {l + 1}  std {stds[l]:.2g}", fontsize=8)
                if l == 0:
                    ax.set_ylabel(name, fontsize=8)
        fig.suptitle(f"{act}: hidden-layer outputs at initialization (one batch, {samples.shape[0]} seeds pooled)")
        fig.tight_layout()
        path = f"figures/init_activations_{act}.png"
        fig.savefig(os.path.join(fig_dir, os.path.basename(path)), dpi=100)
        plt.close(fig)
        out.append((f"Activations at initialization ({act})", path))
    return out


def _optimizer_figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    from research import study_optimizers as so

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, (surface, (f, optimum)) in zip(axes, so.SURFACES.items()):
        paths = {r: results[f"{surface}/{r}/path"] for r in so.RULES}
        pts = np.concatenate([p[np.all(np.isfinite(p), axis=1)] for p in paths.values()])
        lo, hi = pts.min(axis=0) - 0.2, pts.max(axis=0) + 0.2
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
        import jax
        z = np.asarray(jax.vmap(jax.vmap(lambda a, b: f(jax.numpy.stack([a, b]))))(gx, gy))
        ax.contour(gx, gy, np.log10(z - float(f(optimum)) + 1e-8), levels=20, cmap="Greys", linewidths=0.6)
        for rule, p in paths.items():
            steps = results[f"{surface}/{rule}/steps"][0].min()
            ax.plot(p[:, 0], p[:, 1], lw=1, label=f"{rule} ({steps} steps)")
        ax.plot(*np.asarray(optimum), "k*", ms=10)
        ax.set(title=f"{surface}: seed 0's start, each rule at its best rate", xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "trajectories.png"), dpi=100)
    plt.close(fig)

    best = claims_lib.best_rate_arms(full, results)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rule, name in best.items():
        stats.band(ax, results["steps"], results[f"{name}/train_loss"], label=name)
    ax.set(yscale="log", xlabel="minibatch step", ylabel="training loss",
           title=f"MNIST: each rule at its best validation rate (95% CI over {full.seeds} seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "mnist_loss.png"), dpi=100)
    plt.close(fig)
    return [("Trajectories on the quadratic and Rosenbrock surfaces", "figures/trajectories.png"),
            ("MNIST training loss per rule", "figures/mnist_loss.png")]


def _hparam_figure(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    """Mean final validation accuracy over (lr, L2), one panel per init scale; the chosen cell ringed."""
    def value(name, key):
        return full.arms[name].get("train", {}).get(key, full.train[key])

    chosen = claims_lib.select_by_validation({n: (results[f"{n}/val_acc"], results[f"{n}/diverged_at"])
                                              for n in full.arms})
    lrs = sorted({value(n, "lr") for n in full.arms})
    l2s = sorted({value(n, "l2") for n in full.arms})
    scales = sorted({value(n, "init_scale") for n in full.arms})
    fig, axes = plt.subplots(1, len(scales), figsize=(4.2 * len(scales), 3.6), squeeze=False)
    for ax, scale in zip(axes[0], scales):
        grid = np.full((len(l2s), len(lrs)), np.nan)
        for n in full.arms:
            if value(n, "init_scale") == scale:
                alive = results[f"{n}/diverged_at"] < 0
                v = results[f"{n}/val_acc"][alive, -1]
                grid[l2s.index(value(n, "l2")), lrs.index(value(n, "lr"))] = v.mean() if v.size else np.nan
                if n == chosen:
                    ax.add_patch(plt.Rectangle((lrs.index(value(n, "lr")) - 0.5, l2s.index(value(n, "l2")) - 0.5),
                                               1, 1, fill=False, ec="red", lw=2))
        im = ax.imshow(grid, origin="lower", cmap="viridis", vmin=np.nanmin(grid), vmax=np.nanmax(grid))
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7, color="white")
        ax.set(xticks=range(len(lrs)), xticklabels=[f"{v:g}" for v in lrs], yticks=range(len(l2s)),
               yticklabels=[f"{v:g}" for v in l2s], xlabel="learning rate", ylabel="L2",
               title=f"init scale {scale:g}")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"Validation accuracy (mean over {full.seeds} seeds); red: chosen ({chosen}), the only setting tested")
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "validation_surface.png"), dpi=100)
    plt.close(fig)
    return [("Validation surface", "figures/validation_surface.png")]


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _markdown(full, summary, figures, meta) -> str:
    lines = [f"# {full.study}: report", ""]
    if meta:
        lines += [f"{len(full.arms)} arms x {full.seeds} seeds on `{full.data.name}`; wall time "
                  f"{meta.get('wall_seconds', float('nan')):.0f} s on {len(meta.get('devices', []))} device(s).", ""]
    if summary["claims"]:
        lines += ["## Claims", "", _row(["claim", "source", "measured (95% CI)", "holds"]),
                  _row(["---"] * 4)]
        for c in summary["claims"]:
            s = {"mean": c["measured"], "ci_low": c["ci_low"], "ci_high": c["ci_high"]}
            s = {k: (float("nan") if v is None else v) for k, v in s.items()}
            lines.append(_row([f"`{c['id']}`: {c['claim']}", c["source"], stats.fmt(s),
                               "yes" if c["holds"] else "**no**"]))
        lines.append("")
    if "target_accuracy" not in summary:
        return "\n".join(lines + _analysis_table(summary["arms"]) + _figure_lines(figures))
    target = summary["target_accuracy"]
    lines += ["## Arms", "", _row(["arm", "final val acc", "test acc (once)", f"steps to {target:.0%}",
                                    "reached", "diverged"]), _row(["---"] * 6)]
    for name, a in summary["arms"].items():
        lines.append(_row([name, stats.fmt(a["final_val_acc"]), stats.fmt(a["test_acc"]),
                           stats.fmt(a["steps_to_target"], 0), f"{a['n_reached_target']}/{a['n_seeds']}",
                           a["n_diverged"]]))
    lines += ["", "Means over seeds with Student-t 95% intervals; diverged seeds are counted, not averaged. "
              "Steps to target average over the seeds that reached it. The test split is evaluated once per "
              "arm, after training; selection never sees it.", ""]
    return "\n".join(lines + _figure_lines(figures))


def _figure_lines(figures) -> list[str]:
    lines = []
    for title, path in figures:
        lines += [f"## {title}", "", f"![{title}]({path})", ""]
    return lines


def _analysis_table(arms: dict) -> list[str]:
    metrics = [k for k, v in next(iter(arms.values())).items() if isinstance(v, dict)]
    lines = ["## Arms", "", _row(["arm", *metrics, "seeds"]), _row(["---"] * (len(metrics) + 2))]
    for name, a in arms.items():
        lines.append(_row([name, *(stats.fmt(a[m], 4) for m in metrics), a["n_seeds"]]))
    return lines + ["", "Means over seeds with Student-t 95% intervals.", ""]


def build(workdir: str) -> dict:
    full = ml_collections.ConfigDict(files.read_json(os.path.join(workdir, "config.json")))
    results = files.read_npz(os.path.join(workdir, "metrics.npz"))
    meta_path = os.path.join(workdir, "meta.json")
    meta = files.read_json(meta_path) if os.path.exists(meta_path) else {}
    fig_dir = os.path.join(workdir, "figures")
    if full.study in ANALYSES:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(fig_dir, exist_ok=True)
        study = config_lib.analysis_module(full.study)
        summary = {"arms": study.summary(full, results), "claims": study.claims(full, results)}
        figures = study.figures(full, results, fig_dir, plt)
    else:
        summary = summarize(full, results)
        summary["claims"] = claims_lib.for_study(full, results, summary)
        figures = _figures(full, results, fig_dir)
    files.write_json(os.path.join(workdir, "summary.json"), summary)
    files.write_text(os.path.join(workdir, "report.md"), _markdown(full, summary, figures, meta))
    return summary
