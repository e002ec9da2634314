"""Across-seed summaries: the interquartile mean (exact on small arrays) and the bootstrap interval
(degenerate on constants, the same for the same key, near its nominal coverage on Gaussian samples)."""

import jax
import numpy as np
import pytest

from research.engine import stats


def test_iqm_is_the_mean_of_the_middle_half():
    assert stats.iqm([1.0, 2.0, 3.0, 4.0]) == 2.5                      # n = 4: the middle two
    assert stats.iqm([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0]) == 3.5  # the far run is cut
    # n = 5: [1.25, 3.75) keeps 3/4 of value 2, value 3 whole and 3/4 of value 4
    assert stats.iqm([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx((0.75 * 2 + 3 + 0.75 * 4) / 2.5)
    assert stats.iqm([5.0, np.nan, 5.0]) == 5.0 and np.isnan(stats.iqm([np.nan]))
    assert stats.iqm([7.0]) == 7.0


def test_bootstrap_is_degenerate_on_constants_and_reproducible_by_key():
    s = stats.bootstrap_ci([0.5] * 8, jax.random.key(3))
    assert (s["mean"], s["ci_low"], s["ci_high"], s["n"]) == (0.5, 0.5, 0.5, 8)
    v = np.random.default_rng(0).normal(size=16)
    a, b = stats.bootstrap_ci(v, jax.random.key(1)), stats.bootstrap_ci(v, jax.random.key(1))
    assert a == b and a["ci_low"] < a["mean"] < a["ci_high"]
    assert stats.bootstrap_ci(v, jax.random.key(2)) != a
    assert np.isnan(stats.bootstrap_ci([], jax.random.key(0))["mean"])


def test_bootstrap_interval_of_the_mean_covers_near_its_nominal_level():
    """200 Gaussian samples of 30 (fixed key): the 95% percentile interval of the mean covers 0 in
    between 88% and 99% of them (the percentile bootstrap undercovers slightly at n = 30; binomial
    sd of the rate ~1.5%)."""
    keys = jax.random.split(jax.random.key(7), 201)
    samples = np.asarray(jax.random.normal(keys[0], (200, 30)))
    covered = [(lambda s: s["ci_low"] <= 0 <= s["ci_high"])(
        stats.bootstrap_ci(x, k, statistic=np.mean, n_boot=500)) for x, k in zip(samples, keys[1:])]
    assert 0.88 <= np.mean(covered) <= 0.99


def test_kaplan_meier_counts_censored_runs_at_risk_until_their_time():
    """Hand-computed: events at 1, 2, 3; runs censored at 2 and 4. At t=1: 1 of 5; at t=2: 1 of 4 (the
    run censored at 2 still at risk); at t=3: 1 of 2. Fraction reached 1 - S: 0.2, 0.4, 0.7."""
    at, frac = stats.kaplan_meier([1, 2, 2, 3, 4], [True, True, False, True, False])
    np.testing.assert_array_equal(at, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(frac, [0.2, 0.4, 0.7], rtol=0, atol=1e-15)
    assert stats.km_quantile([1, 2, 2, 3, 4], [True, True, False, True, False]) == 3.0
    assert stats.km_quantile([1, 2, 2, 3, 4], [True, True, False, True, False], q=0.25) == 2.0


def test_km_median_is_censored_when_most_runs_never_reach():
    """Dropping the runs that never reached would give a median of 150 over the two that did; with them
    censored at the budget 1000 the estimate never reaches one half: the median is beyond the budget."""
    times, events = [100, 200, 1000, 1000, 1000], [True, True, False, False, False]
    at, frac = stats.kaplan_meier(times, events)
    np.testing.assert_allclose(frac, [0.2, 0.4], rtol=0, atol=1e-15)
    assert stats.km_quantile(times, events) == float("inf")
    assert stats.km_quantile(times, [True] * 5) == 1000.0  # every run reached: the plain median
    with pytest.raises(ValueError, match="q=0"):
        stats.km_quantile(times, events, q=0)
    with pytest.raises(ValueError, match="finite"):
        stats.kaplan_meier([1, np.inf], [True, False])
