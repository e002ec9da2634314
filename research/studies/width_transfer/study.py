"""The ``width_transfer`` study (Tensor Programs V, Yang et al. 2022): does the learning rate tuned
on a narrow net transfer to wide ones? Under muP it should; under SP it should not.

Each config arm is a parametrization (``model.parametrization``: sp, ntk or mup, with or without
BatchNorm). From each the study derives one arm per width in ``params.widths`` x learning rate
``2^k`` for ``k`` in ``params.log2_lrs`` (hidden layers ``(w,) * params.depth``; for ntk and mup
``base_width`` = the smallest width, where they are SP exactly) and trains them through the engine
(``ctx.train``: resumable, checkpointed): the arms of one width x parametrization differ only in
the traced learning rate, so each is one compiled program over lr grid x seeds. Seed ``s`` has the
same key at every width, rate and parametrization (same minibatch order): comparisons are paired.

The coordinate check (coord.py; microsoft/mup's ``get_coord_data``, TP V Appendix D) runs before training,
in-process and cheap: per arm and width, one jitted program vmapped over seeds takes
``params.coord_steps`` SGD steps at the rate ``2^params.coord_log2_lr`` through the engine's own
training step (:meth:`research.engine.train.Program.step`, so the parametrization's init, forward
and per-layer rates are exactly the training runs'), on the first minibatches of epoch 0, and
after every step measures, on a fixed batch of ``params.coord_batch`` validation images, each
hidden layer's output and the logits: their RMS over batch and units (the "size" of a
coordinate) and the RMS of their change since the previous step. The slope of log(size) vs
log(width) is fitted per seed, layer and step and averaged over steps.

Results: ``<arm>/val_loss``, ``val_acc``, ``train_loss`` (seeds, widths, lrs, evaluations),
``<arm>/diverged_at`` (seeds, widths, lrs), ``<arm>/coord_rms`` (seeds, widths, steps + 1, layers),
``<arm>/coord_delta`` (seeds, widths, steps, layers), ``<arm>/coord_diverged_at`` (seeds, widths),
``widths``, ``log2_lrs``. Layers: the hidden layers' outputs, then the logits.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from research.engine import config as config_lib, stats
from research.engine.claims import CHECK, claim, margins, margins_param, weakest
from research.studies.width_transfer.config import LOG2_LRS, MARGINS, WIDTHS
from research.studies.width_transfer.coord import coord_slopes, coordinate_check, init_logit_slope, mean_alive, slopes  # noqa: F401 (slopes: public here)
from research.studies.width_transfer.figures import figures  # noqa: F401 (the Study interface's figures)


def _increasing_numbers(min_len: int, integers: bool):
    def ok(v):
        return (isinstance(v, (tuple, list)) and len(v) >= min_len
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                        and (not integers or (isinstance(x, int) and x >= 1)) for x in v)
                and all(a < b for a, b in zip(v, v[1:])))
    kind = "integer widths >= 1" if integers else "finite numbers"
    return ok, f"a strictly increasing list of at least {min_len} {kind}"


PARAMS = {
    "widths": (WIDTHS, _increasing_numbers(2, True)),        # the smallest is the base width
    "depth": (3, config_lib.integer(1)),                      # hidden layers, each of width w
    "log2_lrs": (LOG2_LRS, _increasing_numbers(2, False)),    # the grid: lr = 2^k; a grid step is one index
    "coord_log2_lr": (-2.0, config_lib.number(-40, 10)),      # the coordinate check's rate, 2^this
    "coord_steps": (5, config_lib.integer(1)),
    "coord_batch": (256, config_lib.integer(1)),              # validation images the sizes are measured on
    "margins": margins_param(MARGINS),                        # verdict margins, set in config.py
}
TRAINS = True  # compute trains through ctx.train: every arm's program is checked before anything is written
N_BOOT = 2000


# ---------------------------------------------------------------------------------------------
# the grid


def derived(name: str, width: int, i: int) -> str:
    """The derived arm training config arm ``name`` at ``width`` and the ``i``-th grid rate."""
    return f"{name}@w{width}@lr{i:02d}"


def grid_arm(full, name, width, lr, runs_per_call=None) -> dict:
    """Overrides of the arm ``name`` at ``width`` and rate ``lr`` (muP/NTK: base = smallest width)."""
    p = full.params
    ov = full.arms[name].overrides_dict()
    param = full.arms[name].model.parametrization
    model = dict(ov.get("model", {}), hidden=(int(width),) * int(p.depth),
                 base_width=0 if param == "sp" else int(min(p.widths)))
    train = dict(ov.get("train", {}), lr=float(lr))
    if runs_per_call:
        train["runs_per_call"] = int(runs_per_call)
    return {"model": model, "train": train}


def compute(ctx) -> dict[str, np.ndarray]:
    full = ctx.full
    widths, lrs = [int(w) for w in full.params.widths], [float(k) for k in full.params.log2_lrs]
    out = {"widths": np.asarray(widths, np.int64), "log2_lrs": np.asarray(lrs, np.float64)}
    out.update(coordinate_check(ctx))
    # one program per width x parametrization over lrs x seeds, in one slice (no padded runs)
    grid = {derived(n, w, i): grid_arm(full, n, w, 2.0 ** k, runs_per_call=len(lrs) * full.seeds)
            for n in full.arms for w in widths for i, k in enumerate(lrs)}
    res = ctx.train(grid)
    for n in full.arms:
        def stack(key):
            return np.stack([np.stack([np.asarray(res[f"{derived(n, w, i)}/{key}"]) for i in range(len(lrs))], axis=1)
                             for w in widths], axis=1)  # (seeds, widths, lrs, ...)
        for key in ("val_loss", "val_acc", "train_loss"):
            out[f"{n}/{key}"] = stack(key).astype(np.float64)
        out[f"{n}/diverged_at"] = stack("diverged_at")
    out["steps"] = res["steps"]
    return out


def arms_to_test(full, val: dict) -> set:
    """No claim reads the test split: it stays sealed (selection is on validation loss)."""
    return set()


# ---------------------------------------------------------------------------------------------
# selection and claims


def final_losses(results, name, diverged_as=math.inf) -> np.ndarray:
    """Final validation loss per (seed, width, lr); ``diverged_as`` where the run diverged (or its
    loss is not finite): +inf for selection, chance for paired comparisons."""
    loss = results[f"{name}/val_loss"][..., -1]
    bad = (results[f"{name}/diverged_at"] >= 0) | ~np.isfinite(loss)
    return np.where(bad, diverged_as, loss)


def best_index(losses: np.ndarray, rows=None) -> np.ndarray:
    """Per width, the grid index with the lowest mean loss over the seeds ``rows`` (default all;
    repeats allowed: a bootstrap resample); NaN at a width where every rate has a diverged seed."""
    m = (losses if rows is None else losses[np.asarray(rows, dtype=np.int64)]).mean(axis=0)  # (widths, lrs)
    best = np.argmin(np.where(np.isfinite(m), m, np.inf), axis=1).astype(np.float64)
    best[~np.isfinite(m).any(axis=1)] = np.nan
    return best


def deviation(best: np.ndarray) -> float:
    """max over widths of |best index - the base width's| in grid steps; +inf if a width has none."""
    return float(np.max(np.abs(best - best[0]))) if np.all(np.isfinite(best)) else math.inf


def _bootstrap(full, losses, statistic) -> dict:
    """``statistic(best indices per width)`` with a percentile bootstrap interval over seeds (the
    same resamples for every statistic: the key is fixed by the config's seed)."""
    seeds = np.arange(losses.shape[0], dtype=np.float64)
    return stats.bootstrap_ci(seeds, jax.random.key(full.seed), lambda rows: statistic(best_index(losses, rows)),
                              n_boot=N_BOOT)


def best_rates(full, results, name) -> list[dict]:
    """Per width: the best log2 learning rate with its bootstrap 95% interval over seeds (NaN
    where every rate diverged in some seed)."""
    losses, lrs = final_losses(results, name), results["log2_lrs"]

    def rate(k):
        return lambda best: lrs[int(best[k])] if np.isfinite(best[k]) else math.nan
    return [_bootstrap(full, losses, rate(k)) for k in range(len(results["widths"]))]


def _param(full, name) -> str:
    return full.arms[name].model.parametrization


def _rates_text(results, rates) -> str:
    return ", ".join(f"{int(w)}: {r['mean']:g} [{r['ci_low']:g}, {r['ci_high']:g}]"
                     for w, r in zip(results["widths"], rates))


def _n_runs_diverged(results, name) -> str:
    d = results[f"{name}/diverged_at"] >= 0
    return f"{int(d.sum())} of {d.size} runs diverged (seeds x widths x rates)"


def transfer_claims(full, results, name) -> list:
    m = margins(full, MARGINS)
    param, tol = _param(full, name), m["lr_transfer_steps"]
    losses = final_losses(results, name)
    dev = _bootstrap(full, losses, deviation)
    rates = best_rates(full, results, name)
    seeds_dead = int(((results[f"{name}/diverged_at"] >= 0).reshape(losses.shape[0], -1)).any(axis=1).sum())
    where = (f"best log2 lr per width (bootstrap 95% CI over {losses.shape[0]} seeds; lowest mean final "
             f"validation loss, a diverged run counting as +inf): {_rates_text(results, rates)}; "
             f"{_n_runs_diverged(results, name)}; measured: D = max over widths of |best(w) - best(base "
             f"{int(results['widths'][0])})| in grid steps")
    out = []
    if param == "mup":
        out.append(claim(f"width_transfer.{name}.lr_transfers",
                         f"under muP the best learning rate stays within {tol:g} grid step(s) across widths "
                         f"{int(results['widths'][0])}..{int(results['widths'][-1])}: holds if D's CI high end "
                         f"<= {tol:g}; " + where, "Yang et al. 2022 (Tensor Programs V), Figure 1 and Section 3",
                         dev, dev["ci_high"] <= tol, seeds_dead))
        out.append(_wider_is_better(full, results, name, m["wider_worse_max"]))
    elif param == "sp":
        out.append(claim(f"width_transfer.{name}.lr_shifts",
                         f"under SP the best learning rate shifts with width, by more than {tol:g} grid "
                         f"step(s): holds if D's CI low end > {tol:g}; " + where,
                         "Yang et al. 2022 (Tensor Programs V), Figure 1", dev, dev["ci_low"] > tol, seeds_dead))
    return out


def _wider_is_better(full, results, name, tol) -> object:
    chance = math.log(full.num_classes)
    widths = results["widths"]
    best = best_index(final_losses(results, name))
    cid, src = f"width_transfer.{name}.wider_is_better", "Yang et al. 2022 (Tensor Programs V), Figure 1 and Section 3"
    text = (f"under muP, at the transferred rate (the base width's best), wider is never worse: for every pair of "
            f"consecutive widths, final validation loss (wider - narrower, paired by seed, a diverged run at "
            f"chance ln {full.num_classes}) has its 95% CI high end <= {tol:g} nats")
    if not np.isfinite(best[0]):
        nan = {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}
        return claim(cid, text + "; the base width has no rate without a diverged seed", src, nan, False)
    i = int(best[0])
    lc = final_losses(results, name, diverged_as=chance)[:, :, i]       # (seeds, widths)
    pairs = [stats.mean_ci(lc[:, k + 1] - lc[:, k]) for k in range(len(widths) - 1)]
    worst = weakest(pairs, side="high")
    dead = results[f"{name}/diverged_at"][:, :, i] >= 0
    loss_means = ", ".join(f"{int(w)}: {v:.4f}" for w, v in zip(widths, lc.mean(axis=0)))
    text += (f"; rate 2^{results['log2_lrs'][i]:g}, mean final validation loss per width {loss_means}; measured: "
             f"the weakest pair, {int(widths[worst + 1])} - {int(widths[worst])}")
    s = pairs[worst]
    return claim(cid, text, src, s, bool(s["ci_high"] <= tol), int(dead.any(axis=1).sum()))


def _furthest_from_zero(summaries: dict) -> str:
    """The key whose interval reaches furthest from 0 (a NaN interval first: it fails any bound)."""
    def reach(s):
        r = max(abs(s["ci_low"]), abs(s["ci_high"]))
        return math.inf if math.isnan(r) else r
    return max(summaries, key=lambda k: reach(summaries[k]))


def _slopes_text(summaries: dict) -> str:
    return ", ".join(f"{k} {s['mean']:+.3f}" for k, s in summaries.items())


def coord_claims(full, results, name) -> list:
    m = margins(full, MARGINS)
    param = _param(full, name)
    per_seed = coord_slopes(full, results, name)
    summaries = {k: stats.mean_ci(v) for k, v in per_seed.items()}
    n_dead = int((results[f"{name}/coord_diverged_at"] >= 0).any(axis=1).sum())
    seeds = results[f"{name}/coord_rms"].shape[0]
    lr = full.params.coord_log2_lr
    steps = results[f"{name}/coord_delta"].shape[2]
    where = (f"SGD at lr 2^{lr:g} for {steps} steps, widths {int(results['widths'][0])}..{int(results['widths'][-1])}; "
             f"slopes of log(RMS) vs log(width), per seed averaged over steps 1..{steps}: "
             f"{_slopes_text(summaries)} (logits' size at init: {init_logit_slope(results, name):+.3f})")
    src = "Yang et al. 2022 (Tensor Programs V), Appendix D (coordinate check); Yang & Hu 2021 (Tensor Programs IV)"
    if param == "mup":
        tol = m["coord_slope_max"]
        worst = _furthest_from_zero(summaries)
        s = summaries[worst]
        ok = all(-tol <= v["ci_low"] and v["ci_high"] <= tol and v["n"] == seeds for v in summaries.values())
        return [claim(f"width_transfer.{name}.coord_check",
                      f"under muP every layer's activation size and per-step change stay the same as width grows: "
                      f"every slope's 95% CI within +-{tol:g} (a diverged seed fails it); " + where +
                      f"; measured: the slope furthest from 0 ({worst})", src, s, ok and n_dead == 0, n_dead)]
    if param == "sp":
        lo = m["sp_logit_slope_min"]
        s = summaries["logits change"]
        return [claim(f"width_transfer.{name}.coord_check",
                      f"under SP with SGD at a fixed rate the logits' per-step change grows with width (theory: "
                      f"slope +1): its 95% CI low end above {lo:g} (a diverged seed fails it); " + where +
                      "; measured: the logits' change slope", src, s,
                      s["ci_low"] > lo and s["n"] == seeds and n_dead == 0, n_dead)]
    return []


def _base_identical(full, results) -> list:
    """At the base width muP (and NTK) is SP exactly: every loss of the two arms is bitwise equal."""
    sp = [n for n in full.arms if _param(full, n) == "sp"]
    others = [n for n in full.arms if _param(full, n) != "sp"]
    out = []
    for n in others:
        twin = next((s for s in sp if full.arms[s].model.batchnorm == full.arms[n].model.batchnorm), None)
        if twin is None:
            continue
        a, b = results[f"{twin}/val_loss"][:, 0], results[f"{n}/val_loss"][:, 0]
        same = np.array_equal(a, b, equal_nan=True)
        diff = np.abs(a - b)
        worst = float(np.nanmax(diff)) if np.isfinite(diff).any() else 0.0
        s = {"mean": worst, "ci_low": worst, "ci_high": worst, "n": int(a.shape[0])}
        out.append(claim(f"width_transfer.{n}.base_is_sp",
                         f"at the base width {int(results['widths'][0])} {_param(full, n)} is SP exactly: every "
                         f"validation loss of '{n}' equals '{twin}''s bitwise (lr grid x seeds x evaluations); "
                         "measured: the largest difference", "research/lib/parametrization.py (every scale 1 at "
                         "the base width)", s, same, kind=CHECK))
    return out


def _grid_brackets(full, results) -> list:
    """Per config arm (ids stay unique across configs of this study): is every width's best rate
    inside the grid, not at an end (else the optimum may lie outside it)?"""
    out = []
    last = len(results["log2_lrs"]) - 1
    for n in full.arms:
        best = best_index(final_losses(results, n))
        edges = [str(int(w)) for w, b in zip(results["widths"], best) if not (0 < b < last)]
        k = float(len(edges))
        s = {"mean": k, "ci_low": k, "ci_high": k, "n": len(results["widths"])}
        out.append(claim(f"width_transfer.{n}.grid_brackets",
                         f"every width's best rate under '{n}' is inside the grid 2^{results['log2_lrs'][0]:g}.."
                         f"2^{results['log2_lrs'][-1]:g}, not at an end (else the optimum may lie outside it); "
                         "measured: widths whose best rate is at an end or undefined"
                         f"{': ' + ', '.join(edges) if edges else ''}", "the study's design", s, not edges, kind=CHECK))
    return out


def claims(full, results) -> list:
    out = []
    for n in full.arms:
        out += transfer_claims(full, results, n) + coord_claims(full, results, n)
    return out + _base_identical(full, results) + _grid_brackets(full, results)


# ---------------------------------------------------------------------------------------------
# summary and figures


def arm_summary(full, results) -> dict:
    out = {}
    for n in full.arms:
        losses = final_losses(results, n, diverged_as=math.nan)
        acc = np.where(np.isfinite(losses), results[f"{n}/val_acc"][..., -1], np.nan)
        best = best_index(final_losses(results, n))
        rates = best_rates(full, results, n)
        i0 = best[0]
        dead = results[f"{n}/diverged_at"] >= 0
        for k, w in enumerate(results["widths"]):
            at = lambda a, i: a[:, k, int(i)] if np.isfinite(i) else np.full(a.shape[0], np.nan)
            out[f"{n}@{int(w)}"] = {
                "best_log2_lr": rates[k],
                "val_loss_at_best": stats.mean_ci(at(losses, best[k])),
                "val_loss_at_transferred": stats.mean_ci(at(losses, i0)),
                "val_acc_at_transferred": stats.mean_ci(at(acc, i0)),
                "n_seeds": int(losses.shape[0]),
                "n_diverged": int(dead[:, k].sum()),
            }
    return out


def summary(full, results) -> dict:
    curves = {}
    for n in full.arms:
        losses = final_losses(results, n, diverged_as=math.nan)
        dead = (results[f"{n}/diverged_at"] >= 0).sum(axis=0)
        curves[n] = {str(int(w)): {"val_loss_mean": [None if not np.isfinite(v) else float(v)
                                                     for v in mean_alive(losses[:, k])],
                                   "n_diverged": [int(d) for d in dead[k]]}
                     for k, w in enumerate(results["widths"])}
    slopes_ = {n: {k: stats.mean_ci(v) for k, v in coord_slopes(full, results, n).items()} for n in full.arms}
    return {"arms": arm_summary(full, results), "log2_lrs": [float(v) for v in results["log2_lrs"]],
            "widths": [int(w) for w in results["widths"]], "curves": curves, "coord_slopes": slopes_}
