"""Per-layer probes of a network at a point: what each hidden layer's outputs look like.

``layer_stats`` serves the activations study (note 004's histograms) and the engine's histograms at
initialization, so both read the same numbers off the same forward pass.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from research.lib import mlp

HIST = 4000
SATURATED = 0.99


def layer_stats(spec, params, bn_state, x, key) -> dict:
    """Per hidden layer of one network on ``x`` (train-mode forward): mean, std, E[h^2], the
    saturated fraction and ``HIST`` sampled values. The init study's histograms use it too."""
    _, _, trace = mlp.forward(params, bn_state, x, spec, train=True)
    post = trace.post
    if not post:
        empty = jnp.zeros((0,), x.dtype)
        return {"act_mean": empty, "act_std": empty, "act_sq": empty, "act_saturated": empty,
                "act_samples": jnp.zeros((0, HIST), x.dtype)}
    # HIST values per layer drawn uniformly with replacement: the histogram's distribution is the
    # layer's; drawing without replacement (a permutation of every value) cost seconds per group.
    samples = jnp.stack([h.ravel()[jax.random.randint(jax.random.fold_in(key, l), (HIST,), 0, h.size)]
                         for l, h in enumerate(post)])
    return {
        "act_mean": jnp.stack([jnp.mean(h) for h in post]),
        "act_std": jnp.stack([jnp.std(h) for h in post]),
        "act_sq": jnp.stack([jnp.mean(h * h) for h in post]),
        "act_saturated": jnp.stack([jnp.mean((jnp.abs(h) > SATURATED).astype(h.dtype)) for h in post]),
        "act_samples": samples,
    }
