"""The ``gradients`` study: Glorot & Bengio 2010, "Understanding the difficulty of training deep
feedforward neural networks", measured over seeds.

Two halves, chosen per arm by its activation:

* **At initialization** (every arm that is not sigmoid; the paper's 5 hidden tanh layers of 1000):
  on ``params.n_examples`` training inputs, per hidden layer the post-activations (Figure 6), the
  back-propagated gradients dC/ds of the softmax cross-entropy C with respect to each layer's
  pre-activation s (Figure 7), and the singular values of each hidden-to-hidden layer Jacobian
  (Section 4.2.2). For ``h^{l+1} = f(s^{l+1})``, ``s^{l+1} = h^l W + b`` (W of shape (fan_in, fan_out)):

      J^l = dh^{l+1}/dh^l = diag(f'(s^{l+1})) W^T          (fan_out x fan_in, one per example)

  and its singular values are the square roots of the eigenvalues of J J^T (or J^T J, whichever is
  smaller). The paper: mean singular value ~0.8 with the normalized init, ~0.5 with the standard one.
  Random-matrix theory agrees: a square n x n matrix with i.i.d. entries of variance v has mean
  singular value (8 / 3pi) sqrt(n v) ~ 0.85 sqrt(n v) (quarter-circle law); sqrt(n v) is 1 for the
  normalized init and 1/sqrt(3) for the standard one, and diag(f') shaves off more where the
  activations are larger (the normalized init's lower layers).

* **Training** (every sigmoid arm; the paper's Figure 2, 4 hidden sigmoid layers of 1000, standard
  init): ``params.steps`` minibatch updates of the arm's optimizer, and every
  ``params.measure_every`` updates the mean and standard deviation of each hidden layer's
  activations on ``params.n_eval`` fixed validation inputs. The engine trains it (``ctx.train``:
  ``train.max_steps`` ends it inside the first epoch, an evaluation every ``measure_every`` updates,
  the moments as its probe; checkpointed, resumable). The paper: the top hidden layer is pushed
  to its lower saturation 0 very early, the others stay at or above 0.5.

The inits: "standard" is U[-1/sqrt(n), 1/sqrt(n)] with n = fan_in (variance 1/(3n)), written in this
repo as ``he_uniform`` with gain 1/sqrt(3) (limit gain * sqrt(3/n) = 1/sqrt(n)); "normalized" is
``xavier_uniform``, U[-sqrt(6/(n_in + n_out)), +sqrt(6/(n_in + n_out))].

Back-propagated variance, mean field. With delta^l = dC/ds^l = f'(s^l) * (delta^{l+1} W^{l+1 T}) and
weights independent of the signals (wide nets at init), E[(delta^l)^2] = E[f'(s^l)^2] n_{l+1}
E[(W^{l+1})^2] E[(delta^{l+1})^2], and with s^l ~ N(0, q^l) the first factor is a Gaussian integral:
the layer's chi1 of :mod:`research.lib.meanfield` at the *measured* q^l = E[(s^l)^2]. The predicted
Var(delta^1) / Var(delta^top) is the product of those factors over the layers below the top; it is
Glorot & Bengio's eq. (6) with their linear-regime f' = 1 replaced by what the measured
pre-activations give (``predicted_variance_ratio``). The claim compares the measured ratio with it,
per seed, for both inits; a second claim states the paper's contrast between them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from research.lib import backprop, meanfield, mlp, parametrization, spectra
from research.engine import config as config_lib, defaults, keys as keys_lib, stats, train as train_lib
from research.engine.claims import claim, diverged, margins, margins_param
from research.studies.gradients.config import MARGINS

PARAMS = {
    "n_examples": (256, config_lib.integer(2)),        # training inputs for the measurements at init
    "jacobian_examples": (1, config_lib.integer(1)),   # of those, per seed: one SVD per layer each
    "steps": (100, config_lib.integer(1)),             # minibatch updates of the sigmoid arms
    "measure_every": (2, config_lib.integer(1)),       # updates between activation measurements
    "n_eval": (100, config_lib.integer(1)),            # validation inputs the activations are measured on
    "margins": margins_param(MARGINS),                  # verdict margins, set in config.py
}
HIST = 4000  # samples per layer and seed kept for the histograms
SOURCE = "Glorot & Bengio 2010"
STANDARD, NORMALIZED, SIGMOID = "standard", "normalized", "sigmoid_standard"


# --- the maths (research.lib.spectra), re-exported --------------------------------------------------

layer_jacobian, jacobian_gram = spectra.layer_jacobian, spectra.jacobian_gram
singular_values_from_gram, singular_values = spectra.singular_values_from_gram, spectra.singular_values
gradient_variance_ratio = spectra.gradient_variance_ratio


# --- at initialization -----------------------------------------------------------------------------

def _samples(key, h, n: int):
    """``n`` entries of ``h`` drawn with replacement (for histograms): a gather, where drawing
    without replacement would sort all of ``h``, which costs more than the network."""
    return h.ravel()[jax.random.randint(key, (n,), 0, h.size)]


def init_measurements(spec, x, y, key, n_jac: int) -> dict:
    """One network at init on inputs ``x`` (labels ``y``). Per hidden layer: mean and std of the
    activations h and ``HIST`` samples of them; std and samples of dC/ds; std of dC/dW; the
    pre-activations' second moment q = E[s^2] (``pre_q``). Per hidden-to-hidden weight matrix (from
    layer l to l+1): its backward gain n_{l+1} E[W^2] (``back_gain``). Per network: the
    layer-1-over-top gradient variance ratio. And the Gram matrices of the hidden-to-hidden layer
    Jacobians on the first ``n_jac`` examples (a list over layers of (n_jac, k, k) arrays)."""
    params, state = mlp.init(keys_lib.stream(key, "init"), spec, x.dtype)
    _, _, trace = mlp.forward(params, state, x, spec, train=True)
    g = backprop.grads(params, state, x, y, spec, "softmax_ce")
    deltas = g.deltas[:-1]  # dC/ds per hidden layer
    k_act, k_grad = jax.random.split(keys_lib.stream(key, "probe"))
    out = {
        "act_mean": jnp.stack([jnp.mean(h) for h in trace.post]),
        "act_std": jnp.stack([jnp.std(h) for h in trace.post]),
        "act_samples": jnp.stack([_samples(jax.random.fold_in(k_act, l), h, HIST) for l, h in enumerate(trace.post)]),
        "grad_std": jnp.stack([jnp.std(d) for d in deltas]),
        "grad_var_ratio": gradient_variance_ratio(deltas),
        # C is a batch mean, so dC/ds carries a 1/batch; the histograms compare shapes across layers
        # and inits, so the samples are in units of the top layer's std.
        "grad_samples": jnp.stack([_samples(jax.random.fold_in(k_grad, l), d, HIST) for l, d in enumerate(deltas)])
        / jnp.std(deltas[-1]),
        "wgrad_std": jnp.stack([jnp.std(gl["w"]) for gl in g.grads[:-1]]),
        "pre_q": jnp.stack([jnp.mean(jnp.square(s)) for s in trace.pre]),
        # the weights the forward pass multiplies by (a parametrization's multiplier included)
        "back_gain": jnp.asarray([w.shape[1] * jnp.mean(jnp.square(w))
                                  for w in parametrization.effective_weights(params, spec)[1:spec.n_hidden]], x.dtype),
    }
    jac = jax.vmap(lambda w, pre, post: layer_jacobian(w, pre, post, spec.activation), in_axes=(None, 0, 0))
    out["grams"] = [jax.vmap(jacobian_gram)(jac(params[l + 1]["w"], trace.pre[l + 1][:n_jac],
                                                trace.post[l + 1][:n_jac]))
                    for l in range(spec.n_hidden - 1)]
    return out


def predicted_variance_ratio(pre_q, back_gain, activation: str) -> np.ndarray:
    """Mean-field Var(dC/ds^1) / Var(dC/ds^top) per seed from the measured ``pre_q`` (seeds, hidden
    layers) and ``back_gain`` (seeds, hidden layers - 1): the product over l below the top of
    chi1 = back_gain[l] * E[f'(sqrt(q_l) z)^2] (the module docstring)."""
    pre_q, back_gain = np.asarray(pre_q, np.float64), np.asarray(back_gain, np.float64)
    return np.array([np.prod([meanfield.chi1(g, 0.0, activation, q=q) for q, g in zip(qs[:-1], gains)])
                     for qs, gains in zip(pre_q, back_gain)])


def _meanfield_applies(arm) -> bool:
    """The quadrature knows the activation and nothing between the layers rescales dC/ds (BatchNorm)."""
    return arm.spec.activation in meanfield.NP_ACTIVATIONS and not arm.spec.batchnorm and arm.spec.n_hidden >= 2


def _measure_at_init(full, arm, ds, keys) -> dict[str, np.ndarray]:
    p = full.params
    spec = arm.spec
    dtype = jnp.dtype(arm.train.dtype)
    x = jnp.asarray(ds.train.x[: p.n_examples], dtype)
    y = jnp.asarray(ds.train.y[: p.n_examples])
    n_jac = min(p.jacobian_examples, p.n_examples)
    res = train_lib.one_shot(jax.vmap(lambda k: init_measurements(spec, x, y, k, n_jac)), keys)
    grams = res.pop("grams")
    out = {k: np.asarray(v) for k, v in res.items()}
    for k in ("act_samples", "grad_samples"):
        out[k] = out[k][: max(full.eval.hist_seeds, 1)]
    # (seeds, layers): mean singular value per layer, averaged over the Jacobian examples
    out["jac_mean_sv"] = np.stack([singular_values_from_gram(g).mean(axis=(-1, -2)) for g in grams], axis=1) \
        if grams else np.zeros((len(keys), 0))
    return out


# --- training (the sigmoid arms) -------------------------------------------------------------------

def activation_moments(params, bn_state, x, spec):
    """(mean, std) of each hidden layer's activations over ``x`` and units, eval mode."""
    _, _, trace = mlp.forward(params, bn_state, x, spec, train=False)
    return jnp.stack([jnp.mean(h) for h in trace.post]), jnp.stack([jnp.std(h) for h in trace.post])


TRAINS = True  # the sigmoid arms train through ctx.train: their programs are checked before anything is written


def _training_arm(full, name, n_train: int) -> dict:
    """The sigmoid arm as the engine trains it: ``params.steps`` updates (``train.max_steps``), an
    evaluation every ``params.measure_every`` updates (``evals_per_epoch``), enough epochs."""
    p, arm = full.params, full.arms[name]
    per_epoch = n_train // arm.train.batch_size
    every = min(p.measure_every, p.steps)
    if per_epoch % every:
        raise config_lib.ConfigError(
            f"config.params.measure_every={p.measure_every} is invalid; accepted: a divisor of the "
            f"{per_epoch} updates per epoch (training split {n_train}, batch {arm.train.batch_size})")
    overrides = arm.overrides_dict()
    overrides["train"] = dict(overrides.get("train", {}), evals_per_epoch=per_epoch // every,
                              epochs=-(-p.steps // per_epoch), max_steps=p.steps - p.steps % every)
    return overrides


def compute(ctx) -> dict[str, np.ndarray]:
    """At init for the tanh arms; the sigmoid arms trained through the engine for ``params.steps``
    updates, their hidden activations measured on ``params.n_eval`` validation inputs at the start
    (the start hook) and after every ``params.measure_every`` updates (the probe)."""
    full, ds = ctx.full, ctx.dataset
    out = {}
    trained = [n for n in full.arms if _is_trained(full.arms[n])]
    for name in full.arms:
        if name not in trained:
            res = _measure_at_init(full, full.arms[name], ds, ctx.keys)
            out.update({f"{name}/{k}": v for k, v in res.items()})
    if not trained:
        return out
    n_eval = full.params.n_eval

    def moments(params, bn_state, val_x, spec):
        return jnp.stack(activation_moments(params, bn_state, val_x[:n_eval], spec))  # (2, layers)

    def start(name, carry, keys, data, prog):
        at_init = jax.jit(jax.vmap(lambda p, b: moments(p, b, data[2], prog.spec)))(carry.params, carry.bn_state)
        return carry, {"moments_at_init": np.asarray(at_init)}

    arms = {name: _training_arm(full, name, ds.train.x.shape[0]) for name in trained}
    res = {}
    for name in trained:  # one call per arm: the probe reads the arm's own network
        spec = full.arms[name].spec
        res.update(ctx.train({name: arms[name]}, start=start,
                             probe=lambda params, bn_state, val_x, spec=spec: moments(params, bn_state, val_x, spec)))
    for name in trained:
        both = np.concatenate([res[f"{name}/moments_at_init"][:, None], res[f"{name}/probe"]], axis=1)
        out[f"{name}/train_act_mean"], out[f"{name}/train_act_std"] = both[:, :, 0], both[:, :, 1]
        out[f"{name}/train_loss"] = res[f"{name}/train_loss"]
        out[f"{name}/val_acc"] = res[f"{name}/val_acc"][:, -1]
        out[f"{name}/diverged_at"] = res[f"{name}/diverged_at"]
        out[f"{name}/steps"] = np.concatenate([[0], res["steps"]])
    return out


def _is_trained(arm) -> bool:
    return arm.model.activation == "sigmoid"


# --- report ----------------------------------------------------------------------------------------

def _per_seed_sv(results, name):
    return results[f"{name}/jac_mean_sv"].mean(axis=1)


def _alive(results, name):
    return results[f"{name}/diverged_at"] < 0


def _fmt(s):
    return stats.fmt(s, 3)


def claims(full, results) -> list:
    out = []
    mg = margins(full, MARGINS)
    within = lambda s, lo, hi: mg[lo] <= s["ci_low"] and s["ci_high"] <= mg[hi]  # the whole 95% CI in [lo, hi]
    rng = lambda lo, hi: f"[{mg[lo]:g}, {mg[hi]:g}]"
    have = lambda n, k: n in full.arms and f"{n}/{k}" in results
    if have(STANDARD, "jac_mean_sv") and have(NORMALIZED, "jac_mean_sv") and results[f"{NORMALIZED}/jac_mean_sv"].size:
        norm, std = stats.mean_ci(_per_seed_sv(results, NORMALIZED)), stats.mean_ci(_per_seed_sv(results, STANDARD))
        out.append(claim(
            "gradients.jacobian_singular_values",
            "at init the mean singular value of the hidden-to-hidden layer Jacobians dh^{l+1}/dh^l is ~0.8 with "
            f"the normalized init and ~0.5 with the standard one (each 95% CI within "
            f"{rng('jacobian_normalized_min', 'jacobian_normalized_max')} and "
            f"{rng('jacobian_standard_min', 'jacobian_standard_max')}); measured: normalized; standard: {_fmt(std)}",
            f"{SOURCE}, Section 4.2.2", norm,
            within(norm, "jacobian_normalized_min", "jacobian_normalized_max")
            and within(std, "jacobian_standard_min", "jacobian_standard_max")))
    arms_known = have(STANDARD, "pre_q") and have(NORMALIZED, "pre_q")
    if arms_known and all(_meanfield_applies(full.arms[n]) for n in (NORMALIZED, STANDARD)):
        measured, predicted = {}, {}
        for name in (NORMALIZED, STANDARD):
            predicted[name] = predicted_variance_ratio(results[f"{name}/pre_q"], results[f"{name}/back_gain"],
                                                       full.arms[name].spec.activation)
            measured[name] = results[f"{name}/grad_var_ratio"]
        agree = {n: stats.mean_ci(measured[n] / predicted[n]) for n in measured}  # per seed, then over seeds
        q = lambda n: ", ".join(f"{v:.3g}" for v in results[f"{n}/pre_q"].mean(axis=0))
        ratio = lambda d, n: f"{np.mean(d[n]):.3g}"
        out.append(claim(
            "gradients.backprop_variance_ratio",
            "at init the variance of back-propagated gradients dC/ds from the top hidden layer down to layer 1, "
            "Var ratio layer 1 / top, is what mean-field theory predicts from the measured pre-activation "
            "variances (Glorot & Bengio's eq. (6) with E[f'(s)^2] at the measured q per layer): measured / "
            f"predicted per seed, each init's CI within {rng('meanfield_min', 'meanfield_max')}; measured: "
            f"normalized; standard: {_fmt(agree[STANDARD])}. Ratios measured / predicted: normalized "
            f"{ratio(measured, NORMALIZED)} / {ratio(predicted, NORMALIZED)}, standard {ratio(measured, STANDARD)}"
            f" / {ratio(predicted, STANDARD)}; q bottom up: normalized {q(NORMALIZED)}; standard {q(STANDARD)}",
            f"{SOURCE}, Section 4.2.3 and eq. (6); mean field: Schoenholz et al. 2017", agree[NORMALIZED],
            all(within(a, "meanfield_min", "meanfield_max") for a in agree.values())))
    if have(STANDARD, "grad_var_ratio") and have(NORMALIZED, "grad_var_ratio") \
            and full.arms[NORMALIZED].spec.n_hidden == full.arms[STANDARD].spec.n_hidden >= 2:
        steps = full.arms[NORMALIZED].spec.n_hidden - 1  # layer steps from the top hidden layer to layer 1
        per_layer = lambda r: np.asarray(r, np.float64) ** (1.0 / steps)
        norm, std = results[f"{NORMALIZED}/grad_var_ratio"], results[f"{STANDARD}/grad_var_ratio"]
        contrast = stats.mean_ci(per_layer(norm / std))  # seed s with seed s: same inputs, same key
        out.append(claim(
            "gradients.normalized_vs_standard",
            "at init the back-propagated gradient variance keeps its scale from layer to layer far better with the "
            "normalized init than with the standard one, under which it shrinks toward the input: per layer step, "
            "the seed-paired factor "
            "(Var ratio layer 1 / top, normalized over standard)^(1/" + str(steps) + ") has its CI above "
            f"{mg['contrast_min']:g} (linear regime: 3, n Var[W] = 1 against 1/3); per-layer factor of each init: "
            f"normalized {_fmt(stats.mean_ci(per_layer(norm)))}, standard {_fmt(stats.mean_ci(per_layer(std)))}",
            f"{SOURCE}, Section 4.2.3 and Figure 7", contrast, contrast["ci_low"] > mg["contrast_min"]))
    if have(SIGMOID, "train_act_mean"):
        m = results[f"{SIGMOID}/train_act_mean"][_alive(results, SIGMOID)]  # (seeds, measurements, layers)
        top = stats.mean_ci(m[:, -1, -1])
        lower = [stats.mean_ci(m[:, -1, l]) for l in range(m.shape[2] - 1)]
        step = int(results[f"{SIGMOID}/steps"][-1])
        out.append(claim(
            "gradients.sigmoid_top_saturation",
            f"training the sigmoid net from the standard init, the top hidden layer's mean activation is pushed "
            f"toward 0 early (after {step} updates: CI below {mg['top_saturation_max']:g}) while the lower layers "
            f"stay unsaturated around or above 0.5 (each CI within {rng('lower_min', 'lower_max')}); measured: top "
            "layer; lower layers, bottom up: " + ", ".join(_fmt(s) for s in lower)
            + " (MNIST 5k; the paper used Shapeset-3x2)",
            f"{SOURCE}, Section 3.1 and Figure 2", top,
            top["ci_high"] < mg["top_saturation_max"] and all(within(s, "lower_min", "lower_max") for s in lower),
            diverged(results, SIGMOID)))
    return out


def arm_summary(full, results) -> dict:
    out = {}
    nan = stats.mean_ci([])
    for name in full.arms:
        if f"{name}/train_act_mean" in results:
            alive = _alive(results, name)
            m = results[f"{name}/train_act_mean"]
            out[name] = {"mean_singular_value": nan, "grad_var_ratio_l1_top": nan, "grad_var_ratio_meanfield": nan,
                         "top_layer_mean_act_end": stats.mean_ci(m[alive, -1, -1]),
                         "val_acc_end": stats.mean_ci(results[f"{name}/val_acc"][alive]),
                         "n_seeds": int(alive.size), "n_diverged": int((~alive).sum())}
        else:
            sv = results[f"{name}/jac_mean_sv"]
            predicted = predicted_variance_ratio(results[f"{name}/pre_q"], results[f"{name}/back_gain"],
                                                 full.arms[name].spec.activation) \
                if f"{name}/pre_q" in results and _meanfield_applies(full.arms[name]) else []
            out[name] = {"mean_singular_value": stats.mean_ci(sv.mean(axis=1)) if sv.size else nan,
                         "grad_var_ratio_l1_top": stats.mean_ci(results[f"{name}/grad_var_ratio"]),
                         "grad_var_ratio_meanfield": stats.mean_ci(predicted),
                         "top_layer_mean_act_end": nan,
                         "val_acc_end": nan,
                         "n_seeds": int(results[f"{name}/grad_var_ratio"].shape[0]), "n_diverged": 0}
    return out


def _layer_histograms(ax, samples, bins, title, xlabel):
    """One normalized histogram (as a line) per layer, as the paper's Figures 6 and 7 draw them."""
    lo, hi = np.quantile(samples, [0.001, 0.999])
    edges = np.linspace(lo, hi, bins + 1)
    for l in range(samples.shape[1]):
        dens, _ = np.histogram(samples[:, l].ravel(), bins=edges, density=True)
        ax.plot(0.5 * (edges[1:] + edges[:-1]), dens, lw=1.2, label=f"layer {l + 1}")
    ax.set(title=title, xlabel=xlabel, yticks=[])
    ax.legend(fontsize=7)


def figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    out = []
    init_arms = [n for n in full.arms if f"{n}/act_samples" in results]
    trained = [n for n in full.arms if f"{n}/train_act_mean" in results]
    if init_arms:
        for key, fname, title, xlabel in (
                ("act_samples", "activation_histograms", "Activation values at init per layer (Figure 6)",
                 "tanh output h"),
                ("grad_samples", "gradient_histograms",
                 "Back-propagated gradients dC/ds at init per layer (Figure 7)", "dC/ds / std(top layer's dC/ds)")):
            fig, axes = plt.subplots(1, len(init_arms), figsize=(5.5 * len(init_arms), 3.8), squeeze=False)
            for ax, name in zip(axes[0], init_arms):
                _layer_histograms(ax, results[f"{name}/{key}"], full.eval.hist_bins, name, xlabel)
            fig.suptitle(title + f"; {results[f'{init_arms[0]}/{key}'].shape[0]} seeds pooled")
            fig.tight_layout()
            fig.savefig(f"{fig_dir}/{fname}.png", dpi=100)
            plt.close(fig)
            out.append((title, f"figures/{fname}.png"))

        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        for name in init_arms:
            sv = results[f"{name}/jac_mean_sv"]
            if sv.size:
                stats.band(axes[0], np.arange(1, sv.shape[1] + 1), sv, marker="o", ms=3, label=name)
            for ax, key in zip(axes[1:], ("grad_std", "wgrad_std")):
                g = results[f"{name}/{key}"]
                stats.band(ax, np.arange(1, g.shape[1] + 1), g / g[:, -1:], marker="o", ms=3, label=name)
        for y, ls in ((0.8, ":"), (0.5, "--")):
            axes[0].axhline(y, color="grey", ls=ls, lw=1)
        axes[0].set(title="mean singular value of dh^{l+1}/dh^l\n(grey: the paper's ~0.8 and ~0.5)",
                    xlabel="l (Jacobian from hidden layer l to l+1)")
        axes[1].set(title="std of dC/ds per hidden layer,\nrelative to the top hidden layer", xlabel="hidden layer",
                    yscale="log")
        axes[2].set(title="std of dC/dW per hidden layer,\nrelative to the top hidden layer", xlabel="hidden layer")
        for ax in axes:
            ax.legend(fontsize=8)
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.tight_layout()
        fig.savefig(f"{fig_dir}/jacobians_and_gradients.png", dpi=100)
        plt.close(fig)
        out.append(("Layer-Jacobian singular values, back-propagated and weight gradients at init (95% CI over seeds)",
                    "figures/jacobians_and_gradients.png"))
    for name in trained:
        steps = results[f"{name}/steps"]
        alive = _alive(results, name)
        m = results[f"{name}/train_act_mean"][alive]
        s = results[f"{name}/train_act_std"][alive]
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        for l in range(m.shape[2]):
            stats.band(ax, steps, m[:, :, l], marker="o", ms=3, label=f"layer {l + 1}")
            # the paper's vertical bars: one std of the activations (over units and examples)
            pick = slice(None, None, max(len(steps) // 8, 1))
            ax.errorbar(steps[pick] + 0.4 * l, m[:, pick, l].mean(axis=0), yerr=s[:, pick, l].mean(axis=0),
                        fmt="none", lw=0.8, color=f"C{l}", alpha=0.6)
        ax.set(title=f"{name}: mean activation per hidden layer (band: 95% CI over {m.shape[0]} seeds; "
                     "bars: 1 std)", xlabel="minibatch updates", ylabel="mean sigmoid output", ylim=(-0.05, 1.05))
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(f"{fig_dir}/{name}_activations.png", dpi=100)
        plt.close(fig)
        out.append((f"Sigmoid net in training: activations per layer (Figure 2), {name}",
                    f"figures/{name}_activations.png"))
    return out


summary = defaults.summary_from(arm_summary)

