"""Claims: a study's scientific statements, measured.

A :class:`Claim` is a small typed record; ``summary.json`` stores its :meth:`Claim.as_dict`
(``{"id", "claim", "source", "measured", "ci_low", "ci_high", "holds"}``). A claim's verdict is
decided by its confidence interval over seeds, never by the mean alone, and a claim that does
not hold is reported as such: a measurement disagreeing with the notes is a result. The helpers
here serve every study: :func:`final` (last validation accuracy of the seeds that did not
diverge), :func:`first_reach`, :func:`select_by_validation`, and :func:`arm_value`, which reads
an arm's setting with the base config's as fallback.

Margins. Every number a verdict compares against (a bound, a tolerance, a margin, a null value) is
fixed before the run in the study's config, as ``config.params.margins``: a flat dict ``{name:
number}`` that the study's ``config.py`` sets from its module constant ``MARGINS`` (each entry
commented there, the rationale in the config's docstring). The study declares it with
:func:`margins_param` and reads it with :func:`margins`; a claim's text prints the values it used.
A config may override some entries (``--config.params.margins.<name>=<value>``); the others keep
the study's defaults.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

CHANCE = 0.1
FINDING, CHECK = "finding", "check"  # a scientific statement, or a property of the implementation


@dataclasses.dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    source: str
    measured: float
    ci_low: float
    ci_high: float
    holds: bool
    n: int = 0           # values the interval is over (seeds, or seed pairs alive in both arms)
    n_diverged: int = 0  # seeds of the arms the claim reads that diverged in training
    kind: str = FINDING  # CHECK: an implementation property (round-off, a stopping rule, a timing)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def claim(id_: str, text: str, source: str, summary: dict, holds: bool, n_diverged: int = 0,
          kind: str = FINDING) -> Claim:
    """A Claim from a :func:`research.engine.stats.mean_ci` summary (its ``n`` is recorded)."""
    if kind not in (FINDING, CHECK):
        raise ValueError(f"claim {id_}: kind={kind!r}; accepted: {FINDING!r}, {CHECK!r}")
    return Claim(id=id_, claim=text, source=source, measured=summary["mean"], ci_low=summary["ci_low"],
                 ci_high=summary["ci_high"], holds=bool(holds), n=int(summary.get("n", 0)),
                 n_diverged=int(n_diverged), kind=kind)


def diverged(results, *names) -> int:
    """Seed indices at which any of the arms ``names`` diverged (a seed counts once)."""
    flags = [np.asarray(results[f"{n}/diverged_at"]) >= 0 for n in names]
    if not flags:
        return 0
    per_seed = [f.reshape(f.shape[0], -1).any(axis=1) for f in flags]
    return int(np.logical_or.reduce(per_seed).sum())


def arm_value(full, name: str, section: str, key: str):
    """Arm ``name``'s resolved ``section.key`` (its override, else the base config's)."""
    return getattr(full.arms[name], section)[key]


def final(results, name, diverged_as: float = CHANCE):
    """Per seed, in seed order: the last validation accuracy, ``diverged_as`` where the seed diverged:
    by default chance accuracy, so a claim about training counts divergence as failure (NaN leaves
    the seed out instead). Seed ``s`` of one arm pairs with seed ``s`` of another (same key), so
    ``final(a) - final(b)`` is a paired difference; :func:`research.engine.stats.mean_ci` counts
    finite values only."""
    alive = results[f"{name}/diverged_at"] < 0
    return np.where(alive, results[f"{name}/val_acc"][:, -1], diverged_as)


def first_reach(results, name, target, steps=None):
    """Per seed: the first evaluated step whose validation accuracy reaches ``target`` (NaN if none).
    ``steps``: the step of each evaluation, where an arm has its own (default: the shared ``"steps"``)."""
    val = results[f"{name}/val_acc"]
    steps = results["steps"] if steps is None else steps
    reached = val >= target
    return np.where(reached.any(axis=1), steps[np.argmax(reached, axis=1)], np.nan)


def select_by_validation(val: dict, chance: float = CHANCE) -> str:
    """The arm with the highest mean final validation accuracy, from ``{arm: (val_acc, diverged_at)}``,
    a diverged seed counted at ``chance`` (divergence is failure); an arm most of whose seeds
    diverged is never chosen while another is left."""
    def score(item):
        acc, diverged_at = item[1]
        alive = np.asarray(diverged_at) < 0
        mostly_diverged = (~alive).sum() * 2 > alive.size
        return (not mostly_diverged, float(np.mean(np.where(alive, acc[:, -1], chance))))
    return max(val.items(), key=score)[0]


def margins_param(defaults: dict) -> tuple:
    """The ``PARAMS["margins"]`` entry of a study whose verdict margins are ``defaults``: the default
    and the rule, which accepts a dict naming some of ``defaults``' keys, each a finite number."""
    names = tuple(defaults)

    def ok(v):
        return isinstance(v, dict) and all(
            k in names and isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
            for k, x in v.items())

    return dict(defaults), (ok, "a dict of finite numbers named among " + ", ".join(names))


def margins(full, defaults: dict) -> dict:
    """The verdict margins ``full`` runs with: ``defaults`` updated with ``config.params.margins``."""
    given = full.params.get("margins", None) if hasattr(full.params, "get") else None
    given = given.to_dict() if hasattr(given, "to_dict") else dict(given or {})
    return {**defaults, **{k: float(v) for k, v in given.items()}}


def weakest(summaries, side: str = "low") -> int:
    """Index of the :func:`research.engine.stats.mean_ci` summary that a bound over all of them
    tests hardest: the lowest ``ci_low`` (``side="low"``: "every one is above x") or the highest
    ``ci_high`` (``side="high"``: "every one is below x"), a NaN bound first (it fails any test).
    Picking by the mean instead would test one interval and leave a wider one untested."""
    if side not in ("low", "high"):
        raise ValueError(f"weakest: side={side!r}; accepted: 'low', 'high'")
    bounds = [s["ci_low"] if side == "low" else -s["ci_high"] for s in summaries]
    return int(min(range(len(bounds)), key=lambda i: -math.inf if math.isnan(bounds[i]) else bounds[i]))
