"""Note 001's gradient check: two-sided differences over any pytree, and the relative error."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


def numerical_grad(f, params, eps: float = 1e-4, batch_size: int = 64):
    """(f(theta + eps e_i) - f(theta - eps e_i)) / (2 eps) for every coordinate i of ``params``.

    ``f`` maps a pytree like ``params`` to a scalar and must be traceable by jit. The result has
    the structure of ``params``. Truncation error is O(eps^2 f'''), round-off O(ulp(f) / eps): the
    V-shaped curve the gradcheck study draws. Coordinates are evaluated ``batch_size`` at a time.
    """
    if not eps > 0:
        raise ValueError(f"numerical_grad: eps={eps!r} is invalid; accepted: a number > 0")
    flat, unravel = ravel_pytree(params)
    eps = jnp.asarray(eps, flat.dtype)

    def one(i):
        plus = f(unravel(flat.at[i].add(eps)))
        minus = f(unravel(flat.at[i].add(-eps)))
        return (plus - minus) / (2 * eps)

    g = jax.jit(lambda idx: jax.lax.map(one, idx, batch_size=batch_size))(jnp.arange(flat.size))
    return unravel(g.astype(flat.dtype))


def relative_error(a, b, tiny: float = 1e-30) -> float:
    """max over leaves of ||a - b|| / max(||a|| + ||b||, tiny), norms over each leaf's entries.

    Per leaf (not per entry), as in the course the notes follow: an entry whose true value is ~0
    would otherwise dominate with a meaningless ratio of two round-off errors.
    """
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if len(la) != len(lb):
        raise ValueError(f"relative_error: trees differ ({len(la)} vs {len(lb)} leaves)")
    worst = 0.0
    for x, y in zip(la, lb):
        x, y = jnp.asarray(x), jnp.asarray(y)
        num = jnp.linalg.norm((x - y).ravel())
        den = jnp.maximum(jnp.linalg.norm(x.ravel()) + jnp.linalg.norm(y.ravel()), tiny)
        worst = max(worst, float(num / den))
    return worst
