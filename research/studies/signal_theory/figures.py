"""The ``signal_theory`` study's figures: length map, correlation map, depth scale, chi1 near the
order-to-chaos boundary and the (sigma_w2, sigma_b2) phase diagram, theory beside measurement."""

from __future__ import annotations

import math

import numpy as np

from research.engine import stats
from research.studies.signal_theory.measure import _critical_measured, _fit_window, _xi_measured


def figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    p = full.params
    names = list(full.arms)
    layers = results["layers"]
    figs = []

    # 1. Length map: q^l against layer, theory lines and measured means (95% CI over seeds).
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        qm, qt = results[f"{name}/q_measured"], results[f"{name}/q_theory"]
        for i, s in enumerate(p.length_sigma_w2):
            for j, q0 in enumerate(p.input_q0):
                line = stats.band(ax, layers, qm[:, i, j], label=f"sigma_w2={s:g}" if j == 0 else None, color=f"C{i}",
                                  marker="o", ms=2.5, ls="none")
                ax.plot(layers, qt[i, j], color=line.get_color(), lw=1)
        ax.set(yscale="log", xlabel="layer l", ylabel="q^l = E[h^2]",
               title=f"{name}: length map, sigma_b2={p.sigma_b2:g}; lines theory, dots measured")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/length_map.png", dpi=100)
    plt.close(fig)
    figs.append(("Length map: theory (lines) vs measured E[h^2] (dots, 95% CI)", "figures/length_map.png"))

    # 2. Correlation map: the one-layer map at q* and the measured (c^l, c^{l+1}) pairs; c^l by layer.
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 4.5 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        gm, gt = results[f"{name}/gap_measured"].mean(0), results[f"{name}/gap_theory"]
        for i, s in enumerate(p.corr_sigma_w2):
            color = f"C{i}"
            row[0].plot(results["cmap_c"], results[f"{name}/cmap_theory"][i], color=color, lw=1,
                        label=f"sigma_w2={s:g}")
            cm = 1.0 - gm[i]
            row[0].plot(cm[:, :-1].ravel(), cm[:, 1:].ravel(), "o", ms=2.5, color=color, alpha=0.6)
            for j in range(len(p.corr_c0)):
                row[1].plot(layers, 1.0 - gt[i, j], color=color, lw=1, label=f"sigma_w2={s:g}" if j == 0 else None)
                row[1].plot(layers, cm[j], "o", ms=2, color=color)
        row[0].plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
        row[0].set(xlabel="c^l", ylabel="c^{l+1}", title=f"{name}: c-map at q* (lines; none where q* = inf),\n"
                   "measured consecutive layers (dots, seed means)")
        row[1].set(xlabel="layer l", ylabel="c^l", title=f"{name}: correlation by layer, every c0\n(lines theory, "
                   "dots seed means)")
        row[0].legend(fontsize=7)
        row[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/correlation_map.png", dpi=100)
    plt.close(fig)
    figs.append(("Correlation map and correlation by layer", "figures/correlation_map.png"))

    # 3. Depth scale: |c^l - c*| decays like exp(-l / xi_c); xi_c against sigma_w2 with the fits.
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 4.5 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        xi = _xi_measured(full, results, name)
        gap = results[f"{name}/gap_measured"]
        for i, s in enumerate(p.corr_sigma_w2):
            c_star = float(results[f"{name}/c_star"][i])
            if not math.isfinite(c_star):
                continue
            dist = (lambda g: np.abs((1.0 - g) - c_star) if c_star < 1.0 else g)
            window = _fit_window(results[f"{name}/gap_theory"][i], c_star, float(results[f"{name}/chi_c"][i]),
                                 p.corr_floor)
            for j in range(len(p.corr_c0)):
                color = f"C{i}"
                row[0].plot(layers, dist(results[f"{name}/gap_theory"][i, j]), color=color, lw=1,
                            label=f"sigma_w2={s:g}: xi_c={results[f'{name}/xi_c'][i]:.2f}, fit "
                                  f"{xi[i]['measured']['mean']:.2f}" if j == 0 else None)
                d = dist(gap[:, i, j].mean(0))
                row[0].plot(layers, d, "o", ms=2, color=color, alpha=0.35)
                row[0].plot(layers[window[j]], d[window[j]], "o", ms=3, color=color)
        row[0].set(yscale="log", xlabel="layer l", ylabel="|c^l - c*|",
                   title=f"{name}: distance to c*\n(lines theory; dots seed means, bold: fitted layers)")
        row[0].set_ylim(bottom=1e-7)
        row[0].legend(fontsize=7)
        row[1].plot(results["xi_sigma_w2"], results[f"{name}/xi_curve"], color="k", lw=1, label="theory xi_c")
        m = [x["measured"] for x in xi]
        err = np.nan_to_num(np.maximum([[v["mean"] - v["ci_low"] for v in m], [v["ci_high"] - v["mean"] for v in m]],
                                       0.0))
        row[1].errorbar(p.corr_sigma_w2, [v["mean"] for v in m], yerr=err,
                        fmt="o", color="C3", capsize=3, label="measured (jackknife 95% CI)")
        crit = float(results[f"{name}/critical_theory"])
        if math.isfinite(crit):
            row[1].axvline(crit, color="grey", ls=":", lw=1)
        row[1].set(yscale="log", xlabel="sigma_w2", ylabel="depth scale xi_c (layers)",
                   title=f"{name}: xi_c = -1/ln chi_c at sigma_b2={p.sigma_b2:g}")
        row[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/depth_scale.png", dpi=100)
    plt.close(fig)
    figs.append(("Depth scale: decay of |c^l - c*| and xi_c against sigma_w2", "figures/depth_scale.png"))

    # 4. chi1 on the critical grid: theory vs measured, and the two roots.
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.2), squeeze=False)
    grid = np.asarray(p.critical_grid)
    for ax, name in zip(axes[0], names):
        ax.plot(results["xi_sigma_w2"], results[f"{name}/chi1_curve"], color="k", lw=1, label="theory chi1(q*)")
        stats.band(ax, grid, results[f"{name}/chi1_measured"], label="measured (95% CI)", color="C3", marker="o", ms=3)
        crit = stats.mean_ci(_critical_measured(full, results, name))
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.axvline(float(results[f"{name}/critical_theory"]), color="k", ls=":", lw=1,
                   label=f"theory root {float(results[f'{name}/critical_theory']):.4f}")
        if math.isfinite(crit["mean"]):
            ax.axvspan(crit["ci_low"], crit["ci_high"], color="C3", alpha=0.2,
                       label=f"measured root {crit['mean']:.4f} [{crit['ci_low']:.4f}, {crit['ci_high']:.4f}]")
        ax.set(xlim=(grid[0] - 0.1, grid[-1] + 0.1), xlabel="sigma_w2", ylabel="chi1",
               title=f"{name}: chi1 at sigma_b2={p.sigma_b2:g}")
        lo, hi = np.nanmin(results[f"{name}/chi1_measured"]), np.nanmax(results[f"{name}/chi1_measured"])
        ax.set_ylim(min(lo, 0.95) - 0.02, max(hi, 1.05) + 0.02)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/chi1.png", dpi=100)
    plt.close(fig)
    figs.append(("chi1 near the boundary: theory vs measured perturbation growth", "figures/chi1.png"))

    # 5. Phase diagram over (sigma_w2, sigma_b2).
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 4.5 * len(names)), squeeze=False)
    w, bgrid = results["phase_sigma_w2"], results["phase_sigma_b2"]
    for row, name in zip(axes, names):
        chi = results[f"{name}/phase_chi1"]
        im = row[0].pcolormesh(w, bgrid, np.log(chi), cmap="RdBu_r", shading="nearest",
                               vmin=-np.nanmax(np.abs(np.log(chi))), vmax=np.nanmax(np.abs(np.log(chi))))
        fig.colorbar(im, ax=row[0], label="ln chi1 (< 0 ordered, > 0 chaotic)")
        xi = np.log10(np.clip(results[f"{name}/phase_xi"], 1e-3, 1e3))
        im = row[1].pcolormesh(w, bgrid, xi, cmap="viridis", shading="nearest", vmin=0, vmax=2)
        fig.colorbar(im, ax=row[1], label="log10 xi_c (layers)")
        crit = stats.mean_ci(_critical_measured(full, results, name))
        for ax in row:
            ax.plot(results[f"{name}/phase_critical"], results["critical_sigma_b2"], color="k", lw=1.5,
                    label="chi1 = 1 (theory)")
            if math.isfinite(crit["mean"]):
                ax.errorbar([crit["mean"]], [p.sigma_b2], xerr=[[crit["mean"] - crit["ci_low"]],
                                                                [crit["ci_high"] - crit["mean"]]],
                            fmt="o", color="orange", ms=4, capsize=3, label="measured boundary")
            ax.set(xlabel="sigma_w2", ylabel="sigma_b2", xlim=(w[0], w[-1]), ylim=(bgrid[0], bgrid[-1]))
            ax.legend(fontsize=7, loc="upper left")
        row[0].set_title(f"{name}: ordered vs chaotic (chi1 at q*)")
        row[1].set_title(f"{name}: depth scale xi_c (white: undefined)")
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/phase_diagram.png", dpi=100)
    plt.close(fig)
    figs.append(("Phase diagram over (sigma_w2, sigma_b2)", "figures/phase_diagram.png"))
    return figs
