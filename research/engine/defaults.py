"""What a study gets for every member of the Study interface it does not define.

The default study trains every arm x seed through the engine (``ctx.train()``), summarizes each
arm's final validation and test accuracy, steps to the target accuracy and divergence, draws
validation accuracy during training and the activations at initialization, and opens the sealed
test split for every arm.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from research.engine import claims as claims_lib, stats

TRAINS = True  # as a study of its own (config.DEFAULT_STUDY): compute trains every arm


def compute(ctx) -> dict:
    """Train every arm x seed: resumable, checkpointed, the test split opened once per arm."""
    return ctx.train()


def compute_from(measure):
    """The ``compute`` of a study that measures without training: ``measure(full, keys)``."""
    return lambda ctx: measure(ctx.full, ctx.keys)


def summary_from(arm_summary):
    """The ``summary`` of a study whose summary is one row per arm: ``{"arms": arm_summary(...)}``."""
    return lambda full, results: {"arms": arm_summary(full, results)}


def arms_to_test(full, val: dict) -> set:
    """Every arm's test split is opened (once, after training)."""
    return set(val)


def summary(full, results: dict[str, np.ndarray]) -> dict:
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
            # interquartile mean with a percentile bootstrap interval (fixed key: same arrays, same numbers)
            "final_val_acc_iqm": stats.bootstrap_ci(val[alive, -1], jax.random.key(0)),
            "test_acc": stats.mean_ci(results[f"{name}/test_acc"][alive]),
            "final_train_loss": stats.mean_ci(results[f"{name}/train_loss"][alive, -1]),
            "steps_to_target": stats.mean_ci(first[alive]),
            "n_reached_target": int(reached[alive].any(axis=1).sum()),
        }
    return {"target_accuracy": target, "arms": arms}


def _activation(full, name):
    return full.arms[name].model.activation


def figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    """Validation accuracy per activation (mean and 95% band over seeds), and every arm's hidden-layer
    outputs at initialization when the run kept them."""
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

    return out + init_histograms(full, results, fig_dir, plt,
                                 {act: [n for n in full.arms if _activation(full, n) == act] for act in acts})


def init_histograms(full, results, fig_dir, plt, groups: dict) -> list[tuple[str, str]]:
    """One figure per group (``{label: arm names}``): every arm's hidden-layer outputs at
    initialization, one row per arm that kept them (``"<arm>/init_act_samples"``)."""
    out = []
    for label, all_names in groups.items():
        names = [n for n in all_names if f"{n}/init_act_samples" in results]
        if not names:
            continue
        n_layers = results[f"{names[0]}/init_act_samples"].shape[1]
        fig, axes = plt.subplots(len(names), n_layers, figsize=(2.6 * n_layers, 1.9 * len(names)), squeeze=False)
        for i, name in enumerate(names):
            samples = results[f"{name}/init_act_samples"]
            stds = results[f"{name}/init_act_std"].mean(axis=0)
            for l in range(n_layers):
                ax = axes[i, l]
                ax.hist(samples[:, l].ravel(), bins=full.eval.hist_bins, color="C0", histtype="stepfilled")  # one polygon, not a patch a bin
                ax.set_yticks([])
                ax.set_title(f"layer {l + 1}  std {stds[l]:.2g}", fontsize=8)
                if l == 0:
                    ax.set_ylabel(name, fontsize=8)
        fig.suptitle(f"{label}: hidden-layer outputs at initialization (one batch, {samples.shape[0]} seeds pooled)")
        fig.tight_layout()
        path = f"figures/init_activations_{label}.png"
        fig.savefig(os.path.join(fig_dir, os.path.basename(path)), dpi=100)
        plt.close(fig)
        out.append((f"Activations at initialization ({label})", path))
    return out
