"""Settings a study fixes per data source, looked up at run time from the data actually read.

``data.name="fashion_mnist_or_mnist5k"`` reads Fashion-MNIST where the Debian package is installed and
the bundled MNIST 5k subset elsewhere, so a setting chosen for one data set (an accuracy target, an
evaluation interval) cannot be one number in the config. The config gives a table ``{source: value}``
under ``config.params`` (keys: :attr:`research.engine.data.Dataset.source` values), fixed before any
run; the study looks its value up from ``ctx.data_source`` when it runs (:func:`lookup`: one clear
ConfigError, before anything trains, when the table has no entry for the data read) and saves the
value used with its results, so claims and reports read back what the run used (:func:`target`).
An empty table means "not per source": the config's own value applies.
"""

from __future__ import annotations

import dataclasses
import math

import ml_collections

from research.engine import config as config_lib

TARGET = "target_accuracy"  # the results key holding the accuracy target a run used


def table_rule(what: str, lo: float = 0.0, hi: float = 1.0, integer: bool = False):
    """A config rule for ``{source: value}``, each value in (lo, hi] (an integer >= 1 if ``integer``)."""
    def value_ok(x):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return False
        if integer:
            return isinstance(x, int) and x >= 1
        return math.isfinite(x) and lo < x <= hi

    def ok(v):
        return isinstance(v, dict) and all(isinstance(k, str) and k and value_ok(x) for k, x in v.items())

    kind = "an integer >= 1" if integer else f"a number in ({lo:g}, {hi:g}]"
    return ok, f"a dict {{data source: {kind}}}, {what} (empty: the config's own value)"


def lookup(full, key: str, source: str, default):
    """``config.params[key][source]``; ``default`` when the table is empty; ConfigError (one line) when
    it is not and has no entry for ``source``."""
    table = dict(full.params.get(key, {}))
    if not table:
        return default
    if source not in table:
        raise config_lib.ConfigError(f"config.params.{key}={table!r} is invalid for the data read, {source!r}; "
                                     f"accepted: a table with an entry for {source!r} (or empty)")
    return table[source]


def target_for(ctx, key: str = "targets") -> float:
    """The accuracy target for the data ``ctx`` reads: ``params[key]``'s entry, else ``eval.target_accuracy``."""
    return float(lookup(ctx.full, key, ctx.data_source, ctx.full.eval.target_accuracy))


def target(full, results) -> float:
    """The accuracy target the run used (saved under :data:`TARGET`); a workdir from before the
    per-source table has none: then the config's ``eval.target_accuracy``."""
    return float(results[TARGET]) if TARGET in results else float(full.eval.target_accuracy)


def with_target(full, results):
    """``full`` with ``eval.target_accuracy`` set to the target the run used, for code that reads it
    from the config (the engine's default summary and figures)."""
    ev = dict(full.eval.to_dict() if hasattr(full.eval, "to_dict") else full.eval)
    ev["target_accuracy"] = target(full, results)
    return dataclasses.replace(full, eval=ml_collections.FrozenConfigDict(ev))
