"""The init study's figures: validation accuracy and the fraction of seeds at the target accuracy
(Kaplan-Meier) per family of arms, each arm against its own evaluation steps (the engine's default
figure assumes one step axis for every arm; here the sigmoid arms train longer), and the hidden
layers' outputs at initialization."""

from __future__ import annotations

import os

import numpy as np

from research.engine import defaults, stats


def _families(full):
    from research.studies.init_study.study import family

    out: dict = {}
    for n in full.arms:
        out.setdefault(family(full, n), []).append(n)
    return out


def figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    from research.studies.init_study.study import steps_of, time_to_target

    fams = _families(full)
    target = full.eval.target_accuracy
    fig, axes = plt.subplots(2, len(fams), figsize=(6 * len(fams), 8), squeeze=False)
    for j, (fam, names) in enumerate(fams.items()):
        ax, km = axes[0, j], axes[1, j]
        for name in names:
            alive = results[f"{name}/diverged_at"] < 0
            line = stats.band(ax, steps_of(results, name), results[f"{name}/val_acc"][alive], label=name)
            times, reached = time_to_target(results, name, target)
            budget = steps_of(results, name)[-1]
            at, frac = stats.kaplan_meier(times, reached)
            km.step(np.concatenate([[0], at, [budget]]), np.concatenate([[0], frac, [frac[-1] if frac.size else 0]]),
                    where="post", color=line.get_color(), label=f"{name} ({int(reached.sum())}/{reached.size})")
        ax.axhline(target, color="grey", ls=":", lw=1)
        ax.set(title=f"{fam}: validation accuracy (mean, 95% CI over {full.seeds} seeds)", xlabel="minibatch step",
               ylabel="accuracy", ylim=(0, 1))
        km.axhline(0.5, color="grey", ls=":", lw=1)
        km.set(title=f"{fam}: seeds at {target:g} (Kaplan-Meier, censored at budget)",
               xlabel="minibatch step", ylabel="fraction reached", ylim=(0, 1.02))
        ax.legend(fontsize=7)
        km.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "val_accuracy.png"), dpi=100)
    plt.close(fig)
    return [("Validation accuracy and time to the target during training", "figures/val_accuracy.png")] + \
        defaults.init_histograms(full, results, fig_dir, plt, fams)
