"""The batchnorm study's learning rates: each tuned arm's rate chosen on tuning seeds the claims never
see, and the other arms at a multiple of the no-BN arm's chosen rate.

Roles (:func:`roles`): an arm named in ``params.lr_multiples`` is a *fast* arm, run at that multiple of
the tuned no-BN arm's rate; every other arm is *tuned* over the one grid ``params.tune_lrs``
(:func:`grids`). The tuning itself (separate seeds, the test split never opened, the choice) is the
engine's (``research/engine/tuning.py``); :func:`tune` adds the grid to what it stores.
"""

from __future__ import annotations

import math

import numpy as np

from research.engine import config as config_lib, tuning
from research.engine.claims import arm_value


def _multiples_rule():
    def ok(v):
        return isinstance(v, dict) and all(
            isinstance(k, str) and isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0
            for k, x in v.items())
    return ok, "a dict {arm name: multiple > 0 of the tuned no-BN arm's rate}"


PARAMS = {
    "tune_lrs": ((), tuning.rates_rule("empty: no tuning, tuned arms run at train.lr")),  # set in config.py (TUNE_LRS)
    **tuning.PARAMS,                                      # tune_seeds, tune_seed
    "lr_multiples": ({}, _multiples_rule()),              # fast arms: multiple of the tuned no-BN rate
}


def _bn(full, name) -> bool:
    return bool(arm_value(full, name, "model", "batchnorm"))


def roles(full) -> dict:
    """``{"plain", "bn", "plain_fast", "bn_fast"}``: the first tuned arm without / with BN and the first
    fast arm without / with BN, None where the config has none (a claim needing it is then left out)."""
    fast = dict(full.params.get("lr_multiples", {}))
    out = {}
    for key, is_fast, with_bn in (("plain", False, False), ("bn", False, True),
                                  ("plain_fast", True, False), ("bn_fast", True, True)):
        out[key] = next((n for n in full.arms if (n in fast) is is_fast and _bn(full, n) is with_bn), None)
    return out


def grids(full) -> dict[str, list[float]]:
    """``{tuned arm: the grid}``: every arm not in ``lr_multiples``, all over ``params.tune_lrs``."""
    grid = [float(x) for x in full.params.tune_lrs]
    return {n: grid for n in full.arms if n not in dict(full.params.lr_multiples)}


def check(full) -> None:
    """ConfigError, one line, for settings compute cannot honour."""
    p = full.params
    fast = dict(p.lr_multiples)
    unknown = [n for n in fast if n not in full.arms]
    if unknown:
        raise config_lib.ConfigError(f"config.params.lr_multiples names {unknown[0]!r}, not an arm; accepted: "
                                     f"names among {', '.join(full.arms)}")
    if fast and roles(full)["plain"] is None:
        raise config_lib.ConfigError(f"config.params.lr_multiples={fast!r} is invalid; accepted: multiples of the "
                                     "tuned no-BN arm's rate, so an arm without BN must be left out of it")
    tuning.check_seed(full, grids(full), runs="claim")


def rates(full, tuned_results: dict) -> dict[str, float]:
    """Every arm's rate: a tuned arm's chosen from ``tuned_results`` (``"<arm>/tune_val_acc"``,
    ``"<arm>/tune_diverged_at"``; its ``train.lr`` when the grid is empty), a fast arm's its multiple
    of the no-BN arm's."""
    grid = [float(x) for x in full.params.tune_lrs]
    fast = dict(full.params.lr_multiples)
    grids = {n: grid for n in full.arms if n not in fast}  # a fast arm's rate is its multiple, below
    out = {n: r for n, r in tuning.rates(full, grids, tuned_results).items() if n not in fast}
    base = out.get(roles(full)["plain"])
    out.update({n: float(k) * base for n, k in fast.items() if n in full.arms})
    return out


def tune(ctx) -> dict[str, np.ndarray]:
    """The engine's tuning of every tuned arm x grid rate, and the grid: ``{"tune_lrs": (rates,),
    "<arm>/tune_val_acc": (tune seeds, rates, evals), "<arm>/tune_diverged_at": (tune seeds, rates)}``."""
    out = {"tune_lrs": np.asarray([float(x) for x in ctx.full.params.tune_lrs], np.float64)}
    out.update(tuning.tune(ctx, grids(ctx.full)))
    return out


def train_arms(full, arm_rates: dict) -> dict:
    """The config's arms with their rates set, to train under their own names."""
    return {n: tuning.with_lr(full, n, arm_rates[n]) for n in full.arms}
