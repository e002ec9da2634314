"""The ``init_zoo`` study: three initializations the notes mention in passing, each measured.

(a) Orthogonal vs Gaussian in a deep *linear* net (Saxe et al. 2013). Per seed, ``linear_depth``
    square matrices of width ``linear_width``, either Haar-orthogonal (the repo's ``orthogonal``)
    or N(0, 1/n) (``lecun_normal``); the singular values of the end-to-end Jacobian
    J = W_1 ... W_depth (the product itself, the net being linear) at depths 1, 2, 4, ..., depth.
    The orthogonal product is orthogonal, so every singular value is 1 up to round-off (float64
    and float32 both measured); the Gaussian one keeps E[sigma^2] = 1 but its spectrum spreads.
(b) LSUV (Mishkin & Matas 2016, :func:`research.lib.lsuv.lsuv`) on the training net: orthogonal
    weights, then each layer's pre-activation variance driven to 1 on fresh minibatches of
    ``lsuv_batch`` training examples (the paper's one minibatch per iteration), tolerance
    ``lsuv_tol``, at most ``lsuv_max_iter`` rescales per layer. Measured on a *held-out* batch (the
    validation split): every layer's output variance before and after, and the iterations used.
(c) Training on the data the config names (Fashion-MNIST where installed, else the bundled MNIST 5k;
    the report's first line says which) through the engine (``ctx.train``: one compiled program shared
    by all arms, which differ only in init and learning rate, a traced value; same init draw and
    minibatch order per seed; checkpointed and resumable), each arm at its own rate chosen on
    separate tuning seeds from ``params.tune_lrs`` (research/engine/tuning.py's seeds and choice,
    run here with the start hook so LSUV is tuned as it is trained). Arms whose name starts with
    ``lsuv`` pass their weight_init's draw through LSUV (b) before training (the engine's start hook).
    The sparse arms are a sweep of the sparse weights' stddev; ``init_zoo.sparse_trains`` is made on
    the one ``params.sparse_arm`` names, against the dense arm ``params.sparse_comparator`` names
    (both fixed in the config before the run, checked against the arms before anything trains); the
    arm table and the figure "Sparse init: scale sweep" report every scale.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from research.engine import config as config_lib, data as data_lib, keys as keys_lib, stats, tuning
from research.lib import lsuv as lsuv_lib, mlp, spectra
from research.engine.claims import CHANCE, CHECK, claim, diverged, final, margins, margins_param
from research.studies.init_zoo.config import MARGINS, SPARSE_ARM, SPARSE_COMPARATOR

X64 = True  # (a) runs in float64 too (training stays in train.dtype); scoped to this study's run

PARAMS = {
    "linear_depth": (16, config_lib.integer(1)),
    "linear_width": (128, config_lib.integer(2)),
    "lsuv_tol": (0.1, config_lib.number(0, lo_open=True)),
    "lsuv_max_iter": (10, config_lib.integer(1)),
    "lsuv_batch": (128, config_lib.integer(2)),
    # sparse_trains compares these two arms, both named in the config before the run (checked against
    # config.arms before anything trains)
    "sparse_arm": (SPARSE_ARM, (lambda v: isinstance(v, str) and bool(v), "an arm name")),
    "sparse_comparator": (SPARSE_COMPARATOR, (lambda v: isinstance(v, str) and bool(v), "an arm name")),
    # verdict margins, set in config.py: sparse_trains' non-inferiority margin to the named comparator; lsuv_unit_variance's
    # number of standard errors of the two variance estimates involved (the accepted minibatch, the
    # held-out batch); orthogonal_isometry's round-off bound and Gaussian median bound
    "margins": margins_param(MARGINS),
    # the rate grid every arm is tuned over on separate seeds (empty: no tuning, each arm at its train.lr)
    "tune_lrs": ((), tuning.rates_rule("empty: no tuning, every arm at its train.lr")),
    **tuning.PARAMS,                                   # tune_seeds, tune_seed
}
LSUV_PREFIX = "lsuv"


def depths(full) -> np.ndarray:
    d = full.params.linear_depth
    return np.asarray(sorted({2 ** k for k in range(int(math.log2(d)) + 1)} | {d}))


linear_spectra = spectra.linear_spectra  # (a)'s maths, in research.lib.spectra


def _heldout_stats(params, bn_state, spec, x, lsuv_batch):
    """Per layer on ``x`` (train-mode forward): Var(z) and the standard error of the difference
    between a variance estimated from ``lsuv_batch`` examples and one from all of ``x``, from the
    spread of the per-example contributions."""
    _, _, trace = mlp.forward(params, bn_state, x, spec, train=True)
    var, se = [], []
    for z in trace.z:
        contrib = jnp.mean(jnp.square(z - jnp.mean(z)), axis=1)  # per example; Var(z) is their mean
        sd = jnp.std(contrib, ddof=1)
        var.append(jnp.mean(contrib))
        se.append(sd * jnp.sqrt(1.0 / lsuv_batch + 1.0 / x.shape[0]))
    return jnp.stack(var), jnp.stack(se)


def _lsuv_runs(prog, carry, keys, data, p):
    """LSUV every run's params (key stream ``"lsuv"``, fresh minibatches from the training split);
    the new Carry (optimizer state re-initialized), iterations, held-out variances before and
    after and their standard errors."""
    def one(key, params, bn_state):
        before, _ = _heldout_stats(params, bn_state, prog.spec, data[2], p.lsuv_batch)
        params, bn_state, iters = lsuv_lib.lsuv(keys_lib.stream(key, "lsuv"), params, bn_state, prog.spec, data[0],
                                                p.lsuv_tol, p.lsuv_max_iter, batch_size=p.lsuv_batch)
        after, se = _heldout_stats(params, bn_state, prog.spec, data[2], p.lsuv_batch)
        return params, bn_state, iters, before, after, se

    params, bn_state, iters, before, after, se = jax.jit(jax.vmap(one))(keys, carry.params, carry.bn_state)
    opt_state = jax.vmap(prog.transform(1.0).init)(params)
    return carry._replace(params=params, bn_state=bn_state, opt_state=opt_state), iters, before, after, se


def measure(full, keys, dataset=None) -> dict[str, np.ndarray]:
    """(a): singular values of deep linear products, orthogonal vs Gaussian, float64 and float32."""
    p = full.params
    ds = data_lib.load(full.data) if dataset is None else dataset
    if p.lsuv_batch > ds.train.x.shape[0]:
        raise config_lib.ConfigError(f"config.params.lsuv_batch={p.lsuv_batch} is invalid; accepted: at most "
                                     f"{ds.train.x.shape[0]} (the training split's size)")
    d = depths(full)
    out = {"linear_depths": d}
    for dtype in ("float64", "float32"):
        # lax.map over seeds rather than vmap: on XLA:CPU (jax 0.10.2) a jitted vmap of several batched
        # QR decompositions whose R is used was seen to hang forever
        sv = jax.jit(lambda ks, dt=dtype: jax.lax.map(
            lambda k: linear_spectra(k, p.linear_depth, p.linear_width, tuple(int(v) for v in d), jnp.dtype(dt)),
            ks))(keys)
        for name, v in sv.items():
            out[f"linear/{name}_{dtype}"] = np.asarray(v, np.float64)  # (seeds, checkpoints, width)

    return out


TRAINS = True  # compute trains through ctx.train: every arm's program is checked before anything is written


def compute(ctx) -> dict[str, np.ndarray]:
    """(a) the deep linear spectra, then (b, c): every arm trained through the engine, LSUV arms
    passing their init draw through LSUV first (the engine's start hook)."""
    full = ctx.full
    p = full.params
    for key in ("sparse_arm", "sparse_comparator"):
        if p[key] not in full.arms:
            raise config_lib.ConfigError(f"config.params.{key}={p[key]!r} is invalid; accepted: one of the arms, "
                                         + ", ".join(full.arms))
    if _weight_init(full, p.sparse_arm) != "sparse" or _weight_init(full, p.sparse_comparator) == "sparse":
        raise config_lib.ConfigError(
            f"config.params.sparse_arm={p.sparse_arm!r}, sparse_comparator={p.sparse_comparator!r} are invalid; "
            "accepted: an arm with weight_init 'sparse' and one with a dense weight_init")
    grids = _grids(full)
    tuning.check_seed(full, grids)
    out = measure(full, ctx.keys, ctx.dataset)

    def start(name, carry, keys, data, prog):
        if not name.startswith(LSUV_PREFIX):  # a tuning arm ("lsuv@tune00") starts with its arm's name too
            return carry, {}
        carry, iters, before, after, se = _lsuv_runs(prog, carry, keys, data, p)
        return carry, {"lsuv_iterations": iters, "var_before": np.asarray(before, np.float64),
                       "var_after": np.asarray(after, np.float64), "var_se": np.asarray(se, np.float64)}

    tuned = tuning.tune(ctx, grids, start=start)
    arm_rates = tuning.rates(full, grids, tuned)
    out.update(tuned)
    out["tune_lrs"] = np.asarray([float(x) for x in p.tune_lrs], np.float64)
    out.update(ctx.train({n: tuning.with_lr(full, n, arm_rates[n]) for n in full.arms}, start=start))
    out.update(tuning.rate_arrays(full, arm_rates))
    return out


def _grids(full) -> dict:
    """``{arm: the grid}`` for every arm when ``params.tune_lrs`` is not empty, else ``{}``."""
    grid = tuple(float(x) for x in full.params.tune_lrs)
    return {n: grid for n in full.arms} if grid else {}


def _max_dev(sv):  # per seed, at full depth
    return np.max(np.abs(sv[:, -1] - 1.0), axis=1)


def _median_sigma(sv):
    return np.median(sv[:, -1], axis=1)


def _weight_init(full, name):
    return full.arms[name].model.weight_init


def _sparse_stddev(full, name) -> float:
    kw = full.arms[name].model.weight_init_kwargs
    return float(kw.get("stddev", 1.0)) if hasattr(kw, "get") else 1.0


def _sparse_label(full, name) -> str:
    kw = full.arms[name].model.weight_init_kwargs
    k = kw.get("connections", 10) if hasattr(kw, "get") else 10
    return f"{k} incoming N(0, {_sparse_stddev(full, name):g}^2) weights per unit"


def _sparse_arms(full) -> list[str]:
    """The sweep: every arm with weight_init 'sparse', by scale."""
    return sorted((n for n in full.arms if _weight_init(full, n) == "sparse"), key=lambda n: _sparse_stddev(full, n))


def _sparse_pair(full):
    """(sparse arm, dense comparator) as the config names them, or None if either is not an arm (a workdir
    from before the two were named: its claim is not made, rather than made against a comparator
    picked after the run)."""
    p = full.params
    arm, ref = p.get("sparse_arm", None), p.get("sparse_comparator", None)
    if arm in full.arms and ref in full.arms and _weight_init(full, arm) == "sparse":
        return arm, ref
    return None


def _lsuv_arms(full):
    return [n for n in full.arms if n.startswith(LSUV_PREFIX)]


def _lsuv_bound(full, results, name) -> float:
    return float(full.params.lsuv_tol + margins(full, MARGINS)["lsuv_se_bound"] * np.median(results[f"{name}/var_se"]))


def claims(full, results) -> list:
    out = []
    p = full.params
    m = margins(full, MARGINS)
    orth, gauss = results["linear/orthogonal_float64"], results["linear/gaussian_float64"]
    s_orth, s_gauss = stats.mean_ci(_max_dev(orth)), stats.mean_ci(_median_sigma(gauss))
    out.append(claim(
        "init_zoo.orthogonal_isometry",
        f"a product of {p.linear_depth} random orthogonal {p.linear_width}x{p.linear_width} matrices is an isometry "
        f"(measured: max |sigma - 1| of the end-to-end Jacobian, float64; holds if below {m['isometry_max_dev']:g}) "
        f"while the N(0, 1/n) "
        f"product's spectrum spreads (its median sigma, {s_gauss['mean']:.3g} [{s_gauss['ci_low']:.3g}, "
        f"{s_gauss['ci_high']:.3g}], must be below {m['gaussian_median_max']:g})", "Saxe et al. 2013", s_orth,
        s_orth["ci_high"] < m["isometry_max_dev"] and s_gauss["ci_high"] < m["gaussian_median_max"], kind=CHECK))
    for name in _lsuv_arms(full)[:1]:
        dev = np.max(np.abs(results[f"{name}/var_after"] - 1.0), axis=1)  # per seed, worst layer
        s = stats.mean_ci(dev)
        bound = _lsuv_bound(full, results, name)
        out.append(claim(
            "init_zoo.lsuv_unit_variance",
            f"after LSUV (tol {p.lsuv_tol:g}, minibatches of {p.lsuv_batch}) every layer's output variance on a held-out "
            f"batch of {full.data.n_val} is 1 within the tolerance plus {m['lsuv_se_bound']:g} standard errors of sampling "
            f"({bound:.3f}); measured: max over layers of |Var - 1| per seed", "Mishkin & Matas 2016", s,
            s["ci_high"] <= bound, kind=CHECK))
    named = _sparse_pair(full)
    if named:
        arm, ref = named
        s = stats.mean_ci(final(results, arm) - final(results, ref))
        out.append(claim(
            "init_zoo.sparse_trains",
            f"sparse init ({_sparse_label(full, arm)}, tanh units: Sutskever et al. 2013's scale; Martens' N(0, 1) is "
            f"the logistic-unit form) trains as well as the dense {ref}, the comparator named in the config before "
            f"the run: measured {arm} - {ref}, final validation accuracy paired by seed, a diverged seed at chance "
            f"({CHANCE:g}); holds if the interval's lower end is >= -{m['sparse_margin']:g}; rates {arm} "
            f"{tuning.rate_of(full, results, arm):g}, {ref} {tuning.rate_of(full, results, ref):g} "
            f"({tuning.describe(full, results, 'set in the config, not tuned')}). The other sparse scales are a sweep in the arm table, not claimed",
            "Martens 2010; Sutskever et al. 2013",
            s, s["ci_low"] >= -m["sparse_margin"], diverged(results, arm, ref)))
    return out


def _empty():
    return stats.mean_ci([])


def _row(n_seeds, n_diverged=0, **metrics):
    keys = ("final_val_acc", "minus_comparator", "max_abs_sigma_minus_1", "median_sigma", "heldout_var_before",
            "heldout_var", "lsuv_iterations")
    row = {k: metrics.get(k, _empty()) for k in keys}
    row.update(n_seeds=int(n_seeds), n_diverged=int(n_diverged))
    return row


def arm_summary(full, results) -> dict:
    out = {}
    d = int(full.params.linear_depth)
    for name in ("orthogonal", "gaussian"):
        for dtype in ("float64", "float32"):
            sv = results[f"linear/{name}_{dtype}"]
            out[f"linear depth {d}: {name} {dtype}"] = _row(
                sv.shape[0], max_abs_sigma_minus_1=stats.mean_ci(_max_dev(sv)),
                median_sigma=stats.mean_ci(_median_sigma(sv)))
    pair = _sparse_pair(full)
    for name in full.arms:
        alive = results[f"{name}/diverged_at"] < 0
        extra = {}
        if pair and _weight_init(full, name) == "sparse":  # the sweep: paired difference to the named comparator,
            # a diverged seed at chance (as the claim counts it)
            extra["minus_comparator"] = stats.mean_ci(final(results, name) - final(results, pair[1]))
        out[name] = _row(alive.size, int((~alive).sum()),  # the table leaves diverged seeds out (counted)
                         final_val_acc=stats.mean_ci(final(results, name, diverged_as=np.nan)), **extra)
        if name.startswith(LSUV_PREFIX):
            it = results[f"{name}/lsuv_iterations"]
            for l in range(it.shape[1]):
                out[f"{name} layer {l + 1}"] = _row(
                    it.shape[0], heldout_var_before=stats.mean_ci(results[f"{name}/var_before"][:, l]),
                    heldout_var=stats.mean_ci(results[f"{name}/var_after"][:, l]),
                    lsuv_iterations=stats.mean_ci(it[:, l]))
    return out


def figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    p = full.params
    d = results["linear_depths"]
    out = []

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.3))
    cmap = plt.get_cmap("viridis")
    for i, depth in enumerate(d):
        c = cmap(i / max(len(d) - 1, 1))
        g = np.median(results["linear/gaussian_float64"][:, i], axis=0)
        o = np.median(results["linear/orthogonal_float64"][:, i], axis=0)
        axes[0].plot(np.arange(1, len(g) + 1), g, color=c, label=f"Gaussian, depth {depth}")
        axes[0].plot(np.arange(1, len(o) + 1), o, color=c, ls="--", lw=1)
    axes[0].set(yscale="log", xlabel="singular value index (descending)", ylabel="singular value (median over seeds)",
                title=f"End-to-end Jacobian of a deep linear net, width {p.linear_width}\n"
                      "solid: N(0, 1/n); dashed: orthogonal (all at 1)")
    axes[0].legend(fontsize=7)
    logs = {k: np.log10(np.maximum(results[f"linear/{k}_float64"][:, -1].ravel(), 1e-300))
            for k in ("gaussian", "orthogonal")}
    lo = np.floor(min(v.min() for v in logs.values()))
    hi = np.ceil(max(v.max() for v in logs.values()))
    bins = np.linspace(lo, max(hi, lo + 1), 81)
    axes[1].hist(logs["gaussian"], bins=bins, alpha=0.7, label="N(0, 1/n)", color="C0")
    axes[1].hist(logs["orthogonal"], bins=bins, alpha=0.7, label="orthogonal", color="C1")
    axes[1].set(xlabel="log10 singular value", ylabel="count (all seeds)", title=f"Spectrum at depth {d[-1]}")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/linear_spectra.png", dpi=100)
    plt.close(fig)
    out.append(("Singular values of a deep linear product: orthogonal vs Gaussian", "figures/linear_spectra.png"))

    names = _lsuv_arms(full)
    if names:
        name = names[0]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        layers = np.arange(1, results[f"{name}/var_after"].shape[1] + 1)
        for key, label in (("var_before", f"{_weight_init(full, name)} init"), ("var_after", "after LSUV")):
            stats.band(axes[0], layers, results[f"{name}/{key}"], marker="o", ms=3, label=label)
        axes[0].axhspan(1 - p.lsuv_tol, 1 + p.lsuv_tol, color="grey", alpha=0.15, label=f"1 +- tol ({p.lsuv_tol:g})")
        axes[0].set(yscale="log", xlabel="layer", ylabel="Var(z) on the held-out batch",
                    title="Layer output variance (95% CI over seeds)")
        axes[0].legend(fontsize=8)
        it = results[f"{name}/lsuv_iterations"]
        mean, lo, hi = stats.columns(it.astype(np.float64))
        axes[1].bar(layers, mean, yerr=[mean - lo, hi - mean], color="C2", capsize=3)
        axes[1].scatter(np.repeat(layers, it.shape[0]), it.T.ravel(), s=6, color="k", alpha=0.3)
        axes[1].set(xlabel="layer", ylabel="rescales", title=f"LSUV iterations per layer (max_iter {p.lsuv_max_iter})")
        fig.tight_layout()
        fig.savefig(f"{fig_dir}/lsuv.png", dpi=100)
        plt.close(fig)
        out.append(("LSUV: held-out layer variance and iterations", "figures/lsuv.png"))

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    steps = results["steps"]
    for name in full.arms:
        alive = results[f"{name}/diverged_at"] < 0
        v = results[f"{name}/val_acc"][alive]
        if not v.size:
            continue
        stats.band(ax, steps, v, marker="o", ms=3, label=f"{name} ({int((~alive).sum())} diverged)")
    ax.axhline(CHANCE, color="grey", ls=":", lw=1)
    ax.set(xlabel="minibatch step", ylabel="validation accuracy",
           title=f"{len(full.model.hidden)} hidden {full.model.activation} layers (95% CI, {full.seeds} seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/training.png", dpi=100)
    plt.close(fig)
    out.append(("Validation accuracy during training per init", "figures/training.png"))

    sweep, pair = _sparse_arms(full), _sparse_pair(full)
    if sweep:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        scales = np.array([_sparse_stddev(full, n) for n in sweep])
        acc = [stats.mean_ci(final(results, n)) for n in sweep]  # a diverged seed at chance, as the claim
        mean = np.array([a["mean"] for a in acc])
        err = np.array([[a["mean"] - a["ci_low"] for a in acc], [a["ci_high"] - a["mean"] for a in acc]])
        ax.errorbar(scales, mean, yerr=err, marker="o", capsize=3, color="C3", label="sparse (15 connections)")
        if pair:
            arm, ref = pair
            r = stats.mean_ci(final(results, ref))
            ax.axhspan(r["ci_low"], r["ci_high"], color="C0", alpha=0.2, label=f"{ref} (comparator), 95% CI")
            ax.axhline(r["mean"] - margins(full, MARGINS)["sparse_margin"], color="C0", ls="--", lw=1,
                       label=f"comparator mean - {margins(full, MARGINS)['sparse_margin']:g} (the claim tests the paired CI)")
            ax.scatter([_sparse_stddev(full, arm)], [mean[sweep.index(arm)]], s=120, facecolors="none",
                       edgecolors="k", zorder=3, label=f"claim arm ({arm})")
        ax.set(xscale="log", xlabel="stddev of the sparse weights", ylabel="final validation accuracy",
               title=f"Sparse init: scale sweep ({full.seeds} seeds, 95% CI, diverged at chance)")
        ax.set_xticks(scales, [f"{v:g}" for v in scales])
        ax.minorticks_off()
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(f"{fig_dir}/sparse_scale_sweep.png", dpi=100)
        plt.close(fig)
        out.append(("Sparse init: scale sweep", "figures/sparse_scale_sweep.png"))
    return out


def summary(full, results) -> dict:
    """The arm table, each arm's rate, and per tuned arm the tuning grid's outcome (mean final validation
    accuracy per rate over the tuning seeds, a diverged run at chance; diverged runs per rate)."""
    return {"arms": arm_summary(full, results), "rates": {n: tuning.rate_of(full, results, n) for n in full.arms},
            "tuning": tuning.outcomes(full, results, lambda n: results.get("tune_lrs", ()))}
