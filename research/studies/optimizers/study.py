"""Note 003's update rules: trajectories on 2-D surfaces (no data) and MNIST training per rule.

``compute`` trains every arm through the engine, then runs the rules on the quadratic and the
Rosenbrock surfaces (:mod:`research.studies.optimizers.surfaces`).
"""

from __future__ import annotations

import os

import numpy as np

from research.engine import defaults, stats
from research.engine.claims import arm_value, claim, diverged, margins, margins_param
from research.studies import sourced
from research.studies.optimizers import surfaces as so
from research.studies.optimizers.config import MARGINS

PARAMS = {"margins": margins_param(MARGINS),  # verdict margins, set in config.py
          # the arm table's accuracy target per data source (not a claim's); set in config.py
          "targets": ({}, sourced.table_rule("the arm table's accuracy target"))}

TRAINS = True  # compute trains through ctx.train: every arm's program is checked before anything is written
SPLITS = True  # data is read only through ctx.train: data.split_seeds may resample the split per seed


def compute(ctx) -> dict:
    target = sourced.target_for(ctx)  # the table's entry for the data read: refused before training if missing
    results = ctx.train()
    results.update(so.compute(ctx.keys))
    results[sourced.TARGET] = target
    return results


def summary(full, results) -> dict:
    """The default per-arm summary, steps to the target the run used (the config's table, per data source)."""
    return defaults.summary(sourced.with_target(full, results), results)


def best_rate_arms(full, results) -> dict[str, str]:
    """Per update rule, its arm with the lowest mean final *validation* loss over the seeds that did
    not diverge (selection never looks at training loss or the test split); a rate most of whose
    seeds diverged is never chosen."""
    best: dict[str, tuple[float, str]] = {}
    for name in full.arms:
        alive = results[f"{name}/diverged_at"] < 0
        loss = results[f"{name}/val_loss"][alive, -1]
        mostly_diverged = (~alive).sum() * 2 > alive.size
        score = float(np.mean(loss)) if loss.size and np.all(np.isfinite(loss)) and not mostly_diverged else np.inf
        rule = arm_value(full, name, "train", "optimizer")
        if rule not in best or score < best[rule][0]:
            best[rule] = (score, name)
    return {rule: name for rule, (_, name) in best.items()}


def claims(full, results) -> list:
    """Note 003: momentum keeps going where SGD zig-zags."""
    out = []
    m = margins(full, MARGINS)
    sgd_q, mom_q = results.get("quadratic/sgd/steps"), results.get("quadratic/momentum/steps")
    if sgd_q is not None and mom_q is not None:
        ratio = stats.mean_ci(sgd_q.min(axis=1) / mom_q.min(axis=1))
        out.append(claim("optimizers.momentum_faster_quadratic",
                         "momentum reaches f - f* < 1e-6 on an ill-conditioned quadratic (condition 50) in fewer "
                         f"steps than SGD, each at its best rate (step ratio SGD / momentum, per start; holds if the "
                         f"CI's lower end is above {m['quadratic_min_ratio']:g})",
                         "note 003", ratio, ratio["ci_low"] > m["quadratic_min_ratio"]))
    best = best_rate_arms(full, results)
    if "sgd" in best and "momentum" in best:
        gap = stats.mean_ci(results[f"{best['sgd']}/train_loss"][:, -1] - results[f"{best['momentum']}/train_loss"][:, -1])
        out.append(claim("optimizers.momentum_beats_sgd_mnist",
                         "on the image data (the report's first line names it) momentum ends a fixed budget "
                         "at a lower training loss than SGD, each at its best "
                         f"validation rate ({best['momentum']} vs {best['sgd']}; loss difference SGD - momentum; "
                         f"holds if the CI's lower end is above {m['mnist_min_loss_gap']:g} and no momentum run "
                         "diverged)", "note 003", gap,
                         gap["ci_low"] > m["mnist_min_loss_gap"] and diverged(results, best["momentum"]) == 0,
                         diverged(results, best["sgd"], best["momentum"])))
    return out


def figures(full, results, fig_dir, plt) -> list:
    out = defaults.figures(sourced.with_target(full, results), results, fig_dir, plt)
    if "quadratic/sgd/path" in results:
        out += _optimizer_figures(full, results, fig_dir, plt)
    return out


def _optimizer_figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
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

    best = best_rate_arms(full, results)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rule, name in best.items():
        stats.band(ax, results["steps"], results[f"{name}/train_loss"], label=name)
    ax.set(yscale="log", xlabel="minibatch step", ylabel="training loss",
           title=f"Training loss: each rule at its best validation rate (95% CI over {full.seeds} seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "mnist_loss.png"), dpi=100)
    plt.close(fig)
    return [("Trajectories on the quadratic and Rosenbrock surfaces", "figures/trajectories.png"),
            ("Training loss per rule (the data the report's first line names)", "figures/mnist_loss.png")]
