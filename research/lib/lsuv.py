"""LSUV, layer-sequential unit-variance init (Mishkin & Matas 2016, "All you need is a good init").

A data-dependent init: start from some weights (the paper pre-initializes with orthonormal
matrices, Saxe et al. 2013: use ``weight_init="orthogonal"`` in the spec; :func:`lsuv` itself
rescales *whatever* params it is given and never redraws them), then, from the first layer to the
last, measure the variance of the layer's output on a batch and divide its weight matrix by the
square root of that variance, until ``|Var - 1| < tol`` or ``max_iter`` rescales were made:

    for l = 1..L:
        v = Var(z_l)                               # over every entry of the (batch, fan_out) output
        while |v - 1| >= tol and iterations_l < max_iter:
            W_l = W_l / sqrt(v);  iterations_l += 1
            v = Var(z_l)                           # re-measured (on a fresh minibatch, see batch_size)

"Output of layer l" is ``z_l = a_{l-1} @ W_l + b_l``, the linear map's output *before* BatchNorm
and the activation (:class:`research.lib.mlp.Trace`'s ``z``), as the paper normalizes a layer's
output before the nonlinearity; the output layer (logits) is included, as in the paper's code.
Layers below ``l`` are already final when layer ``l`` is measured, and inputs propagate as in
:func:`research.lib.mlp.forward` in train mode.

Only the weights ``w`` change, each by one positive scalar per layer (directions, biases, gamma
and beta are untouched). With zero biases and a fixed batch (``batch_size=None``) the variance
scales exactly with the square of that scalar, so one rescale per layer reaches 1 up to round-off;
more iterations happen with nonzero biases or with a fresh minibatch per measurement (the paper's
procedure: ``batch_size=B``). A layer whose output variance is 0 or not finite (e.g. all-zero
weights, every unit dead) cannot be rescaled and is left as it is: check the result if that
matters.

BatchNorm: the measured quantity is still z (before BN). In train mode BN removes any scale of
z (up to ``bn_eps``), so the rescale changes nothing downstream in train mode; it does change eval
mode, which normalizes with the running statistics. LSUV therefore also sets each hidden layer's
running ``mean``/``var`` to the per-unit batch mean and (biased) variance of its rescaled z on all
of ``x``, so that at init eval mode on ``x`` computes what train mode does. Without BatchNorm the
state is ``[]`` and comes back as is.

Pure and usable under ``jit``/``vmap`` (one ``lax.while_loop`` per layer; ``max_iter``,
``batch_size`` and the spec are static: close over them or mark them static). Randomness comes
only from ``key``, and only with ``batch_size``: iteration ``t`` of layer ``l`` measures on the
rows of ``x`` drawn without replacement by ``fold_in(fold_in(key, l), t)``. With
``batch_size=None`` the key is unused and every measurement uses all of ``x``.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp

from research.lib import activations, mlp

__all__ = ["lsuv", "output_variances"]


def _fail(name: str, value, accepted: str):
    raise ValueError(f"lsuv: {name}={value!r} is invalid; accepted: {accepted}")


def _validate(params, state, spec, x, tol, max_iter, batch_size) -> None:
    if not isinstance(spec, mlp.MLPSpec):
        _fail("spec", type(spec).__name__, "a research.lib.mlp.MLPSpec")
    if not isinstance(tol, jax.core.Tracer):
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not math.isfinite(float(tol)) or tol <= 0:
            _fail("tol", tol, "a finite number > 0")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        _fail("max_iter", max_iter, "an integer >= 1 (static under jit)")
    if getattr(x, "ndim", None) != 2 or x.shape[1] != spec.sizes[0]:
        _fail("x.shape", tuple(getattr(x, "shape", ())), f"(batch, {spec.sizes[0]}) for sizes {spec.sizes}")
    if x.shape[0] < 2:
        _fail("x.shape", tuple(x.shape), "a batch of at least 2 rows (a variance needs two)")
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or \
                not 2 <= batch_size <= x.shape[0]:
            _fail("batch_size", batch_size, f"None (all of x) or an integer in [2, {x.shape[0]}] (x's rows)")
    if not isinstance(params, (list, tuple)) or len(params) != spec.depth:
        _fail("params", f"<{len(params) if isinstance(params, (list, tuple)) else type(params).__name__} layers>",
              f"a list of {spec.depth} layer dicts as research.lib.mlp.init makes for sizes {spec.sizes}")
    for l, (layer, shape) in enumerate(zip(params, spec.weight_shapes())):
        if tuple(jnp.shape(layer["w"])) != shape:
            _fail(f"params[{l}]['w'].shape", tuple(jnp.shape(layer["w"])), f"{shape} (sizes {spec.sizes})")
    n_state = spec.n_hidden if spec.batchnorm else 0
    if not isinstance(state, (list, tuple)) or len(state) != n_state:
        _fail("state", f"<{len(state) if isinstance(state, (list, tuple)) else type(state).__name__} entries>",
              f"a list of {n_state} BatchNorm state dicts (research.lib.mlp.init's state)")


def _hidden(layer, z, spec):
    """A hidden layer's output from its z, as mlp.forward computes it in train mode; also the
    batch statistics of z when BatchNorm is on (else None)."""
    u, stats = z, None
    if spec.batchnorm:
        mean = jnp.mean(z, axis=0)
        var = jnp.mean(jnp.square(z - mean), axis=0)
        u = layer["gamma"] * ((z - mean) * jax.lax.rsqrt(var + spec.bn_eps)) + layer["beta"]
        stats = {"mean": mean, "var": var}
    return activations.get(spec.activation).fn(u), stats


def _input_of(params, spec, x, l):
    """The input of layer ``l`` (train mode) for the batch ``x``."""
    a = x
    for j in range(l):
        a, _ = _hidden(params[j], a @ params[j]["w"] + params[j]["b"], spec)
    return a


def _rescale(measure, w, tol, max_iter):
    """The while loop of one layer: ``(w, iterations, last measured variance)``."""
    def cond(c):
        _, it, var = c
        return (it < max_iter) & (jnp.abs(var - 1) >= tol) & (var > 0) & jnp.isfinite(var)

    def body(c):
        w, it, var = c
        w = w * jax.lax.rsqrt(var).astype(w.dtype)
        return w, it + 1, measure(w, it + 1)

    return jax.lax.while_loop(cond, body, (w, jnp.zeros([], jnp.int32), measure(w, 0)))


def lsuv(key, params, state, spec, x, tol=0.1, max_iter=10, *, batch_size=None):
    """LSUV-rescaled ``(params, state, iterations)``.

    Args:
      key: a ``jax.random`` key; used only with ``batch_size`` (the minibatch of each measurement).
      params, state: as :func:`research.lib.mlp.init` returns them for ``spec`` (not modified).
      spec: the :class:`research.lib.mlp.MLPSpec`.
      x: the data batch, shape ``(batch, spec.sizes[0])``, at least 2 rows.
      tol: stop a layer once ``|Var(z_l) - 1| < tol``; a finite number > 0.
      max_iter: at most this many rescales per layer; an integer >= 1 (static).
      batch_size: ``None`` (default) measures on all of ``x`` every time; an integer B measures
        each time on a fresh draw of B rows of ``x`` (the paper's one minibatch per iteration).

    Returns:
      ``(params, state, iterations)``: the new params (only each ``w`` rescaled, by a positive
      scalar per layer); the state (running mean/var of each hidden BatchNorm layer set to its
      rescaled z's batch statistics on all of ``x``; ``[]`` without BatchNorm); and ``iterations``,
      an int32 array of shape ``(spec.depth,)``: the rescales made per layer, in ``[0, max_iter]``
      (0 when the layer was already within ``tol``). A layer that used ``max_iter`` may still be
      off by ``tol`` or more.

    Raises:
      ValueError: naming the bad argument and what is accepted.
    """
    _validate(params, state, spec, x, tol, max_iter, batch_size)
    params = [dict(layer) for layer in params]
    state = [dict(s) for s in state]
    n = x.shape[0]
    iterations = []
    a_all = x  # every row of x through the layers made final so far
    for l in range(spec.depth):
        b = params[l]["b"]
        if batch_size is None:
            def measure(w, it, a=a_all, b=b):
                del it
                return jnp.var(a @ w + b)
        else:
            def measure(w, it, l=l, b=b, done=list(params[:l])):
                rows = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, l), it), n)[:batch_size]
                return jnp.var(_input_of(done, spec, x[rows], l) @ w + b)

        w, it, _ = _rescale(measure, params[l]["w"], tol, max_iter)
        params[l] = dict(params[l], w=w)
        iterations.append(it)
        if l < spec.n_hidden:
            a_all, stats = _hidden(params[l], a_all @ w + b, spec)
            if spec.batchnorm:
                state[l] = {"mean": stats["mean"].astype(state[l]["mean"].dtype),
                            "var": stats["var"].astype(state[l]["var"].dtype)}
    return params, state, jnp.stack(iterations)


def output_variances(params, state, spec, x) -> jax.Array:
    """``Var(z_l)`` over all entries, per layer (shape ``(spec.depth,)``), train-mode forward on
    ``x``: the quantity :func:`lsuv` drives to 1."""
    _, _, trace = mlp.forward(params, state, x, spec, train=True)
    return jnp.stack([jnp.var(z) for z in trace.z])
