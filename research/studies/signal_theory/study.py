"""The ``signal_theory`` study: mean-field signal propagation in deep random networks at initialization.

Poole et al. 2016 ("Exponential expressivity in deep neural networks through transient chaos") and
Schoenholz et al. 2017 ("Deep information propagation"). A fully connected net with weights
``W_ij ~ N(0, sigma_w2 / n_in)`` and biases ``b_i ~ N(0, sigma_b2)`` maps an input ``x`` to
pre-activations ``h^1 = W^1 x + b^1`` and ``h^{l+1} = W^{l+1} phi(h^l) + b^{l+1}``. As the width grows,
each layer's pre-activations become Gaussian and two quantities per input (pair) follow deterministic
maps, with ``Dz`` the standard Gaussian measure:

* the length map  ``q^{l+1} = sigma_w2 * int Dz phi(sqrt(q^l) z)^2 + sigma_b2``,
  ``q^1 = sigma_w2 * q^0 + sigma_b2`` with ``q^0 = |x|^2 / n_0``; its fixed point is ``q*``;
* the correlation map ``c^{l+1} = (sigma_w2 * int Dz1 Dz2 phi(u1) phi(u2) + sigma_b2) / q^{l+1}``,
  ``u1 = sqrt(q) z1``, ``u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)`` (both inputs of length ``q``).

Its slope at ``c = 1`` is ``chi1 = sigma_w2 * int Dz phi'(sqrt(q*) z)^2``: ``chi1 < 1`` is the ordered
phase (nearby inputs converge, ``c* = 1``), ``chi1 > 1`` the chaotic one (they separate and settle at a
``c* < 1``); ``chi1 = 1`` is the order-to-chaos boundary. Near a fixed point ``c*``,
``|c^l - c*| ~ exp(-l / xi_c)`` with the depth scale ``xi_c = -1 / ln(chi_c)`` and
``chi_c = sigma_w2 * int Dz1 Dz2 phi'(u1) phi'(u2)`` at ``(q*, c*)``, which diverges at the boundary.

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
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from numpy.polynomial import hermite_e
from scipy import optimize, special

from research.lib import activations as act_lib
from research.engine import config as config_lib, stats
from research.engine.claims import claim

SOURCE = "Poole et al. 2016; Schoenholz et al. 2017"
MAX_POINTS = 300  # hermegauss overflows beyond about 370 nodes


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
}

# ---------------------------------------------------------------------------------------------------
# Theory (float64 numpy)
# ---------------------------------------------------------------------------------------------------


def _sigmoid_grad(u):
    s = special.expit(u)
    return s * (1.0 - s)


# phi and phi' as numpy functions; the derivative conventions at kinks match research.lib.activations
# (relu'(0) = 0, leaky_relu'(0) = slope); with an even number of nodes no node sits at 0 anyway.
_LEAK = 0.01
NP_ACTIVATIONS = {
    "tanh": (np.tanh, lambda u: 1.0 / np.cosh(u) ** 2),
    "sigmoid": (special.expit, _sigmoid_grad),
    "relu": (lambda u: np.maximum(u, 0.0), lambda u: (u > 0).astype(np.float64)),
    "leaky_relu": (lambda u: np.where(u > 0, u, _LEAK * u), lambda u: np.where(u > 0, 1.0, _LEAK)),
    "linear": (lambda u: u, np.ones_like),
}
# phi(a u) = a phi(u) for a > 0: the length map is linear, q* = sigma_b2 / (1 - sigma_w2 E[phi(z)^2]).
HOMOGENEOUS = ("relu", "leaky_relu", "linear")
# |phi| <= 1: the length map is bounded by sigma_w2 + sigma_b2, so q* lies in [sigma_b2, sigma_w2 + sigma_b2].
BOUNDED = ("tanh", "sigmoid")


def _phi(activation: str):
    if activation not in NP_ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; accepted: {', '.join(NP_ACTIVATIONS)}")
    return NP_ACTIVATIONS[activation]


@functools.lru_cache(maxsize=None)
def gauss_normal(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``z_i`` and weights ``w_i`` with ``sum_i w_i f(z_i) ~= int Dz f(z)`` for ``z ~ N(0, 1)``:
    probabilists' Gauss-Hermite (weight ``exp(-z^2/2)``) renormalized by ``sqrt(2 pi)``. Exact for
    polynomials of degree < ``2 n_points``."""
    if not (isinstance(n_points, int) and 1 <= n_points <= MAX_POINTS):
        raise ValueError(f"n_points={n_points!r} is invalid; accepted: an integer in [1, {MAX_POINTS}]")
    z, w = hermite_e.hermegauss(n_points)
    return z, w / math.sqrt(2.0 * math.pi)


def gaussian_mean(f, n_points: int = 100) -> float:
    """``int Dz f(z)`` by ``n_points``-node quadrature."""
    z, w = gauss_normal(n_points)
    return float(np.sum(w * f(z)))


def length_map(q, sigma_w2: float, sigma_b2: float, activation: str, n_points: int = 100):
    """``q' = sigma_w2 * int Dz phi(sqrt(q) z)^2 + sigma_b2``, elementwise over an array of ``q >= 0``."""
    phi, _ = _phi(activation)
    z, w = gauss_normal(n_points)
    q = np.asarray(q, np.float64)
    u = np.sqrt(q)[..., None] * z
    return sigma_w2 * np.sum(w * phi(u) ** 2, axis=-1) + sigma_b2


def length_trajectory(q0: float, depth: int, sigma_w2: float, sigma_b2: float, activation: str,
                      n_points: int = 100) -> np.ndarray:
    """``q^1 .. q^depth`` for an input of length ``q^0 = |x|^2 / n_0``: the first layer is linear in the
    input (``q^1 = sigma_w2 q^0 + sigma_b2``), every later one applies :func:`length_map`."""
    out = [sigma_w2 * q0 + sigma_b2]
    for _ in range(depth - 1):
        out.append(float(length_map(out[-1], sigma_w2, sigma_b2, activation, n_points)))
    return np.asarray(out)


def fixed_point(sigma_w2: float, sigma_b2: float, activation: str, n_points: int = 100) -> float:
    """``q*`` with ``length_map(q*) = q*``; ``inf`` where the length map has none (a homogeneous
    activation with ``sigma_w2 E[phi(z)^2] >= 1``: the length grows without bound).

    Homogeneous ``phi``: ``q* = sigma_b2 / (1 - sigma_w2 E[phi(z)^2])`` in closed form. Bounded ``phi``:
    ``g(q) = length_map(q) - q`` is >= 0 at ``q = sigma_b2`` and < 0 at ``sigma_w2 + sigma_b2 + 1``,
    so brentq brackets the root. With ``sigma_b2 = 0`` and ``phi(0) = 0``, ``q = 0`` is always fixed;
    the nonzero root exists where ``g`` is positive just above 0 (tanh: ``sigma_w2 > 1``).
    """
    if activation in HOMOGENEOUS:
        kappa = gaussian_mean(lambda z: _phi(activation)[0](z) ** 2, n_points)
        slope = sigma_w2 * kappa
        return sigma_b2 / (1.0 - slope) if slope < 1.0 else math.inf
    _phi(activation)
    g = lambda q: float(length_map(q, sigma_w2, sigma_b2, activation, n_points)) - q
    hi = sigma_w2 + sigma_b2 + 1.0
    lo = sigma_b2
    if g(lo) <= 0.0:  # sigma_b2 = 0 and phi(0) = 0: look for a root away from the trivial q* = 0
        lo = 1e-9 * hi
        if g(lo) <= 0.0:
            return 0.0
    return float(optimize.brentq(g, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))


def chi1(sigma_w2: float, sigma_b2: float, activation: str, n_points: int = 100, q: float | None = None) -> float:
    """``chi1 = sigma_w2 * int Dz phi'(sqrt(q) z)^2`` at ``q`` (default: the fixed point ``q*``): the
    mean growth per layer of the squared length of an infinitesimal perturbation, and the slope of the
    correlation map at ``c = 1``. For a homogeneous phi (relu, leaky_relu, linear) it does not depend on
    ``q > 0`` and is evaluated at ``q = 1`` (``q*`` may be 0 or infinite there)."""
    if activation in HOMOGENEOUS:
        q = 1.0  # phi'(sqrt(q) z) = phi'(z) for every q > 0
    elif q is None:
        q = fixed_point(sigma_w2, sigma_b2, activation, n_points)
    if not (math.isfinite(q) and q >= 0.0):
        raise ValueError(f"chi1: q={q} is invalid for {activation}; accepted: a finite q >= 0")
    dphi = _phi(activation)[1]
    return sigma_w2 * gaussian_mean(lambda z: dphi(math.sqrt(q) * z) ** 2, n_points)


def _pair_nodes(g: float, q: float, n_points: int):
    """2-D quadrature for two unit-correlated Gaussians: ``u1 = sqrt(q) z1`` and
    ``u2 = sqrt(q) (c z1 + s z2)`` with ``c = 1 - g``, ``s = sqrt(1 - c^2) = sqrt(g (2 - g))``, written
    through the gap ``g`` so that ``u2 - u1`` stays accurate as ``c -> 1``."""
    z, w = gauss_normal(n_points)
    z1, z2 = z[:, None], z[None, :]
    s = math.sqrt(max(g * (2.0 - g), 0.0))
    u1 = math.sqrt(q) * z1 + 0.0 * z2
    u2 = u1 + math.sqrt(q) * (-g * z1 + s * z2)
    return u1, u2, w[:, None] * w[None, :]


def gap_map(g: float, q: float, sigma_w2: float, sigma_b2: float, activation: str, n_points: int = 100):
    """The correlation map in terms of the gap ``g = 1 - c`` of two inputs both of length ``q``:
    ``1 - c' = sigma_w2 * int Dz1 Dz2 (phi(u1) - phi(u2))^2 / (2 q')`` with ``q' = length_map(q)``
    (since ``q' - q12' = sigma_w2 (E[phi1^2] - E[phi1 phi2])``). Returns ``(1 - c', q')``."""
    phi, _ = _phi(activation)
    u1, u2, w2 = _pair_nodes(g, q, n_points)
    q_next = float(length_map(q, sigma_w2, sigma_b2, activation, n_points))
    return sigma_w2 * float(np.sum(w2 * (phi(u1) - phi(u2)) ** 2)) / (2.0 * q_next), q_next


def correlation_map(c: float, q: float, sigma_w2: float, sigma_b2: float, activation: str,
                    n_points: int = 100) -> float:
    """``c' = (sigma_w2 * int Dz1 Dz2 phi(u1) phi(u2) + sigma_b2) / q'`` for two inputs of length ``q``
    and correlation ``c`` (see :func:`gap_map`)."""
    return 1.0 - gap_map(1.0 - c, q, sigma_w2, sigma_b2, activation, n_points)[0]


def gap_trajectory(c0: float, q0: float, depth: int, sigma_w2: float, sigma_b2: float, activation: str,
                   n_points: int = 100) -> np.ndarray:
    """``1 - c^l`` for ``l = 1 .. depth`` for two inputs of length ``q^0`` and correlation ``c^0``. The
    first layer is linear: ``q12^1 = sigma_w2 q^0 c^0 + sigma_b2``, so ``1 - c^1 = sigma_w2 q^0 (1 - c^0) / q^1``."""
    q = sigma_w2 * q0 + sigma_b2
    gaps = [sigma_w2 * q0 * (1.0 - c0) / q]
    for _ in range(depth - 1):
        g, q = gap_map(gaps[-1], q, sigma_w2, sigma_b2, activation, n_points)
        gaps.append(g)
    return np.asarray(gaps)


def correlation_fixed_point(sigma_w2: float, sigma_b2: float, activation: str, n_points: int = 100) -> float:
    """The stable fixed point ``c*`` of the correlation map at ``q*``: 1 in the ordered phase
    (``chi1 <= 1``); in the chaotic phase the root of ``gap_map(g) = g`` in ``(0, 1]`` (brentq):
    just above ``g = 0`` the map grows like ``chi1 g > g``, at ``g = 1`` (``c = 0``) it gives
    ``1 - sigma_b2 / q* <= 1``. NaN where ``q*`` is infinite."""
    q = fixed_point(sigma_w2, sigma_b2, activation, n_points)
    if not math.isfinite(q):
        return math.nan
    if q == 0.0:  # the signal dies: every pair ends up identical
        return 1.0
    if chi1(sigma_w2, sigma_b2, activation, n_points, q) <= 1.0:
        return 1.0
    f = lambda g: gap_map(g, q, sigma_w2, sigma_b2, activation, n_points)[0] - g
    lo = 1e-3
    while f(lo) <= 0.0:  # near the boundary the unstable root at g = 0 is barely repelling
        lo /= 10.0
        if lo < 1e-12:
            return 1.0
    if f(1.0) >= 0.0:
        return 0.0
    return 1.0 - float(optimize.brentq(f, lo, 1.0, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=200))


def chi_c(sigma_w2: float, sigma_b2: float, activation: str, n_points: int = 100) -> float:
    """Slope of the correlation map at its stable fixed point:
    ``chi_c = sigma_w2 * int Dz1 Dz2 phi'(u1) phi'(u2)`` at ``(q*, c*)`` (``= chi1`` when ``c* = 1``)."""
    q = fixed_point(sigma_w2, sigma_b2, activation, n_points)
    c = correlation_fixed_point(sigma_w2, sigma_b2, activation, n_points)
    if not math.isfinite(q) or not math.isfinite(c):
        return math.nan
    if c == 1.0:
        return chi1(sigma_w2, sigma_b2, activation, n_points, q)
    dphi = _phi(activation)[1]
    u1, u2, w2 = _pair_nodes(1.0 - c, q, n_points)
    return sigma_w2 * float(np.sum(w2 * dphi(u1) * dphi(u2)))


def depth_scale(chi: float) -> float:
    """``xi = -1 / ln(chi)``: the number of layers over which a deviation from a fixed point shrinks by
    ``e`` when it shrinks by ``chi`` per layer; ``inf`` at ``chi = 1``, NaN for ``chi > 1`` (no decay)."""
    if chi == 0.0:
        return 0.0
    if not (math.isfinite(chi) and 0.0 < chi <= 1.0):
        return math.nan
    return math.inf if chi == 1.0 else -1.0 / math.log(chi)


def critical_sigma_w2(sigma_b2: float, activation: str, n_points: int = 100) -> float:
    """The ``sigma_w2`` where ``chi1(sigma_w2, sigma_b2) = 1`` at the fixed point ``q*(sigma_w2)``: the
    order-to-chaos boundary. brentq on ``ln chi1``, bracketed by halving/doubling from [0.5, 2];
    NaN if no crossing lies in [1e-3, 1e4] (e.g. a saturating activation whose chi1 stays below 1)."""
    f = lambda s: math.log(chi1(s, sigma_b2, activation, n_points))
    lo, hi = 0.5, 2.0
    while f(lo) > 0.0 and lo > 1e-3:
        lo /= 2.0
    while f(hi) < 0.0 and hi < 1e4:
        hi *= 2.0
    if not (f(lo) <= 0.0 <= f(hi)):
        return math.nan
    return float(optimize.brentq(f, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=200))


def entry_length(sigma_w2: float, sigma_b2: float, activation: str, n_points: int = 100) -> float:
    """The input length ``q^0`` that puts the first layer at ``q*`` (``sigma_w2 q^0 + sigma_b2 = q*``),
    so that every layer starts at the fixed point; 1 where ``q*`` is infinite or below ``sigma_b2``."""
    q = fixed_point(sigma_w2, sigma_b2, activation, n_points)
    return (q - sigma_b2) / sigma_w2 if math.isfinite(q) and q > sigma_b2 else 1.0


# ---------------------------------------------------------------------------------------------------
# Measurement (float32 jax)
# ---------------------------------------------------------------------------------------------------


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
    e = _unit_rows(jax.random.normal(jax.random.fold_in(key, 0), (single + 2 * lay["pair"], n0), jnp.float32))
    e1, e2 = e[single:single + lay["pair"]], e[single + lay["pair"]:]
    e2 = _unit_rows(e2 - jnp.sum(e2 * e1, axis=1, keepdims=True) * e1)
    c0 = jnp.asarray(np.tile(np.repeat(np.asarray(p.corr_c0, np.float32), p.pair_replicates),
                             len(p.corr_sigma_w2)))[:, None]
    second = c0 * e1 + jnp.sqrt(1.0 - c0 * c0) * e2
    rows = jnp.concatenate([e[:single], e1, second])
    tangents = _unit_rows(jax.random.normal(jax.random.fold_in(key, 1), (lay["tan"], n0), jnp.float32))
    return rows, tangents


def _measure_seed(key, p, sizes: tuple[int, ...], arms: list[tuple[str, dict]]):
    """One seed: every arm's rows through one net (the same weight draws for all rows and arms).

    Returns per arm ``q_hat`` (depth, length rows) = mean over units of h^2, ``chi_hat``
    (depth - 1, tangents) = mean-square growth of the tangent per layer, ``gap_hat`` (depth, pairs)
    = ``1 - c`` of each pair, ``q_pair`` (depth, pairs) = mean of the pair's two E[h^2].
    """
    lay = _layout(p)
    n0 = sizes[0]
    dirs, tans = _directions(jax.random.fold_in(key, 2), p, n0)
    k_w, k_b = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
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
    return [(name, config_lib.resolve(full, name).model.activation) for name in full.arms]


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
# Claims, summary, figures
# ---------------------------------------------------------------------------------------------------


def _length_errors(results, name) -> tuple[np.ndarray, tuple]:
    """Per seed, the signed relative error ``q_hat / q - 1`` at the (sigma_w2, q0, layer) whose
    seed-mean error is largest in size, sign-flipped so that the seed mean is >= 0."""
    err = results[f"{name}/q_measured"] / results[f"{name}/q_theory"][None] - 1.0
    mean = err.mean(axis=0)
    worst = np.unravel_index(np.argmax(np.abs(mean)), mean.shape)
    return np.sign(mean[worst]) * err[(slice(None), *worst)], worst


def _tolerance(full) -> float:
    """5%, or sqrt(2/n) where that is larger: one net's E[h^2] of a layer of width n is a mean of n
    squared Gaussians, relative std sqrt(2/n) (4.5% at n = 1000). A theory error above this would stand
    out of the seed mean, whose own noise is that spread over sqrt(seeds)."""
    return max(0.05, math.sqrt(2.0 / min(full.model.hidden)))


def _length_arms(full) -> list[str]:
    """Arms whose length map has a contracting fixed point for every sigma_w2 (bounded phi). For
    relu the length map is linear: at sigma_w2 >= 2 there is no fixed point, one net's E[h^2] performs
    a multiplicative random walk (relative spread about sqrt(2 l / n) at layer l) and the seed mean
    cannot be pinned to 5% at depth; those arms are drawn and summarized, not claimed."""
    bounded = [n for n, a in _arm_activations(full) if a in BOUNDED]
    return bounded or list(full.arms)


def _critical_measured(full, results, name) -> np.ndarray:
    grid = np.asarray(full.params.critical_grid, np.float64)
    return np.asarray([_crossing(grid, chi) for chi in results[f"{name}/chi1_measured"]])


def _tanh_arm(full) -> str | None:
    return next((n for n, a in _arm_activations(full) if a == "tanh"), None)


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


def claims(full, results) -> list[dict]:
    out = []
    tol = _tolerance(full)
    worst = max(((name, *_length_errors(results, name)) for name in _length_arms(full)),
                key=lambda t: stats.mean_ci(t[1])["mean"])
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
        f"below {tol:.0%}, about the relative spread sqrt(2/n) = {math.sqrt(2 / min(full.model.hidden)):.3f} of "
        f"one net's E[h^2] at this width",
        SOURCE + " (Poole Fig. 1)", s, s["ci_high"] < tol))
    name = _tanh_arm(full)
    if name is not None:
        theory = float(results[f"{name}/critical_theory"])
        s = stats.mean_ci(_critical_measured(full, results, name))
        rel = 0.02
        out.append(claim(
            "signal_theory.critical_sigma_w2",
            f"tanh at sigma_b2={p.sigma_b2:g}: the order-to-chaos boundary chi1 = 1 lies at sigma_w2 = {theory:.4f} "
            f"(theory, brentq; papers: about 1.76); measured: the sigma_w2 where the mean squared growth per layer "
            f"of an infinitesimal input perturbation crosses 1 (grid {p.critical_grid[0]:g}-{p.critical_grid[-1]:g}, "
            f"interpolated in ln chi1). Holds if the 95% CI lies within {rel:.0%} of theory (finite-width "
            f"corrections to chi1 are O(1/n))",
            SOURCE + " (Schoenholz Fig. 1)", s,
            math.isfinite(s["mean"]) and abs(s["ci_low"] / theory - 1) <= rel and abs(s["ci_high"] / theory - 1) <= rel))
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


def figures(full, results, fig_dir, plt) -> list[tuple[str, str]]:
    p = full.params
    names = list(full.arms)
    layers = results["layers"]
    figs = []

    # 1. Length map: q^l against layer, theory lines and measured means (95% CI over seeds).
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        qm, qt = results[f"{name}/q_measured"], results[f"{name}/q_theory"]
        for i, s in enumerate(p.length_sigma_w2):
            for j, q0 in enumerate(p.input_q0):
                line = stats.band(ax, layers, qm[:, i, j], label=f"sigma_w2={s:g}" if j == 0 else None, color=f"C{i}",
                                  marker="o", ms=2.5, ls="none")
                ax.plot(layers, qt[i, j], color=line.get_color(), lw=1)
        ax.set(yscale="log", xlabel="layer l", ylabel="q^l = E[h^2]",
               title=f"{name}: length map, sigma_b2={p.sigma_b2:g}; lines theory, dots measured")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/length_map.png", dpi=100)
    plt.close(fig)
    figs.append(("Length map: theory (lines) vs measured E[h^2] (dots, 95% CI)", "figures/length_map.png"))

    # 2. Correlation map: the one-layer map at q* and the measured (c^l, c^{l+1}) pairs; c^l by layer.
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 4.5 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        gm, gt = results[f"{name}/gap_measured"].mean(0), results[f"{name}/gap_theory"]
        for i, s in enumerate(p.corr_sigma_w2):
            color = f"C{i}"
            row[0].plot(results["cmap_c"], results[f"{name}/cmap_theory"][i], color=color, lw=1,
                        label=f"sigma_w2={s:g}")
            cm = 1.0 - gm[i]
            row[0].plot(cm[:, :-1].ravel(), cm[:, 1:].ravel(), "o", ms=2.5, color=color, alpha=0.6)
            for j in range(len(p.corr_c0)):
                row[1].plot(layers, 1.0 - gt[i, j], color=color, lw=1, label=f"sigma_w2={s:g}" if j == 0 else None)
                row[1].plot(layers, cm[j], "o", ms=2, color=color)
        row[0].plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
        row[0].set(xlabel="c^l", ylabel="c^{l+1}", title=f"{name}: c-map at q* (lines; none where q* = inf),\n"
                   "measured consecutive layers (dots, seed means)")
        row[1].set(xlabel="layer l", ylabel="c^l", title=f"{name}: correlation by layer, every c0\n(lines theory, "
                   "dots seed means)")
        row[0].legend(fontsize=7)
        row[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/correlation_map.png", dpi=100)
    plt.close(fig)
    figs.append(("Correlation map and correlation by layer", "figures/correlation_map.png"))

    # 3. Depth scale: |c^l - c*| decays like exp(-l / xi_c); xi_c against sigma_w2 with the fits.
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 4.5 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        xi = _xi_measured(full, results, name)
        gap = results[f"{name}/gap_measured"]
        for i, s in enumerate(p.corr_sigma_w2):
            c_star = float(results[f"{name}/c_star"][i])
            if not math.isfinite(c_star):
                continue
            dist = (lambda g: np.abs((1.0 - g) - c_star) if c_star < 1.0 else g)
            window = _fit_window(results[f"{name}/gap_theory"][i], c_star, float(results[f"{name}/chi_c"][i]),
                                 p.corr_floor)
            for j in range(len(p.corr_c0)):
                color = f"C{i}"
                row[0].plot(layers, dist(results[f"{name}/gap_theory"][i, j]), color=color, lw=1,
                            label=f"sigma_w2={s:g}: xi_c={results[f'{name}/xi_c'][i]:.2f}, fit "
                                  f"{xi[i]['measured']['mean']:.2f}" if j == 0 else None)
                d = dist(gap[:, i, j].mean(0))
                row[0].plot(layers, d, "o", ms=2, color=color, alpha=0.35)
                row[0].plot(layers[window[j]], d[window[j]], "o", ms=3, color=color)
        row[0].set(yscale="log", xlabel="layer l", ylabel="|c^l - c*|",
                   title=f"{name}: distance to c*\n(lines theory; dots seed means, bold: fitted layers)")
        row[0].set_ylim(bottom=1e-7)
        row[0].legend(fontsize=7)
        row[1].plot(results["xi_sigma_w2"], results[f"{name}/xi_curve"], color="k", lw=1, label="theory xi_c")
        m = [x["measured"] for x in xi]
        err = np.nan_to_num(np.maximum([[v["mean"] - v["ci_low"] for v in m], [v["ci_high"] - v["mean"] for v in m]],
                                       0.0))
        row[1].errorbar(p.corr_sigma_w2, [v["mean"] for v in m], yerr=err,
                        fmt="o", color="C3", capsize=3, label="measured (jackknife 95% CI)")
        crit = float(results[f"{name}/critical_theory"])
        if math.isfinite(crit):
            row[1].axvline(crit, color="grey", ls=":", lw=1)
        row[1].set(yscale="log", xlabel="sigma_w2", ylabel="depth scale xi_c (layers)",
                   title=f"{name}: xi_c = -1/ln chi_c at sigma_b2={p.sigma_b2:g}")
        row[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/depth_scale.png", dpi=100)
    plt.close(fig)
    figs.append(("Depth scale: decay of |c^l - c*| and xi_c against sigma_w2", "figures/depth_scale.png"))

    # 4. chi1 on the critical grid: theory vs measured, and the two roots.
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.2), squeeze=False)
    grid = np.asarray(p.critical_grid)
    for ax, name in zip(axes[0], names):
        ax.plot(results["xi_sigma_w2"], results[f"{name}/chi1_curve"], color="k", lw=1, label="theory chi1(q*)")
        stats.band(ax, grid, results[f"{name}/chi1_measured"], label="measured (95% CI)", color="C3", marker="o", ms=3)
        crit = stats.mean_ci(_critical_measured(full, results, name))
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.axvline(float(results[f"{name}/critical_theory"]), color="k", ls=":", lw=1,
                   label=f"theory root {float(results[f'{name}/critical_theory']):.4f}")
        if math.isfinite(crit["mean"]):
            ax.axvspan(crit["ci_low"], crit["ci_high"], color="C3", alpha=0.2,
                       label=f"measured root {crit['mean']:.4f} [{crit['ci_low']:.4f}, {crit['ci_high']:.4f}]")
        ax.set(xlim=(grid[0] - 0.1, grid[-1] + 0.1), xlabel="sigma_w2", ylabel="chi1",
               title=f"{name}: chi1 at sigma_b2={p.sigma_b2:g}")
        lo, hi = np.nanmin(results[f"{name}/chi1_measured"]), np.nanmax(results[f"{name}/chi1_measured"])
        ax.set_ylim(min(lo, 0.95) - 0.02, max(hi, 1.05) + 0.02)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/chi1.png", dpi=100)
    plt.close(fig)
    figs.append(("chi1 near the boundary: theory vs measured perturbation growth", "figures/chi1.png"))

    # 5. Phase diagram over (sigma_w2, sigma_b2).
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 4.5 * len(names)), squeeze=False)
    w, bgrid = results["phase_sigma_w2"], results["phase_sigma_b2"]
    for row, name in zip(axes, names):
        chi = results[f"{name}/phase_chi1"]
        im = row[0].pcolormesh(w, bgrid, np.log(chi), cmap="RdBu_r", shading="nearest",
                               vmin=-np.nanmax(np.abs(np.log(chi))), vmax=np.nanmax(np.abs(np.log(chi))))
        fig.colorbar(im, ax=row[0], label="ln chi1 (< 0 ordered, > 0 chaotic)")
        xi = np.log10(np.clip(results[f"{name}/phase_xi"], 1e-3, 1e3))
        im = row[1].pcolormesh(w, bgrid, xi, cmap="viridis", shading="nearest", vmin=0, vmax=2)
        fig.colorbar(im, ax=row[1], label="log10 xi_c (layers)")
        crit = stats.mean_ci(_critical_measured(full, results, name))
        for ax in row:
            ax.plot(results[f"{name}/phase_critical"], results["critical_sigma_b2"], color="k", lw=1.5,
                    label="chi1 = 1 (theory)")
            if math.isfinite(crit["mean"]):
                ax.errorbar([crit["mean"]], [p.sigma_b2], xerr=[[crit["mean"] - crit["ci_low"]],
                                                                [crit["ci_high"] - crit["mean"]]],
                            fmt="o", color="orange", ms=4, capsize=3, label="measured boundary")
            ax.set(xlabel="sigma_w2", ylabel="sigma_b2", xlim=(w[0], w[-1]), ylim=(bgrid[0], bgrid[-1]))
            ax.legend(fontsize=7, loc="upper left")
        row[0].set_title(f"{name}: ordered vs chaotic (chi1 at q*)")
        row[1].set_title(f"{name}: depth scale xi_c (white: undefined)")
    fig.tight_layout()
    fig.savefig(f"{fig_dir}/phase_diagram.png", dpi=100)
    plt.close(fig)
    figs.append(("Phase diagram over (sigma_w2, sigma_b2)", "figures/phase_diagram.png"))
    return figs


def summary(full, results) -> dict:
    return {"arms": arm_summary(full, results)}


def compute(ctx) -> dict:
    return measure(ctx.full, ctx.keys)


def get_config():
    from research.studies.signal_theory.config import get_config as config

    return config()
