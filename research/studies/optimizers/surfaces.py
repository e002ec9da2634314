"""The ``optimizers`` study's surfaces (note 003): update rules on an ill-conditioned quadratic and on
the Rosenbrock function, as trajectories and as steps to a tolerance.

Each seed starts from its own point; each rule runs at every rate of ``LRS`` (one vmapped program
per rule and surface), and the rule's score on a seed is its fewest steps to the tolerance over the
rates, so every rule is compared at its own best rate. The MNIST half of the study is ordinary
training arms (one per rule and rate) run by the engine.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from research.lib import optim

RULES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
LRS = tuple(float(v) for v in np.logspace(-4, 0, 17))
STEPS = 2000
TOL = 1e-6
# Condition number 50, axes rotated by 30 degrees: on an axis-aligned bowl the per-coordinate
# rules (adagrad, rmsprop, adam) would be exact preconditioners and the comparison meaningless.
_C, _S = float(np.cos(np.pi / 6)), float(np.sin(np.pi / 6))
ROTATION = jnp.asarray([[_C, -_S], [_S, _C]])
HESSIAN = ROTATION @ jnp.diag(jnp.asarray([1.0, 50.0])) @ ROTATION.T


def quadratic(theta):
    return 0.5 * theta @ HESSIAN @ theta


def rosenbrock(theta):
    return (1 - theta[0]) ** 2 + 100.0 * (theta[1] - theta[0] ** 2) ** 2


SURFACES = {"quadratic": (quadratic, jnp.zeros(2)), "rosenbrock": (rosenbrock, jnp.ones(2))}


def _trajectory(rule, lr, f, theta0):
    opt = optim.get(rule, lr=lr)

    def step(carry, _):
        theta, state = carry
        g = jax.grad(f)(theta)
        updates, state = opt.update(g, state, theta)
        theta = optax.apply_updates(theta, updates)
        theta = jnp.where(jnp.all(jnp.isfinite(theta)), theta, jnp.full_like(theta, jnp.nan))
        return (theta, state), theta

    _, path = jax.lax.scan(step, (theta0, opt.init(theta0)), None, length=STEPS)
    return jnp.concatenate([theta0[None], path])


def starts(keys, surface: str) -> jax.Array:
    if surface == "quadratic":  # on the unit circle
        angle = jax.vmap(lambda k: jax.random.uniform(k, (), minval=0, maxval=2 * jnp.pi))(keys)
        return jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    return jnp.stack([-1.5 + 0.2 * jax.vmap(lambda k: jax.random.normal(k))(keys), jnp.full(keys.shape[:1], 1.5)], 1)


def compute(keys) -> dict[str, np.ndarray]:
    """Per surface and rule: steps to reach f - f* < TOL (seeds x rates; STEPS + 1 if never) and
    the trajectory of seed 0 at the rule's best rate for that seed."""
    out = {"lrs": np.asarray(LRS)}
    for surface, (f, optimum) in SURFACES.items():
        theta0 = starts(keys, surface)
        for rule in RULES:  # one program per rule and surface: the rule is code, the rate is data
            paths = jax.jit(jax.vmap(jax.vmap(lambda lr, t0: _trajectory(rule, lr, f, t0), in_axes=(0, None)),
                                     in_axes=(None, 0)))(jnp.asarray(LRS), theta0)  # (seeds, rates, steps+1, 2)
            gap = jax.vmap(jax.vmap(jax.vmap(f)))(paths) - f(optimum)
            ok = np.asarray(gap < TOL)
            first = np.where(ok.any(axis=2), np.argmax(ok, axis=2), STEPS + 1)
            out[f"{surface}/{rule}/steps"] = first
            best = int(np.argmin(first[0]))
            out[f"{surface}/{rule}/path"] = np.asarray(paths[0, best])
    return out
