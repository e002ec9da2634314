"""Notes 000-002's symmetry argument as an experiment: equal initial weights give every hidden unit
the same gradient forever; 0.01*randn breaks the tie. Trains every arm through the engine.
"""

from __future__ import annotations

import numpy as np

from research.engine import stats
from research.engine.claims import arm_value, claim, diverged, final, margins, margins_param
from research.studies.symmetry.config import MARGINS

PARAMS = {"margins": margins_param(MARGINS)}  # verdict margins, set in config.py


def _with_init(full, init: str) -> str | None:
    return next((n for n in full.arms if arm_value(full, n, "model", "weight_init") == init), None)


def claims(full, results) -> list:
    """Notes 000-002: equal initial weights give every hidden unit the same gradient forever."""
    out = []
    zero_max = margins(full, MARGINS)["zero_accuracy_max"]
    for init, label in (("zeros", "zero"), ("constant", "constant")):
        name = _with_init(full, init)
        if not name:
            continue
        spread = results[f"{name}/unit_spread"].max(axis=1)  # per seed, worst layer
        s = stats.mean_ci(spread)
        out.append(claim(f"symmetry.{label}.identical_units",
                         f"{init} init: after training every hidden unit of a layer has the same incoming weights "
                         f"(max pairwise difference exactly 0 in every seed and layer)", "notes 000-002", s,
                         bool(np.all(spread == 0)), diverged(results, name)))
        if init == "zeros":
            acc = stats.mean_ci(final(results, name))
            out.append(claim("symmetry.zero.accuracy",
                             f"zero init learns next to nothing: final validation accuracy below {zero_max:g} "
                             f"(95% CI; chance 0.1)", "notes 000-002", acc, acc["ci_high"] < zero_max,
                             diverged(results, name)))
    name = _with_init(full, "small_random")
    if name:
        spread = results[f"{name}/unit_spread"].min(axis=1)  # per seed, most uniform layer
        s = stats.mean_ci(spread)
        out.append(claim("symmetry.small_random.distinct_units",
                         "0.01*randn init breaks the symmetry: units differ in every layer and seed",
                         "notes 000, 001", s, bool(np.all(spread > 0)), diverged(results, name)))
    return out
