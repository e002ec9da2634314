"""The ``signal_theory`` study: mean-field signal propagation in deep random networks at initialization.

Poole et al. 2016 and Schoenholz et al. 2017: the length map, the correlation map, ``chi1`` (the
order-to-chaos boundary at ``chi1 = 1``), ``chi_c`` and the depth scale ``xi_c`` as
:mod:`research.lib.meanfield` defines them (its docstring has the equations), beside the same
quantities measured on wide random nets.

The theory (float64 numpy) uses Gauss-Hermite quadrature (``numpy.polynomial.hermite_e``) and scipy's
``brentq``. The measurement (float32 jax) runs, per seed, one random net of ``model.hidden`` widths on
three families of inputs at once, for every arm's activation, with the same weight draws ``Z`` shared
by every ``sigma_w2`` (``W = sigma_w Z / sqrt(n)``: common random numbers, so per-seed curves in
``sigma_w2`` are smooth):

* length rows: inputs of length ``q^0`` in ``params.input_q0`` for every ``sigma_w2`` in
  ``params.length_sigma_w2``; per layer the measured ``E[h^2]`` (mean over units and inputs);
* tangent rows: for every ``sigma_w2`` of ``params.critical_grid``, inputs placed at ``q*`` and an
  infinitesimal perturbation carried forward (``t^{l+1} = W (phi'(h^l) * t^l)``); the mean growth of
  its squared norm per layer is the measured ``chi1`` and the grid crossing of 1 the measured
  critical ``sigma_w2``;
* pair rows: pairs of inputs at ``q*`` with input correlation ``params.corr_c0``, for every
  ``sigma_w2`` of ``params.corr_sigma_w2``; per layer the measured ``1 - c`` (kept as a gap for
  precision near 1), whose decay toward ``c*`` is fitted for the measured depth scale.

The theory lives in :mod:`research.lib.meanfield`, the measurement in
:mod:`research.studies.signal_theory.measure` and the figures in
:mod:`research.studies.signal_theory.figures`; this module holds the Study interface (``PARAMS``,
``get_config``, ``compute``, ``claims``, ``summary``, ``figures``) and re-exports the theory's and the
measurement's names, so ``study.<name>`` still reaches every one of them.
"""

from __future__ import annotations

import math

import numpy as np

from research.lib import meanfield
from research.engine import config as config_lib, defaults, stats
from research.engine.claims import claim, margins, margins_param
from research.studies.signal_theory import figures as _figures_mod, measure as _measure_mod
from research.studies.signal_theory.config import MARGINS

# The mean-field theory (research.lib.meanfield), re-exported.
MAX_POINTS = meanfield.MAX_POINTS
NP_ACTIVATIONS = meanfield.NP_ACTIVATIONS
HOMOGENEOUS = meanfield.HOMOGENEOUS
BOUNDED = meanfield.BOUNDED
_LEAK = meanfield._LEAK
_sigmoid_grad = meanfield._sigmoid_grad
_phi = meanfield._phi
gauss_normal = meanfield.gauss_normal
gaussian_mean = meanfield.gaussian_mean
length_map = meanfield.length_map
length_trajectory = meanfield.length_trajectory
fixed_point = meanfield.fixed_point
chi1 = meanfield.chi1
_pair_nodes = meanfield._pair_nodes
gap_map = meanfield.gap_map
correlation_map = meanfield.correlation_map
gap_trajectory = meanfield.gap_trajectory
correlation_fixed_point = meanfield.correlation_fixed_point
chi_c = meanfield.chi_c
depth_scale = meanfield.depth_scale
critical_sigma_w2 = meanfield.critical_sigma_w2
entry_length = meanfield.entry_length

# The measurement (measure.py) and the figures (figures.py), re-exported.
_layout = _measure_mod._layout
_arm_rows = _measure_mod._arm_rows
_unit_rows = _measure_mod._unit_rows
_directions = _measure_mod._directions
_measure_seed = _measure_mod._measure_seed
_arm_activations = _measure_mod._arm_activations
_crossing = _measure_mod._crossing
CMAP_C = _measure_mod.CMAP_C
_phase_axes = _measure_mod._phase_axes
_critical_b = _measure_mod._critical_b
_theory = _measure_mod._theory
_fit_window = _measure_mod._fit_window
_fit_xi = _measure_mod._fit_xi
measure = _measure_mod.measure
_critical_measured = _measure_mod._critical_measured
_xi_measured = _measure_mod._xi_measured
figures = _figures_mod.figures

SOURCE = "Poole et al. 2016; Schoenholz et al. 2017"


def _numbers(lo: float, hi: float = math.inf, lo_open: bool = False, hi_open: bool = True, min_len: int = 1,
             increasing: bool = False):
    """A config rule for a non-empty tuple of finite numbers in a range (optionally strictly increasing)."""
    ok_one, what = config_lib.number(lo, hi, lo_open, hi_open)

    def ok(v):
        if not isinstance(v, (tuple, list)) or len(v) < min_len or not all(ok_one(x) for x in v):
            return False
        return not increasing or all(a < b for a, b in zip(v, v[1:]))

    order = " strictly increasing" if increasing else ""
    return ok, f"a tuple of at least {min_len}{order} numbers, each {what}"


def _even_points():
    ok = lambda v: isinstance(v, int) and not isinstance(v, bool) and 2 <= v <= MAX_POINTS and v % 2 == 0
    return ok, f"an even integer in [2, {MAX_POINTS}] (even: no node sits on relu's kink at 0)"


PARAMS = {
    "sigma_b2": (0.05, config_lib.number(0)),
    "length_sigma_w2": ((1.0, 2.0, 3.0, 4.0), _numbers(0, lo_open=True)),
    "input_q0": ((0.25, 1.0, 4.0), _numbers(0, lo_open=True)),
    "inputs_per_group": (8, config_lib.integer(1)),
    "critical_grid": (tuple(round(1.4 + 0.1 * i, 10) for i in range(9)), _numbers(0, lo_open=True, min_len=2,
                                                                                  increasing=True)),
    "tangents": (8, config_lib.integer(1)),
    "corr_sigma_w2": ((1.0, 1.3, 2.5, 4.0), _numbers(0, lo_open=True)),
    "corr_c0": ((0.0, 0.5, 0.9, 0.99), _numbers(-1, 1, lo_open=True)),
    "pair_replicates": (8, config_lib.integer(1)),
    # Below this theoretical distance |c^l - c*| a chaotic-phase pair is noise (a correlation of n
    # units fluctuates by about (1 - c^2) / sqrt(n)); ordered-phase gaps 1 - c shrink multiplicatively
    # and have no such floor.
    "corr_floor": (0.02, config_lib.number(0, 1, lo_open=True)),
    "quad_points": (100, _even_points()),
    # theory-only figure resolution: the phase diagram's grid is phase_points x phase_points over
    # sigma_w2 in [0.5, 4], sigma_b2 in [0, 0.3]; the xi_c(sigma_w2) curve has 4 * phase_points + 1 points
    "phase_points": (32, config_lib.integer(2)),
    "margins": margins_param(MARGINS),  # verdict margins, set in config.py
}

# ---------------------------------------------------------------------------------------------------
# Claims and summary (the figures: figures.py)
# ---------------------------------------------------------------------------------------------------


def _length_errors(results, name) -> tuple[np.ndarray, tuple]:
    """Per seed, the signed relative error ``q_hat / q - 1`` at the (sigma_w2, q0, layer) whose
    seed-mean error is largest in size, sign-flipped so that the seed mean is >= 0."""
    err = results[f"{name}/q_measured"] / results[f"{name}/q_theory"][None] - 1.0
    mean = err.mean(axis=0)
    worst = np.unravel_index(np.argmax(np.abs(mean)), mean.shape)
    return np.sign(mean[worst]) * err[(slice(None), *worst)], worst


def _tolerance(full) -> float:
    """``margins.length_tol_floor`` (5%), or sqrt(2/n) where that is larger: one net's E[h^2] of a
    layer of width n is a mean of n squared Gaussians, relative std sqrt(2/n) (4.5% at n = 1000). A
    theory error above this would stand out of the seed mean, whose own noise is that spread over
    sqrt(seeds)."""
    return max(margins(full, MARGINS)["length_tol_floor"], math.sqrt(2.0 / min(full.model.hidden)))


def _worst_key(summary) -> float:
    """Sort key of an arm's length error: its seed mean, NaN first (max() never picks a NaN key, so
    a NaN in any arm but the first would be skipped and the claim hold on the others)."""
    return math.inf if math.isnan(summary["mean"]) else summary["mean"]


def _length_arms(full) -> list[str]:
    """Arms whose length map has a contracting fixed point for every sigma_w2 (bounded phi). For
    relu the length map is linear: at sigma_w2 >= 2 there is no fixed point, one net's E[h^2] performs
    a multiplicative random walk (relative spread about sqrt(2 l / n) at layer l) and the seed mean
    cannot be pinned to 5% at depth; those arms are drawn and summarized, not claimed."""
    bounded = [n for n, a in _arm_activations(full) if a in BOUNDED]
    return bounded or list(full.arms)


def _tanh_arm(full) -> str | None:
    return next((n for n, a in _arm_activations(full) if a == "tanh"), None)


def claims(full, results) -> list:
    out = []
    tol = _tolerance(full)
    worst = max(((name, *_length_errors(results, name)) for name in _length_arms(full)),
                key=lambda t: _worst_key(stats.mean_ci(t[1])))
    name, errs, (i, j, l) = worst
    s = stats.mean_ci(errs)
    p = full.params
    out.append(claim(
        "signal_theory.length_map_error",
        f"the mean-field length map (Gauss-Hermite, {p.quad_points} nodes) predicts the measured per-layer E[h^2] "
        f"of width-{min(full.model.hidden)} random nets: the largest relative error of the seed-mean E[h^2] over "
        f"the arms {', '.join(_length_arms(full))}, sigma_w2 in {tuple(p.length_sigma_w2)} (sigma_b2={p.sigma_b2:g}), "
        f"q0 in {tuple(p.input_q0)} and layers 1-{len(full.model.hidden)} (worst here: {name}, "
        f"sigma_w2={p.length_sigma_w2[i]:g}, q0={p.input_q0[j]:g}, layer {l + 1}; CI over seeds at that cell) is "
        f"below {100 * tol:.3g}%, about the relative spread sqrt(2/n) = {math.sqrt(2 / min(full.model.hidden)):.3f} of "
        f"one net's E[h^2] at this width",
        SOURCE + " (Poole Fig. 1)", s, s["ci_high"] < tol))
    name = _tanh_arm(full)
    if name is not None:
        theory = float(results[f"{name}/critical_theory"])
        crossings = _critical_measured(full, results, name)
        outside = int(np.sum(~np.isfinite(crossings)))  # no crossing inside the grid: the boundary is outside it
        s = stats.mean_ci(crossings)
        rel = margins(full, MARGINS)["critical_rel_tol"]
        out.append(claim(
            "signal_theory.critical_sigma_w2",
            f"tanh at sigma_b2={p.sigma_b2:g}: the order-to-chaos boundary chi1 = 1 lies at sigma_w2 = {theory:.4f} "
            f"(theory, brentq; papers: about 1.76); measured: the sigma_w2 where the mean squared growth per layer "
            f"of an infinitesimal input perturbation crosses 1 (grid {p.critical_grid[0]:g}-{p.critical_grid[-1]:g}, "
            f"interpolated in ln chi1). Holds if the 95% CI lies within {100 * rel:.3g}% of theory (finite-width "
            f"corrections to chi1 are O(1/n)) and every seed crosses inside the grid ({outside} of "
            f"{crossings.size} do not: their boundary lies outside it, and they count against the claim; the "
            f"interval is over the others)",
            SOURCE + " (Schoenholz Fig. 1)", s,
            outside == 0 and math.isfinite(s["mean"]) and abs(s["ci_low"] / theory - 1) <= rel
            and abs(s["ci_high"] / theory - 1) <= rel))
    return out


def _point(v: float) -> dict:
    v = float(v)
    return {"mean": v, "ci_low": v, "ci_high": v, "n": 1}


def arm_summary(full, results) -> dict:
    out = {}
    for name in full.arms:
        xi = _xi_measured(full, results, name)
        crit = stats.mean_ci(_critical_measured(full, results, name))
        length = stats.mean_ci(_length_errors(results, name)[0])
        n_seeds = int(results[f"{name}/q_measured"].shape[0])
        for i, s in enumerate(full.params.corr_sigma_w2):
            out[f"{name} sigma_w2={s:g}"] = {
                "q_star": _point(results[f"{name}/q_star"][i]),
                "q_measured": stats.mean_ci(results[f"{name}/q_pair_measured"][:, -1, i]),
                "chi1": _point(results[f"{name}/chi1_corr"][i]),
                "c_star": _point(results[f"{name}/c_star"][i]),
                "c_last_theory": _point(1.0 - results[f"{name}/gap_theory"][i, :, -1].mean()),
                "c_last_measured": stats.mean_ci(1.0 - results[f"{name}/gap_measured"][:, i, :, -1].mean(-1)),
                "xi_c_theory": _point(results[f"{name}/xi_c"][i]),
                "xi_measured": xi[i]["measured"],
                # not table columns: the fit applied to the theory curves (isolates transients) and
                # the arm-wide numbers
                "xi_theory_fit": float(xi[i]["theory_fit"]),
                "layers_fitted": xi[i]["layers_fitted"],
                "critical_sigma_w2_theory": float(results[f"{name}/critical_theory"]),
                "critical_sigma_w2_measured": [crit["mean"], crit["ci_low"], crit["ci_high"]],
                "length_map_max_rel_error": [length["mean"], length["ci_low"], length["ci_high"]],
                "n_seeds": n_seeds, "n_diverged": 0,
            }
    return out


summary = defaults.summary_from(arm_summary)


compute = defaults.compute_from(measure)
