"""Notes 002-003 and Ioffe & Szegedy 2015's MNIST experiment: BN vs no BN, paired by seed.

Trains every arm through the engine; adds the percentile drift figure of one last-hidden-layer
unit's input (the paper's Figure 1(b, c)).
"""

from __future__ import annotations

import os

import numpy as np

from research.engine import defaults, stats
from research.engine.claims import CHECK, arm_value, claim, diverged, final, first_reach, margins, margins_param
from research.studies.batchnorm.config import MARGINS

PARAMS = {"margins": margins_param(MARGINS)}  # verdict margins, set in config.py


def _by_model(full, batchnorm: bool) -> list[str]:
    return [n for n in full.arms if arm_value(full, n, "model", "batchnorm") == batchnorm]


def _lr(full, name) -> float:
    return arm_value(full, name, "train", "lr")


def _slowest_and_fastest(full, names):
    names = sorted(names, key=lambda n: _lr(full, n))
    return (names[0], names[-1]) if names else (None, None)


def claims(full, results) -> list:
    """Notes 002-003 and Ioffe & Szegedy 2015's MNIST experiment: BN vs no BN, paired by seed.

    Arms are found by setting: of the arms without BN, the lowest rate is the baseline and the highest
    (if another) the 5x control; of the BN arms, likewise BN and BN at the larger rate. A diverged
    seed counts at chance accuracy (``claims.final``) and as never reaching the target."""
    plain, plain_fast = _slowest_and_fastest(full, _by_model(full, False))
    bn, bn_fast = _slowest_and_fastest(full, _by_model(full, True))
    if plain is None or bn is None:
        return []
    target = full.eval.target_accuracy
    m = margins(full, MARGINS)
    src = "notes 002-003; Ioffe & Szegedy 2015"
    never = results["steps"][-1] * 2.0  # a seed that never reaches the target counts as twice the budget,
    # and so does one that diverged (divergence is failure, whatever its frozen curve reached)

    def steps_to_target(name):
        reach = np.nan_to_num(first_reach(results, name, target), nan=never)
        return np.where(results[f"{name}/diverged_at"] < 0, reach, never)

    s_plain, s_bn = steps_to_target(plain), steps_to_target(bn)
    faster = stats.mean_ci(s_plain / s_bn)
    out = [claim("batchnorm.faster", f"BN reaches {target:.0%} validation accuracy in fewer steps (ratio of steps, "
                 f"no BN / BN, paired by seed; > 1 means BN is faster; holds if the CI's lower end is above "
                 f"{m['faster_min_ratio']:g})", src, faster, faster["ci_low"] > m["faster_min_ratio"],
                 diverged(results, plain, bn))]
    delta = m["final_accuracy_delta"]
    diff = stats.mean_ci(final(results, bn) - final(results, plain))
    out.append(claim("batchnorm.final_accuracy", f"BN's final validation accuracy is non-inferior to no BN's at the "
                     f"same rate (difference BN - no BN, paired by seed, a diverged seed at chance; holds if the CI's "
                     f"lower end is >= -{delta:g}, the margin fixed in the config)", src, diff,
                     diff["ci_low"] >= -delta, diverged(results, plain, bn)))

    def drift(name):  # spread over training of the 15/50/85th percentiles, averaged over the three
        q = results[f"{name}/unit_q"]  # (seeds, evals, 3)
        return np.mean(q.max(axis=1) - q.min(axis=1), axis=1)

    ratio = stats.mean_ci(drift(plain) / drift(bn))
    out.append(claim("batchnorm.stable_inputs", "a last-hidden-layer unit's input distribution drifts less during "
                     "training with BN (drift of its 15/50/85th percentiles, no BN / BN; > 1 means BN is steadier; "
                     f"holds if the CI's lower end is above {m['stable_min_ratio']:g})",
                     src, ratio, ratio["ci_low"] > m["stable_min_ratio"], diverged(results, plain, bn)))
    if bn_fast != bn and plain_fast != plain:
        k, k_plain = _lr(full, bn_fast) / _lr(full, bn), _lr(full, plain_fast) / _lr(full, plain)
        at = f"{k:g}x" if k == k_plain else f"{k:g}x (no BN at {k_plain:g}x)"
        delta, drop = m["higher_lr_delta"], m["higher_lr_control_drop"]
        gap = stats.mean_ci(final(results, bn_fast) - final(results, bn))
        control = stats.mean_ci(final(results, plain_fast) - final(results, plain))
        n_bn_fast, n_plain_fast = diverged(results, bn_fast), diverged(results, plain_fast)
        out.append(claim(
            "batchnorm.higher_lr",
            f"BN trains at {at} the rate where no BN does not: BN at {k:g}x is non-inferior to BN at the base rate "
            f"(measured: final accuracy {bn_fast} - {bn}, paired by seed; {n_bn_fast} seeds diverged; holds if the "
            f"CI's lower end is >= -{delta:g}) and no BN at {k_plain:g}x is worse than no BN at the base rate "
            f"({plain_fast} - {plain}: {stats.fmt(control)}, {n_plain_fast} seeds diverged; its CI's upper end must "
            f"be <= -{drop:g}); a diverged seed counts at chance", src, gap,
            gap["ci_low"] >= -delta and control["ci_high"] <= -drop,
            diverged(results, bn, bn_fast, plain, plain_fast)))
    cost = stats.mean_ci(results[f"{bn}/step_seconds"] / results[f"{plain}/step_seconds"])
    out.append(claim("batchnorm.step_cost", "a BN step costs more than a plain one (time ratio per seed-step, "
                     "BN / no BN, per epoch in the same run; holds if the CI's lower end is above "
                     f"{m['step_cost_min_ratio']:g})", "note 003", cost, cost["ci_low"] > m["step_cost_min_ratio"],
                     diverged(results, plain, bn), kind=CHECK))
    return out


def figures(full, results, fig_dir, plt) -> list:
    out = defaults.figures(full, results, fig_dir, plt)
    steps = results["steps"]
    names = list(full.arms)
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], names):
        q = results[f"{name}/unit_q"]  # (seeds, evals, 3)
        for j, label in enumerate(("15th", "50th", "85th")):
            ax.plot(steps, np.nanmean(q[:, :, j], axis=0), label=label)
        ax.set(title=name, xlabel="minibatch step")
    axes[0, 0].set_ylabel("input to a last-hidden-layer sigmoid")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Percentiles of one unit's input over training (mean over seeds)")
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "unit_input_percentiles.png"), dpi=100)
    plt.close(fig)
    out.append(("Input distribution of one last-hidden-layer unit", "figures/unit_input_percentiles.png"))
    return out
