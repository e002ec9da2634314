"""Learning-rate tuning: train arms at each rate of their grid on tuning seeds the scored runs never
share, and choose by validation.

A study says which arms are tuned and over which rates (``grids``: ``{arm: rates}``, an arm with an
empty grid is not tuned) and what to do with the choice; this module does the rest. :func:`tune`
trains one derived arm per arm x rate (:func:`tune_arm`) through the engine (resumable,
checkpointed, the test split never opened) on ``params.tune_seeds`` keys made from
``params.tune_seed`` instead of ``config.seed``, so no scored run shares a key with a tuning run;
:func:`choose` picks the rate from those runs' validation curves only.
"""

from __future__ import annotations

import dataclasses
import math

import ml_collections
import numpy as np

from research.engine import config as config_lib, experiment as experiment_lib
from research.engine.claims import CHANCE, select_by_validation

# A study that tunes spreads these into its own PARAMS, beside its grid (whose shape is its own).
PARAMS = {
    "tune_seeds": (4, config_lib.integer(1)),      # tuning runs per arm and rate
    "tune_seed": (1000, config_lib.integer(0)),    # their keys' base seed; must differ from config.seed
}

RATES = "strictly increasing list of finite rates > 0"  # what rates_ok accepts, for a study's rule text


def rates_ok(v) -> bool:
    """One grid: strictly increasing finite rates > 0 (increasing so that a grid names each rate once
    and its index order is the rate order)."""
    return (isinstance(v, (tuple, list)) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in v)
        and all(a < b for a, b in zip(v, v[1:])))


def rates_rule(empty: str):
    """A config rule for a grid given as one list; ``empty`` says what an empty list means."""
    return rates_ok, f"a {RATES} ({empty})"


def check_seed(full, grids: dict, runs: str = "scored") -> None:
    """ConfigError, one line, when something is tuned on ``config.seed`` itself: the tuning keys would
    then be the ``runs`` runs' keys and the choice would see the runs it is meant to be blind to."""
    if any(len(g) for g in grids.values()) and int(full.params.tune_seed) == full.seed:
        raise config_lib.ConfigError(f"config.params.tune_seed={int(full.params.tune_seed)} is invalid; accepted: a "
                                     f"seed other than config.seed={full.seed} (tuning runs must not share the "
                                     f"{runs} runs' keys)")


def tune_arm(name: str, i: int) -> str:
    """The derived arm training ``name`` at the ``i``-th rate of its grid during tuning."""
    return f"{name}@tune{i:02d}"


def with_lr(full, name, lr) -> dict:
    """Arm ``name``'s overrides with ``train.lr`` set to ``lr``: a new arm to resolve or train."""
    ov = full.arms[name].overrides_dict()
    return {"model": ov.get("model", {}), "train": dict(ov.get("train", {}), lr=float(lr))}


def experiment(full, grids: dict) -> experiment_lib.Experiment:
    """``full`` with ``tune_seeds`` keys made from ``tune_seed`` and one arm per arm x rate of ``grids``
    (in ``grids``' order: the order decides the groups, so the same grids give the same programs)."""
    merged = full.to_dict()
    merged.update(seed=int(full.params.tune_seed), seeds=int(full.params.tune_seeds),
                  arms={tune_arm(n, i): with_lr(full, n, lr) for n, g in grids.items() for i, lr in enumerate(g)})
    return experiment_lib.resolve(ml_collections.ConfigDict(merged))


def choose(val_acc: np.ndarray, diverged_at: np.ndarray) -> int:
    """Index of the rate chosen from one arm's tuning runs, ``val_acc`` (tune seeds, rates, evals) and
    ``diverged_at`` (tune seeds, rates): ``select_by_validation``'s highest mean final validation
    accuracy, a diverged run at chance, a rate most of whose runs diverged never chosen while another
    is left."""
    return int(select_by_validation({i: (val_acc[:, i], diverged_at[:, i]) for i in range(val_acc.shape[1])}))


def rates(full, grids: dict, results) -> dict[str, float]:
    """Every arm's rate: an arm with a non-empty grid in ``grids`` at the rate :func:`choose` picks from
    its tuning runs in ``results`` (``"<arm>/tune_val_acc"``, ``"<arm>/tune_diverged_at"``), any other
    arm at its ``train.lr``; in config order."""
    return {n: (float(grids[n][choose(results[f"{n}/tune_val_acc"], results[f"{n}/tune_diverged_at"])])
                if len(grids.get(n, ())) else float(full.arms[n].train.lr)) for n in full.arms}


def finals(results, name, diverged_as: float = CHANCE) -> tuple[np.ndarray, np.ndarray]:
    """Arm ``name``'s tuning runs: final validation accuracy (tune seeds, rates), a diverged run at
    ``diverged_as``, and ``diverged_at`` (tune seeds, rates)."""
    div = results[f"{name}/tune_diverged_at"]
    return np.where(div < 0, results[f"{name}/tune_val_acc"][..., -1], diverged_as), div


def outcomes(full, results, grid_of) -> dict:
    """Per tuned arm (one with tuning runs in ``results``), its grid's outcome for a summary: the rates
    (``grid_of(name)``), the mean final validation accuracy per rate over the tuning seeds (a diverged
    run at chance), the diverged runs per rate, and the rate chosen (:func:`rate_of`)."""
    out = {}
    for n in full.arms:
        if f"{n}/tune_val_acc" in results:
            acc, div = finals(results, n)
            out[n] = {"lrs": [float(x) for x in grid_of(n)], "final_val_acc": acc.mean(axis=0).tolist(),
                      "n_diverged": (div >= 0).sum(axis=0).tolist(), "chosen": rate_of(full, results, n)}
    return out


def describe(full, results, untuned: str = "rates from the config, no tuning") -> str:
    """How the rates of a run were chosen, for a claim's text: the grid (saved as ``"tune_lrs"``),
    the tuning seeds and the rule, or ``untuned`` when nothing was tuned."""
    grid = results.get("tune_lrs", ())
    if len(grid) == 0:
        return untuned
    return (f"each tuned arm's rate the best mean final validation accuracy of {{{', '.join(f'{x:g}' for x in grid)}}} "
            f"on {int(full.params.tune_seeds)} tuning seeds (seed {int(full.params.tune_seed)}), not the claim's")


def rate_arrays(full, rates: dict) -> dict[str, np.ndarray]:
    """``{"<arm>/lr": (seeds,)}``: the rate each arm trained at, saved with its results (seed axis
    first, like every per-arm array) so that claims and reports read it back with :func:`rate_of`."""
    return {f"{n}/lr": np.full((full.seeds,), r) for n, r in rates.items()}


def rate_of(full, results, name) -> float:
    """The rate arm ``name`` trained at, as :func:`rate_arrays` recorded it (a workdir from before
    tuning has no record: then the config's ``train.lr``)."""
    key = f"{name}/lr"
    return float(results[key][0]) if key in results else float(full.arms[name].train.lr)


def tune(ctx, grids: dict, schedules=None, start=None) -> dict[str, np.ndarray]:
    """Train every arm x rate of ``grids`` on the tuning seeds; per arm with a non-empty grid
    ``"<arm>/tune_val_acc"`` (tune seeds, rates, evals) and ``"<arm>/tune_diverged_at"`` (tune seeds,
    rates); ``{}`` when nothing is tuned. ``schedules(full, names)``, if given, groups the tuning arms
    (one ``ctx.train`` per group, e.g. by evaluation steps); otherwise one ``ctx.train`` trains them all.
    ``start``: the study's start hook (``ctx.train``'s), so an arm is tuned as it is trained (e.g.
    LSUV applied to each tuning run's draw); it sees the tuning arm's name, ``"<arm>@tuneNN"``."""
    from research.engine import runner  # the engine's own training context, loaded when tuning starts

    grids = {n: tuple(g) for n, g in grids.items() if len(g)}
    if not grids:
        return {}
    tfull = experiment(ctx.full, grids)
    sealed = dataclasses.replace(ctx.study, arms_to_test=lambda full, val: set())  # selection never sees test
    tctx = runner.Context(tfull, sealed, ctx.workdir, log=ctx.log, progress=ctx.progress, dataset=ctx.dataset,
                          checkpoint_seconds=ctx.checkpoint_seconds)
    if schedules is None:
        res = tctx.train(start=start)
    else:
        res = {}
        for group in schedules(tfull, list(tfull.arms)):
            res.update(tctx.train(group, start=start))
    ctx.group_meta.update(tctx.group_meta)  # the tuning programs' compile times and rates, in meta.json
    ctx.rates.update(tctx.rates)
    out = {}
    for n, g in grids.items():
        arms = [tune_arm(n, i) for i in range(len(g))]
        out[f"{n}/tune_val_acc"] = np.stack([res[f"{t}/val_acc"] for t in arms], axis=1).astype(np.float64)
        out[f"{n}/tune_diverged_at"] = np.stack([res[f"{t}/diverged_at"] for t in arms], axis=1)
    return out
