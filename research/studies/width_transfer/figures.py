"""The width_transfer study's figures: validation loss vs learning rate, one curve per width, per
parametrization, with each width's best rate and its bootstrap interval (Tensor Programs V, Figure
1), and the coordinate-check panels (size and per-step change of every layer vs width)."""

from __future__ import annotations

import math
import os

import numpy as np

from research.studies.width_transfer import coord


def figures(full, results, fig_dir, plt) -> list:
    """The transfer figure and the coordinate-check panels (the Study interface's ``figures``)."""
    return _transfer_figure(full, results, fig_dir, plt) + _coord_figures(full, results, fig_dir, plt)


def _transfer_figure(full, results, fig_dir, plt) -> list:
    from research.studies.width_transfer import study as wt  # selection lives with the claims

    names, widths, lrs = list(full.arms), results["widths"], results["log2_lrs"]
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(4.8 * (len(names) + 1), 4.2), squeeze=False)
    chance = math.log(full.num_classes)
    finite = [wt.final_losses(results, n, math.nan) for n in names]
    lo = min(float(np.nanmin(f)) for f in finite if np.isfinite(f).any()) if any(np.isfinite(f).any() for f in finite) else 0.0
    for ax, n, losses in zip(axes[0], names, finite):
        best = wt.best_index(wt.final_losses(results, n))
        dead = (results[f"{n}/diverged_at"] >= 0).sum(axis=0)
        for k, w in enumerate(widths):
            color = cmap(k / max(1, len(widths) - 1))
            mean = coord.mean_alive(losses[:, k])
            ax.plot(lrs, mean, "-o", ms=3, color=color, label=f"width {int(w)}")
            if np.isfinite(best[k]):
                ax.plot(lrs[int(best[k])], mean[int(best[k])], "*", ms=12, color=color, mec="black", mew=0.5)
            for i in np.flatnonzero(dead[k]):
                y = mean[i] if np.isfinite(mean[i]) else chance
                ax.annotate(f"{dead[k][i]}d", (lrs[i], min(y, chance)), fontsize=6, color=color)
        ax.set(title=f"{n} ({wt._param(full, n)}{', BN' if full.arms[n].model.batchnorm else ''})", xlabel="log2 learning rate",
               ylabel="final validation loss", ylim=(0.9 * lo, chance))
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    for j, n in enumerate(names):
        r = wt.best_rates(full, results, n)
        mean = np.array([x["mean"] for x in r])
        err = np.array([[x["mean"] - x["ci_low"], x["ci_high"] - x["mean"]] for x in r]).T
        ax.errorbar(np.log2(widths) + 0.05 * (j - (len(names) - 1) / 2), mean, yerr=np.nan_to_num(err), fmt="-o",
                    capsize=3, label=n)
    ax.set(title="best rate per width (95% bootstrap CI)", xlabel="log2 width", ylabel="best log2 learning rate",
           yticks=lrs)
    ax.legend(fontsize=8)
    fig.suptitle(f"{full.params.depth}-hidden-layer ReLU MLP, SGD batch {full.train.batch_size}, {full.train.epochs} "
                 f"epochs: final validation loss (mean over {full.seeds} seeds; star: best; 'Nd': N seeds diverged)")
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "lr_transfer.png"), dpi=100)
    plt.close(fig)
    return [("Validation loss vs learning rate, one curve per width (Tensor Programs V, Figure 1)",
             "figures/lr_transfer.png")]


def _coord_figures(full, results, fig_dir, plt) -> list:
    names, widths = list(full.arms), results["widths"]
    out = []
    for key, what in (("coord_rms", "size (RMS) of each layer's output"),
                      ("coord_delta", "per-step change (RMS of h_t - h_(t-1))")):
        n_layers = results[f"{names[0]}/{key}"].shape[3]
        fig, axes = plt.subplots(len(names), n_layers, figsize=(3.2 * n_layers, 2.8 * len(names)), squeeze=False)
        for r, n in enumerate(names):
            v = results[f"{n}/{key}"]
            v = np.where((results[f"{n}/coord_diverged_at"] >= 0)[:, :, None, None], np.nan, v)
            steps = v.shape[2]
            cmap = plt.get_cmap("plasma")
            for l, lname in enumerate(coord.layer_names(n_layers)):
                ax = axes[r, l]
                for t in range(steps):
                    label = f"t={t if key == 'coord_rms' else t + 1}"
                    ax.plot(widths, coord.mean_alive(v[:, :, t, l]), "-o", ms=3, color=cmap(t / max(1, steps)), label=label)
                ax.set(xscale="log", yscale="log", title=f"{n}: {lname}", xlabel="width")
                ax.set_xticks(widths, [str(int(w)) for w in widths])
                ax.minorticks_off()
                if l == 0:
                    ax.legend(fontsize=6)
        fig.suptitle(f"Coordinate check: {what} vs width, SGD at lr 2^{full.params.coord_log2_lr:g}, "
                     f"mean over {full.seeds} seeds (flat: width-independent)")
        fig.tight_layout()
        path = f"figures/{key}.png"
        fig.savefig(os.path.join(fig_dir, os.path.basename(path)), dpi=100)
        plt.close(fig)
        out.append((f"Coordinate check: {what}", path))
    return out
