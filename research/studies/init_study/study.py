"""The main study (study note 004, notes 000-002): the 4-hidden-layer MNIST net from six inits.

Trains every arm through the engine (the default compute); its claims: zero init stays at chance,
0.01*randn stalls in the deep net, the variance-scaled inits train.
"""

from __future__ import annotations

from research.engine import stats
from research.engine.claims import arm_value, claim, diverged, final


def _arm(full, activation: str, init: str) -> str | None:
    """The first arm with this activation and weight init."""
    return next((n for n in full.arms if arm_value(full, n, "model", "activation") == activation
                 and arm_value(full, n, "model", "weight_init") == init), None)


def claims(full, results) -> list:
    """Study note 004 (and notes 000-002): zero init stays at chance, small random stalls in the
    deep sigmoid net, variance-scaled inits train."""
    out = []
    activations = sorted({arm_value(full, n, "model", "activation") for n in full.arms})
    for act in activations:
        stuck = (("zeros", "zeros_at_chance", f"all-zero init stays at chance ({act})", "notes 000-002, 004"),
                 ("small_random", "small_random_stalls",
                  f"0.01*randn init stalls in the 4-hidden-layer {act} net", "note 004"))
        for init, suffix, text, source in stuck:
            name = _arm(full, act, init)
            if name:
                s = stats.mean_ci(final(results, name))
                out.append(claim(f"init_study.{act}.{suffix}", f"{text}: final validation accuracy below 0.2",
                                 source, s, s["ci_high"] < 0.2, diverged(results, name)))
        scaled = [n for n in (_arm(full, act, i) for i in ("lecun_normal", "xavier_normal", "he_normal")) if n]
        if scaled:
            worst = min((stats.mean_ci(final(results, n)) for n in scaled), key=lambda s: s["mean"])
            n_div = diverged(results, *scaled)
            out.append(claim(f"init_study.{act}.scaled_inits_train",
                             f"variance-scaled inits (lecun, xavier, he) train the {act} net: the worst of them "
                             f"reaches final validation accuracy >= 0.8",
                             "notes 002, 004", worst, worst["ci_low"] >= 0.8, n_div))
    return out
