"""PRNG-keyed weight samplers, one factory per named scheme.

Every factory returns ``init(key, shape, dtype=jnp.float32) -> Array``. A dense weight has shape
``(fan_in, fan_out)``: column ``j`` holds the incoming weights of unit ``j``. The normal schemes are
plain (untruncated) normals, so their statistics equal ``torch.nn.init``'s:

=================  ======================================  ==========================
scheme             draw                                    variance
=================  ======================================  ==========================
zeros / constant   every entry the same value              0
small_random       scale * N(0, 1)  (notes: 0.01*randn)    scale^2
normal             stddev * N(0, 1)                        stddev^2
uniform            U[-scale, scale] (notes: [-eps, eps])   scale^2 / 3
lecun_*            notes: randn(n) / sqrt(n)               1 / fan_in
xavier_*           Glorot & Bengio 2010                    gain^2 * 2 / (fan_in + fan_out)
he_*               He et al. 2015 (MSRA)                   gain^2 / fan_in  (= 2 / fan_in)
orthogonal         Saxe et al. 2013                        columns (or rows) orthonormal
sparse             Martens 2010                            `connections` nonzeros per column
=================  ======================================  ==========================

The lecun, xavier and he schemes share one core, :func:`variance_scaling`.
"""

from __future__ import annotations

import math
from typing import Callable, Protocol

import jax
import jax.numpy as jnp

from research.lib import registry

__all__ = [
    "Initializer", "available", "constant", "gain", "get", "he_normal", "he_uniform",
    "lecun_normal", "lecun_uniform", "normal", "orthogonal", "small_random", "sparse",
    "uniform", "variance_scaling", "xavier_normal", "xavier_uniform", "zeros",
]


class Initializer(Protocol):
    def __call__(self, key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array: ...


ACTIVATION_GAINS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu")


def gain(activation: str, negative_slope: float = 0.01) -> float:
    """The recommended gain for ``activation``, equal to ``torch.nn.init.calculate_gain``."""
    if activation in ("linear", "sigmoid"):
        return 1.0
    if activation == "tanh":
        return 5.0 / 3.0
    if activation == "relu":
        return math.sqrt(2.0)
    if activation == "leaky_relu":
        return math.sqrt(2.0 / (1.0 + negative_slope**2))
    raise ValueError(f"gain: unknown activation {activation!r}; accepted: {', '.join(ACTIVATION_GAINS)}")


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (fan_in, fan_out); a vector counts as both."""
    if len(shape) == 0:
        raise ValueError(f"initializer: shape {shape} has no fan; give at least one dimension")
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])  # 1 for dense weights
    return shape[-2] * receptive, shape[-1] * receptive


def _non_negative(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"initializer: {name}={value!r} is invalid; accepted: a finite number >= 0")
    return float(value)


def zeros() -> Initializer:
    """All entries 0. Every hidden unit of a layer then computes the same thing forever (see tests)."""
    return constant(0.0)


def constant(value: float) -> Initializer:
    """All entries ``value``: as symmetric as zeros, just not zero."""
    value = float(value)

    def init(key, shape, dtype=jnp.float32):
        del key
        return jnp.full(shape, value, dtype)

    return init


def normal(stddev: float = 1.0) -> Initializer:
    """``stddev * N(0, 1)``: the notes' N(0, 1) init (note 003) at ``stddev=1``."""
    stddev = _non_negative("stddev", stddev)

    def init(key, shape, dtype=jnp.float32):
        return stddev * jax.random.normal(key, shape, dtype)

    return init


def small_random(scale: float = 0.01) -> Initializer:
    """The notes' ``W = 0.01 * np.random.randn(D, H)``: std 0.01, i.e. variance 1e-4.

    Note 004 writes this as N(0, 0.01), which reads as a variance; the code it quotes
    (``0.01*randn``) makes 0.01 the standard deviation, and that is what this is.
    """
    return normal(_non_negative("scale", scale))


def uniform(scale: float = 0.01) -> Initializer:
    """Symmetric ``U[-scale, scale]``: note 001's random init in ``[-eps, eps]``."""
    scale = _non_negative("scale", scale)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, minval=-scale, maxval=scale)

    return init


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "uniform")


def variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    """Entries with variance ``scale / n``, where ``n`` is fan_in, fan_out or their mean.

    ``normal``: ``sqrt(scale / n) * N(0, 1)`` (untruncated); ``uniform``: ``U[-l, l]`` with
    ``l = sqrt(3 * scale / n)``, which has the same variance.
    """
    scale = _non_negative("scale", scale)
    if mode not in _MODES:
        raise ValueError(f"variance_scaling: unknown mode {mode!r}; accepted: {', '.join(_MODES)}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(
            f"variance_scaling: unknown distribution {distribution!r}; accepted: {', '.join(_DISTRIBUTIONS)}"
        )

    def init(key, shape, dtype=jnp.float32):
        fan_in, fan_out = _fans(tuple(shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
        variance = scale / n if n else 0.0  # an empty weight has nothing to scale
        if distribution == "normal":
            return math.sqrt(variance) * jax.random.normal(key, shape, dtype)
        limit = math.sqrt(3.0 * variance)
        return jax.random.uniform(key, shape, dtype, minval=-limit, maxval=limit)

    return init


def lecun_normal() -> Initializer:
    """Var = 1/fan_in: the notes' ``randn(n) / sqrt(n)`` (note 000), which note 002 calls Xavier."""
    return variance_scaling(1.0, "fan_in", "normal")


def lecun_uniform() -> Initializer:
    """Var = 1/fan_in drawn uniformly: ``U[-sqrt(3/fan_in), sqrt(3/fan_in)]``."""
    return variance_scaling(1.0, "fan_in", "uniform")


def xavier_normal(gain: float = 1.0) -> Initializer:
    """Glorot & Bengio 2010: Var = gain^2 * 2 / (fan_in + fan_out)."""
    return variance_scaling(_non_negative("gain", gain) ** 2, "fan_avg", "normal")


def xavier_uniform(gain: float = 1.0) -> Initializer:
    """``U[-l, l]``, ``l = gain * sqrt(6 / (fan_in + fan_out))``: note 003's formula."""
    return variance_scaling(_non_negative("gain", gain) ** 2, "fan_avg", "uniform")


def he_normal(gain: float = math.sqrt(2.0)) -> Initializer:
    """He et al. 2015: Var = gain^2 / fan_in = 2 / fan_in for ReLU, i.e. ``randn(n) * sqrt(2/n)``.

    Note 000 writes ``randn(n) / sqrt(2/n)``, which *divides* by the standard deviation and gives
    variance n/2 instead of 2/n; that is a mistake in the notes. This is the paper's form.
    """
    return variance_scaling(_non_negative("gain", gain) ** 2, "fan_in", "normal")


def he_uniform(gain: float = math.sqrt(2.0)) -> Initializer:
    """``U[-l, l]``, ``l = gain * sqrt(3 / fan_in)``: Var = 2 / fan_in for ReLU."""
    return variance_scaling(_non_negative("gain", gain) ** 2, "fan_in", "uniform")


def orthogonal(gain: float = 1.0) -> Initializer:
    """Saxe et al. 2013: a (scaled) random orthogonal matrix, Haar-distributed.

    For a tall or square ``(fan_in, fan_out)`` weight the columns are orthonormal
    (``W^T W = gain^2 I``); for a wide one the rows are (``W W^T = gain^2 I``). Drawn as the Q of a
    QR decomposition of a Gaussian matrix, with Q's column signs fixed by R's diagonal so the
    distribution is uniform over the orthogonal group.
    """
    g = _non_negative("gain", gain)

    def init(key, shape, dtype=jnp.float32):
        if len(shape) != 2:
            raise ValueError(f"orthogonal: shape {tuple(shape)} is not a matrix; accepted: (fan_in, fan_out)")
        rows, cols = shape
        tall = (max(rows, cols), min(rows, cols))
        q = _haar_q(jax.random.normal(key, tall, dtype))
        if rows < cols:
            q = q.T
        return g * q

    return init


@jax.custom_batching.custom_vmap
def _haar_q(a: jax.Array) -> jax.Array:
    """The Q of ``a = QR`` with column signs fixed by R's diagonal (Haar-distributed for Gaussian ``a``)."""
    q, r = jnp.linalg.qr(a)
    return q * jnp.sign(jnp.diagonal(r))[None, :]


@_haar_q.def_vmap
def _haar_q_batched(axis_size, in_batched, a):
    # Under vmap, one QR at a time (lax.map) instead of jax's batched QR: on XLA:CPU (jax 0.10.2)
    # a program holding two batched QRs whose Q and R are both used, e.g. jit(vmap(mlp.init)) of a
    # 784-256-256 orthogonal net, hangs forever (tests/test_initializers.py keeps a subprocess
    # check with a timeout). jax's batched QR on a CPU is itself a loop, so this costs nothing.
    del axis_size
    return (jax.lax.map(_haar_q, a) if in_batched[0] else _haar_q(a)), in_batched[0]


def sparse(connections: int = 10, stddev: float = 1.0) -> Initializer:
    """Martens 2010: each unit gets exactly ``connections`` nonzero incoming weights, N(0, stddev^2).

    Column ``j`` of a ``(fan_in, fan_out)`` weight has ``connections`` entries drawn N(0, stddev^2)
    at rows chosen uniformly without replacement; every other entry is 0. The notes (000, 004) say
    "connected to a fixed number of units of the next layer", which is ambiguous about direction;
    Martens fixes the *incoming* count, and so does this.
    """
    if not (isinstance(connections, int) and not isinstance(connections, bool) and connections > 0):
        raise ValueError(f"sparse: connections={connections!r} is invalid; accepted: an integer >= 1")
    stddev = _non_negative("stddev", stddev)

    def init(key, shape, dtype=jnp.float32):
        if len(shape) != 2:
            raise ValueError(f"sparse: shape {tuple(shape)} is not a matrix; accepted: (fan_in, fan_out)")
        fan_in, _ = shape
        if connections > fan_in:
            raise ValueError(
                f"sparse: connections={connections} exceeds fan_in={fan_in}; accepted: 1 <= connections <= fan_in"
            )
        k_rows, k_vals = jax.random.split(key)
        # The rows of a column's ``connections`` smallest i.i.d. uniform noise values are a
        # uniformly random subset of exactly that size. top_k finds them without sorting the
        # column (the rows of rank < connections of a double argsort, bitwise; ~6x faster on a CPU).
        noise = jax.random.uniform(k_rows, shape)
        _, rows = jax.lax.top_k(-noise.T, connections)  # (fan_out, connections), distinct rows per column
        chosen = jnp.zeros(shape[::-1], bool).at[jnp.arange(shape[1])[:, None], rows].set(True).T
        values = stddev * jax.random.normal(k_vals, shape, dtype)
        return jnp.where(chosen, values, jnp.zeros((), dtype))

    return init


REGISTRY: dict[str, Callable[..., Initializer]] = {
    "zeros": zeros,
    "constant": constant,
    "small_random": small_random,
    "normal": normal,
    "uniform": uniform,
    "lecun_normal": lecun_normal,
    "lecun_uniform": lecun_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "orthogonal": orthogonal,
    "sparse": sparse,
}


def available() -> tuple[str, ...]:
    """The names :func:`get` accepts."""
    return tuple(REGISTRY)


def get(name: str, **kwargs) -> Initializer:
    """Build the scheme called ``name`` with ``kwargs`` (e.g. ``get("sparse", connections=15)``).
    ``name`` may also be an import path, ``"mypkg.inits:fancy"``, naming a factory that takes the
    keyword arguments and returns an ``init(key, shape, dtype)``."""
    return registry.build("initializer", REGISTRY, name, kwargs)
