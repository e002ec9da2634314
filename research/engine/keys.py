"""The key streams of a run, named once.

Every run has one key per seed index (:func:`run_keys`), shared by every arm, so paired
comparisons see the same init noise and the same minibatch order. Each use of randomness within
a run draws from its own named stream of that key; the numbers are the ``fold_in`` data and are
fixed forever (changing one changes every study's random stream). Within a stream, per-layer or
per-epoch draws fold in the layer or epoch index.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

STREAMS = {
    "init": 0,       # the network's initial parameters (mlp.init)
    "shuffle": 1,    # per-epoch minibatch order (then fold_in(epoch))
    "lsuv": 2,       # LSUV's minibatches
    "probe": 7,      # measurements at a point: histogram subsamples, probe directions
}


def run_keys(seed: int, seeds: int) -> jax.Array:
    """One key per seed index, shared by every arm: paired comparisons see the same init noise
    stream and the same minibatch order."""
    base = jax.random.key(seed)
    return jax.vmap(lambda s: jax.random.fold_in(base, s))(jnp.arange(seeds))


def stream(key: jax.Array, name: str) -> jax.Array:
    """The run key's stream ``name`` (one of :data:`STREAMS`)."""
    if name not in STREAMS:
        raise ValueError(f"unknown key stream {name!r}; accepted: {', '.join(STREAMS)}")
    return jax.random.fold_in(key, STREAMS[name])
