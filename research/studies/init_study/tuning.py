"""The init study's learning rates: each tuned arm's rate chosen on tuning seeds the claims never see.

Which arms are tuned (:func:`tuned`): every arm that leaves ``train.lr`` to the base config and whose
activation has a grid in ``params.tune_lrs`` (``{activation: rates}``); an arm that sets its own
``train.lr`` runs at it (the config pins zero init there: its units stay one unit at every rate, so
no rate can rescue it). The tuning itself (separate seeds, the test split never opened, the choice:
never a rate most of whose runs diverged) is the engine's (``research/engine/tuning.py``); here each
arm is tuned at its own budget (``schedules``) and its grid is stored beside its tuning runs.
"""

from __future__ import annotations

import numpy as np

from research.engine import tuning
from research.engine.tuning import with_lr  # noqa: F401  (study.py sets each arm's chosen rate with it)


def _grids_rule():
    ok = lambda v: isinstance(v, dict) and all(isinstance(k, str) and tuning.rates_ok(r) for k, r in v.items())
    return ok, (f"a dict {{activation: {tuning.RATES}}} (an activation left out, or "
                "an empty list: its arms run at train.lr)")


PARAMS = {
    "tune_lrs": ({}, _grids_rule()),               # the grids; set in config.py (TUNE_LRS)
    **tuning.PARAMS,                               # tune_seeds, tune_seed
}


def grid(full, name) -> tuple[float, ...]:
    """The rates arm ``name`` is tuned over; empty if it is not tuned."""
    arm = full.arms[name]
    if "lr" in arm.overrides_dict().get("train", {}):
        return ()
    return tuple(float(x) for x in dict(full.params.get("tune_lrs", {})).get(arm.model.activation, ()))


def tuned(full) -> list[str]:
    return [n for n in full.arms if grid(full, n)]


def grids(full) -> dict[str, tuple[float, ...]]:
    """``{tuned arm: its grid}``, in arm order."""
    return {n: grid(full, n) for n in tuned(full)}


def check(full) -> None:
    """ConfigError, one line, for settings compute cannot honour."""
    tuning.check_seed(full, grids(full), runs="scored")


def rates(full, results: dict) -> dict[str, float]:
    """Every arm's rate: a tuned arm's chosen from ``results`` (its ``tune_val_acc`` and
    ``tune_diverged_at``), any other arm's ``train.lr``."""
    return tuning.rates(full, {n: grid(full, n) for n in full.arms}, results)


def tune(ctx, schedules) -> dict[str, np.ndarray]:
    """The engine's tuning of every tuned arm x grid rate, one ``ctx.train`` per step schedule
    (``schedules(full, names)``: the names grouped by evaluation steps); per tuned arm
    ``"<arm>/tune_val_acc"`` (tune seeds, rates, evals), ``"<arm>/tune_diverged_at"`` (tune seeds,
    rates) and ``"<arm>/tune_lrs"`` (rates,)."""
    g = grids(ctx.full)
    res = tuning.tune(ctx, g, schedules)
    out = {}
    for n, rates_n in g.items():  # each arm's three arrays together, the order the workdir has always had
        out.update({f"{n}/{k}": res[f"{n}/{k}"] for k in ("tune_val_acc", "tune_diverged_at")})
        out[f"{n}/tune_lrs"] = np.asarray(rates_n, np.float64)
    return out
