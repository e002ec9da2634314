"""Shared by the claim-verdict tests: a study's default config resolved with changes, and its claims
by id (every one a Claim, ids unique)."""

import numpy as np

from research.engine import experiment, study as study_lib
from research.engine.claims import Claim


def resolved(study, seeds=None, **changes):
    """The study's default config, resolved (an Experiment). ``seeds`` replaces the seed count; a dict
    in ``changes`` updates that section (``model={"activation": "relu"}``) except ``arms``, which it
    replaces, as any other value does."""
    c = study_lib.load(study).get_config()
    if seeds is not None:
        c.seeds = seeds
    for key, value in changes.items():
        if isinstance(value, dict) and key != "arms":
            c[key].update(value)
        else:
            c[key] = value
    return experiment.resolve(c)


def claims_by_id(study, full, results) -> dict:
    """``{id: Claim}`` of the study's claims; ids are unique."""
    out = study_lib.load(study).claims(full, results)
    assert all(isinstance(c, Claim) for c in out)
    assert len({c.id for c in out}) == len(out)
    return {c.id: c for c in out}


def rising_curves(final_acc, diverged=(), evals=4):
    """Validation curves for tuning and time-to-target tests: ``val_acc`` (seeds, evals) rising
    linearly from chance (0.1) to ``final_acc``, and ``diverged_at`` (seeds,), 5 for the seeds in
    ``diverged``, else -1."""
    final_acc = np.asarray(final_acc, float)
    val = 0.1 + np.linspace(0, 1, evals)[None, :] * (final_acc[:, None] - 0.1)
    div = np.full(final_acc.shape[0], -1)
    div[list(diverged)] = 5
    return val, div
