"""The main study (study note 004, notes 000-002): the 4-hidden-layer MNIST net from six inits.

``compute`` first chooses each tuned arm's learning rate on separate tuning seeds
(:mod:`research.studies.init_study.tuning`), then trains every arm at its rate through the engine,
one ``ctx.train`` per step schedule (the sigmoid arms train longer than the ReLU arms, so their
evaluation steps differ). Results: the engine's per-arm arrays, ``"<arm>/steps"`` (seeds, evals) the
step of each evaluation, ``"<arm>/lr"`` (seeds,) the rate the arm ran at, and per tuned arm
``"<arm>/tune_val_acc"``, ``"<arm>/tune_diverged_at"``, ``"<arm>/tune_lrs"``.

Claims, per family of arms: zero init stays at chance, 0.01*randn stalls in the deep net, the
variance-scaled inits train; with each arm's time to ``eval.target_accuracy`` (Kaplan-Meier, a seed
that never reaches it censored at the budget). A family is the activation under the softmax output,
or ``notes`` for the notes' own regime (sigmoid units and outputs, squared error).
"""

from __future__ import annotations

import math

import jax
import numpy as np

from research.engine import stats, tuning as engine_tuning
from research.engine.claims import arm_value, claim, diverged, final, first_reach, margins, margins_param, weakest
from research.studies.init_study import tuning
from research.studies.init_study.config import MARGINS
from research.studies.init_study.figures import figures  # noqa: F401  (the Study interface's figures)

PARAMS = {"margins": margins_param(MARGINS), **tuning.PARAMS}  # margins and the rate grids: set in config.py
TRAINS = True  # compute trains through ctx.train: every arm's program is checked before anything is written
SPLITS = True  # data is read only through ctx.train: data.split_seeds may resample the split per seed
SCALED = ("lecun_normal", "xavier_normal", "he_normal")


def schedules(full, names) -> list[list[str]]:
    """``names`` grouped by what fixes their evaluation steps (one ``ctx.train`` each: its ``steps``)."""
    by: dict = {}
    for n in names:
        t = full.arms[n].train
        by.setdefault((t.batch_size, t.epochs, t.max_steps, t.evals_per_epoch), []).append(n)
    return list(by.values())


def compute(ctx) -> dict:
    full = ctx.full
    tuning.check(full)
    out = tuning.tune(ctx, schedules)
    arm_rates = tuning.rates(full, out)
    groups = schedules(full, list(full.arms))
    for group in groups:
        res = ctx.train({n: tuning.with_lr(full, n, arm_rates[n]) for n in group})
        out.update({k: v for k, v in res.items() if k != "steps"})
        out.update({f"{n}/steps": np.tile(np.asarray(res["steps"]), (full.seeds, 1)) for n in group})
        if len(groups) == 1:
            out["steps"] = res["steps"]
    out.update(engine_tuning.rate_arrays(full, arm_rates))
    return out


# ---------------------------------------------------------------------------------------------
# reading the results


def steps_of(results, name) -> np.ndarray:
    """The step of each of ``name``'s evaluations (a workdir from before per-arm steps: the shared ones)."""
    key = f"{name}/steps"
    return np.asarray(results[key])[0] if key in results else np.asarray(results["steps"])


def has_steps(results, name) -> bool:
    return f"{name}/steps" in results or "steps" in results


def time_to_target(results, name, target) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: (the first evaluated step at or above ``target``, or the budget where none is;
    whether it was reached). A diverged seed never reached it (divergence is failure), censored at
    the budget like a seed that ran out of steps."""
    steps = steps_of(results, name)
    first = first_reach(results, name, target, steps)
    reached = np.isfinite(first) & (np.asarray(results[f"{name}/diverged_at"]) < 0)
    return np.where(reached, first, steps[-1]).astype(np.float64), reached


def reach_summary(results, name, target) -> dict:
    """Kaplan-Meier median and quartiles of the steps to ``target`` (None: beyond the budget), the
    fraction of seeds that reached it, and the budget."""
    times, reached = time_to_target(results, name, target)
    q = {f"km_{k}": stats.km_quantile(times, reached, p) for k, p in (("q25", 0.25), ("median", 0.5), ("q75", 0.75))}
    return {**{k: (v if math.isfinite(v) else None) for k, v in q.items()},
            "fraction_reached": float(reached.mean()), "n": int(reached.size), "budget": int(steps_of(results, name)[-1])}


def _reach_text(results, name, target) -> str:
    r = reach_summary(results, name, target)
    med = f"{r['km_median']:.0f}" if r["km_median"] is not None else f">{r['budget']}"
    return f"{med} ({int(round(r['fraction_reached'] * r['n']))}/{r['n']})"


def family(full, name) -> str:
    """The claim family of arm ``name``: its activation under the softmax output; ``notes`` for the
    notes' sigmoid units with sigmoid outputs and squared error; else activation_loss."""
    act, loss = arm_value(full, name, "model", "activation"), arm_value(full, name, "train", "loss")
    if loss == "softmax_ce":
        return act
    return "notes" if (act, loss) == ("sigmoid", "sigmoid_mse") else f"{act}_{loss}"


def _arm(full, fam: str, init: str) -> str | None:
    """The first arm of this family with this weight init."""
    return next((n for n in full.arms if family(full, n) == fam
                 and arm_value(full, n, "model", "weight_init") == init), None)


def _regime(full, results, names) -> str:
    """How the arms ``names`` were trained: rule, batch, budget, pixels, rates and how they were chosen."""
    a = full.arms[names[0]]
    t = a.train
    pixels = "[0, 1] pixels" if full.data.get("normalize", "standardize") == "unit" else "standardized pixels"
    budget = int(steps_of(results, names[0])[-1]) if has_steps(results, names[0]) else "?"
    rates = ", ".join(f"{arm_value(full, n, 'model', 'weight_init')} {engine_tuning.rate_of(full, results, n):g}" for n in names)
    grids = {n: tuning.grid(full, n) for n in names}
    tuned = [g for g in grids.values() if g]
    how = (f"{'each ' if len(names) > 1 else ''}chosen on {int(full.params.tune_seeds)} separate tuning seeds from "
           f"{{{', '.join(f'{x:g}' for x in tuned[0])}}}" if tuned else "fixed in the config")
    plural = "s" if len(names) > 1 else ""
    return f"{t.optimizer}, {t.loss}, batch {t.batch_size}, {budget} updates, {pixels}; rate{plural} {rates} ({how})"


def claims(full, results) -> list:
    """Study note 004 (and notes 000-002): zero init stays at chance, small random stalls in the
    deep sigmoid net, variance-scaled inits train."""
    out = []
    m = margins(full, MARGINS)
    stuck_max, trains_min = m["stuck_max"], m["trains_min"]
    target = full.eval.target_accuracy
    for fam in sorted({family(full, n) for n in full.arms}):
        stuck = (("zeros", "zeros_at_chance", f"all-zero init stays at chance ({fam})", "notes 000-002, 004"),
                 ("small_random", "small_random_stalls",
                  f"0.01*randn init stalls in the 4-hidden-layer {fam} net", "note 004"))
        for init, suffix, text, source in stuck:
            name = _arm(full, fam, init)
            if name:
                s = stats.mean_ci(final(results, name))
                out.append(claim(f"init_study.{fam}.{suffix}",
                                 f"{text}: final validation accuracy below {stuck_max:g} (95% CI); "
                                 f"{_regime(full, results, [name])}", source, s, s["ci_high"] < stuck_max,
                                 diverged(results, name)))
        scaled = [n for n in (_arm(full, fam, i) for i in SCALED) if n]
        if scaled:
            summaries = [stats.mean_ci(final(results, n)) for n in scaled]
            worst = summaries[weakest(summaries, "low")]  # the lowest CI lower end: every arm's is tested
            reach = (", ".join(f"{arm_value(full, n, 'model', 'weight_init')} {_reach_text(results, n, target)}"
                               for n in scaled) if all(has_steps(results, n) for n in scaled) else "not recorded")
            out.append(claim(f"init_study.{fam}.scaled_inits_train",
                             f"variance-scaled inits (lecun, xavier, he) train the {fam} net: each reaches final "
                             f"validation accuracy >= {trains_min:g} (95% CI lower end; shown: the arm whose lower "
                             f"end is lowest; a diverged seed at chance). {_regime(full, results, scaled)}. Steps to "
                             f"{target:g} validation accuracy, Kaplan-Meier median (seeds reaching it / seeds; a "
                             f"seed that never does is censored at the budget): {reach}",
                             "notes 002, 004", worst, worst["ci_low"] >= trains_min, diverged(results, *scaled)))
    return out


def summary(full, results) -> dict:
    """Per arm: final validation and test accuracy, the rate it ran at, steps to the target (mean over
    the seeds that reached it, as the report's table says, and the censoring-aware Kaplan-Meier
    summary), divergence. Diverged seeds are counted and left out of the accuracy means."""
    target = full.eval.target_accuracy
    arms = {}
    for name in full.arms:
        val = np.asarray(results[f"{name}/val_acc"])
        alive = np.asarray(results[f"{name}/diverged_at"]) < 0
        times, reached = time_to_target(results, name, target)
        arms[name] = {
            "n_seeds": int(val.shape[0]),
            "n_diverged": int((~alive).sum()),
            "lr": engine_tuning.rate_of(full, results, name),
            "final_val_acc": stats.mean_ci(val[alive, -1]),
            # interquartile mean with a percentile bootstrap interval (fixed key: same arrays, same numbers)
            "final_val_acc_iqm": stats.bootstrap_ci(val[alive, -1], jax.random.key(0)),
            "test_acc": stats.mean_ci(np.asarray(results[f"{name}/test_acc"])[alive]),
            "final_train_loss": stats.mean_ci(np.asarray(results[f"{name}/train_loss"])[alive, -1]),
            "steps_to_target": stats.mean_ci(np.where(reached, times, np.nan)),
            "n_reached_target": int(reached.sum()),
            "time_to_target": reach_summary(results, name, target),
        }
    return {"target_accuracy": target, "arms": arms}
