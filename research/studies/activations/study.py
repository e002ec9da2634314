"""The ``activations`` study (note 004's figure, CS231n's experiment): a deep net at init, no training.

Inputs N(0, 1) of shape (data.n, data.dim) go through ``model.hidden`` layers under each arm's
activation and init; per seed and layer we keep the mean, the standard deviation, the second
moment E[h^2], the fraction of saturated units (|h| > 0.99) and a subsample for histograms.
"""

from __future__ import annotations

import inspect

import jax
import numpy as np

from research.engine import config as config_lib, data as data_lib, defaults, keys as keys_lib, stats
from research.lib import initializers, mlp, probes
from research.engine.claims import arm_value, claim, margins, margins_param, weakest
from research.studies.activations.config import MARGINS, default_arms  # default_arms: re-exported

PARAMS = {"margins": margins_param(MARGINS)}  # verdict margins, set in config.py

HIST, SATURATED = probes.HIST, probes.SATURATED
layer_stats = probes.layer_stats


def measure(full, keys) -> dict[str, np.ndarray]:
    x = data_lib.gaussian(jax.random.key(full.data.split_seed), full.data.n, full.data.dim)
    out = {"layers": np.arange(1, len(full.model.hidden) + 1)}
    for name in full.arms:
        arm = full.arms[name]
        spec = arm.spec

        def one(k, spec=spec):
            params, _ = mlp.init(keys_lib.stream(k, "init"), spec)
            return layer_stats(spec, params, [], x, keys_lib.stream(k, "probe"))

        res = jax.jit(jax.vmap(one))(keys)
        for k, v in res.items():
            v = np.asarray(v)
            out[f"{name}/{k}"] = v[: max(full.eval.hist_seeds, 1)] if k == "act_samples" else v
    return out


def _find(full, activation, init, **required):
    """The first arm with this activation and init whose init arguments, defaults filled in, are
    the scheme's defaults updated with ``required`` (so ``normal`` means N(0, 1) unless asked)."""
    defaults_of = {k: p.default for k, p in inspect.signature(initializers.REGISTRY[init]).parameters.items()}
    for name in full.arms:
        kwargs = dict(config_lib.plain(arm_value(full, name, "model", "weight_init_kwargs")))
        if arm_value(full, name, "model", "activation") == activation and \
                arm_value(full, name, "model", "weight_init") == init and \
                {**defaults_of, **kwargs} == {**defaults_of, **required}:
            return name
    return None


def claims(full, results) -> list:
    out = []
    m = margins(full, MARGINS)
    src = "note 004; CS231n neural-networks-2"
    within = lambda s, lo, hi: m[lo] <= s["ci_low"] and s["ci_high"] <= m[hi]  # the whole 95% CI in [lo, hi]
    name = _find(full, "tanh", "small_random")
    if name:
        s = stats.mean_ci(results[f"{name}/act_std"][:, -1])
        out.append(claim("activations.small_random.collapse",
                         "0.01*randn init: tanh activations collapse toward 0 with depth (last-layer std < "
                         f"{m['collapse_std_max']:g}, 95% CI)", src, s, s["ci_high"] < m["collapse_std_max"]))
    name = _find(full, "tanh", "normal", stddev=1.0)
    if name:
        per_layer = results[f"{name}/act_saturated"]  # (seeds, layers)
        layers = [stats.mean_ci(per_layer[:, l]) for l in range(per_layer.shape[1])]
        k = weakest(layers, "low")  # every layer's interval is tested: the lowest lower end decides
        worst = layers[k]
        out.append(claim("activations.unit_normal.saturation",
                         f"N(0,1) init: tanh units saturate (fraction |h| > 0.99 above {m['saturation_min']:g} in "
                         f"every layer, each layer's 95% CI; shown: layer {k + 1}, whose CI's lower end is lowest)",
                         src, worst, worst["ci_low"] > m["saturation_min"]))
    name = _find(full, "tanh", "xavier_normal")
    if name:
        s = stats.mean_ci(results[f"{name}/act_std"][:, -1])
        out.append(claim("activations.xavier.tanh_healthy",
                         "Xavier init keeps tanh activations spread at depth (last-layer std in "
                         f"[{m['tanh_std_min']:g}, {m['tanh_std_max']:g}], 95% CI)",
                         "note 002; Glorot & Bengio 2010", s, within(s, "tanh_std_min", "tanh_std_max")))
    name = _find(full, "relu", "xavier_normal")
    if name:
        sq = results[f"{name}/act_sq"]
        s = stats.mean_ci(np.exp(np.mean(np.log(sq[:, 1:] / sq[:, :-1]), axis=1)))
        out.append(claim("activations.xavier.relu_halves",
                         "Xavier init with ReLU halves E[h^2] at every layer (geometric-mean ratio in "
                         f"[{m['relu_halves_min']:g}, {m['relu_halves_max']:g}], 95% CI)",
                         "He et al. 2015; note 004", s, within(s, "relu_halves_min", "relu_halves_max")))
    name = _find(full, "relu", "he_normal")
    if name:
        sq = results[f"{name}/act_sq"]
        s = stats.mean_ci(sq[:, -1] / sq[:, 0])
        out.append(claim("activations.he.relu_stable",
                         "He init keeps ReLU activations' E[h^2] stable with depth (last/first layer ratio in "
                         f"[{m['relu_stable_min']:g}, {m['relu_stable_max']:g}], 95% CI)",
                         "He et al. 2015; note 004", s, within(s, "relu_stable_min", "relu_stable_max")))
    return out


def arm_summary(full, results) -> dict:
    return {name: {"last_layer_std": stats.mean_ci(results[f"{name}/act_std"][:, -1]),
                   "last_layer_saturated": stats.mean_ci(results[f"{name}/act_saturated"][:, -1]),
                   "n_seeds": int(results[f"{name}/act_std"].shape[0]), "n_diverged": 0}
            for name in full.arms}


def figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    names = list(full.arms)
    layers = results["layers"]
    n_l = len(layers)
    fig, axes = plt.subplots(len(names), n_l, figsize=(1.7 * n_l, 1.5 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        samples = results[f"{name}/act_samples"]
        for l in range(n_l):
            ax = axes[i, l]
            ax.hist(samples[:, l].ravel(), bins=full.eval.hist_bins, color="C0")
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(f"layer {l + 1}", fontsize=8)
            if l == 0:
                ax.set_ylabel(name, fontsize=7)
    fig.suptitle("Hidden-layer outputs at initialization (inputs N(0,1))")
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/histograms.png", dpi=90)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for name in names:
        for ax, key in zip(axes, ("act_mean", "act_std")):
            stats.band(ax, layers, results[f"{name}/{key}"], marker="o", ms=3, label=name)
    axes[0].set(title="per-layer mean (95% CI over seeds)", xlabel="layer", yscale="symlog")
    axes[1].set(title="per-layer std (95% CI over seeds)", xlabel="layer", yscale="log")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/layer_stats.png", dpi=100)
    plt.close(fig)
    return [("Per-layer histograms (layers x inits)", "figures/histograms.png"),
            ("Per-layer mean and std", "figures/layer_stats.png")]


summary = defaults.summary_from(arm_summary)


compute = defaults.compute_from(measure)
