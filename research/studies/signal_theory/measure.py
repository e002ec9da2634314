"""The ``signal_theory`` study's measurement (float32 jax) and its theory counterpart per arm.

Per seed, one wide random net of ``model.hidden`` widths carries the three families of input rows
(length, tangent, pair rows; see :mod:`research.studies.signal_theory.study`) for every arm's
activation at once, with the same weight draws ``Z`` shared by every ``sigma_w2``. :func:`measure`
returns the measured per-layer records beside the mean-field theory (:mod:`research.lib.meanfield`)
on the same grids; :func:`_critical_measured` and :func:`_xi_measured` turn the records into the
measured critical ``sigma_w2`` and depth scales that the claims, summary and figures report.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from research.lib import activations as act_lib
from research.lib.meanfield import (chi1, chi_c, correlation_fixed_point, correlation_map, critical_sigma_w2,
                                    depth_scale, entry_length, fixed_point, gap_trajectory, length_trajectory)
from research.engine import stats


# This study's own draws from a seed's run key, named once (it builds its random nets by hand, so
# it does not use research.engine.keys' init/shuffle streams): weights, biases and the input
# directions, and within the directions key the rows and the tangents. Fixed: they are the numbers.
DRAWS = {"weights": 0, "biases": 1, "directions": 2, "rows": 0, "tangents": 1}

def _layout(p) -> dict:
    """Row counts of the three input families (the same for every arm)."""
    n_len = len(p.length_sigma_w2) * len(p.input_q0) * p.inputs_per_group
    n_tan = len(p.critical_grid) * p.tangents
    n_pair = len(p.corr_sigma_w2) * len(p.corr_c0) * p.pair_replicates
    return {"len": n_len, "tan": n_tan, "pair": n_pair, "rows": n_len + n_tan + 2 * n_pair}


def _arm_rows(p, activation: str) -> dict[str, np.ndarray]:
    """Per input row of one arm: sigma_w, sigma_b and input length q^0, in the order of
    :func:`_layout` (length rows, then tangent-carrying rows, then pairs as first/second halves)."""
    sb = math.sqrt(p.sigma_b2)
    n = p.quad_points
    sw2_len = np.repeat(np.asarray(p.length_sigma_w2, np.float64), len(p.input_q0) * p.inputs_per_group)
    q0_len = np.tile(np.repeat(np.asarray(p.input_q0, np.float64), p.inputs_per_group), len(p.length_sigma_w2))
    sw2_tan = np.repeat(np.asarray(p.critical_grid, np.float64), p.tangents)
    q0_tan = np.repeat([entry_length(s, p.sigma_b2, activation, n) for s in p.critical_grid], p.tangents)
    per = len(p.corr_c0) * p.pair_replicates
    sw2_pair = np.repeat(np.asarray(p.corr_sigma_w2, np.float64), per)
    q0_pair = np.repeat([entry_length(s, p.sigma_b2, activation, n) for s in p.corr_sigma_w2], per)
    sw2 = np.concatenate([sw2_len, sw2_tan, sw2_pair, sw2_pair])
    q0 = np.concatenate([q0_len, q0_tan, q0_pair, q0_pair])
    return {"sigma_w": np.sqrt(sw2), "sigma_b": np.full_like(sw2, sb), "q0": q0}


def _unit_rows(v):
    return v / jnp.linalg.norm(v, axis=1, keepdims=True)


def _directions(key, p, n0: int):
    """Unit input directions for every row and for the tangents. The pairs' second members are
    ``c0 e1 + sqrt(1 - c0^2) e2`` with ``e2`` orthonormalized against ``e1``, so each pair has
    correlation exactly ``c0``."""
    lay = _layout(p)
    single = lay["len"] + lay["tan"]
    e = _unit_rows(jax.random.normal(jax.random.fold_in(key, DRAWS["rows"]), (single + 2 * lay["pair"], n0),
                                     jnp.float32))
    e1, e2 = e[single:single + lay["pair"]], e[single + lay["pair"]:]
    e2 = _unit_rows(e2 - jnp.sum(e2 * e1, axis=1, keepdims=True) * e1)
    c0 = jnp.asarray(np.tile(np.repeat(np.asarray(p.corr_c0, np.float32), p.pair_replicates),
                             len(p.corr_sigma_w2)))[:, None]
    second = c0 * e1 + jnp.sqrt(1.0 - c0 * c0) * e2
    rows = jnp.concatenate([e[:single], e1, second])
    tangents = _unit_rows(jax.random.normal(jax.random.fold_in(key, DRAWS["tangents"]), (lay["tan"], n0), jnp.float32))
    return rows, tangents


def _measure_seed(key, p, sizes: tuple[int, ...], arms: list[tuple[str, dict]]):
    """One seed: every arm's rows through one net (the same weight draws for all rows and arms).

    Returns per arm ``q_hat`` (depth, length rows) = mean over units of h^2, ``chi_hat``
    (depth - 1, tangents) = mean-square growth of the tangent per layer, ``gap_hat`` (depth, pairs)
    = ``1 - c`` of each pair, ``q_pair`` (depth, pairs) = mean of the pair's two E[h^2].
    """
    lay = _layout(p)
    n0 = sizes[0]
    dirs, tans = _directions(jax.random.fold_in(key, DRAWS["directions"]), p, n0)
    k_w, k_b = jax.random.fold_in(key, DRAWS["weights"]), jax.random.fold_in(key, DRAWS["biases"])
    tan_src = lay["len"] + np.arange(lay["tan"])  # tangent i rides on tangent-carrying row i
    pair0 = lay["len"] + lay["tan"] + np.arange(lay["pair"])
    pair1 = pair0 + lay["pair"]
    sw = [jnp.asarray(r["sigma_w"], jnp.float32)[:, None] for _, r in arms]
    sb = [jnp.asarray(r["sigma_b"], jnp.float32)[:, None] for _, r in arms]
    block = lay["rows"] + lay["tan"]

    def step(state, l, n_in, n_out):
        """Layer ``l``: from each arm's (phi(h^{l-1}) or input, tangent) to h^l and the records."""
        z = jax.random.normal(jax.random.fold_in(k_w, l), (n_in, n_out), jnp.float32)
        b = jax.random.normal(jax.random.fold_in(k_b, l), (n_out,), jnp.float32)
        stacked = jnp.concatenate([jnp.concatenate([a, t]) for a, t in state]) @ z / math.sqrt(n_in)
        new_state, records = [], []
        for i, (activation, _) in enumerate(arms):
            out = stacked[i * block:(i + 1) * block]
            h = sw[i] * out[:lay["rows"]] + sb[i] * b
            t = sw[i][tan_src] * out[lay["rows"]:]  # no bias: a perturbation of the input only
            ms_t = jnp.mean(t * t, axis=1)  # the previous tangent had mean square 1: this layer's growth
            t = t / jnp.sqrt(ms_t)[:, None]  # renormalize: no overflow in the chaotic phase
            sq = jnp.mean(h * h, axis=1)
            hn = _unit_rows(h)
            records.append({"q_hat": sq[:lay["len"]], "chi_hat": ms_t,
                            "gap_hat": 0.5 * jnp.sum((hn[pair0] - hn[pair1]) ** 2, axis=1),  # 1 - c, exact near 1
                            "q_pair": 0.5 * (sq[pair0] + sq[pair1])})
            f = act_lib.get(activation)  # the same phi and phi' the models use
            a = f.fn(h)
            new_state.append((a, f.grad(h[tan_src], a[tan_src]) * t))
        return new_state, records

    state = [(dirs * jnp.sqrt(jnp.asarray(r["q0"] * n0, jnp.float32))[:, None], tans) for _, r in arms]
    state, first = step(state, 0, n0, sizes[1])
    hidden = sizes[1:]
    if len(set(hidden)) == 1:  # equal widths: one compiled layer, scanned (compile time independent of depth)
        _, rest = jax.lax.scan(lambda st_, l: step(st_, l, hidden[0], hidden[0]), state, jnp.arange(1, len(hidden)))
    else:
        recs = []
        for l in range(1, len(hidden)):
            state, r = step(state, l, hidden[l - 1], hidden[l])
            recs.append(r)
        rest = jax.tree.map(lambda *xs: jnp.stack(xs), *recs) if recs else None
    out = []
    for i in range(len(arms)):
        rec = {k: v[None] if rest is None else jnp.concatenate([v[None], rest[i][k]]) for k, v in first[i].items()}
        rec["chi_hat"] = rec["chi_hat"][1:]  # layer 1's tangent grew from the unit-norm input direction
        out.append(rec)
    return out


def _arm_activations(full) -> list[tuple[str, str]]:
    return [(name, full.arms[name].model.activation) for name in full.arms]


def _crossing(grid: np.ndarray, chi: np.ndarray) -> float:
    """The first upward crossing of ``chi = 1`` along ``grid``, linear in ``(sigma_w2, ln chi)`` between
    the bracketing grid points; NaN if the curve does not cross inside the grid."""
    y = np.log(chi)
    for k in range(len(grid) - 1):
        if y[k] < 0.0 <= y[k + 1]:
            return float(grid[k] + (grid[k + 1] - grid[k]) * (-y[k]) / (y[k + 1] - y[k]))
    return math.nan


CMAP_C = np.linspace(0.0, 1.0, 51)  # where the theory's correlation map is drawn


def _phase_axes(p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sigma_w2 grid, sigma_b2 grid) of the phase diagram and the sigma_w2 points of the xi_c curve."""
    n = p.phase_points
    return np.linspace(0.5, 4.0, n), np.linspace(0.0, 0.3, n), np.linspace(0.5, 4.0, 4 * n + 1)


def _critical_b(p) -> np.ndarray:
    return np.concatenate([[0.0], np.geomspace(1e-5, 0.3, 2 * p.phase_points)])


def _theory(p, activation: str, depth: int) -> dict[str, np.ndarray]:
    n, sb2 = p.quad_points, p.sigma_b2
    phase_w, phase_b, xi_w = _phase_axes(p)
    out = {}
    out["q_theory"] = np.asarray([[length_trajectory(q0, depth, s, sb2, activation, n) for q0 in p.input_q0]
                                  for s in p.length_sigma_w2])
    out["chi1_theory"] = np.asarray([chi1(s, sb2, activation, n) for s in p.critical_grid])
    out["critical_theory"] = np.asarray(critical_sigma_w2(sb2, activation, n))
    out["critical_grid_theory"] = np.asarray(_crossing(np.asarray(p.critical_grid), out["chi1_theory"]))
    cs = np.asarray(p.corr_sigma_w2, np.float64)
    out["q_star"] = np.asarray([fixed_point(s, sb2, activation, n) for s in cs])
    out["chi1_corr"] = np.asarray([chi1(s, sb2, activation, n) for s in cs])
    out["c_star"] = np.asarray([correlation_fixed_point(s, sb2, activation, n) for s in cs])
    out["chi_c"] = np.asarray([chi_c(s, sb2, activation, n) for s in cs])
    out["xi_c"] = np.asarray([depth_scale(x) for x in out["chi_c"]])
    out["gap_theory"] = np.asarray([[gap_trajectory(c0, entry_length(s, sb2, activation, n), depth, s, sb2,
                                                    activation, n) for c0 in p.corr_c0] for s in cs])
    cmap = np.full((len(cs), len(CMAP_C)), np.nan)
    for i, (s, q) in enumerate(zip(cs, out["q_star"])):
        if math.isfinite(q):
            cmap[i] = [correlation_map(c, q, s, sb2, activation, n) for c in CMAP_C]
    out["cmap_theory"] = cmap
    out["xi_curve"] = np.asarray([depth_scale(chi_c(s, sb2, activation, n)) for s in xi_w])
    out["chi1_curve"] = np.asarray([chi1(s, sb2, activation, n) for s in xi_w])
    # The phase diagram: chi1 at q* on the (sigma_b2, sigma_w2) grid, the depth scale xi_c, and the
    # boundary chi1 = 1 solved per sigma_b2. The 2-D c* search is the costly part: a coarser rule.
    n2 = min(n, 60)
    out["phase_chi1"] = np.asarray([[chi1(s, b, activation, n) for s in phase_w] for b in phase_b])
    out["phase_xi"] = np.asarray([[depth_scale(chi_c(s, b, activation, n2)) for s in phase_w] for b in phase_b])
    # the boundary rises steeply from (1, 0) for tanh: sample sigma_b2 geometrically near 0
    out["phase_critical"] = np.asarray([critical_sigma_w2(b, activation, n) for b in _critical_b(p)])
    return out


def _fit_window(gap_theory: np.ndarray, c_star: float, chi: float, floor: float) -> np.ndarray:
    """Layers (per c0 curve) where the theory's own per-layer decay of ``|c^l - c*|`` is within 10% (in
    log) of its asymptotic rate ``chi_c``, and, in the chaotic phase, the distance is above ``floor``."""
    dist = np.abs((1.0 - gap_theory) - c_star) if c_star < 1.0 else gap_theory
    ok = np.zeros(dist.shape, bool)
    if not (math.isfinite(chi) and 0.0 < chi < 1.0):
        return ok
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.log(dist[..., 1:] / dist[..., :-1])
    near = np.abs(rate - math.log(chi)) <= 0.1 * abs(math.log(chi))
    ok[..., 1:] = near & np.isfinite(rate)
    ok &= dist > (floor if c_star < 1.0 else 1e-9)
    return ok


def _fit_xi(dist: np.ndarray, window: np.ndarray) -> float:
    """Depth scale from a common-slope least-squares fit of ``ln dist`` against layer over every c0
    curve's window (each curve its own intercept): ``xi = -1 / slope``."""
    num = den = 0.0
    layers = np.arange(dist.shape[-1], dtype=np.float64)
    for d, w in zip(dist, window):
        w = w & (d > 0)
        if w.sum() < 2:
            continue
        x, y = layers[w], np.log(d[w])
        num += np.sum((x - x.mean()) * (y - y.mean()))
        den += np.sum((x - x.mean()) ** 2)
    return -den / num if den > 0 and num < 0 else math.nan


def measure(full, keys) -> dict[str, np.ndarray]:
    p = full.params
    sizes = (int(full.data.dim), *(int(w) for w in full.model.hidden))
    depth = len(sizes) - 1
    arms = _arm_activations(full)
    rows = [(act, _arm_rows(p, act)) for _, act in arms]
    # Sequential over seeds (lax.map): one net's ~1000 rows already keep the cores busy; a vmap over
    # seeds would only hold every seed's weights and activations at once.
    measured = jax.jit(lambda ks: jax.lax.map(lambda k: _measure_seed(k, p, sizes, rows), ks))(keys)
    phase_w, phase_b, xi_w = _phase_axes(p)
    out = {"layers": np.arange(1, depth + 1), "phase_sigma_w2": phase_w, "phase_sigma_b2": phase_b,
           "xi_sigma_w2": xi_w, "cmap_c": CMAP_C, "critical_sigma_b2": _critical_b(p)}
    n_sw, n_q0, n_c0 = len(p.length_sigma_w2), len(p.input_q0), len(p.corr_c0)
    for (name, act), m in zip(arms, measured):
        m = {k: np.asarray(v, np.float64) for k, v in m.items()}
        s = m["q_hat"].shape[0]
        out[f"{name}/q_measured"] = m["q_hat"].reshape(s, depth, n_sw, n_q0, -1).mean(-1).transpose(0, 2, 3, 1)
        out[f"{name}/chi1_measured"] = m["chi_hat"].reshape(s, depth - 1, len(p.critical_grid), -1).mean(axis=(1, 3))
        gap = m["gap_hat"].reshape(s, depth, len(p.corr_sigma_w2), n_c0, -1).mean(-1).transpose(0, 2, 3, 1)
        out[f"{name}/gap_measured"] = gap
        out[f"{name}/q_pair_measured"] = m["q_pair"].reshape(s, depth, len(p.corr_sigma_w2), -1).mean(-1)
        out.update({f"{name}/{k}": v for k, v in _theory(p, act, depth).items()})
    return out


# ---------------------------------------------------------------------------------------------------
# Estimates from the measured records (shared by the claims, summary and figures)
# ---------------------------------------------------------------------------------------------------


def _critical_measured(full, results, name) -> np.ndarray:
    grid = np.asarray(full.params.critical_grid, np.float64)
    return np.asarray([_crossing(grid, chi) for chi in results[f"{name}/chi1_measured"]])


def _xi_measured(full, results, name) -> list[dict]:
    """Per corr sigma_w2: the fitted depth scale of the seed-mean distance curves, with a jackknife
    t-interval over seeds (mean_ci of the jackknife pseudo-values); and the same fit on the theory."""
    p = full.params
    out = []
    gap = results[f"{name}/gap_measured"]  # (seeds, sigma_w2, c0, layer)
    s = gap.shape[0]
    for i in range(len(p.corr_sigma_w2)):
        c_star, chi = float(results[f"{name}/c_star"][i]), float(results[f"{name}/chi_c"][i])
        theory = results[f"{name}/gap_theory"][i]
        window = _fit_window(theory, c_star, chi, p.corr_floor)
        dist = (lambda g: np.abs((1.0 - g) - c_star) if c_star < 1.0 else g)
        full_fit = _fit_xi(dist(gap[:, i].mean(0)), window)
        if s > 1 and math.isfinite(full_fit):
            loo = np.asarray([_fit_xi(dist(np.delete(gap[:, i], j, axis=0).mean(0)), window) for j in range(s)])
            summary = stats.mean_ci(s * full_fit - (s - 1) * loo)
        else:
            summary = {"mean": full_fit, "ci_low": full_fit, "ci_high": full_fit, "n": s}
        out.append({"measured": summary, "theory_fit": _fit_xi(dist(theory), window),
                    "layers_fitted": int(window.sum())})
    return out
