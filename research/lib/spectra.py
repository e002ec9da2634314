"""Spectra of layer Jacobians and the spread of back-propagated gradients (Glorot & Bengio 2010).

For a layer h^{l+1} = f(s^{l+1}), s^{l+1} = h^l W + b, the Jacobian of one example is
J = dh^{l+1}/dh^l = diag(f'(s^{l+1})) W^T; its singular values are the square roots of the
eigenvalues of the smaller Gram matrix (J J^T or J^T J). ``gradient_variance_ratio`` compares the
variance of dC/ds at the first and the top hidden layer. ``linear_spectra``: the end-to-end
Jacobian of a deep *linear* net is the product of its weight matrices (Saxe et al. 2013).
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

from research.lib import activations, initializers


def layer_jacobian(w, pre_next, post_next, activation: str):
    """J = dh^{l+1}/dh^l = diag(f'(s^{l+1})) W^T for one example, of shape (fan_out, fan_in).

    ``pre_next``/``post_next`` are s^{l+1} and h^{l+1} = f(s^{l+1}) of that example (vectors)."""
    fprime = activations.get(activation).grad(pre_next, post_next)
    return fprime[:, None] * w.T


def jacobian_gram(j):
    """The smaller of J J^T and J^T J: same nonzero eigenvalues, sigma_i(J)^2."""
    return j @ j.T if j.shape[0] <= j.shape[1] else j.T @ j


def _one_blas_thread():
    """One BLAS thread for LAPACK: on 2 busy cores OpenBLAS's spinning threads measured 3x the CPU
    time of one thread for the same eigvalsh. threadpoolctl comes with scikit-learn (via mlxtend)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1)


def singular_values_from_gram(gram) -> np.ndarray:
    """sigma_i = sqrt(lambda_i(gram)), descending; batched over leading axes. numpy's LAPACK eigvalsh
    is ~10x faster than jax's on CPU for 1000 x 1000; rounding can make ~0 eigenvalues slightly
    negative, hence the clip."""
    with _one_blas_thread():
        lam = np.linalg.eigvalsh(np.asarray(gram))
    return np.sqrt(np.clip(lam, 0.0, None))[..., ::-1]


def singular_values(j) -> np.ndarray:
    """Singular values of one Jacobian (descending), through :func:`jacobian_gram`."""
    return singular_values_from_gram(jacobian_gram(jnp.asarray(j)))


def gradient_variance_ratio(deltas) -> jax.Array:
    """Var(dC/ds^1) / Var(dC/ds^top) over examples and units: below 1 when back-propagated gradients
    shrink on their way down. Glorot & Bengio's eq. (6) in the linear regime:
    Var[dC/ds^i] = Var[dC/ds^d] prod_{i'=i}^{d-1} n_{i'+1} Var[W^{i'}] (times E[f'^2] per layer here)."""
    return jnp.var(deltas[0]) / jnp.var(deltas[-1])


def linear_spectra(key, depth: int, width: int, checkpoints, dtype):
    """Singular values (descending) of the orthogonal and the N(0, 1/n) products at each checkpoint
    depth: two arrays of shape ``(len(checkpoints), width)``."""
    out = {}
    for i, (name, init) in enumerate((("orthogonal", initializers.orthogonal()),
                                      ("gaussian", initializers.lecun_normal()))):
        ks = jax.random.split(jax.random.fold_in(key, i), depth)
        j = jnp.eye(width, dtype=dtype)
        sv = []
        for l in range(depth):
            j = j @ init(ks[l], (width, width), dtype)
            if l + 1 in checkpoints:
                sv.append(jnp.linalg.svd(j, compute_uv=False))
        out[name] = jnp.stack(sv)
    return out
