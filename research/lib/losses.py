"""Cost functions on logits, each the mean over the batch, and the L2 penalty.

Labels may be integer classes of shape (batch,) or targets of shape (batch, K); the sigmoid costs
turn integer classes into one-hot targets, as the notes' K-class logistic output does.

On L2: the notes' cost adds (lambda / 2m) * sum(theta^2) to a cost that is a *sum* over m examples
divided by m. Here every cost is already a batch mean, so ``l2_penalty(params, lam)`` adds
``lam / 2 * sum(w^2)``; the two agree with our lam equal to the notes' lambda / m.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def targets(labels: jax.Array, num_classes: int, dtype) -> jax.Array:
    """One-hot targets from integer labels; float targets pass through unchanged."""
    if jnp.issubdtype(labels.dtype, jnp.integer):
        return jax.nn.one_hot(labels, num_classes, dtype=dtype)
    return labels.astype(dtype)


def softmax_ce(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """-sum_k t_k log softmax(z)_k, mean over the batch."""
    t = targets(labels, logits.shape[-1], logits.dtype)
    return -jnp.mean(jnp.sum(t * jax.nn.log_softmax(logits), axis=-1))


def sigmoid_ce(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """The notes' K-class logistic cost: -sum_k [t log s(z) + (1 - t) log(1 - s(z))], batch mean.

    Written with log-sigmoids (log s(z) = -softplus(-z), log(1 - s(z)) = -softplus(z)) so large
    logits do not overflow.
    """
    t = targets(labels, logits.shape[-1], logits.dtype)
    per_unit = t * jax.nn.softplus(-logits) + (1 - t) * jax.nn.softplus(logits)
    return jnp.mean(jnp.sum(per_unit, axis=-1))


def sigmoid_mse(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """1/2 sum_k (t_k - s(z_k))^2 per example, batch mean: the cost behind note 000's
    output error term y(1 - y)(t - y)."""
    t = targets(labels, logits.shape[-1], logits.dtype)
    return jnp.mean(0.5 * jnp.sum(jnp.square(t - jax.nn.sigmoid(logits)), axis=-1))


def l2_penalty(params, lam: float) -> jax.Array:
    """lam/2 * sum of squared weight-matrix entries. Biases and BatchNorm's gamma/beta are left
    out, as the notes leave out theta_0."""
    return 0.5 * lam * sum(jnp.sum(jnp.square(layer["w"])) for layer in params)


LOSSES = {"softmax_ce": softmax_ce, "sigmoid_ce": sigmoid_ce, "sigmoid_mse": sigmoid_mse}


def get(name: str):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; accepted: {', '.join(LOSSES)}")
    return LOSSES[name]


def name_of(loss) -> str:
    """The registered name of ``loss`` given as a name or as one of the functions above."""
    if isinstance(loss, str):
        get(loss)
        return loss
    for name, fn in LOSSES.items():
        if fn is loss:
            return name
    raise ValueError(f"unknown loss {loss!r}; accepted: {', '.join(LOSSES)}")
