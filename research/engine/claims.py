"""Claims: a study's scientific statements, measured.

A :class:`Claim` is a small typed record; ``summary.json`` stores its :meth:`Claim.as_dict`
(``{"id", "claim", "source", "measured", "ci_low", "ci_high", "holds"}``). A claim's verdict is
decided by its confidence interval over seeds, never by the mean alone, and a claim that does
not hold is reported as such: a measurement disagreeing with the notes is a result. The helpers
here serve every study: :func:`final` (last validation accuracy of the seeds that did not
diverge), :func:`first_reach`, :func:`select_by_validation`, and :func:`arm_value`, which reads
an arm's setting with the base config's as fallback.
"""

from __future__ import annotations

import dataclasses

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


def first_reach(results, name, target):
    """Per seed: the first evaluated step whose validation accuracy reaches ``target`` (NaN if none)."""
    val, steps = results[f"{name}/val_acc"], results["steps"]
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
