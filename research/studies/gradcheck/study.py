"""The ``gradcheck`` study (note 001's procedure): hand backprop vs two-sided differences.

For each seed a small network (``model.hidden``, the arm's activation) and a batch of the bundled
data; the relative error of :func:`gradcheck.numerical_grad` against :func:`backprop.grads` for
eps from 1e-1 to 1e-10, in float32 and float64. Truncation error falls as eps^2, round-off grows
as ulp/eps: a V whose bottom is the best eps for that precision (about ulp^(1/3)).
"""

from __future__ import annotations



import jax
import jax.numpy as jnp
import numpy as np

from research.lib import backprop, gradcheck, losses, mlp
from research.engine import data as data_lib, defaults, keys as keys_lib, stats
from research.engine.claims import CHECK, claim, margins, margins_param
from research.studies.gradcheck.config import MARGINS

PARAMS = {"margins": margins_param(MARGINS)}  # verdict margins, set in config.py
NOTES_EPS = 1e-4  # note 001's eps, the subject of best_eps_f64

X64 = True  # the float64 half of the check: the run holds jax.enable_x64 for this study only

EPS = tuple(10.0 ** -k for k in np.arange(1, 10.5, 0.5))
DTYPES = ("float32", "float64")


def _leaf_errors(a, b):
    """relative_error's per-leaf ratio, traceable (for vmap over seeds)."""
    num = [jnp.linalg.norm((x - y).ravel()) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))]
    den = [jnp.maximum(jnp.linalg.norm(x.ravel()) + jnp.linalg.norm(y.ravel()), 1e-30)
           for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))]
    return jnp.max(jnp.stack([n / d for n, d in zip(num, den)]))


def measure(full, keys) -> dict[str, np.ndarray]:
    ds = data_lib.load(full.data)
    out = {"eps": np.asarray(EPS)}
    n = 16
    for name in full.arms:
        arm = full.arms[name]
        spec = arm.spec
        loss = arm.train.loss
        for dtype in DTYPES:
            dt = jnp.dtype(dtype)
            x = jnp.asarray(ds.train.x[:n], dt)
            y = jnp.asarray(ds.train.y[:n])

            def errors(k, dt=dt, x=x, y=y, spec=spec, loss=loss):
                params, state = mlp.init(keys_lib.stream(k, "init"), spec, dt)
                hand = backprop.grads(params, state, x, y, spec, loss, l2=arm.train.l2).grads
                f = lambda p: losses.get(loss)(mlp.apply(p, state, x, spec, True)[0], y) + losses.l2_penalty(p, arm.train.l2)
                return jnp.stack([_leaf_errors(hand, gradcheck.numerical_grad(f, params, eps)) for eps in EPS])

            out[f"{name}/rel_error_{dtype}"] = np.asarray(jax.jit(jax.vmap(errors))(keys), np.float64)
    return out


def _best(results, name, dtype):
    """Per seed: log10 of the eps of smallest relative error, and that error; NaN for a seed whose
    errors are not all finite (np.argmin would return a NaN's index: best eps 1e-1). And how many
    such seeds there are."""
    err = results[f"{name}/rel_error_{dtype}"]  # (seeds, eps)
    ok = np.all(np.isfinite(err), axis=1)
    safe = np.where(ok[:, None], err, np.inf)
    best = np.where(ok, np.log10(results["eps"][np.argmin(safe, axis=1)]), np.nan)
    return best, np.where(ok, safe.min(axis=1), np.nan), int((~ok).sum())


def claims(full, results) -> list:
    name = next(iter(full.arms))
    m = margins(full, MARGINS)
    best64, min64, bad64 = _best(results, name, "float64")
    _, min32, bad32 = _best(results, name, "float32")
    s_best = stats.mean_ci(best64)
    s64 = stats.mean_ci(min64)
    s32 = stats.mean_ci(min32)
    target, dec = float(np.log10(NOTES_EPS)), m["best_eps_decades"]
    left_out = lambda k: f"; {k} seeds with non-finite errors left out" if k else ""
    return [
        claim("gradcheck.best_eps_f64", f"the notes' eps = {NOTES_EPS:g} is within a factor {10 ** dec:g} of the best "
              f"eps in float64 (measured: log10 of the best eps; holds if its 95% CI lies within "
              f"[{target - dec:g}, {target + dec:g}]{left_out(bad64)})", "note 001", s_best,
              target - dec <= s_best["ci_low"] and s_best["ci_high"] <= target + dec, bad64),
        claim("gradcheck.min_error_f64", "in float64 hand backprop passes the check: best relative error < "
              f"{m['f64_error_max']:g} (95% CI{left_out(bad64)})", "note 001", s64,
              s64["ci_high"] < m["f64_error_max"], bad64),
        claim("gradcheck.min_error_f32", f"in float32 no eps gets the relative error below {m['f32_error_min']:g} "
              f"(95% CI{left_out(bad32)}): gradient checks need float64", "note 001 (precision not discussed there)",
              s32, s32["ci_low"] > m["f32_error_min"], bad32, kind=CHECK),
    ]


def arm_summary(full, results) -> dict:
    out = {}
    for name in full.arms:
        for dtype in DTYPES:
            best, err, bad = _best(results, name, dtype)
            out[f"{name}/{dtype}"] = {"log10_best_eps": stats.mean_ci(best), "min_rel_error": stats.mean_ci(err),
                                      "n_seeds": int(err.shape[0]), "n_diverged": bad}
    return out


def figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    eps = results["eps"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in full.arms:
        for dtype in DTYPES:
            err = results[f"{name}/rel_error_{dtype}"]
            med = np.median(err, axis=0)
            line, = ax.plot(eps, med, marker="o", ms=3, label=f"{name} {dtype} (median)")
            ax.fill_between(eps, np.quantile(err, 0.1, axis=0), np.quantile(err, 0.9, axis=0),
                            color=line.get_color(), alpha=0.25)
    ax.axvline(1e-4, color="grey", ls=":", lw=1)
    ax.text(1e-4, 1e-1, " notes' eps", fontsize=8, color="grey")
    ax.set(xscale="log", yscale="log", xlabel="eps", ylabel="relative error (hand vs numerical)",
           title="Gradient check: truncation (eps^2) vs round-off (1/eps); band: 10-90% of seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/gradcheck_v.png", dpi=110)
    plt.close(fig)
    return [("Relative error against eps", "figures/gradcheck_v.png")]


summary = defaults.summary_from(arm_summary)


compute = defaults.compute_from(measure)
