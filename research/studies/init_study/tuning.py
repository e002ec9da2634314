"""The init study's learning rates: each tuned arm's rate chosen on tuning seeds the claims never see.

Which arms are tuned (:func:`tuned`): every arm that leaves ``train.lr`` to the base config and whose
activation has a grid in ``params.tune_lrs`` (``{activation: rates}``); an arm that sets its own
``train.lr`` runs at it (the config pins zero init there: its units stay one unit at every rate, so
no rate can rescue it). Tuning (:func:`tune`) trains every tuned arm at every rate of its grid, at
the arm's own budget, through the engine (resumable, checkpointed, the test split never opened) on
``params.tune_seeds`` keys made from ``params.tune_seed`` instead of ``config.seed``, so no scored
run shares a key with a tuning run; :func:`choose` picks the rate with the highest mean final
validation accuracy, a diverged run at chance, never a rate most of whose runs diverged.
"""

from __future__ import annotations

import dataclasses
import math

import ml_collections
import numpy as np

from research.engine import config as config_lib, experiment
from research.engine.claims import select_by_validation


def _grids_rule():
    def rates_ok(v):
        return (isinstance(v, (tuple, list)) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in v)
            and all(a < b for a, b in zip(v, v[1:])))
    ok = lambda v: isinstance(v, dict) and all(isinstance(k, str) and rates_ok(r) for k, r in v.items())
    return ok, ("a dict {activation: strictly increasing list of finite rates > 0} (an activation left out, or "
                "an empty list: its arms run at train.lr)")


PARAMS = {
    "tune_lrs": ({}, _grids_rule()),               # the grids; set in config.py (TUNE_LRS)
    "tune_seeds": (4, config_lib.integer(1)),      # tuning runs per arm and rate
    "tune_seed": (1000, config_lib.integer(0)),    # their keys' base seed; must differ from config.seed
}


def grid(full, name) -> tuple[float, ...]:
    """The rates arm ``name`` is tuned over; empty if it is not tuned."""
    arm = full.arms[name]
    if "lr" in arm.overrides_dict().get("train", {}):
        return ()
    return tuple(float(x) for x in dict(full.params.get("tune_lrs", {})).get(arm.model.activation, ()))


def tuned(full) -> list[str]:
    return [n for n in full.arms if grid(full, n)]


def check(full) -> None:
    """ConfigError, one line, for settings compute cannot honour."""
    if tuned(full) and int(full.params.tune_seed) == full.seed:
        raise config_lib.ConfigError(f"config.params.tune_seed={int(full.params.tune_seed)} is invalid; accepted: a "
                                     f"seed other than config.seed={full.seed} (tuning runs must not share the "
                                     "scored runs' keys)")


def tune_arm(name: str, i: int) -> str:
    """The derived arm training ``name`` at the ``i``-th rate of its grid during tuning."""
    return f"{name}@tune{i:02d}"


def with_lr(full, name, lr) -> dict:
    ov = full.arms[name].overrides_dict()
    return {"model": ov.get("model", {}), "train": dict(ov.get("train", {}), lr=float(lr))}


def tuning_experiment(full) -> experiment.Experiment:
    """``full`` with ``tune_seeds`` keys made from ``tune_seed`` and one arm per tuned arm x grid rate."""
    merged = full.to_dict()
    merged.update(seed=int(full.params.tune_seed), seeds=int(full.params.tune_seeds),
                  arms={tune_arm(n, i): with_lr(full, n, lr) for n in tuned(full) for i, lr in enumerate(grid(full, n))})
    return experiment.resolve(ml_collections.ConfigDict(merged))


def choose(val_acc: np.ndarray, diverged_at: np.ndarray) -> int:
    """Index of the rate chosen from one arm's tuning runs, ``val_acc`` (tune seeds, rates, evals) and
    ``diverged_at`` (tune seeds, rates): the highest mean final validation accuracy, a diverged run at
    chance, a rate most of whose runs diverged never chosen while another is left."""
    return int(select_by_validation({i: (val_acc[:, i], diverged_at[:, i]) for i in range(val_acc.shape[1])}))


def rates(full, results: dict) -> dict[str, float]:
    """Every arm's rate: a tuned arm's chosen from ``results`` (its ``tune_val_acc`` and
    ``tune_diverged_at``), any other arm's ``train.lr``."""
    out = {}
    for n in full.arms:
        g = grid(full, n)
        out[n] = (g[choose(results[f"{n}/tune_val_acc"], results[f"{n}/tune_diverged_at"])] if g
                  else float(full.arms[n].train.lr))
    return out


def tune(ctx, schedules) -> dict[str, np.ndarray]:
    """Train every tuned arm x grid rate on the tuning seeds, one ``ctx.train`` per step schedule
    (``schedules(full, names)``: the names grouped by evaluation steps); per tuned arm
    ``"<arm>/tune_val_acc"`` (tune seeds, rates, evals), ``"<arm>/tune_diverged_at"`` (tune seeds,
    rates) and ``"<arm>/tune_lrs"`` (rates,)."""
    from research.engine import runner  # the engine's own training context, on the tuning seeds

    full = ctx.full
    names = tuned(full)
    if not names:
        return {}
    tfull = tuning_experiment(full)
    sealed = dataclasses.replace(ctx.study, arms_to_test=lambda full, val: set())  # selection never sees test
    tctx = runner.Context(tfull, sealed, ctx.workdir, log=ctx.log, progress=ctx.progress, dataset=ctx.dataset,
                          checkpoint_seconds=ctx.checkpoint_seconds)
    res = {}
    for group in schedules(tfull, list(tfull.arms)):
        res.update(tctx.train(group))
    ctx.group_meta.update(tctx.group_meta)
    ctx.rates.update(tctx.rates)
    out = {}
    for n in names:
        arms = [tune_arm(n, i) for i in range(len(grid(full, n)))]
        out[f"{n}/tune_val_acc"] = np.stack([res[f"{t}/val_acc"] for t in arms], axis=1).astype(np.float64)
        out[f"{n}/tune_diverged_at"] = np.stack([res[f"{t}/diverged_at"] for t in arms], axis=1)
        out[f"{n}/tune_lrs"] = np.asarray(grid(full, n), np.float64)
    return out
