"""The backward pass written by hand from the notes' recursion; no jax.grad, vjp or jvp inside.

For the batch-mean loss L and layer l with pre-activation z^l = c^l a^{l-1} W^l + b^l:

    delta^L = dL/dz^L                                   (output layer, per loss below)
    delta^l = c^{l+1} (delta^{l+1} W^{l+1 T}) * f'(u^l) (hidden layer, no BatchNorm: u = z)
    dL/dW^l = c^l a^{l-1 T} delta^l (+ lam W^l),   dL/db^l = sum_batch delta^l

c^l is the layer's forward multiplier under the spec's parametrization
(:mod:`research.lib.parametrization`; 1 under SP, where no product with it is formed). The L2
penalty is on the trained parameter W^l, not on c^l W^l.

Output errors, each divided by the batch size B because L is a batch mean:
    softmax_ce:  (softmax(z) - t) / B
    sigmoid_ce:  (s(z) - t) / B                         (note 001's delta = a - y)
    sigmoid_mse: -(t - y) y (1 - y) / B,  y = s(z)

Sign: note 000 writes the output error as delta = y(1 - y)(t - y) and updates w <- w + eta delta x;
that delta is the *negative* gradient. Ours is the gradient, so for sigmoid_mse the notes' delta
equals our -B * delta and the update is w <- w - eta * dL/dw.

With BatchNorm, g = dL/du arrives at u = gamma * xhat + beta, xhat = (z - mu) * inv_std, and in
train mode (batch statistics) the compact form of the backward pass is

    dgamma = sum g * xhat,   dbeta = sum g,
    dz = inv_std / B * (B g' - sum g' - xhat * sum(g' * xhat)),   g' = gamma * g

which is delta^l (the error at z, before BatchNorm). In eval mode the statistics are constants and
dz = gamma * g * inv_std. A consequence worth knowing: in train mode sum_batch dz = 0, so the bias
b of a BatchNorm layer gets a zero gradient (up to rounding): BN's beta does its job.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from research.lib import activations, losses, mlp, parametrization


class Gradients(NamedTuple):
    grads: list            # same structure as params
    deltas: list           # deltas[l] = dL/dz^l, shape (batch, width), for every layer incl. output
    loss: jax.Array        # batch-mean loss + L2 penalty
    state: list            # BatchNorm state after the forward pass


def output_delta(loss: str, logits: jax.Array, labels: jax.Array) -> jax.Array:
    """dL/dz at the output for the batch-mean ``loss``."""
    batch = logits.shape[0]
    t = losses.targets(labels, logits.shape[-1], logits.dtype)
    if loss == "softmax_ce":
        return (jax.nn.softmax(logits) - t) / batch
    y = jax.nn.sigmoid(logits)
    if loss == "sigmoid_ce":
        return (y - t) / batch
    if loss == "sigmoid_mse":
        return -(t - y) * y * (1 - y) / batch
    raise ValueError(f"unknown loss {loss!r}; accepted: {', '.join(losses.LOSSES)}")


def grads(params, state, x, y, spec: mlp.MLPSpec, loss, l2: float = 0.0, train: bool = True) -> Gradients:
    """Gradients of ``loss(logits, y) + l2_penalty(params, l2)`` by the hand-derived backward pass.

    Returns ``Gradients(grads, deltas, loss, state)``; see the module docstring for the equations.
    ``train`` selects BatchNorm's batch statistics (True) or running statistics (False).
    """
    loss = losses.name_of(loss)
    logits, new_state, trace = mlp.forward(params, state, x, spec, train)
    value = losses.get(loss)(logits, y) + losses.l2_penalty(params, l2)
    act = activations.get(spec.activation)
    batch = x.shape[0]
    multipliers = [s.multiplier for s in parametrization.forward_scales(spec)]

    def times_c(l, value):
        return value if multipliers[l] == 1.0 else value * jnp.asarray(multipliers[l], value.dtype)

    n = spec.depth
    grads_out: list = [None] * n
    deltas: list = [None] * n
    delta = output_delta(loss, logits, y)
    for l in reversed(range(n)):
        layer = params[l]
        if l < n - 1:  # hidden layer: bring the error back through f and BatchNorm
            da = times_c(l + 1, delta @ params[l + 1]["w"].T)
            g = da * act.grad(trace.pre[l], trace.post[l])
            grads_l = {}
            if spec.batchnorm:
                xhat, inv_std = trace.xhat[l], trace.inv_std[l]
                grads_l["gamma"] = jnp.sum(g * xhat, axis=0)
                grads_l["beta"] = jnp.sum(g, axis=0)
                gx = g * layer["gamma"]
                if train:
                    delta = inv_std / batch * (
                        batch * gx - jnp.sum(gx, axis=0) - xhat * jnp.sum(gx * xhat, axis=0)
                    )
                else:
                    delta = gx * inv_std
            else:
                delta = g
        else:
            grads_l = {}
        deltas[l] = delta
        grads_l["w"] = times_c(l, mlp.weight_grad(trace.inputs[l], delta)) + l2 * layer["w"]
        grads_l["b"] = jnp.sum(delta, axis=0)
        grads_out[l] = {k: grads_l[k] for k in layer}  # same key order as params
    return Gradients(grads_out, deltas, value, new_state)
