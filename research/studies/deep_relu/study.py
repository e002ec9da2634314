"""The ``deep_relu`` study: He et al. 2015, "Delving deep into rectifiers", Section 2.2 and Figure 3,
on an MLP: a 30-layer ReLU net without BatchNorm, initialized with Var[w] = 1/n or 2/n (n = fan_in).

Naming. He et al. call Var[w] = 1/n_l the "Xavier" init (Glorot & Bengio's forward-only condition
n_l Var[w_l] = 1, "std sqrt(1/n_l)"); in this repo that is ``lecun_normal``. This repo's
``xavier_normal`` is Glorot's fan-average 2 / (fan_in + fan_out), which equals 1/n only on square
layers. He's init, Var[w] = 2/n_l, is ``he_normal``.

At init. For a layer y_l = x_l W_l + b_l with x_{l+1} = relu(y_l), weights i.i.d. zero-mean and
symmetric, b_l = 0, He et al.'s eqs. (7)-(10):

    Var[y_l] = n_l Var[w_l] E[x_l^2],   E[x_l^2] = 1/2 Var[y_{l-1}]
    Var[y_L] = Var[y_1] prod_{l=2}^{L} (1/2 n_l Var[w_l])

so log2(Var[y_L] / Var[y_1]) = -(L - 1) for 1/n ("Xavier": the variance halves at every layer) and
0 for 2/n. With L = 30 linear layers (29 hidden + output) that is -29 against 0. We estimate Var[y_l]
by the mean of y_l^2 over ``params.n_examples`` training inputs and all units of one network (the
weights have zero mean, so E[y_l] = 0 over weights) and report log2 of the last-over-first ratio per
seed. At finite width one net's ratio is a product of L - 1 random factors, roughly log-normal: over
seeds log2 of it spreads with sd ~1.4 at width 128 and 29 layers, and its mean sits below log2 of
the expected ratio by ~(ln 2 / 2) sd^2 ~ 0.7 (Jensen), while log2 of the seed-mean ratio stays at
the theory. Since He's weights are sqrt(2) times "Xavier"'s for the same key and ReLU is positively
homogeneous, the two arms' per-seed log2 ratios differ by exactly L - 1: one measurement, so the
finding is He's (``deep_relu.variance_ratio_he``, against the theory's 0) and "Xavier"'s is an
implementation check (``deep_relu.variance_ratio_xavier``: the shift is L - 1 to round-off).

In training. Both arms train (on the data the config names: Fashion-MNIST where installed, else
the bundled MNIST 5k) through the engine, each at its own rate chosen on separate tuning seeds from
``params.tune_lrs`` (research/engine/tuning.py) (``ctx.train``: one compiled program
for arms x seeds, paired by seed: same minibatch order; checkpointed and resumable); He et al.'s
Figure 3 has the
"Xavier" 30-layer net stall while He's converges. (He et al. trained a 30-layer conv net on
ImageNet; this is an MLP on 59,500 Fashion-MNIST images or 4,000 MNIST digits.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from research.engine import config as config_lib, keys as keys_lib, stats, train as train_lib, tuning
from research.lib import mlp
from research.engine.claims import CHANCE, CHECK, claim, diverged, final, margins, margins_param
from research.studies.deep_relu.config import MARGINS

def _grids_rule():
    ok = lambda v: isinstance(v, dict) and all(isinstance(k, str) and tuning.rates_ok(r) for k, r in v.items())
    return ok, (f"a dict {{arm: {tuning.RATES}}} (an arm left out, or an empty list: it runs at its train.lr)")


PARAMS = {
    "n_examples": (500, config_lib.integer(1)),  # training inputs for the variance measurement at init
    "margins": margins_param(MARGINS),           # verdict margins and tolerances, set in config.py
    "tune_lrs": ({}, _grids_rule()),             # each arm's rate grid, tuned on separate seeds; set in config.py
    **tuning.PARAMS,                             # tune_seeds, tune_seed
}
SOURCE = "He et al. 2015"
XAVIER, HE = "xavier", "he"
N_VAR = {XAVIER: 1.0, HE: 2.0}  # n Var[w] of each arm's init: 1/n ("Xavier"), 2/n (He)


# --- at initialization -----------------------------------------------------------------------------

def layer_second_moments(params, x, spec) -> jax.Array:
    """E[y_l^2] of every linear layer's output y_l (hidden pre-activations, then the logits), over
    the examples of ``x`` and the units: the estimate of Var[y_l] in He et al.'s eq. (10)."""
    _, _, trace = mlp.forward(params, [], x, spec, train=True)
    return jnp.stack([jnp.mean(z * z) for z in trace.z])


def log2_ratio(second_moments) -> jax.Array:
    """log2(Var[y_l] / Var[y_1]) for every layer l (the first entry is 0)."""
    return jnp.log2(second_moments) - jnp.log2(second_moments[..., :1])


def theory_log2_ratio(n_layers: int, n_var: float) -> np.ndarray:
    """He et al.'s eq. (10) with every n_l Var[w_l] = ``n_var``: log2 Var[y_l]/Var[y_1] = (l-1) log2(n_var/2)."""
    return np.arange(n_layers) * np.log2(n_var / 2.0)


def _variances(full, arm, ds, keys) -> np.ndarray:
    spec = arm.spec
    x = jnp.asarray(ds.train.x[: full.params.n_examples], jnp.dtype(arm.train.dtype))

    def one(k):
        params, _ = mlp.init(keys_lib.stream(k, "init"), spec, x.dtype)  # the init the training run starts from
        return layer_second_moments(params, x, spec)

    return np.asarray(train_lib.one_shot(jax.vmap(one), keys), np.float64)


# --- the study -----------------------------------------------------------------------------------

TRAINS = True  # compute trains through ctx.train: every arm's program is checked before anything is written


def compute(ctx) -> dict[str, np.ndarray]:
    """The variance measurement at init, then every arm trained through the engine (arms of one
    static structure share one compiled program; resumable, checkpointed)."""
    full = ctx.full
    grids = _grids(full)
    tuning.check_seed(full, grids)
    ds, keys = ctx.dataset, ctx.keys
    out = {}
    for name in full.arms:
        sq = _variances(full, full.arms[name], ds, keys)
        out[f"{name}/second_moment"] = sq
        out[f"{name}/log2_ratio"] = np.asarray(log2_ratio(sq))
    tuned = tuning.tune(ctx, grids)  # each tuned arm at every rate of its grid, on the tuning seeds
    arm_rates = tuning.rates(full, grids, tuned)
    out.update(tuned)
    for n, g in grids.items():
        out[f"{n}/tune_lrs"] = np.asarray(g, np.float64)
    trained = ctx.train({n: tuning.with_lr(full, n, arm_rates[n]) for n in full.arms})
    out.update(trained)
    for name in full.arms:
        out[f"{name}/steps"] = trained["steps"]
    out.update(tuning.rate_arrays(full, arm_rates))
    return out


def _grids(full) -> dict[str, tuple[float, ...]]:
    """``{arm: its grid}`` for every arm ``params.tune_lrs`` gives a non-empty grid."""
    table = dict(full.params.get("tune_lrs", {}))
    unknown = [n for n in table if n not in full.arms]
    if unknown:
        raise config_lib.ConfigError(f"config.params.tune_lrs names {unknown[0]!r}, not an arm; accepted: names "
                                     f"among {', '.join(full.arms)}")
    return {n: tuple(float(x) for x in table[n]) for n in full.arms if len(table.get(n, ()))}


# --- report ----------------------------------------------------------------------------------------

def _alive(results, name):
    return results[f"{name}/diverged_at"] < 0


def _ratio(results, name):
    return results[f"{name}/log2_ratio"][:, -1]


def claims(full, results) -> list:
    out = []
    m = margins(full, MARGINS)
    per_layer = m["variance_tol_per_layer"]
    if HE in full.arms:
        ratio = _ratio(results, HE)
        L = results[f"{HE}/log2_ratio"].shape[1]
        theory = float(theory_log2_ratio(L, N_VAR[HE])[-1])
        tol = per_layer * (L - 1)
        s = stats.mean_ci(ratio)
        out.append(claim("deep_relu.variance_ratio_he",
                         f"Var[w] = 2/n (He): at init log2(Var[y_{L}] / Var[y_1]) of the {L}-layer ReLU net matches "
                         f"the theory's {theory:+.0f}: 95% CI within {tol:.2f} of it ({per_layer:g} per layer, a "
                         f"{2 ** per_layer - 1:.1%} variance factor; set from the pilot in the config's docstring)",
                         f"{SOURCE}, eq. (10)", s, theory - tol <= s["ci_low"] and s["ci_high"] <= theory + tol))
    if XAVIER in full.arms and HE in full.arms:
        xa_ratio, he_ratio = _ratio(results, XAVIER), _ratio(results, HE)
        L = results[f"{XAVIER}/log2_ratio"].shape[1]
        shift = float(theory_log2_ratio(L, N_VAR[XAVIER])[-1] - theory_log2_ratio(L, N_VAR[HE])[-1])  # -(L - 1)
        dev = np.abs(xa_ratio - (he_ratio + shift))  # per seed: the same keys in both arms
        s, tol = stats.mean_ci(dev), m["homogeneity_tol"]
        worst = float(np.max(dev)) if dev.size else float("nan")
        out.append(claim("deep_relu.variance_ratio_xavier",
                         f"Var[w] = 1/n (\"Xavier\"): per seed, log2(Var[y_{L}] / Var[y_1]) is He's {shift:+.0f} "
                         f"(ReLU is positively homogeneous, biases are 0, both arms draw the same weights up to a "
                         f"factor sqrt(2), so the theory's {shift:+.0f} shift is exact); measured: |\"Xavier\" - (He "
                         f"{shift:+.0f})| per seed, log2; holds if below {tol:g} in every seed (max {worst:.2g})",
                         f"{SOURCE}, eq. (10)", s, bool(dev.size) and bool(np.all(dev <= tol)), kind=CHECK))
        he, xa = stats.mean_ci(final(results, HE)), stats.mean_ci(final(results, XAVIER))
        budget = int(results[f"{HE}/steps"][-1])
        lo, hi = m["he_learns_min"], m["xavier_chance_max"]
        rates = (f"He at {tuning.rate_of(full, results, HE):g}, "
                 f"\"Xavier\" at {tuning.rate_of(full, results, XAVIER):g}, "
                 + (f"each the best of its grid on {int(full.params.tune_seeds)} tuning seeds"
                    if f"{HE}/tune_val_acc" in results else "rates from the config"))
        out.append(claim("deep_relu.he_learns",
                         f"after the same budget ({budget} updates) the He-initialized net learns (final validation "
                         f"accuracy CI above {lo:g}) while the \"Xavier\" one stays near chance (CI below "
                         f"{hi:g}); measured: He; \"Xavier\": {stats.fmt(xa)}; {rates}"
                         " (an MLP on the data the report's first line names; the paper: a conv net on ImageNet)",
                         f"{SOURCE}, Figure 3", he, he["ci_low"] > lo and xa["ci_high"] < hi,
                         diverged(results, HE, XAVIER)))
    return out


def arm_summary(full, results) -> dict:
    out = {}
    for name in full.arms:
        alive = _alive(results, name)
        out[name] = {"log2_var_ratio_last_first": stats.mean_ci(_ratio(results, name)),
                     "final_val_acc": stats.mean_ci(final(results, name, diverged_as=np.nan)),  # table: left out
                     "final_train_loss": stats.mean_ci(results[f"{name}/train_loss"][alive, -1]),
                     "n_seeds": int(alive.size), "n_diverged": int((~alive).sum())}
    return out


def figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    names = list(full.arms)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in names:
        r = results[f"{name}/log2_ratio"]
        layers = np.arange(1, r.shape[1] + 1)
        line = stats.band(ax, layers, r, marker="o", ms=3, label=name)
        arm = full.arms[name]
        n_var = {"lecun_normal": 1.0, "he_normal": 2.0}.get(arm.model.weight_init)
        if n_var is not None:
            ax.plot(layers, theory_log2_ratio(r.shape[1], n_var), ls=":", color=line.get_color(), lw=1.5,
                    label=f"{name}: theory (eq. 10)")
    ax.set(xlabel="layer l (linear layers; the last is the output)", ylabel="log2 Var[y_l] / Var[y_1]",
           title="Pre-activation variance through depth at init (95% CI over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/variance_by_layer.png", dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for name in names:
        alive = _alive(results, name)
        steps = results[f"{name}/steps"]
        stats.band(axes[0], steps, results[f"{name}/train_loss"][alive], marker="o", ms=3, label=name)
        stats.band(axes[1], steps, results[f"{name}/val_acc"][alive], marker="o", ms=3, label=name)
    axes[0].set(title="training loss (mean since the previous evaluation)", xlabel="minibatch updates")
    axes[1].axhline(CHANCE, color="grey", ls=":", lw=1)
    axes[1].set(title="validation accuracy (grey: chance)", xlabel="minibatch updates", ylim=(0, 1))
    for ax in axes:
        ax.legend(fontsize=8)
    depth = len(full.arms[names[0]].model.hidden) + 1
    fig.suptitle(f"{depth}-layer ReLU MLP, 95% CI over seeds (He et al.'s Figure 3)")
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/training.png", dpi=100)
    plt.close(fig)
    return [("Variance of each layer's output at init", "figures/variance_by_layer.png"),
            ("Training curves", "figures/training.png")]


def summary(full, results) -> dict:
    """The arm table, each arm's rate, and per tuned arm its grid's outcome on the tuning seeds (mean
    final validation accuracy per rate, a diverged run at chance; diverged runs per rate)."""
    return {"arms": arm_summary(full, results), "rates": {n: tuning.rate_of(full, results, n) for n in full.arms},
            "tuning": tuning.outcomes(full, results, lambda n: results[f"{n}/tune_lrs"])}
