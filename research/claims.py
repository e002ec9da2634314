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


STUDIES: dict[str, Callable] = {"init_study": init_study, "symmetry": symmetry}


def for_study(full, results, summary) -> list[dict]:
    fn = STUDIES.get(full.study)
    return fn(full, results, summary) if fn else []

