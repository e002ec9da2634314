"""The ``weight_scale`` study (CS231n's BatchNormalization exercise, "batch normalization and
initialization"): a deep ReLU net trained from weights N(0, scale^2) at ``params.n_scales`` scales
log-spaced from 10^``log10_scale_min`` to 10^``log10_scale_max``, with and without BatchNorm.

Each arm (one per BatchNorm setting) is one compiled program over scales x seeds: the study
derives one arm per (arm, scale) with ``train.init_scale`` set and trains them through the engine
(``ctx.train``; resumable, checkpointed). The arm's weight_init is ``normal`` with std 1 and the
traced init scale multiplies it, so the weights are scale * N(0, 1).
Seed ``s`` uses the same key at every scale and in both arms (same minibatch order, same weight
directions): comparisons are paired. Recorded per run: validation accuracy at every evaluation,
the mean training loss of the last evaluation segment, and the final training accuracy and loss
on the whole training split (eval mode, from the final parameters).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from research.engine import config as config_lib, defaults, stats
from research.lib import losses, mlp
from research.engine.claims import claim, diverged, margins, margins_param
from research.studies.weight_scale.config import MARGINS

PARAMS = {
    "n_scales": (20, config_lib.integer(2)),
    "log10_scale_min": (-4.0, config_lib.number(-8, 2, hi_open=False)),
    "log10_scale_max": (0.0, config_lib.number(-8, 2, hi_open=False)),
    "margins": margins_param(MARGINS),  # verdict margins, set in config.py
}


def scales(full) -> np.ndarray:
    p = full.params
    if p.log10_scale_max <= p.log10_scale_min:
        raise config_lib.ConfigError(
            f"config.params.log10_scale_max={p.log10_scale_max!r} is invalid; accepted: a number above "
            f"log10_scale_min={p.log10_scale_min!r}")
    return np.logspace(p.log10_scale_min, p.log10_scale_max, p.n_scales)


TRAINS = True  # compute trains through ctx.train: every arm's program is checked before anything is written


def scale_arm(name: str, i: int) -> str:
    """The derived arm training ``name`` at the ``i``-th weight scale (no dots: a config key)."""
    return f"{name}@scale{i:02d}"


def compute(ctx) -> dict[str, np.ndarray]:
    """Every (arm, scale) trained through the engine as a derived arm (``train.init_scale`` set),
    arms of one BatchNorm setting in one compiled program; the final parameters' accuracy and loss
    on the whole training split are measured by the engine's finish hook."""
    full = ctx.full
    sc = scales(full)
    overrides = {name: full.arms[name].overrides_dict() for name in full.arms}
    grid = {scale_arm(name, i): {"model": overrides[name].get("model", {}),
                                 "train": dict(overrides[name].get("train", {}), init_scale=float(s))}
            for name in full.arms for i, s in enumerate(sc)}

    def finish(derived, params, bn_state, data):
        arm = full.arms[derived.split("@")[0]]
        spec = arm.spec
        x, y = data[0], data[1]

        def on_train(params, bn_state):
            logits, _ = mlp.apply(params, bn_state, x, spec, train=False)
            return jnp.mean((jnp.argmax(logits, -1) == y).astype(logits.dtype)), losses.get(arm.train.loss)(logits, y)

        acc, loss = jax.jit(jax.vmap(on_train))(params, bn_state)
        return {"train_acc": np.asarray(acc, np.float64), "train_loss_final": np.asarray(loss, np.float64)}

    res = ctx.train(grid, finish=finish)
    out = {"scales": sc}
    for name in full.arms:
        per_scale = lambda key: np.stack([np.asarray(res[f"{scale_arm(name, i)}/{key}"]) for i in range(len(sc))], axis=1)
        out[f"{name}/val_acc"] = per_scale("val_acc").astype(np.float64)       # (seeds, scales, evals)
        out[f"{name}/train_loss"] = per_scale("train_loss").astype(np.float64)
        out[f"{name}/train_acc"] = per_scale("train_acc")                        # (seeds, scales)
        out[f"{name}/train_loss_final"] = per_scale("train_loss_final")
        out[f"{name}/diverged_at"] = per_scale("diverged_at")
        out[f"{name}/batchnorm"] = np.asarray(bool(full.arms[name].model.batchnorm))
    return out


def _alive(results, name):
    return results[f"{name}/diverged_at"] < 0  # (seeds, scales)


def _masked(results, name, key):
    """``key``'s final value per (seed, scale), NaN where the run diverged (left out of means)."""
    v = results[f"{name}/{key}"]
    v = v[..., -1] if v.ndim == 3 else v
    return np.where(_alive(results, name), v, np.nan)


def _threshold(full, results) -> float:
    """``margins.reach_fraction`` (0.5) x the best mean final validation accuracy over every arm and
    scale: a run "trains" when its final validation accuracy reaches it."""
    best = max(np.nanmax(np.nanmean(_masked(results, n, "val_acc"), axis=0)) for n in full.arms)
    return margins(full, MARGINS)["reach_fraction"] * float(best)


def reaching(full, results, name) -> np.ndarray:
    """Per seed: how many scales end at or above the threshold (a diverged run does not)."""
    return np.sum(np.nan_to_num(_masked(results, name, "val_acc"), nan=-1.0) >= _threshold(full, results), axis=1)


def _pair(full, results):
    bn = [n for n in full.arms if bool(results[f"{n}/batchnorm"])]
    plain = [n for n in full.arms if not bool(results[f"{n}/batchnorm"])]
    return (bn[0] if bn else None), (plain[0] if plain else None)


def claims(full, results) -> list:
    bn, plain = _pair(full, results)
    if bn is None or plain is None:
        return []
    n_sc = len(results["scales"])
    diff = reaching(full, results, bn).astype(np.float64) - reaching(full, results, plain)
    s = stats.mean_ci(diff)
    counts = {n: stats.mean_ci(reaching(full, results, n)) for n in (bn, plain)}
    m = margins(full, MARGINS)
    return [claim("weight_scale.bn_robust",
                  f"BatchNorm makes training robust to the weight scale: more of the {n_sc} scales in "
                  f"[{results['scales'][0]:.0e}, {results['scales'][-1]:.0e}] reach {m['reach_fraction']:g} x the "
                  f"best final validation accuracy ({_threshold(full, results):.3f}) with BN "
                  f"({counts[bn]['mean']:.1f} of {n_sc}) than without ({counts[plain]['mean']:.1f}); measured: count "
                  f"with BN - count without, paired by seed; holds if the interval is above "
                  f"{m['bn_robust_min_gap']:g}", "CS231n assignment 2, BatchNormalization.ipynb; Ioffe & "
                  "Szegedy 2015", s, s["ci_low"] > m["bn_robust_min_gap"], diverged(results, bn, plain))]


def arm_summary(full, results) -> dict:
    out = {}
    thr = _threshold(full, results)
    for name in full.arms:
        val, tr_acc = _masked(results, name, "val_acc"), _masked(results, name, "train_acc")
        tr_loss = _masked(results, name, "train_loss_final")
        alive = _alive(results, name)
        for k, scale in enumerate(results["scales"]):
            out[f"{name}@{scale:.2e}"] = {
                "final_val_acc": stats.mean_ci(val[:, k]),
                "train_acc": stats.mean_ci(tr_acc[:, k]),
                "train_loss": stats.mean_ci(tr_loss[:, k]),
                "reaches_half_best": stats.mean_ci(np.where(alive[:, k], val[:, k] >= thr, 0.0)),
                "n_seeds": int(alive.shape[0]),
                "n_diverged": int((~alive[:, k]).sum()),
            }
    return out


def figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    sc = results["scales"]
    panels = (("val_acc", "final validation accuracy"), ("train_acc", "final training accuracy"),
              ("train_loss_final", "final training loss"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name in full.arms:
        label = f"{name} ({'BN' if bool(results[f'{name}/batchnorm']) else 'no BN'})"
        for ax, (key, _) in zip(axes, panels):
            line = stats.band(ax, sc, _masked(results, name, key), marker="o", ms=3, label=label)
            mean = line.get_ydata()  # the seed means the line was drawn through
            dead = (~_alive(results, name)).sum(axis=0)
            for k in np.flatnonzero(dead):
                ax.annotate(f"{dead[k]}d", (sc[k], np.nan_to_num(mean[k])), fontsize=6, color=line.get_color())
    thr = _threshold(full, results)
    axes[0].axhline(thr, color="grey", ls=":", lw=1)
    axes[0].text(sc[0], thr, f" {margins(full, MARGINS)['reach_fraction']:g} x the best", fontsize=8, color="grey",
                 va="bottom")
    for ax, (key, title) in zip(axes, panels):
        ax.set(xscale="log", xlabel="weight scale (weights scale * N(0, 1))", title=title)
        if key == "train_loss_final":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{len(full.model.hidden) + 1}-layer ReLU net vs weight scale; 95% CI over {full.seeds} seeds "
                 f"(diverged runs left out, 'Nd' = N diverged)")
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/weight_scale.png", dpi=100)
    plt.close(fig)
    return [("Accuracy and loss against the weight scale, BN vs no BN", "figures/weight_scale.png")]


summary = defaults.summary_from(arm_summary)
