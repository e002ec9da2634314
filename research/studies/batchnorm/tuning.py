"""The batchnorm study's learning rates: each tuned arm's rate chosen on tuning seeds the claims never
see, and the other arms at a multiple of the no-BN arm's chosen rate.

Roles (:func:`roles`): an arm named in ``params.lr_multiples`` is a *fast* arm, run at that multiple of
the tuned no-BN arm's rate; every other arm is *tuned*. Tuning (:func:`tune`) trains every tuned arm
at every rate of ``params.tune_lrs`` through the engine (resumable, checkpointed, the test split never
opened) with ``params.tune_seeds`` keys made from ``params.tune_seed`` instead of ``config.seed``, so
no claim run shares a key with a tuning run; :func:`choose` picks the rate.
"""

from __future__ import annotations

import dataclasses
import math

import ml_collections
import numpy as np

from research.engine import config as config_lib, experiment
from research.engine.claims import arm_value, select_by_validation


def _rates_rule():
    def ok(v):
        return (isinstance(v, (tuple, list)) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in v)
            and all(a < b for a, b in zip(v, v[1:])))
    return ok, "a strictly increasing list of finite rates > 0 (empty: no tuning, tuned arms run at train.lr)"


def _multiples_rule():
    def ok(v):
        return isinstance(v, dict) and all(
            isinstance(k, str) and isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0
            for k, x in v.items())
    return ok, "a dict {arm name: multiple > 0 of the tuned no-BN arm's rate}"


PARAMS = {
    "tune_lrs": ((), _rates_rule()),                     # the grid; set in config.py (TUNE_LRS)
    "tune_seeds": (4, config_lib.integer(1)),             # tuning runs per rate
    "tune_seed": (1000, config_lib.integer(0)),           # their keys' base seed; must differ from config.seed
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
    if len(p.tune_lrs) and int(p.tune_seed) == full.seed:
        raise config_lib.ConfigError(f"config.params.tune_seed={int(p.tune_seed)} is invalid; accepted: a seed other "
                                     f"than config.seed={full.seed} (tuning runs must not share the claim runs' keys)")


def tune_arm(name: str, i: int) -> str:
    """The derived arm training ``name`` at the ``i``-th grid rate during tuning."""
    return f"{name}@tune{i:02d}"


def _with_lr(full, name, lr) -> dict:
    ov = full.arms[name].overrides_dict()
    return {"model": ov.get("model", {}), "train": dict(ov.get("train", {}), lr=float(lr))}


def tuning_experiment(full) -> experiment.Experiment:
    """``full`` with its keys made from ``tune_seed`` (``tune_seeds`` of them) and one arm per tuned arm
    x grid rate."""
    grid = [float(x) for x in full.params.tune_lrs]
    tuned = [n for n in full.arms if n not in dict(full.params.lr_multiples)]
    merged = full.to_dict()
    merged.update(seed=int(full.params.tune_seed), seeds=int(full.params.tune_seeds),
                  arms={tune_arm(n, i): _with_lr(full, n, lr) for n in tuned for i, lr in enumerate(grid)})
    return experiment.resolve(ml_collections.ConfigDict(merged))


def choose(val_acc: np.ndarray, diverged_at: np.ndarray) -> int:
    """Index of the grid rate chosen from one arm's tuning runs, ``val_acc`` (tune seeds, rates, evals)
    and ``diverged_at`` (tune seeds, rates): ``select_by_validation``'s highest mean final validation
    accuracy, a diverged run at chance, a rate most of whose runs diverged never chosen while another
    is left."""
    val = {i: (val_acc[:, i], diverged_at[:, i]) for i in range(val_acc.shape[1])}
    return int(select_by_validation(val))


def rates(full, tuned_results: dict) -> dict[str, float]:
    """Every arm's rate: a tuned arm's chosen from ``tuned_results`` (``"<arm>/tune_val_acc"``,
    ``"<arm>/tune_diverged_at"``; its ``train.lr`` when the grid is empty), a fast arm's its multiple
    of the no-BN arm's."""
    grid = [float(x) for x in full.params.tune_lrs]
    fast = dict(full.params.lr_multiples)
    out = {}
    for n in full.arms:
        if n in fast:
            continue
        out[n] = (grid[choose(tuned_results[f"{n}/tune_val_acc"], tuned_results[f"{n}/tune_diverged_at"])]
                  if grid else float(arm_value(full, n, "train", "lr")))
    base = out.get(roles(full)["plain"])
    out.update({n: float(k) * base for n, k in fast.items() if n in full.arms})
    return out


def tune(ctx) -> dict[str, np.ndarray]:
    """Train every tuned arm x grid rate on the tuning seeds; ``{"<arm>/tune_val_acc": (tune seeds,
    rates, evals), "<arm>/tune_diverged_at": (tune seeds, rates), "tune_lrs": (rates,)}``."""
    from research.engine import runner  # the engine's own training context, on the tuning seeds

    full = ctx.full
    grid = [float(x) for x in full.params.tune_lrs]
    out = {"tune_lrs": np.asarray(grid, np.float64)}
    if not grid:
        return out
    tfull = tuning_experiment(full)
    sealed = dataclasses.replace(ctx.study, arms_to_test=lambda full, val: set())  # selection never sees test
    tctx = runner.Context(tfull, sealed, ctx.workdir, log=ctx.log, progress=ctx.progress, dataset=ctx.dataset,
                          checkpoint_seconds=ctx.checkpoint_seconds)
    res = tctx.train()
    ctx.group_meta.update(tctx.group_meta)
    ctx.rates.update(tctx.rates)
    for n in full.arms:
        if n in dict(full.params.lr_multiples):
            continue
        names = [tune_arm(n, i) for i in range(len(grid))]
        out[f"{n}/tune_val_acc"] = np.stack([res[f"{t}/val_acc"] for t in names], axis=1).astype(np.float64)
        out[f"{n}/tune_diverged_at"] = np.stack([res[f"{t}/diverged_at"] for t in names], axis=1)
    return out


def train_arms(full, arm_rates: dict) -> dict:
    """The config's arms with their rates set, to train under their own names."""
    return {n: _with_lr(full, n, arm_rates[n]) for n in full.arms}
