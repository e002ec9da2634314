"""Mean-field signal propagation through deep random networks (float64 numpy).

Poole et al. 2016 ("Exponential expressivity in deep neural networks through transient chaos") and
Schoenholz et al. 2017 ("Deep information propagation"). A fully connected net with weights
``W_ij ~ N(0, sigma_w2 / n_in)`` and biases ``b_i ~ N(0, sigma_b2)`` maps an input ``x`` to
pre-activations ``h^1 = W^1 x + b^1`` and ``h^{l+1} = W^{l+1} phi(h^l) + b^{l+1}``. As the width grows,
each layer's pre-activations become Gaussian and two quantities per input (pair) follow deterministic
maps, with ``Dz`` the standard Gaussian measure:

* the length map  ``q^{l+1} = sigma_w2 * int Dz phi(sqrt(q^l) z)^2 + sigma_b2``,
  ``q^1 = sigma_w2 * q^0 + sigma_b2`` with ``q^0 = |x|^2 / n_0``; its fixed point is ``q*``
  (:func:`length_map`, :func:`length_trajectory`, :func:`fixed_point`);
* the correlation map ``c^{l+1} = (sigma_w2 * int Dz1 Dz2 phi(u1) phi(u2) + sigma_b2) / q^{l+1}``,
  ``u1 = sqrt(q) z1``, ``u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)`` (both inputs of length ``q``),
  computed through the gap ``1 - c`` for precision near ``c = 1`` (:func:`gap_map`,
  :func:`correlation_map`, :func:`gap_trajectory`; its stable fixed point ``c*``:
  :func:`correlation_fixed_point`).

Its slope at ``c = 1`` is ``chi1 = sigma_w2 * int Dz phi'(sqrt(q*) z)^2`` (:func:`chi1`): ``chi1 < 1``
is the ordered phase (nearby inputs converge, ``c* = 1``), ``chi1 > 1`` the chaotic one (they separate
and settle at a ``c* < 1``); ``chi1 = 1`` is the order-to-chaos boundary (:func:`critical_sigma_w2`).
Near a fixed point ``c*``, ``|c^l - c*| ~ exp(-l / xi_c)`` with the depth scale
``xi_c = -1 / ln(chi_c)`` (:func:`depth_scale`) and ``chi_c = sigma_w2 * int Dz1 Dz2 phi'(u1) phi'(u2)``
at ``(q*, c*)`` (:func:`chi_c`), which diverges at the boundary.

The Gaussian integrals use Gauss-Hermite quadrature (``numpy.polynomial.hermite_e``,
:func:`gauss_normal`) and the roots scipy's ``brentq``. ``phi`` is one of :data:`NP_ACTIVATIONS`,
numpy versions of the activations in :mod:`research.lib.activations`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.polynomial import hermite_e
from scipy import optimize, special

MAX_POINTS = 300  # hermegauss overflows beyond about 370 nodes


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
