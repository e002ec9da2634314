"""Notes 002-003 and Ioffe & Szegedy 2015's MNIST experiment: BN vs no BN, paired by seed.

``compute`` first chooses each tuned arm's learning rate on separate tuning seeds
(:mod:`research.studies.batchnorm.tuning`), then trains every arm at its rate through the engine under
its own name. Results: the engine's per-arm arrays, ``"<arm>/lr"`` (seeds,) the rate the arm ran at,
``"<arm>/tune_val_acc"`` (tune seeds, rates, evaluations) and ``"<arm>/tune_diverged_at"`` (tune seeds,
rates) for each tuned arm, and ``"tune_lrs"``. Figures add the percentile drift of one
last-hidden-layer unit's input (the paper's Figure 1(b, c)) and the tuning curve.
"""

from __future__ import annotations

import os

import numpy as np

from research.engine import config as config_lib, data as data_lib, defaults, stats, tuning as engine_tuning
from research.engine.claims import CHANCE, CHECK, claim, diverged, first_reach, margins, margins_param
from research.studies import sourced
from research.studies.batchnorm import tuning
from research.studies.batchnorm.config import MARGINS

PARAMS = {"margins": margins_param(MARGINS), **tuning.PARAMS,  # margins and the grid: set in config.py
          # faster's accuracy target per data source (Dataset.source); set in config.py (TARGETS)
          "targets": ({}, sourced.table_rule("faster's accuracy target")),
          # the claim runs' evaluation interval in steps, the same on every data set (0: train.evals_per_epoch)
          "eval_steps": (0, config_lib.integer(0))}
TRAINS = True  # compute trains through ctx.train: every arm's program is checked before anything is written
SPLITS = True  # data is read only through ctx.train: data.split_seeds may resample the split per seed


def compute(ctx) -> dict:
    tuning.check(ctx.full)
    target = sourced.target_for(ctx)  # the table's entry for the data read: refused before training if missing
    out = tuning.tune(ctx)
    arm_rates = tuning.rates(ctx.full, out)
    arms = tuning.train_arms(ctx.full, arm_rates)
    epe = evals_per_epoch(ctx.full)
    if epe:
        arms = {n: dict(ov, train=dict(ov["train"], evals_per_epoch=epe)) for n, ov in arms.items()}
    out.update(ctx.train(arms))
    out.update(engine_tuning.rate_arrays(ctx.full, arm_rates))
    out[sourced.TARGET] = target
    return out


def evals_per_epoch(full) -> int:
    """The claim runs' evaluations per epoch: one every ``params.eval_steps`` steps on the training split
    the config reads (its size from the config, no data loaded), at least one; 0 (the config's own
    ``train.evals_per_epoch``) when ``eval_steps`` is 0 or the size cannot be told."""
    every = int(full.params.get("eval_steps", 0))
    n = data_lib.train_size(full.data) if every else None
    if not n:
        return 0
    return max(1, (n // int(full.train.batch_size)) // every)


def tested(results, name, diverged_as: float = CHANCE):
    """Per seed, in seed order: the test accuracy (the sealed split, opened once after training),
    ``diverged_as`` where the seed diverged; paired with another arm's like :func:`claims.final`."""
    alive = results[f"{name}/diverged_at"] < 0
    return np.where(alive, results[f"{name}/test_acc"], diverged_as)


def claims(full, results) -> list:
    """Notes 002-003 and Ioffe & Szegedy 2015's MNIST experiment: BN vs no BN, paired by seed.

    Arms by role (:func:`tuning.roles`): no BN and BN at their tuned rates, the fast arms (BN and the
    no-BN control) at their multiple of the no-BN rate; the rates are read from ``results``. A diverged
    seed counts at chance accuracy and as never reaching the target."""
    r = tuning.roles(full)
    plain, bn, plain_fast, bn_fast = r["plain"], r["bn"], r["plain_fast"], r["bn_fast"]
    if plain is None or bn is None:
        return []
    lr = {n: engine_tuning.rate_of(full, results, n) for n in (plain, bn, plain_fast, bn_fast) if n is not None}
    target = sourced.target(full, results)  # the config's table's entry for the data read
    m = margins(full, MARGINS)
    src = "notes 002-003; Ioffe & Szegedy 2015"
    how = engine_tuning.describe(full, results)
    never = results["steps"][-1] * 2.0  # a seed that never reaches the target counts as twice the budget,
    # and so does one that diverged (divergence is failure, whatever its frozen curve reached)

    def steps_to_target(name):
        reach = np.nan_to_num(first_reach(results, name, target), nan=never)
        return np.where(results[f"{name}/diverged_at"] < 0, reach, never)

    s_plain, s_bn = steps_to_target(plain), steps_to_target(bn)
    faster = stats.mean_ci(s_plain / s_bn)
    out = [claim("batchnorm.faster", f"BN reaches {target:.0%} validation accuracy in fewer steps (ratio of steps, "
                 f"no BN at {lr[plain]:g} / BN at {lr[bn]:g}, paired by seed; > 1 means BN is faster; holds if the "
                 f"CI's lower end is above {m['faster_min_ratio']:g})", src, faster,
                 faster["ci_low"] > m["faster_min_ratio"], diverged(results, plain, bn))]
    delta = m["final_accuracy_delta"]
    diff = stats.mean_ci(tested(results, bn) - tested(results, plain))
    out.append(claim("batchnorm.final_accuracy", f"BN's final test accuracy is non-inferior to no BN's, each at "
                     f"its tuned rate (BN {lr[bn]:g}, no BN {lr[plain]:g}; {how}; difference BN - no BN, paired by "
                     f"seed, a diverged seed at chance; holds if the CI's lower end is >= -{delta:g}, the margin "
                     f"fixed in the config)", src, diff, diff["ci_low"] >= -delta, diverged(results, plain, bn)))

    def drift(name):  # spread over training of the 15/50/85th percentiles, averaged over the three
        q = results[f"{name}/unit_q"]  # (seeds, evals, 3)
        return np.mean(q.max(axis=1) - q.min(axis=1), axis=1)

    ratio = stats.mean_ci(drift(plain) / drift(bn))
    out.append(claim("batchnorm.stable_inputs", "a last-hidden-layer unit's input distribution drifts less during "
                     "training with BN (drift of its 15/50/85th percentiles, no BN / BN; > 1 means BN is steadier; "
                     f"holds if the CI's lower end is above {m['stable_min_ratio']:g})",
                     src, ratio, ratio["ci_low"] > m["stable_min_ratio"], diverged(results, plain, bn)))
    if bn_fast is not None and plain_fast is not None:
        k, k_plain = lr[bn_fast] / lr[plain], lr[plain_fast] / lr[plain]
        at = f"{k:g}x" if k == k_plain else f"{k:g}x (no BN at {k_plain:g}x)"
        delta, drop = m["higher_lr_delta"], m["higher_lr_control_drop"]
        gap = stats.mean_ci(tested(results, bn_fast) - tested(results, bn))
        control = stats.mean_ci(tested(results, plain_fast) - tested(results, plain))
        n_bn_fast, n_plain_fast = diverged(results, bn_fast), diverged(results, plain_fast)
        out.append(claim(
            "batchnorm.higher_lr",
            f"BN trains at {at} no BN's tuned rate where no BN does not: BN at {lr[bn_fast]:g} is non-inferior to "
            f"BN at its tuned rate {lr[bn]:g} (measured: final test accuracy {bn_fast} - {bn}, paired by seed; "
            f"{n_bn_fast} seeds diverged; holds if the CI's lower end is >= -{delta:g}) and no BN at "
            f"{lr[plain_fast]:g} is worse than no BN at its tuned rate {lr[plain]:g} ({plain_fast} - {plain}: "
            f"{stats.fmt(control)}, {n_plain_fast} seeds diverged; its CI's upper end must be <= -{drop:g}); a "
            f"diverged seed counts at chance; {how}", src, gap,
            gap["ci_low"] >= -delta and control["ci_high"] <= -drop,
            diverged(results, bn, bn_fast, plain, plain_fast)))
    cost = stats.mean_ci(results[f"{bn}/step_seconds"] / results[f"{plain}/step_seconds"])
    out.append(claim("batchnorm.step_cost", "a BN step costs more than a plain one (time ratio per seed-step, "
                     "BN / no BN, per epoch in the same run; holds if the CI's lower end is above "
                     f"{m['step_cost_min_ratio']:g})", "note 003", cost, cost["ci_low"] > m["step_cost_min_ratio"],
                     diverged(results, plain, bn), kind=CHECK))
    return out


def summary(full, results) -> dict:
    """The default per-arm summary, each arm's rate, and the tuning grid's outcome per tuned arm (mean
    final validation accuracy per rate, a diverged run at chance; diverged runs per rate)."""
    out = defaults.summary(sourced.with_target(full, results), results)
    out["rates"] = {n: engine_tuning.rate_of(full, results, n) for n in full.arms}
    out["tuning"] = engine_tuning.outcomes(full, results, lambda n: results.get("tune_lrs", ()))
    return out


def figures(full, results, fig_dir, plt) -> list:
    out = defaults.figures(sourced.with_target(full, results), results, fig_dir, plt)
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
    tuned = [n for n in names if f"{n}/tune_val_acc" in results]
    if tuned:
        out.append(_tuning_figure(full, results, tuned, fig_dir, plt))
    return out


def _tuning_figure(full, results, tuned, fig_dir, plt):
    grid = results["tune_lrs"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in tuned:
        acc, div = engine_tuning.finals(results, name)
        line, = ax.plot(grid, acc.mean(axis=0), marker="o", label=f"{name} (chose {engine_tuning.rate_of(full, results, name):g})")
        ax.scatter(np.repeat(grid[None], acc.shape[0], axis=0), acc, s=8, color=line.get_color(), alpha=0.4)
        for k in np.flatnonzero((div >= 0).sum(axis=0)):
            ax.annotate(f"{int((div[:, k] >= 0).sum())}d", (grid[k], acc[:, k].mean()), fontsize=7)
    ax.set(xscale="log", xlabel="learning rate", ylabel="final validation accuracy", ylim=(0, 1),
           title=f"Tuning: {acc.shape[0]} seeds (seed {int(full.params.tune_seed)}), diverged at chance ('Nd')")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(fig_dir, "tuning.png"), dpi=100)
    plt.close(fig)
    return ("Learning-rate tuning on the tuning seeds", "figures/tuning.png")
