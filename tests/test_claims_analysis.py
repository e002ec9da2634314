"""Verdict logic of every claim of the activations, gradcheck, gradients and deep_relu studies, on
synthetic results: no training, no data, no compiling.

Each test hands a study's ``claims(full, results)`` the arrays its ``measure`` would store
(``"<arm>/<metric>"``, seed axis first, plus the global keys ``claims`` reads), built by hand so that
the verdict is known, and checks the claim's id, ``holds``, and ``measured`` with its 95% t-interval
(recomputed here from the per-seed values the claim should summarize). Every claim id has data that
makes it hold and data that makes it fail. The claims that read ``diverged_at`` (gradients'
``sigmoid_top_saturation``, deep_relu's ``he_learns``) are run with diverged seeds; their current
behaviour, documented here: a diverged seed is left out (its frozen, finite numbers are not
averaged), one survivor is enough (its interval collapses to its value), and none left gives NaN
and a claim that does not hold, without raising. Every margin a verdict uses comes from the study's
``config.params.margins``; a test per study changes one there and sees the verdict and the claim's
text follow. Once strict xfails, now fixed: unit_normal.saturation tests every layer's interval
(the lowest lower end decides, not the lowest mean); best_eps_f64 is decided by its interval and
leaves out (and counts) a seed whose float64 errors are NaN instead of scoring it best eps 1e-1.
deep_relu's "Xavier" variance is one number with He's (shifted by L - 1), so it is a check of that
identity, not a second finding.
"""


import numpy as np
import pytest
import scipy.stats

from research.engine import study as study_lib
from research.studies.activations import study as activations_study
from research.studies.gradcheck import study as gradcheck_study
from research.engine.claims import CHECK, FINDING
import claimkit

SEEDS = 3


def _study(name):
    """The study as the engine sees it (the Study interface, defaults filled in)."""
    return study_lib.load(name)


def _full(study, **changes):
    """The study's default config, resolved (the one place the config is built)."""
    return claimkit.resolved(study, **changes)


_claims = claimkit.claims_by_id


def _check(c, holds, values):
    """``c`` holds (or not) and reports the mean of ``values`` and its 95% t-interval."""
    v = np.asarray(values, np.float64)
    mean = v.mean() if v.size else np.nan
    half = scipy.stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
    assert c.holds is holds
    assert (c.measured, c.ci_low, c.ci_high) == pytest.approx((mean, mean - half, mean + half), rel=1e-9,
                                                              abs=1e-15, nan_ok=True)


# --- activations -------------------------------------------------------------------------------------

ACT_IDS = {"tanh-small_random": "activations.small_random.collapse",
           "tanh-normal": "activations.unit_normal.saturation",
           "tanh-xavier_normal": "activations.xavier.tanh_healthy",
           "relu-xavier_normal": "activations.xavier.relu_halves",
           "relu-he_normal": "activations.he.relu_stable"}
LAYERS = 4


def _act(changes=None, full=None):
    """activations' claims: every arm's (seeds, layers) act_std, act_saturated and act_sq are 1 but
    for ``changes`` (``{"<arm>/<metric>": array}``)."""
    full = full or _full("activations")
    res = {f"{n}/{m}": np.ones((SEEDS, LAYERS)) for n in full.arms for m in ("act_std", "act_saturated", "act_sq")}
    res.update(changes or {})
    return _claims("activations", full, res)


def _last(values):
    """(seeds, layers): 1 everywhere but the last layer, which holds ``values``."""
    return np.column_stack([np.ones((len(values), LAYERS - 1)), values])


def _geometric(ratios, scales=(2.0, 3.0, 5.0)):
    """(seeds, layers) second moments scale_s * r_s^l: seed s's per-layer ratio is exactly r_s."""
    return np.array([s * r ** np.arange(LAYERS) for s, r in zip(scales, ratios)])


def test_activations_default_arms_emit_every_claim():
    assert set(_act()) == set(ACT_IDS.values())


@pytest.mark.parametrize("last,holds", [
    ([1e-4, 2e-4, 3e-4], True),
    ([0.05, 0.06, 0.07], False),
    ([0.0, 1.8e-3, 0.0], False),  # mean 6e-4 < 1e-3, but the interval reaches above it
])
def test_small_random_collapse(last, holds):
    c = _act({"tanh-small_random/act_std": _last(last)})["activations.small_random.collapse"]
    _check(c, holds, last)


@pytest.mark.parametrize("least,holds", [
    ([0.60, 0.62, 0.64], True),
    ([0.40, 0.45, 0.50], False),
    ([0.45, 0.60, 0.75], False),  # mean above 0.5, interval not
])
def test_unit_normal_saturation_reports_the_least_saturated_layer(least, holds):
    sat = np.full((SEEDS, LAYERS), 0.95)
    sat[:, 1] = least
    c = _act({"tanh-normal/act_saturated": sat})["activations.unit_normal.saturation"]
    _check(c, holds, least)


def test_unit_normal_saturation_requires_every_layer_above_half():
    """Once a strict xfail: the layer of lowest *mean* was the only one tested. Every layer's interval
    is tested now; the one with the lowest lower end is reported."""
    sat = np.full((SEEDS, LAYERS), 0.95)
    sat[:, 1] = [0.58, 0.58, 0.58]  # lowest mean, CI [0.58, 0.58]
    sat[:, 2] = [0.55, 0.60, 0.65]  # mean 0.60, CI [0.48, 0.72]: not above 0.5
    c = _act({"tanh-normal/act_saturated": sat})["activations.unit_normal.saturation"]
    assert not c.holds
    _check(c, False, [0.55, 0.60, 0.65])
    assert "shown: layer 3" in c.claim


def test_unit_normal_saturation_a_nan_layer_fails():
    sat = np.full((SEEDS, LAYERS), 0.95)
    sat[:, 3] = [0.9, np.nan, 0.9]  # the mean over seeds leaves the NaN out, but the layer's lowest bound is 0.9
    sat[:, 0] = np.nan              # no finite value at all: its bound is NaN, which fails any test
    c = _act({"tanh-normal/act_saturated": sat})["activations.unit_normal.saturation"]
    assert not c.holds and "shown: layer 1" in c.claim


def test_activations_margins_come_from_the_config():
    """Changing params.margins changes the verdict and the printed bound."""
    sat = np.full((SEEDS, LAYERS), 0.95)
    sat[:, 1] = [0.60, 0.62, 0.64]  # CI lower end 0.57
    assert _act({"tanh-normal/act_saturated": sat})["activations.unit_normal.saturation"].holds
    full = _full("activations", params={"margins": {"saturation_min": 0.6}})
    c = _act({"tanh-normal/act_saturated": sat}, full=full)["activations.unit_normal.saturation"]
    assert not c.holds and "above 0.6 in every layer" in c.claim
    full = _full("activations", params={"margins": {"collapse_std_max": 1e-4}})
    c = _act({"tanh-small_random/act_std": _last([1e-4, 2e-4, 3e-4])}, full=full)["activations.small_random.collapse"]
    assert not c.holds and "< 0.0001" in c.claim
    full = _full("activations", params={"margins": {"relu_stable_min": 0.9, "relu_stable_max": 1.1}})
    c = _act({"relu-he_normal/act_sq": _geometric([0.97, 1.0, 1.03])}, full=full)["activations.he.relu_stable"]
    assert not c.holds and "[0.9, 1.1]" in c.claim


@pytest.mark.parametrize("last,holds", [
    ([0.4, 0.5, 0.6], True),
    ([0.95, 0.95, 0.95], False),  # saturated
    ([1e-4, 1e-4, 1e-4], False),  # collapsed
])
def test_xavier_tanh_healthy(last, holds):
    c = _act({"tanh-xavier_normal/act_std": _last(last)})["activations.xavier.tanh_healthy"]
    _check(c, holds, last)


@pytest.mark.parametrize("ratios,holds", [
    ([0.48, 0.50, 0.52], True),
    ([1.0, 1.0, 1.0], False),     # He-like: level
    ([0.45, 0.50, 0.55], False),  # mean 0.5, interval [0.38, 0.62]
])
def test_xavier_relu_halves_is_the_per_seed_geometric_mean_ratio(ratios, holds):
    c = _act({"relu-xavier_normal/act_sq": _geometric(ratios)})["activations.xavier.relu_halves"]
    _check(c, holds, ratios)


@pytest.mark.parametrize("ratios,holds", [
    ([0.97, 1.0, 1.03], True),
    ([0.5, 0.5, 0.5], False),  # halving: last/first = 0.125
])
def test_he_relu_stable_is_last_over_first_layer(ratios, holds):
    sq = _geometric(ratios)
    sq[:, 1:-1] = [[50.0, 1e-3]] * SEEDS  # the layers between are not read
    c = _act({"relu-he_normal/act_sq": sq})["activations.he.relu_stable"]
    _check(c, holds, np.asarray(ratios) ** (LAYERS - 1))


def test_activations_emit_only_the_claims_of_the_arms_present():
    full = _full("activations", arms={"tanh-xavier_normal": activations_study.default_arms()["tanh-xavier_normal"]})
    assert set(_act(full=full)) == {"activations.xavier.tanh_healthy"}


def test_an_arm_inheriting_its_activation_still_gets_its_claim():
    """_find reads the arm's settings with the base config's as fallback."""
    full = _full("activations", model={"activation": "relu"}, arms={"he": {"model": {"weight_init": "he_normal"}}})
    assert "activations.he.relu_stable" in _act(full=full)


def test_a_normal_init_of_another_stddev_is_not_the_unit_normal_claim():
    """_find compares the init's arguments, defaults filled in: normal(stddev=0.01) is not N(0, 1)."""
    arm = {"model": {"activation": "tanh", "weight_init": "normal", "weight_init_kwargs": {"stddev": 0.01}}}
    assert "activations.unit_normal.saturation" not in _act(full=_full("activations", arms={"tanh-small": arm}))


# --- gradcheck ---------------------------------------------------------------------------------------

GC_IDS = {"gradcheck.best_eps_f64", "gradcheck.min_error_f64", "gradcheck.min_error_f32"}


def _errors(best_eps, min_errors):
    """(seeds, eps) relative errors: 1 everywhere but ``min_errors[s]`` at eps = ``best_eps[s]``."""
    log_eps = np.log10(gradcheck_study.EPS)
    err = np.ones((len(best_eps), log_eps.size))
    for s, (b, m) in enumerate(zip(best_eps, min_errors)):
        err[s, np.argmin(np.abs(log_eps - np.log10(b)))] = m
    return err


def _gc(best64=(1e-5,) * 3, min64=(1e-10,) * 3, best32=(1e-3,) * 3, min32=(1e-4,) * 3, full=None, f64=None):
    """gradcheck's claims, every one holding unless changed; ``f64`` replaces the float64 errors."""
    full = full or _full("gradcheck")
    name = next(iter(full.arms))
    res = {"eps": np.asarray(gradcheck_study.EPS),
           f"{name}/rel_error_float64": _errors(best64, min64) if f64 is None else f64,
           f"{name}/rel_error_float32": _errors(best32, min32)}
    return _claims("gradcheck", full, res)


def test_gradcheck_emits_every_claim():
    cs = _gc()
    assert set(cs) == GC_IDS and all(c.holds for c in cs.values())


@pytest.mark.parametrize("best,holds", [
    ((1e-4, 1e-5, 1e-4), True),  # log10 -4, -5, -4: CI [-5.77, -2.90], inside [-6, -2]
    ((1e-5, 1e-5, 1e-5), True),
    ((1e-5, 1e-6, 1e-6), False),  # mean -5.67 is within 2 decades of -4, its CI [-7.10, -4.23] is not
    ((1e-9, 1e-9, 1e-9), False),
    ((1e-1, 1e-1, 1e-1), False),
])
def test_best_eps_f64_is_log10_of_the_argmin_eps(best, holds):
    c = _gc(best64=best)["gradcheck.best_eps_f64"]
    _check(c, holds, np.log10(best))
    assert "within [-6, -2]" in c.claim


def test_best_eps_f64_is_decided_by_its_interval():
    """Once a strict xfail: the verdict read the mean alone (abs(mean + 4) <= 2), so best eps spread
    from 1e-1 to 1e-9 over seeds (CI [-8.6, -1.4]) held."""
    c = _gc(best64=(1e-1, 1e-9) * 4, min64=(1e-10,) * 8)["gradcheck.best_eps_f64"]
    assert c.measured == pytest.approx(-5.0)
    assert not c.holds


def test_best_eps_f64_leaves_out_a_seed_of_nan_errors():
    """Once a strict xfail: np.argmin returned a NaN's index, so a seed of NaN errors counted as best
    eps 1e-1 and turned a failing claim (best eps 1e-9) into a holding one. It is left out of every
    claim now and counted in n_diverged."""
    f64 = _errors((1e-9, 1e-9), (1e-10, 1e-10))
    f64[1] = np.nan
    cs = _gc(f64=f64)
    _check(cs["gradcheck.min_error_f64"], True, [1e-10])  # this one leaves the NaN seed out
    assert cs["gradcheck.best_eps_f64"].measured == pytest.approx(-9.0)
    assert not cs["gradcheck.best_eps_f64"].holds
    assert cs["gradcheck.best_eps_f64"].n == 1 and cs["gradcheck.best_eps_f64"].n_diverged == 1
    assert cs["gradcheck.min_error_f64"].n_diverged == 1 and "1 seeds with non-finite errors" in \
        cs["gradcheck.min_error_f64"].claim


def test_best_eps_f64_a_seed_with_one_nan_error_is_left_out_not_scored():
    """A NaN at one eps only (here the largest): the seed is left out, not scored at the NaN's eps."""
    f64 = _errors((1e-5, 1e-5, 1e-5), (1e-10, 1e-10, 1e-10))
    f64[2, 0] = np.nan
    c = _gc(f64=f64)["gradcheck.best_eps_f64"]
    _check(c, True, [-5.0, -5.0])
    assert (c.n, c.n_diverged) == (2, 1)


def test_gradcheck_margins_come_from_the_config():
    full = _full("gradcheck", params={"margins": {"best_eps_decades": 0.5}})
    c = _gc(full=full)["gradcheck.best_eps_f64"]  # best eps 1e-5: one decade from 1e-4
    assert not c.holds and "within [-4.5, -3.5]" in c.claim and "factor 3.16228" in c.claim
    full = _full("gradcheck", params={"margins": {"f64_error_max": 1e-11}})
    c = _gc(full=full)["gradcheck.min_error_f64"]
    assert not c.holds and "< 1e-11" in c.claim
    full = _full("gradcheck", params={"margins": {"f32_error_min": 1e-3}})
    c = _gc(full=full)["gradcheck.min_error_f32"]
    assert not c.holds and "below 0.001" in c.claim


@pytest.mark.parametrize("mins,holds", [
    ((1e-10, 2e-10, 3e-10), True),
    ((1e-6, 1e-6, 1e-6), False),
    ((1e-9, 1e-9, 2e-7), False),  # mean 6.7e-8 < 1e-7, interval not
])
def test_min_error_f64(mins, holds):
    _check(_gc(min64=mins)["gradcheck.min_error_f64"], holds, mins)


@pytest.mark.parametrize("mins,holds", [
    ((1.0e-4, 1.1e-4, 1.2e-4), True),
    ((1e-8, 1e-8, 1e-8), False),
])
def test_min_error_f32(mins, holds):
    _check(_gc(min32=mins)["gradcheck.min_error_f32"], holds, mins)


def test_gradcheck_reads_only_the_first_arm():
    arm = _study("gradcheck").get_config().arms["sigmoid"].to_dict()
    cs = _gc(min64=(1e-6,) * 3, full=_full("gradcheck", arms={"first": arm, "second": arm}))  # no "second/..." keys
    _check(cs["gradcheck.min_error_f64"], False, (1e-6,) * 3)


# --- gradients ---------------------------------------------------------------------------------------

GR_IDS = {"gradients.jacobian_singular_values", "gradients.backprop_variance_ratio",
          "gradients.normalized_vs_standard", "gradients.sigmoid_top_saturation"}
ALIVE = np.full(SEEDS, -1)
# Measured pre-activation second moments per hidden layer (seeds, 5) and backward gains n E[W^2] of the
# 4 hidden-to-hidden layers: normalized ~1, standard ~1/3, as the two inits draw them.
PRE_Q = {"normalized": np.array([[0.10, 0.085, 0.075, 0.068, 0.062], [0.11, 0.09, 0.08, 0.07, 0.064],
                                 [0.09, 0.08, 0.07, 0.065, 0.06]]),
         "standard": np.array([[0.034, 0.011, 0.0037, 0.0012, 0.0004], [0.036, 0.012, 0.004, 0.0013, 0.0004],
                               [0.032, 0.010, 0.0035, 0.0011, 0.0004]])}
GAIN = {"normalized": np.array([[1.0, 0.999, 1.001, 1.0]] * SEEDS), "standard": np.array([[1 / 3] * 4] * SEEDS)}


def _meanfield_ratio(q, gain):
    """Per seed: prod over the 4 layers below the top of gain * E[tanh'(sqrt(q) z)^2], the Gaussian
    integral by scipy's adaptive quadrature (not the study's Gauss-Hermite nodes)."""
    import scipy.integrate

    def e_fprime2(q):
        f = lambda z: np.cosh(np.sqrt(q) * z) ** -4 * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
        return scipy.integrate.quad(f, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-12)[0]

    return np.array([np.prod([g * e_fprime2(qq) for qq, g in zip(qs[:-1], gs)]) for qs, gs in zip(q, gain)])


def _measured(name, factors):
    """grad_var_ratio arrays that are ``factors`` (per seed) times the mean-field prediction."""
    return _meanfield_ratio(PRE_Q[name], GAIN[name]) * np.asarray(factors)


def _sv(per_seed):
    """(seeds, layer pairs) mean singular values whose mean over layers is ``per_seed``."""
    return np.asarray(per_seed)[:, None] + [-0.1, 0.1, -0.05, 0.05]


def _acts(top, lower=(0.5, 0.55, 0.6)):
    """(seeds, measurements, layers) mean activations: at the last measurement the top layer is
    ``top[s]`` and every lower layer ``lower[s]``; earlier measurements (0.9) are not read."""
    m = np.full((len(top), 3, 4), 0.9)
    m[:, -1, :-1] = np.asarray(lower)[:, None]
    m[:, -1, -1] = top
    return m


def _gr(changes=None, full=None):
    """gradients' claims on the default arms, every one holding unless ``changes`` replaces keys."""
    res = {"standard/jac_mean_sv": _sv([0.49, 0.50, 0.51]), "normalized/jac_mean_sv": _sv([0.79, 0.80, 0.81]),
           "standard/grad_var_ratio": _measured("standard", [0.98, 1.0, 1.02]),
           "normalized/grad_var_ratio": _measured("normalized", [0.98, 1.0, 1.02]),
           "standard/pre_q": PRE_Q["standard"], "normalized/pre_q": PRE_Q["normalized"],
           "standard/back_gain": GAIN["standard"], "normalized/back_gain": GAIN["normalized"],
           "sigmoid_standard/train_act_mean": _acts([0.01, 0.02, 0.03]),
           "sigmoid_standard/steps": np.array([0, 50, 100]), "sigmoid_standard/diverged_at": ALIVE}
    res.update(changes or {})
    return _claims("gradients", full or _full("gradients"), res)


def test_gradients_emit_every_claim():
    cs = _gr()
    assert set(cs) == GR_IDS and all(c.holds for c in cs.values())
    assert "after 100 updates" in cs["gradients.sigmoid_top_saturation"].claim


@pytest.mark.parametrize("norm,std,holds", [
    ([0.79, 0.80, 0.81], [0.49, 0.50, 0.51], True),
    ([0.49, 0.50, 0.51], [0.49, 0.50, 0.51], False),  # normalized like standard
    ([0.79, 0.80, 0.81], [0.79, 0.80, 0.81], False),  # standard off: fails, measured still normalized's
])
def test_jacobian_singular_values_measures_the_normalized_arm(norm, std, holds):
    c = _gr({"normalized/jac_mean_sv": _sv(norm), "standard/jac_mean_sv": _sv(std)})
    _check(c["gradients.jacobian_singular_values"], holds, norm)


def test_jacobian_claim_is_left_out_without_hidden_to_hidden_layers():
    empty = np.zeros((SEEDS, 0))  # one hidden layer: no layer Jacobian
    assert set(_gr({"normalized/jac_mean_sv": empty, "standard/jac_mean_sv": empty})) == \
        GR_IDS - {"gradients.jacobian_singular_values"}


def test_the_meanfield_prediction_is_the_product_of_layer_factors():
    from research.studies.gradients import study as G

    for name in ("normalized", "standard"):
        np.testing.assert_allclose(G.predicted_variance_ratio(PRE_Q[name], GAIN[name], "tanh"),
                                   _meanfield_ratio(PRE_Q[name], GAIN[name]), rtol=1e-10)
    # identity activation: f' = 1, the prediction is the product of the gains (Glorot & Bengio's eq. (6))
    np.testing.assert_allclose(G.predicted_variance_ratio(PRE_Q["standard"], GAIN["standard"], "linear"),
                               np.full(SEEDS, 3.0 ** -4), rtol=1e-13)


@pytest.mark.parametrize("norm,std,holds", [
    ([0.97, 1.0, 1.03], [0.98, 1.0, 1.02], True),
    ([0.93, 0.95, 0.97], [1.03, 1.05, 1.07], True),   # off by a few %, both CIs inside [0.9, 1.1]
    ([0.78, 0.80, 0.82], [0.98, 1.0, 1.02], False),   # normalized one layer factor (~0.8) below the prediction
    ([0.98, 1.0, 1.02], [1.15, 1.2, 1.25], False),    # the standard init off
    ([0.85, 1.0, 1.15], [0.98, 1.0, 1.02], False),    # mean on the prediction, CI too wide to be within 10%
])
def test_backprop_variance_ratio_is_measured_over_meanfield(norm, std, holds):
    c = _gr({"normalized/grad_var_ratio": _measured("normalized", norm),
             "standard/grad_var_ratio": _measured("standard", std)})
    _check(c["gradients.backprop_variance_ratio"], holds, norm)


def test_linear_regime_ratios_fail_the_meanfield_claim():
    """The paper's linear-regime numbers (ratio 1 and 3^-4) are not what tanh gives at these q."""
    c = _gr({"normalized/grad_var_ratio": np.ones(SEEDS), "standard/grad_var_ratio": np.full(SEEDS, 3.0 ** -4)})
    assert not c["gradients.backprop_variance_ratio"].holds


@pytest.mark.parametrize("norm,std,holds", [
    ([0.5, 0.55, 0.6], [0.010, 0.011, 0.012], True),   # per layer (50)^(1/4) ~ 2.66
    ([0.5, 0.55, 0.6], [0.2, 0.25, 0.3], False),       # standard keeps its variance almost as well: ~1.2
    ([0.5, 0.55, 0.6], [0.04, 0.04, 0.04], False),     # per layer (~13.7)^(1/4) ~ 1.9: below 2
])
def test_normalized_vs_standard_pairs_seeds_per_layer(norm, std, holds):
    c = _gr({"normalized/grad_var_ratio": np.array(norm), "standard/grad_var_ratio": np.array(std)})
    _check(c["gradients.normalized_vs_standard"], holds, (np.array(norm) / np.array(std)) ** 0.25)


def test_normalized_vs_standard_pairs_seed_s_with_seed_s():
    """Paired: the same seed's two inits (same inputs, same key). Here every pair gives 50 over the 4
    layers (per layer 2.66, no spread); crossing the seeds spreads the factors (2.40 to 2.94) and
    the 3-seed interval then reaches below 2."""
    norm, std = np.array([0.4, 0.5, 0.6]), np.array([0.008, 0.01, 0.012])
    paired = _gr({"normalized/grad_var_ratio": norm, "standard/grad_var_ratio": std})
    crossed = _gr({"normalized/grad_var_ratio": norm, "standard/grad_var_ratio": std[::-1]})
    _check(paired["gradients.normalized_vs_standard"], True, (norm / std) ** 0.25)
    _check(crossed["gradients.normalized_vs_standard"], False, (norm / std[::-1]) ** 0.25)
    assert paired["gradients.normalized_vs_standard"].ci_high - paired["gradients.normalized_vs_standard"].ci_low \
        < crossed["gradients.normalized_vs_standard"].ci_high - crossed["gradients.normalized_vs_standard"].ci_low


def test_variance_claims_are_left_out_with_one_hidden_layer():
    arms = _study("gradients").get_config().arms.to_dict()
    for name in ("standard", "normalized"):
        arms[name]["model"]["hidden"] = (100,)
    full = _full("gradients", arms=arms)
    one = {f"{n}/{k}": v[:, :1] for n in ("standard", "normalized") for k, v in
           (("pre_q", PRE_Q[n]), ("back_gain", GAIN[n][:, :0]))}
    one.update({f"{n}/jac_mean_sv": np.zeros((SEEDS, 0)) for n in ("standard", "normalized")})
    one.update({f"{n}/grad_var_ratio": np.ones(SEEDS) for n in ("standard", "normalized")})
    assert set(_gr(one, full=full)) == {"gradients.sigmoid_top_saturation"}


@pytest.mark.parametrize("top,lower,holds", [
    ([0.01, 0.02, 0.03], [0.5, 0.55, 0.6], True),
    ([0.20, 0.25, 0.30], [0.5, 0.55, 0.6], False),  # top not saturated
    ([0.01, 0.02, 0.03], [0.95, 0.95, 0.95], False),  # lower layers saturated at 1
])
def test_sigmoid_top_saturation_reads_the_last_measurement(top, lower, holds):
    c = _gr({"sigmoid_standard/train_act_mean": _acts(top, lower)})["gradients.sigmoid_top_saturation"]
    _check(c, holds, top)


def test_sigmoid_top_saturation_leaves_out_diverged_seeds():
    """A diverged run's parameters are frozen at their last finite values, so its activations are
    finite; seed 2 (top 0.9) is left out and the claim holds on seeds 0 and 1."""
    c = _gr({"sigmoid_standard/train_act_mean": _acts([0.01, 0.02, 0.9], [0.55] * 3),
             "sigmoid_standard/diverged_at": np.array([-1, -1, 40])})["gradients.sigmoid_top_saturation"]
    _check(c, True, [0.01, 0.02])


def test_gradients_margins_come_from_the_config():
    full = _full("gradients", params={"margins": {"jacobian_normalized_min": 0.85}})
    c = _gr(full=full)["gradients.jacobian_singular_values"]
    assert not c.holds and "[0.85, 0.9]" in c.claim
    full = _full("gradients", params={"margins": {"meanfield_max": 1.01}})
    c = _gr(full=full)["gradients.backprop_variance_ratio"]
    assert not c.holds and "[0.9, 1.01]" in c.claim
    full = _full("gradients", params={"margins": {"contrast_min": 3.0}})
    c = _gr(full=full)["gradients.normalized_vs_standard"]
    assert not c.holds and "CI above 3" in c.claim
    full = _full("gradients", params={"margins": {"top_saturation_max": 0.01}})
    c = _gr(full=full)["gradients.sigmoid_top_saturation"]
    assert not c.holds and "CI below 0.01" in c.claim


def test_sigmoid_top_saturation_with_every_seed_diverged_does_not_hold():
    c = _gr({"sigmoid_standard/diverged_at": np.array([3, 7, 40])})["gradients.sigmoid_top_saturation"]
    _check(c, False, [])


# --- deep_relu ---------------------------------------------------------------------------------------

DR_IDS = {"deep_relu.variance_ratio_xavier", "deep_relu.variance_ratio_he", "deep_relu.he_learns"}


def _ratios(last, n_layers=30):
    """(seeds, linear layers) log2 variance ratios from 0 at layer 1 to ``last[s]``."""
    return np.linspace(0.0, last, n_layers, axis=1)


def _accs(final):
    """(seeds, evaluations) validation accuracies ending at ``final[s]``."""
    return np.column_stack([np.full((len(final), 2), 0.3), final])


def _dr(changes=None, full=None, n_layers=30):
    """deep_relu's claims, every one holding unless ``changes`` replaces keys."""
    res = {"xavier/log2_ratio": _ratios([-29.5, -29.0, -28.5], n_layers),
           "he/log2_ratio": _ratios([-0.5, 0.0, 0.5], n_layers),
           "xavier/val_acc": _accs([0.10, 0.10, 0.10]), "he/val_acc": _accs([0.84, 0.85, 0.86]),
           "xavier/diverged_at": ALIVE, "he/diverged_at": ALIVE, "he/steps": np.array([100, 200, 310])}
    res.update(changes or {})
    return _claims("deep_relu", full or _full("deep_relu"), res)


def test_deep_relu_emits_every_claim():
    cs = _dr()
    assert set(cs) == DR_IDS and all(c.holds for c in cs.values())
    assert "theory's +0" in cs["deep_relu.variance_ratio_he"].claim and "1.45 of it (0.05 per layer" in \
        cs["deep_relu.variance_ratio_he"].claim
    assert "He's -29" in cs["deep_relu.variance_ratio_xavier"].claim
    assert "(310 updates)" in cs["deep_relu.he_learns"].claim


def test_deep_relu_one_finding_per_measurement():
    """The "Xavier" log2 ratio is He's shifted by L - 1 (one measurement): a check, He's the finding."""
    cs = _dr()
    assert cs["deep_relu.variance_ratio_xavier"].kind == CHECK
    assert cs["deep_relu.variance_ratio_he"].kind == FINDING and cs["deep_relu.he_learns"].kind == FINDING


@pytest.mark.parametrize("last,holds", [
    ([-0.5, 0.0, 0.5], True),    # theory 0, tolerance 1.45
    ([1.0, 1.5, 2.0], False),
    ([-1.5, -1.0, -0.5], False),  # Jensen's pull of -1: CI [-2.24, 0.24]
])
def test_variance_ratio_he_is_the_last_layer_against_the_theory(last, holds):
    _check(_dr({"he/log2_ratio": _ratios(last)})["deep_relu.variance_ratio_he"], holds, last)


@pytest.mark.parametrize("last,holds", [([0.1] * 3, True), ([0.2] * 3, False)])
def test_variance_ratio_theory_and_tolerance_follow_the_depth_of_the_array(last, holds):
    """4 linear layers: theory 0, tolerance 3 * 0.05."""
    c = _dr({"he/log2_ratio": _ratios(last, 4)})["deep_relu.variance_ratio_he"]
    _check(c, holds, last)
    assert "within 0.15 of it" in c.claim


@pytest.mark.parametrize("xavier,holds", [
    ([-29.5, -29.0, -28.5], True),              # exactly He's - 29, seed by seed
    ([-29.5 + 3e-6, -29.0 - 2e-6, -28.5], True),  # float32 round-off
    ([-29.5, -29.0, -28.5 + 1e-3], False),       # one seed off by 1e-3
    ([-29.0, -29.0, -29.0], False),              # the same mean (-29) but not paired with He's seeds
    ([-0.5, 0.0, 0.5], False),                   # no halving
])
def test_variance_ratio_xavier_checks_the_shift_by_l_minus_1_per_seed(xavier, holds):
    c = _dr({"xavier/log2_ratio": _ratios(xavier)})["deep_relu.variance_ratio_xavier"]
    _check(c, holds, np.abs(np.asarray(xavier) - (np.array([-0.5, 0.0, 0.5]) - 29)))
    assert "below 0.0001 in every seed" in c.claim


def test_variance_ratio_xavier_check_follows_the_depth_and_fails_on_nan():
    c = _dr({"xavier/log2_ratio": _ratios([-3.5, -3.0, -2.5], 4), "he/log2_ratio": _ratios([-0.5, 0.0, 0.5], 4)})
    assert c["deep_relu.variance_ratio_xavier"].holds and "He's -3" in c["deep_relu.variance_ratio_xavier"].claim
    c = _dr({"xavier/log2_ratio": _ratios([-29.5, np.nan, -28.5])})["deep_relu.variance_ratio_xavier"]
    assert not c.holds


def test_deep_relu_margins_come_from_the_config():
    """The tolerance fixed in the config decides: 0.01 per layer (0.29 over 29) fails He's
    [-0.5, 0, 0.5] (CI [-1.24, 1.24]); the printed text follows."""
    full = _full("deep_relu", params={"margins": {"variance_tol_per_layer": 0.01}})
    c = _dr(full=full)["deep_relu.variance_ratio_he"]
    assert not c.holds and "within 0.29 of it (0.01 per layer" in c.claim
    full = _full("deep_relu", params={"margins": {"homogeneity_tol": 1e-7}})
    c = _dr({"xavier/log2_ratio": _ratios([-29.5 + 3e-6, -29.0, -28.5])}, full=full)["deep_relu.variance_ratio_xavier"]
    assert not c.holds and "below 1e-07" in c.claim
    full = _full("deep_relu", params={"margins": {"he_learns_min": 0.9}})
    c = _dr(full=full)["deep_relu.he_learns"]
    assert not c.holds and "CI above 0.9" in c.claim


def test_deep_relu_without_the_xavier_arm_has_only_the_he_variance_claim():
    full = _full("deep_relu", arms={"he": _study("deep_relu").get_config().arms["he"].to_dict()})
    assert set(_dr(full=full)) == {"deep_relu.variance_ratio_he"}


@pytest.mark.parametrize("he,xavier,holds", [
    ([0.84, 0.85, 0.86], [0.10, 0.12, 0.14], True),
    ([0.30, 0.40, 0.50], [0.10, 0.10, 0.10], False),  # He does not learn
    ([0.45, 0.60, 0.75], [0.10, 0.10, 0.10], False),  # He's mean above 0.5, interval not
    ([0.84, 0.85, 0.86], [0.30, 0.35, 0.40], False),  # "Xavier" learns too
])
def test_he_learns_measures_he_and_bounds_xavier(he, xavier, holds):
    c = _dr({"he/val_acc": _accs(he), "xavier/val_acc": _accs(xavier)})["deep_relu.he_learns"]
    _check(c, holds, he)


def test_he_learns_counts_a_diverged_seed_as_failure():
    """A diverged run's frozen accuracy is replaced by chance (claims.final): divergence is failure,
    and one diverged He seed in three breaks "He learns"."""
    c = _dr({"he/val_acc": _accs([0.84, 0.86, 0.70]), "he/diverged_at": np.array([-1, -1, 12])})
    _check(c["deep_relu.he_learns"], False, [0.84, 0.86, 0.10])


def test_he_learns_does_not_hold_on_one_surviving_he_seed():
    """2 of 3 He runs diverged: they count at chance, so the claim does not hold on the one left."""
    c = _dr({"he/diverged_at": np.array([5, -1, 9])})["deep_relu.he_learns"]
    _check(c, False, [0.10, 0.85, 0.10])


def test_he_learns_holds_when_every_xavier_seed_diverged():
    """Every "Xavier" seed diverged: each counts at chance, which is "near chance" (measured is He's)."""
    c = _dr({"xavier/diverged_at": np.array([1, 2, 3])})["deep_relu.he_learns"]
    _check(c, True, [0.84, 0.85, 0.86])
