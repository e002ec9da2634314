"""Update rules written out by hand as optax ``GradientTransformation``s.

Each factory returns ``GradientTransformation(init, update)`` whose ``update`` gives the step to
*add* to the parameters (``optax.apply_updates``). ``lr`` may be a float or an optax schedule
``count -> rate``; ``count`` is the number of updates already made (0 on the first step), and
``eta_t`` below is ``lr(count)``.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Union

import jax
import jax.numpy as jnp
import optax

from research.lib import registry

Rate = Union[float, Callable[[jax.Array], jax.Array]]


def _rate(lr: Rate, count: jax.Array, like: jax.Array):
    """eta_t in the dtype of ``like``, so a float64 schedule cannot promote float32 state."""
    return jnp.asarray(lr(count) if callable(lr) else lr).astype(like.dtype)


def _zeros_like(params):
    return jax.tree.map(jnp.zeros_like, params)


def _check(name: str, value, ok: bool, accepted: str):
    if not ok:
        raise ValueError(f"optimizer: {name}={value!r} is invalid; accepted: {accepted}")


def _check_lr(lr: Rate):
    if callable(lr) or isinstance(lr, jax.core.Tracer):  # schedules, and rates traced per run by the engine
        return
    value = lr.item() if isinstance(lr, jax.Array) and lr.ndim == 0 else lr
    _check("lr", lr, isinstance(value, (int, float)) and math.isfinite(value) and value >= 0,
           "a finite number >= 0 or a schedule count -> rate")


class SgdState(NamedTuple):
    count: jax.Array


def sgd(lr: Rate) -> optax.GradientTransformation:
    """theta <- theta - eta_t * g."""
    _check_lr(lr)

    def init(params):
        del params
        return SgdState(count=jnp.zeros([], jnp.int32))

    def update(grads, state, params=None):
        del params
        eta = _rate(lr, state.count, jax.tree.leaves(grads)[0])
        return jax.tree.map(lambda g: -eta * g, grads), SgdState(count=state.count + 1)

    return optax.GradientTransformation(init, update)


class MomentumState(NamedTuple):
    count: jax.Array
    velocity: optax.Params


def _velocity(lr: Rate, alpha: float, look_ahead: bool) -> optax.GradientTransformation:
    """v <- alpha * v + eta_t * g; the step is -v, or -(alpha * v + eta_t * g) with look-ahead."""
    _check_lr(lr)
    _check("alpha", alpha, isinstance(alpha, (int, float)) and 0 <= alpha < 1, "a number in [0, 1)")

    def init(params):
        return MomentumState(count=jnp.zeros([], jnp.int32), velocity=_zeros_like(params))

    def update(grads, state, params=None):
        del params
        eta = _rate(lr, state.count, jax.tree.leaves(grads)[0])
        v = jax.tree.map(lambda v, g: alpha * v + eta * g, state.velocity, grads)
        if look_ahead:
            step = jax.tree.map(lambda v, g: -(alpha * v + eta * g), v, grads)
        else:
            step = jax.tree.map(jnp.negative, v)
        return step, MomentumState(count=state.count + 1, velocity=v)

    return optax.GradientTransformation(init, update)


def momentum(lr: Rate, alpha: float = 0.9) -> optax.GradientTransformation:
    """The notes' momentum (note 003): v <- alpha * v + eta_t * g;  theta <- theta - v;  v_0 = 0.

    The rate sits *inside* the velocity. optax's ``sgd(lr, momentum)`` and torch's SGD keep
    ``m <- alpha * m + g`` and step ``theta <- theta - eta_t * m``, the rate outside. With a
    constant rate the two are the same (v = eta * m); once eta changes they are not: here a new
    rate acts only on new gradients, there it rescales the whole accumulated velocity at once.
    """
    return _velocity(lr, alpha, look_ahead=False)


def nesterov(lr: Rate, alpha: float = 0.9) -> optax.GradientTransformation:
    """Nesterov momentum in the notes' form, evaluated at the current parameters (Bengio et al.
    2013's rewriting of Sutskever et al. 2013):

        v <- alpha * v + eta_t * g;   theta <- theta - (alpha * v + eta_t * g).

    With a constant rate this equals optax's ``sgd(lr, momentum=alpha, nesterov=True)``.
    """
    return _velocity(lr, alpha, look_ahead=True)


class AccumulatorState(NamedTuple):
    count: jax.Array
    sum_sq: optax.Params


def adagrad(lr: Rate, eps: float = 1e-10) -> optax.GradientTransformation:
    """Duchi et al. 2011:  r <- r + g^2;  theta <- theta - eta_t * g / sqrt(r + eps);  r_0 = 0.

    eps sits inside the root, as in optax's ``adagrad(lr, initial_accumulator_value=0, eps)``,
    which this equals.
    """
    _check_lr(lr)
    _check("eps", eps, isinstance(eps, (int, float)) and eps > 0, "a number > 0")
    return _root_scaled(lr, eps, lambda r, g: r + g * g)


def rmsprop(lr: Rate, decay: float = 0.9, eps: float = 1e-8) -> optax.GradientTransformation:
    """Tieleman & Hinton 2012:  r <- decay * r + (1 - decay) * g^2;
    theta <- theta - eta_t * g / sqrt(r + eps);  r_0 = 0.  Equals optax's ``rmsprop(lr, decay, eps)``."""
    _check_lr(lr)
    _check("decay", decay, isinstance(decay, (int, float)) and 0 <= decay < 1, "a number in [0, 1)")
    _check("eps", eps, isinstance(eps, (int, float)) and eps > 0, "a number > 0")
    return _root_scaled(lr, eps, lambda r, g: decay * r + (1 - decay) * g * g)


def _root_scaled(lr: Rate, eps: float, accumulate) -> optax.GradientTransformation:
    """theta <- theta - eta_t * g / sqrt(r + eps), with r <- accumulate(r, g) from r_0 = 0: the
    shared body of adagrad (r + g^2) and rmsprop (decay * r + (1 - decay) * g^2)."""

    def init(params):
        return AccumulatorState(count=jnp.zeros([], jnp.int32), sum_sq=_zeros_like(params))

    def update(grads, state, params=None):
        del params
        eta = _rate(lr, state.count, jax.tree.leaves(grads)[0])
        r = jax.tree.map(accumulate, state.sum_sq, grads)
        step = jax.tree.map(lambda r, g: -eta * g / jnp.sqrt(r + eps), r, grads)
        return step, AccumulatorState(count=state.count + 1, sum_sq=r)

    return optax.GradientTransformation(init, update)


class AdamState(NamedTuple):
    count: jax.Array
    mu: optax.Params
    nu: optax.Params


def adam(lr: Rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> optax.GradientTransformation:
    """Kingma & Ba 2015, t = count + 1:

        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2;
        theta <- theta - eta_t * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).

    Equals optax's ``adam(lr, b1, b2, eps)``.
    """
    _check_lr(lr)
    for name, b in (("b1", b1), ("b2", b2)):
        _check(name, b, isinstance(b, (int, float)) and 0 <= b < 1, "a number in [0, 1)")
    _check("eps", eps, isinstance(eps, (int, float)) and eps >= 0, "a number >= 0")

    def init(params):
        return AdamState(count=jnp.zeros([], jnp.int32), mu=_zeros_like(params), nu=_zeros_like(params))

    def update(grads, state, params=None):
        del params
        eta = _rate(lr, state.count, jax.tree.leaves(grads)[0])
        t = state.count + 1
        mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
        nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, grads)
        step = jax.tree.map(
            lambda m, v: -eta * (m / (1 - b1 ** t.astype(m.dtype))) / (jnp.sqrt(v / (1 - b2 ** t.astype(v.dtype))) + eps),
            mu, nu,
        )
        return step, AdamState(count=t, mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)


REGISTRY = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}


def available() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str, **kwargs) -> optax.GradientTransformation:
    """Build the rule called ``name`` (e.g. ``get("momentum", lr=0.1, alpha=0.9)``)."""
    return registry.build("optimizer", REGISTRY, name, kwargs)
