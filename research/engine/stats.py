"""Across-seed summaries: mean with a Student-t 95% confidence interval; the interquartile mean
with a bootstrap interval for skewed outcomes; the Kaplan-Meier estimate for times to an event
that some runs never reach within their budget (right-censored)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci(values, level: float = 0.95) -> dict:
    """Mean of the finite ``values`` and the two-sided t interval; ``n`` counts what was used.

    With one value (or identical values) the interval collapses to the mean; with none every
    number is NaN.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}
    mean = float(v.mean())
    if n == 1:
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "n": 1}
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def iqm(values) -> float:
    """Interquartile mean of the finite ``values``: the mean of the middle half (sorted, a quarter
    cut from each end, fractional weights at the cuts), robust to a few runs far from the rest."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0:
        return math.nan
    # each sorted value i covers [i, i+1) of [0, n); keep the part of it inside [n/4, 3n/4)
    lo, hi = n / 4, 3 * n / 4
    weights = np.clip(np.minimum(np.arange(1, n + 1), hi) - np.maximum(np.arange(n), lo), 0, None)
    return float(np.sum(weights * v) / np.sum(weights))


def bootstrap_ci(values, key, statistic=iqm, n_boot: int = 2000, level: float = 0.95) -> dict:
    """``statistic`` (default :func:`iqm`) of the finite ``values`` with a percentile bootstrap
    interval: ``n_boot`` resamples of the seeds with replacement, drawn from the ``jax.random``
    ``key`` (same key, same interval). For skewed outcomes beside :func:`mean_ci`'s t-interval."""
    import jax

    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0}
    idx = np.asarray(jax.random.randint(key, (n_boot, n), 0, n))
    boots = np.array([statistic(v[row]) for row in idx])
    a = (1 - level) / 2
    return {"mean": float(statistic(v)), "ci_low": float(np.quantile(boots, a)),
            "ci_high": float(np.quantile(boots, 1 - a)), "n": n}


def kaplan_meier(times, events) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of the fraction of runs that have had the event by time t, from one
    ``times`` value per run (when the event happened, or when the run was last seen without it) and
    ``events`` (True: it happened then; False: censored then, e.g. a run that never reached a
    target within its budget). A censored run counts as at risk up to and including its time, so a
    run censored at t is still in the denominator of an event at t. Returns the distinct event times
    and the estimated fraction reached at each, ``1 - prod(1 - d_i / n_i)``; non-finite times are
    refused (a run with no event belongs at its censoring time, not at infinity)."""
    t = np.asarray(times, dtype=np.float64).ravel()
    e = np.asarray(events, dtype=bool).ravel()
    if t.shape != e.shape or not np.all(np.isfinite(t)):
        raise ValueError(f"kaplan_meier: times {t.shape} and events {e.shape} must match and be finite")
    at = np.unique(t[e])
    at_risk = np.array([np.sum(t >= x) for x in at], dtype=np.float64)
    happened = np.array([np.sum((t == x) & e) for x in at], dtype=np.float64)
    return at, 1.0 - np.cumprod(1.0 - happened / np.maximum(at_risk, 1.0))


def km_quantile(times, events, q: float = 0.5) -> float:
    """The first event time at which the Kaplan-Meier fraction reached is at least ``q`` (``q=0.5``:
    the median time to the event); ``inf`` if the estimate never gets there, i.e. beyond what the
    runs were followed for (a median that is only known to exceed the budget)."""
    if not 0 < q <= 1:
        raise ValueError(f"km_quantile: q={q!r} is invalid; accepted: a number in (0, 1]")
    at, frac = kaplan_meier(times, events)
    hit = np.flatnonzero(frac >= q - 1e-12)
    return float(at[hit[0]]) if hit.size else math.inf


def columns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`mean_ci` of every column of a (seeds, points) array: (mean, ci_low, ci_high) arrays,
    for curves drawn with a confidence band."""
    rows = [mean_ci(values[:, j]) for j in range(values.shape[1])]
    return (np.array([r["mean"] for r in rows]), np.array([r["ci_low"] for r in rows]),
            np.array([r["ci_high"] for r in rows]))


def band(ax, x, values: np.ndarray, **plot_kw):
    """Draw the seed mean of a (seeds, len(x)) array as a line on matplotlib ``ax``, with its 95%
    t-interval (:func:`columns`) as a shaded band in the line's colour; returns the line."""
    mean, lo, hi = columns(values)
    line, = ax.plot(x, mean, **plot_kw)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.25)
    return line


def fmt(summary: dict, digits: int = 3) -> str:
    """'0.912 ± 0.004' (half-width of the interval)."""
    if not math.isfinite(summary["mean"]):
        return "n/a"
    mean, lo, hi = summary["mean"], summary["ci_low"], summary["ci_high"]
    if mean != 0 and abs(mean) < 10.0 ** -(digits - 1):  # small values: significant digits, interval
        return f"{mean:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"
    return f"{mean:.{digits}f} ± {(hi - lo) / 2:.{digits}f}"
