"""Note 002: tune on validation, touch the test split once, at the end.

Trains every arm through the engine; overrides ``arms_to_test`` so only the setting chosen on
validation opens the sealed test split.
"""

from __future__ import annotations

import os

import numpy as np

from research.engine import defaults, stats
from research.engine.claims import CHECK, arm_value, claim, diverged, margins, margins_param, select_by_validation
from research.studies import sourced
from research.studies.hparam_search.config import MARGINS

PARAMS = {"margins": margins_param(MARGINS),  # verdict margins, set in config.py
          # the arm table's accuracy target per data source (not a claim's); set in config.py
          "targets": ({}, sourced.table_rule("the arm table's accuracy target"))}
TRAINS = True  # compute trains through ctx.train: every arm's program is checked before anything is written
SPLITS = True  # data is read only through ctx.train (and ctx.data_source, which loads nothing)


def compute(ctx) -> dict:
    """Every setting x seed through the engine (the default compute), and the accuracy target the
    config's table gives for the data read (refused before training if the table has no entry)."""
    target = sourced.target_for(ctx)
    results = ctx.train()
    results[sourced.TARGET] = target
    return results


def summary(full, results) -> dict:
    """The default per-arm summary, steps to the target the run used (the config's table, per data source)."""
    return defaults.summary(sourced.with_target(full, results), results)


def arms_to_test(full, val: dict) -> set:
    """Only the setting chosen on validation is evaluated on the test split."""
    return {select_by_validation(val)}


def claims(full, results) -> list:
    """Note 002: tune on validation, touch the test split once, at the end."""
    chosen = select_by_validation({n: (results[f"{n}/val_acc"], results[f"{n}/diverged_at"]) for n in full.arms})
    counts = {n: int(results[f"{n}/test_evaluations"]) for n in full.arms}
    total = sum(counts.values())
    once = {"mean": float(total), "ci_low": float(total), "ci_high": float(total), "n": len(counts)}
    out = [claim("hparam_search.test_once", f"the test split is evaluated exactly once, for the setting chosen on "
                 f"validation ({chosen}); measured: test evaluations counted by the sealed split over all "
                 f"{len(counts)} settings", "note 002", once, total == 1 and counts[chosen] == 1, kind=CHECK)]
    alive = results[f"{chosen}/diverged_at"] < 0
    gap = stats.mean_ci(results[f"{chosen}/val_acc"][alive, -1] - results[f"{chosen}/test_acc"][alive])
    tol = margins(full, MARGINS)["val_test_gap_max"]
    out.append(claim("hparam_search.val_test_gap", "the chosen setting's validation accuracy overstates its test "
                     f"accuracy by little (val - test, 95% CI within +-{tol:g})", "note 002", gap,
                     -tol <= gap["ci_low"] and gap["ci_high"] <= tol, diverged(results, chosen)))
    return out


def figures(full, results, fig_dir, plt) -> list:
    return defaults.figures(sourced.with_target(full, results), results, fig_dir, plt) + _hparam_figure(
        full, results, fig_dir, plt)


def _hparam_figure(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    """Mean final validation accuracy over (lr, L2), one panel per init scale; the chosen cell ringed."""
    def value(name, key):
        return arm_value(full, name, "train", key)

    chosen = select_by_validation({n: (results[f"{n}/val_acc"], results[f"{n}/diverged_at"])
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
