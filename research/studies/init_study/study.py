"""The main study (study note 004, notes 000-002): the 4-hidden-layer MNIST net from six inits.

Trains every arm through the engine (the default compute); its claims: zero init stays at chance,
0.01*randn stalls in the deep net, the variance-scaled inits train.
"""

from __future__ import annotations

from research.engine import stats
from research.engine.claims import arm_value, claim, diverged, final, margins, margins_param, weakest
from research.studies.init_study.config import MARGINS

PARAMS = {"margins": margins_param(MARGINS)}  # verdict margins, set in config.py


def _arm(full, activation: str, init: str) -> str | None:
    """The first arm with this activation and weight init."""
    return next((n for n in full.arms if arm_value(full, n, "model", "activation") == activation
                 and arm_value(full, n, "model", "weight_init") == init), None)


def claims(full, results) -> list:
    """Study note 004 (and notes 000-002): zero init stays at chance, small random stalls in the
    deep sigmoid net, variance-scaled inits train."""
    out = []
    m = margins(full, MARGINS)
    stuck_max, trains_min = m["stuck_max"], m["trains_min"]
    activations = sorted({arm_value(full, n, "model", "activation") for n in full.arms})
    for act in activations:
        stuck = (("zeros", "zeros_at_chance", f"all-zero init stays at chance ({act})", "notes 000-002, 004"),
                 ("small_random", "small_random_stalls",
                  f"0.01*randn init stalls in the 4-hidden-layer {act} net", "note 004"))
        for init, suffix, text, source in stuck:
            name = _arm(full, act, init)
            if name:
                s = stats.mean_ci(final(results, name))
                out.append(claim(f"init_study.{act}.{suffix}",
                                 f"{text}: final validation accuracy below {stuck_max:g} (95% CI)",
                                 source, s, s["ci_high"] < stuck_max, diverged(results, name)))
        scaled = [n for n in (_arm(full, act, i) for i in ("lecun_normal", "xavier_normal", "he_normal")) if n]
        if scaled:
            summaries = [stats.mean_ci(final(results, n)) for n in scaled]
            worst = summaries[weakest(summaries, "low")]  # the lowest CI lower end: every arm's is tested
            n_div = diverged(results, *scaled)
            out.append(claim(f"init_study.{act}.scaled_inits_train",
                             f"variance-scaled inits (lecun, xavier, he) train the {act} net: each reaches final "
                             f"validation accuracy >= {trains_min:g} (95% CI lower end; shown: the arm whose lower "
                             f"end is lowest)",
                             "notes 002, 004", worst, worst["ci_low"] >= trains_min, n_div))
    return out
