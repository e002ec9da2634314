"""Activation functions with their hand-written derivatives, for the forward and the hand backward pass.

Each derivative is taken at the activation's *input* ``u`` and uses the same convention at kinks as
``jax.grad`` of the function as written here: ``relu'(0) = 0`` and ``leaky_relu'(0) = slope``
(``where(u > 0, ...)`` picks the second branch at 0). With ``zeros()`` init every pre-activation
is exactly 0, so the convention is not academic.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from research.lib import registry

LEAKY_SLOPE = 0.01  # torch's and jax.nn's default negative slope


class Activation(NamedTuple):
    fn: Callable[[jax.Array], jax.Array]
    # derivative written in terms of the input u and the output a = fn(u), whichever is cheaper
    grad: Callable[[jax.Array, jax.Array], jax.Array]


def _sigmoid(u):
    return jax.nn.sigmoid(u)


def _relu(u):
    return jnp.where(u > 0, u, jnp.zeros_like(u))


def _leaky_relu(u):
    return jnp.where(u > 0, u, LEAKY_SLOPE * u)


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(_sigmoid, lambda u, a: a * (1 - a)),
    "tanh": Activation(jnp.tanh, lambda u, a: 1 - a * a),
    "relu": Activation(_relu, lambda u, a: (u > 0).astype(u.dtype)),
    "leaky_relu": Activation(_leaky_relu, lambda u, a: jnp.where(u > 0, 1.0, LEAKY_SLOPE).astype(u.dtype)),
    "linear": Activation(lambda u: u, lambda u, a: jnp.ones_like(u)),
}


def get(name: str) -> Activation:
    """The activation called ``name``, or the one an import path ``"mypkg.acts:swish"`` names: an
    :class:`Activation` or a plain elementwise function, whose derivative then comes from
    ``jax.jvp`` (forward mode, one pass, exact for elementwise functions)."""
    found = registry.lookup("activation", ACTIVATIONS, name)
    if isinstance(found, Activation):
        return found
    if not callable(found):
        raise ValueError(f"activation {name!r} is {type(found).__name__}; accepted: an Activation(fn, grad) "
                         "or an elementwise function")
    return Activation(found, lambda u, a: jax.jvp(found, (u,), (jnp.ones_like(u),))[1])
