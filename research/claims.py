"""What each study claims, measured: ``{"id", "claim", "source", "measured", "ci_low", "ci_high", "holds"}``.

A claim's verdict is decided by its confidence interval over seeds, never by the mean alone, and a
claim that does not hold is reported as such: a measurement disagreeing with the notes is a result.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from research import stats

CHANCE = 0.1


def claim(id_: str, text: str, source: str, summary: dict, holds: bool) -> dict:
    return {"id": id_, "claim": text, "source": source, "measured": summary["mean"],
            "ci_low": summary["ci_low"], "ci_high": summary["ci_high"], "holds": bool(holds)}


def _arm(full, activation: str, init: str) -> str | None:
    for name, arm in full.arms.items():
        model = arm.get("model", {})
        if model.get("activation", full.model.activation) == activation and \
                model.get("weight_init", full.model.weight_init) == init:
            return name
    return None


def _final(results, name):
    alive = results[f"{name}/diverged_at"] < 0
    return results[f"{name}/val_acc"][alive, -1]


def init_study(full, results, summary) -> list[dict]:
    """Study note 004 (and notes 000-002): zero init stays at chance, small random stalls in the
    deep sigmoid net, variance-scaled inits train."""
    out = []
    activations = sorted({a.get("model", {}).get("activation", full.model.activation) for a in full.arms.values()})
    for act in activations:
        stuck = (("zeros", "zeros_at_chance", f"all-zero init stays at chance ({act})", "notes 000-002, 004"),
                 ("small_random", "small_random_stalls",
                  f"0.01*randn init stalls in the 4-hidden-layer {act} net", "note 004"))
        for init, suffix, text, source in stuck:
            name = _arm(full, act, init)
            if name:
                s = stats.mean_ci(_final(results, name))
                out.append(claim(f"init_study.{act}.{suffix}", f"{text}: final validation accuracy below 0.2",
                                 source, s, s["ci_high"] < 0.2))
        scaled = [n for n in (_arm(full, act, i) for i in ("lecun_normal", "xavier_normal", "he_normal")) if n]
        if scaled:
            worst = min((stats.mean_ci(_final(results, n)) for n in scaled), key=lambda s: s["mean"])
            out.append(claim(f"init_study.{act}.scaled_inits_train",
                             f"variance-scaled inits (lecun, xavier, he) train the {act} net: the worst of them "
                             f"reaches final validation accuracy >= 0.8",
                             "notes 002, 004", worst, worst["ci_low"] >= 0.8))
    return out


def symmetry(full, results, summary) -> list[dict]:
    """Notes 000-002: equal initial weights give every hidden unit the same gradient forever."""
    out = []
    for init, label in (("zeros", "zero"), ("constant", "constant")):
        name = next((n for n, a in full.arms.items() if a.get("model", {}).get("weight_init") == init), None)
        if not name:
            continue
        spread = results[f"{name}/unit_spread"].max(axis=1)  # per seed, worst layer
        s = stats.mean_ci(spread)
        out.append(claim(f"symmetry.{label}.identical_units",
                         f"{init} init: after training every hidden unit of a layer has the same incoming weights "
                         f"(max pairwise difference exactly 0 in every seed and layer)", "notes 000-002", s,
                         bool(np.all(spread == 0))))
        if init == "zeros":
            acc = stats.mean_ci(_final(results, name))
            out.append(claim("symmetry.zero.accuracy",
                             "zero init learns next to nothing: final validation accuracy below 0.3 (chance 0.1)",
                             "notes 000-002", acc, acc["ci_high"] < 0.3))
    name = next((n for n, a in full.arms.items() if a.get("model", {}).get("weight_init") == "small_random"), None)
    if name:
        spread = results[f"{name}/unit_spread"].min(axis=1)  # per seed, most uniform layer
        s = stats.mean_ci(spread)
        out.append(claim("symmetry.small_random.distinct_units",
                         "0.01*randn init breaks the symmetry: units differ in every layer and seed",
                         "notes 000, 001", s, bool(np.all(spread > 0))))
    return out


def _by_model(full, batchnorm: bool) -> list[str]:
    return [n for n, a in full.arms.items() if a.get("model", {}).get("batchnorm", full.model.batchnorm) == batchnorm]


def _lr(full, name) -> float:
    return full.arms[name].get("train", {}).get("lr", full.train.lr)


def first_reach(results, name, target):
    """Per seed: the first evaluated step whose validation accuracy reaches ``target`` (NaN if none)."""
    val, steps = results[f"{name}/val_acc"], results["steps"]
    reached = val >= target
    return np.where(reached.any(axis=1), steps[np.argmax(reached, axis=1)], np.nan)


def batchnorm(full, results, summary) -> list[dict]:
    """Notes 002-003 and Ioffe & Szegedy 2015's MNIST experiment: BN vs no BN, paired by seed."""
    plain = min(_by_model(full, False), key=lambda n: _lr(full, n), default=None)
    bns = sorted(_by_model(full, True), key=lambda n: _lr(full, n))
    if plain is None or not bns:
        return []
    bn, bn_fast = bns[0], bns[-1]
    target = full.eval.target_accuracy
    src = "notes 002-003; Ioffe & Szegedy 2015"
    never = results["steps"][-1] * 2.0  # a seed that never reaches the target counts as twice the budget
    s_plain = np.nan_to_num(first_reach(results, plain, target), nan=never)
    s_bn = np.nan_to_num(first_reach(results, bn, target), nan=never)
    faster = stats.mean_ci(s_plain / s_bn)
    out = [claim("batchnorm.faster", f"BN reaches {target:.0%} validation accuracy in fewer steps (ratio of steps, "
                 "no BN / BN, paired by seed; > 1 means BN is faster)", src, faster, faster["ci_low"] > 1)]
    diff = stats.mean_ci(_final(results, bn) - _final(results, plain))
    out.append(claim("batchnorm.final_accuracy", "final validation accuracy with BN is at least that without "
                     "(difference BN - no BN, paired by seed)", src, diff, diff["ci_high"] >= 0))

    def drift(name):  # spread over training of the 15/50/85th percentiles, averaged over the three
        q = results[f"{name}/unit_q"]  # (seeds, evals, 3)
        return np.mean(q.max(axis=1) - q.min(axis=1), axis=1)

    ratio = stats.mean_ci(drift(plain) / drift(bn))
    out.append(claim("batchnorm.stable_inputs", "a last-hidden-layer unit's input distribution drifts less during "
                     "training with BN (drift of its 15/50/85th percentiles, no BN / BN; > 1 means BN is steadier)",
                     src, ratio, ratio["ci_low"] > 1))
    if bn_fast != bn:
        k = _lr(full, bn_fast) / _lr(full, plain)
        gap = stats.mean_ci(_final(results, bn_fast) - _final(results, plain))
        diverged = int((results[f"{bn_fast}/diverged_at"] >= 0).sum())
        out.append(claim("batchnorm.higher_lr", f"BN trains at a {k:g}x larger learning rate, no worse than no BN at "
                         f"the base rate (final accuracy difference; {diverged} seeds diverged)", src, gap,
                         gap["ci_high"] >= 0 and diverged == 0))
    cost = stats.mean_ci(results[f"{bn}/step_seconds"] / results[f"{plain}/step_seconds"])
    out.append(claim("batchnorm.step_cost", "a BN step costs more than a plain one (time ratio per seed-step, "
                     "BN / no BN, per epoch in the same run)", "note 003", cost, cost["ci_low"] > 1))
    return out


def _rule(full, name) -> str:
    return full.arms[name].get("train", {}).get("optimizer", full.train.optimizer)


def best_rate_arms(full, results) -> dict[str, str]:
    """Per update rule, its arm with the lowest mean final *validation* loss (selection never
    looks at training loss or the test split)."""
    best: dict[str, tuple[float, str]] = {}
    for name in full.arms:
        alive = results[f"{name}/diverged_at"] < 0
        loss = results[f"{name}/val_loss"][alive, -1]
        score = float(np.mean(loss)) if loss.size and np.all(np.isfinite(loss)) else np.inf
        rule = _rule(full, name)
        if rule not in best or score < best[rule][0]:
            best[rule] = (score, name)
    return {rule: name for rule, (_, name) in best.items()}


def optimizers(full, results, summary) -> list[dict]:
    """Note 003: momentum keeps going where SGD zig-zags."""
    out = []
    sgd_q, mom_q = results.get("quadratic/sgd/steps"), results.get("quadratic/momentum/steps")
    if sgd_q is not None and mom_q is not None:
        ratio = stats.mean_ci(sgd_q.min(axis=1) / mom_q.min(axis=1))
        out.append(claim("optimizers.momentum_faster_quadratic",
                         "momentum reaches f - f* < 1e-6 on an ill-conditioned quadratic (condition 50) in fewer "
                         "steps than SGD, each at its best rate (step ratio SGD / momentum, per start)",
                         "note 003", ratio, ratio["ci_low"] > 1))
    best = best_rate_arms(full, results)
    if "sgd" in best and "momentum" in best:
        gap = stats.mean_ci(results[f"{best['sgd']}/train_loss"][:, -1] - results[f"{best['momentum']}/train_loss"][:, -1])
        out.append(claim("optimizers.momentum_beats_sgd_mnist",
                         f"on MNIST momentum ends a fixed budget at a lower training loss than SGD, each at its best "
                         f"validation rate ({best['momentum']} vs {best['sgd']}; loss difference SGD - momentum)",
                         "note 003", gap, gap["ci_low"] > 0))
    return out


def select_by_validation(val: dict) -> str:
    """The arm with the highest mean final validation accuracy over its non-diverged seeds."""
    def score(item):
        acc, diverged_at = item[1]
        alive = diverged_at < 0
        return float(np.mean(acc[alive, -1])) if alive.any() else -np.inf
    return max(val.items(), key=score)[0]


def arms_to_test(full, val: dict) -> set[str]:
    """Arms whose test accuracy a study reports, chosen from ``{arm: (val_acc, diverged_at)}``.
    hparam_search reports only its validation-selected setting; other studies report every arm."""
    if full.study == "hparam_search":
        return {select_by_validation(val)}
    return set(val)


def hparam_search(full, results, summary) -> list[dict]:
    """Note 002: tune on validation, touch the test split once, at the end."""
    chosen = select_by_validation({n: (results[f"{n}/val_acc"], results[f"{n}/diverged_at"]) for n in full.arms})
    counts = {n: int(results[f"{n}/test_evaluations"]) for n in full.arms}
    total = sum(counts.values())
    once = {"mean": float(total), "ci_low": float(total), "ci_high": float(total)}
    out = [claim("hparam_search.test_once", f"the test split is evaluated exactly once, for the setting chosen on "
                 f"validation ({chosen}); measured: test evaluations counted by the sealed split over all "
                 f"{len(counts)} settings", "note 002", once, total == 1 and counts[chosen] == 1)]
    alive = results[f"{chosen}/diverged_at"] < 0
    gap = stats.mean_ci(results[f"{chosen}/val_acc"][alive, -1] - results[f"{chosen}/test_acc"][alive])
    out.append(claim("hparam_search.val_test_gap", "the chosen setting's validation accuracy overstates its test "
                     "accuracy by little (val - test, within +-0.03)", "note 002", gap,
                     -0.03 <= gap["ci_low"] and gap["ci_high"] <= 0.03))
    return out


STUDIES: dict[str, Callable] = {"init_study": init_study, "symmetry": symmetry, "batchnorm": batchnorm,
                                "optimizers": optimizers, "hparam_search": hparam_search}


def for_study(full, results, summary) -> list[dict]:
    fn = STUDIES.get(full.study)
    return fn(full, results, summary) if fn else []

