"""A multilayer perceptron with optional BatchNorm, as pure functions over lists of dicts.

Layer ``l`` computes, as the notes place BatchNorm (between the linear map and the activation):

    z   = c * (a_prev @ W) + b                    (W has shape (fan_in, fan_out))
    u   = gamma * (z - mu) / sqrt(var + eps) + beta    (hidden layers, when batchnorm)
    a   = f(u)                                    (hidden layers; the output layer stops at z)

``params`` is a list with one dict per layer, ``{"w", "b"}`` plus ``{"gamma", "beta"}`` on hidden
layers when batchnorm is on; ``state`` is a list with one ``{"mean", "var"}`` dict per hidden layer
(empty without batchnorm). :func:`forward` returns every intermediate, so the activation studies
and the hand backward pass read the same forward pass that :func:`apply` runs.

``c`` is the layer's forward multiplier under the spec's parametrization (1 under SP, the
default, where the product is left as it is); init multiplies what the weight scheme draws by the
layer's ``init_std``. Both come from :mod:`research.lib.parametrization`, which also scales the
learning rates per layer.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from research.lib import activations, initializers, parametrization as parametrization_lib, registry

Params = list[dict[str, jax.Array]]
State = list[dict[str, jax.Array]]


def _as_items(value: Any, field: str) -> tuple[tuple[str, Any], ...]:
    if isinstance(value, Mapping):
        return tuple(sorted(value.items()))
    if isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        return tuple(sorted(value))
    raise ValueError(f"MLPSpec.{field}={value!r} is invalid; accepted: a dict of keyword arguments")


@dataclasses.dataclass(frozen=True)
class MLPSpec:
    """Static structure of the network; validated on construction, hashable for ``jit``.

    ``sizes`` = (input, hidden..., output). ``weight_init`` and ``bias_init`` are names (or import paths) for
    :func:`research.lib.initializers.get`, with keyword arguments in ``*_init_kwargs`` (a dict is
    accepted and stored as sorted items so the spec stays hashable).

    ``parametrization`` is one of :data:`research.lib.parametrization.NAMES` (``"sp"``, ``"ntk"``,
    ``"mup"``): per-layer init scale, forward multiplier and learning-rate scale relative to the
    base model whose hidden widths all equal ``base_width``. ``base_width`` is required (>= 1) for
    ``"ntk"`` and ``"mup"``; SP has no base and ignores it (0, the default, means none).
    """

    sizes: tuple[int, ...]
    activation: str = "relu"
    batchnorm: bool = False
    weight_init: str = "he_normal"
    bias_init: str = "zeros"
    bn_momentum: float = 0.9
    bn_eps: float = 1e-5
    weight_init_kwargs: Any = ()
    bias_init_kwargs: Any = ()
    parametrization: str = "sp"
    base_width: int = 0

    def __post_init__(self):
        sizes = self.sizes
        if not isinstance(sizes, (tuple, list)) or len(sizes) < 2:
            raise ValueError(
                f"MLPSpec.sizes={sizes!r} is invalid; accepted: a sequence (input, hidden..., output) of >= 2 widths"
            )
        for width in sizes:
            if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
                raise ValueError(f"MLPSpec.sizes: width {width!r} in {tuple(sizes)} is invalid; accepted: integers >= 1")
        object.__setattr__(self, "sizes", tuple(sizes))
        if not registry.known("activation", activations.ACTIVATIONS, self.activation):
            self._bad("activation", self.activation, ", ".join(activations.ACTIVATIONS) + ", " + registry.HOW)
        if not isinstance(self.batchnorm, bool):
            self._bad("batchnorm", self.batchnorm, "True or False")
        if not (isinstance(self.bn_momentum, (int, float)) and 0 <= self.bn_momentum < 1):
            self._bad("bn_momentum", self.bn_momentum, "a number in [0, 1)")
        if not (isinstance(self.bn_eps, (int, float)) and self.bn_eps > 0 and math.isfinite(self.bn_eps)):
            self._bad("bn_eps", self.bn_eps, "a finite number > 0")
        if not (isinstance(self.parametrization, str) and self.parametrization in parametrization_lib.NAMES):
            self._bad("parametrization", self.parametrization, ", ".join(parametrization_lib.NAMES))
        if isinstance(self.base_width, bool) or not isinstance(self.base_width, int) or self.base_width < 0:
            self._bad("base_width", self.base_width, "an integer >= 0 (0: no base, SP only)")
        if self.parametrization != "sp" and self.base_width == 0:
            raise ValueError(
                f"MLPSpec.base_width=0 is invalid with parametrization={self.parametrization!r}; accepted: "
                "the base model's hidden width, an integer >= 1 (its scales are relative to that base)")
        for field in ("weight_init", "bias_init"):
            kwargs_field = f"{field}_kwargs"
            object.__setattr__(self, kwargs_field, _as_items(getattr(self, kwargs_field), kwargs_field))
            name = getattr(self, field)
            if not registry.known("initializer", initializers.REGISTRY, name):
                self._bad(field, name, ", ".join(initializers.available()) + ", " + registry.HOW)
            try:
                init = initializers.get(name, **dict(getattr(self, kwargs_field)))
                # Shape-only trace, no compile: catches e.g. sparse connections > fan_in now.
                for shape in (self.weight_shapes() if field == "weight_init" else self.bias_shapes()):
                    jax.eval_shape(lambda k, shape=shape: init(k, shape), jax.ShapeDtypeStruct((2,), jnp.uint32))
            except ValueError as err:
                raise ValueError(f"MLPSpec.{field}={name!r}: {err}") from None

    @staticmethod
    def _bad(field: str, value: Any, accepted: str):
        raise ValueError(f"MLPSpec.{field}={value!r} is invalid; accepted: {accepted}")

    @property
    def depth(self) -> int:
        """Number of linear layers (hidden + output)."""
        return len(self.sizes) - 1

    @property
    def n_hidden(self) -> int:
        return len(self.sizes) - 2

    def weight_shapes(self) -> list[tuple[int, int]]:
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    def bias_shapes(self) -> list[tuple[int]]:
        return [(n,) for n in self.sizes[1:]]


class Trace(NamedTuple):
    """Every intermediate of one forward pass; lists run over layers.

    ``inputs[l]`` feeds layer l (``inputs[0]`` is x); ``z[l]`` is layer l's linear output
    ``c * (a @ W) + b`` (the pre-activation *before* BatchNorm; ``z[-1]`` are the logits); for
    hidden layers ``pre[l]`` is the activation's input (after BatchNorm when on) and
    ``post[l] = f(pre[l])``; with batchnorm, ``xhat[l]`` is the normalized z and
    ``inv_std[l] = 1/sqrt(var + eps)`` of the statistics used.
    """

    inputs: list[jax.Array]
    z: list[jax.Array]
    pre: list[jax.Array]
    post: list[jax.Array]
    xhat: list[jax.Array]
    inv_std: list[jax.Array]


def init(key: jax.Array, spec: MLPSpec, dtype=jnp.float32) -> tuple[Params, State]:
    """Fresh ``(params, state)``: weights and biases from the spec's schemes (each weight times
    its layer's ``init_std`` where the parametrization makes that differ from 1), gamma=1, beta=0,
    running mean 0 and running variance 1."""
    w_init = initializers.get(spec.weight_init, **dict(spec.weight_init_kwargs))
    b_init = initializers.get(spec.bias_init, **dict(spec.bias_init_kwargs))
    keys = jax.random.split(key, spec.depth)
    params, state = [], []
    layer_scales = parametrization_lib.forward_scales(spec)
    for l, (k, (n_in, n_out)) in enumerate(zip(keys, spec.weight_shapes())):
        kw, kb = jax.random.split(k)
        w = w_init(kw, (n_in, n_out), dtype)
        if layer_scales[l].init_std != 1.0:
            w = w * jnp.asarray(layer_scales[l].init_std, w.dtype)
        layer = {"w": w, "b": b_init(kb, (n_out,), dtype)}
        if spec.batchnorm and l < spec.n_hidden:
            layer["gamma"] = jnp.ones((n_out,), dtype)
            layer["beta"] = jnp.zeros((n_out,), dtype)
            state.append({"mean": jnp.zeros((n_out,), dtype), "var": jnp.ones((n_out,), dtype)})
        params.append(layer)
    return params, state


def check_input(x: jax.Array, spec: MLPSpec) -> None:
    if x.ndim != 2 or x.shape[1] != spec.sizes[0]:
        raise ValueError(
            f"mlp: input of shape {tuple(x.shape)} does not fit the network; "
            f"accepted: (batch, {spec.sizes[0]}) for sizes {spec.sizes}"
        )


def weight_grad(a: jax.Array, delta: jax.Array) -> jax.Array:
    """``a^T delta``: the gradient of ``a @ w`` with respect to ``w`` for the output error
    ``delta``. ``a^T`` is laid out contiguously first (an optimization barrier keeps XLA from
    folding the transpose back into the product): on XLA:CPU the product then runs in its fast
    library kernel, also batched under vmap, instead of a generic dot (measured ~8% of a
    deep-narrow training step)."""
    return jax.lax.optimization_barrier(a.T) @ delta


@jax.custom_vjp
def matmul(a: jax.Array, w: jax.Array) -> jax.Array:
    """``a @ w`` whose reverse-mode derivative is the same two products jax derives,
    ``(delta w^T, a^T delta)``, written out so ``dL/dw`` comes out in ``w``'s own layout. jax's
    rule makes ``delta^T a`` and transposes it, and XLA:CPU fuses that transpose into whatever
    reads the gradient (the optimizer's update), a strided pass measured at ~10% of a wide
    training step. Reverse mode only (``custom_vjp``): :func:`forward` uses it when asked."""
    return a @ w


def _matmul_bwd(res, delta):
    a, w = res
    # Cast back to each input's dtype: with mixed inputs (float64 data, float32 weights) the
    # product and its cotangent are promoted, but a VJP must return each primal's own dtype.
    return (delta @ w.T).astype(a.dtype), weight_grad(a, delta).astype(w.dtype)


matmul.defvjp(lambda a, w: (a @ w, (a, w)), _matmul_bwd)


def forward(params: Params, state: State, x: jax.Array, spec: MLPSpec, train: bool, matmul=jnp.matmul):
    """Run the network and keep everything: returns ``(logits, new_state, trace)``.

    ``matmul`` computes each layer's ``a @ W``; the training engine passes :func:`matmul` (same
    values, a faster backward pass), everything else keeps ``jnp.matmul``, which every jax
    transformation (``jvp`` included) can differentiate.

    BatchNorm in train mode normalizes with the batch mean and the *biased* batch variance
    (divide by B) and updates ``running = m * running + (1 - m) * batch``, also with the biased
    variance, as flax and CS231n do. (torch stores the unbiased variance B/(B-1) * var in its
    running estimate; its normalization in train mode is biased like ours.) Eval mode normalizes
    with the running statistics and returns ``state`` unchanged.
    """
    check_input(x, spec)
    act = activations.get(spec.activation)
    m = spec.bn_momentum
    multipliers = [s.multiplier for s in parametrization_lib.forward_scales(spec)]
    trace = Trace([], [], [], [], [], [])
    new_state = []
    a = x
    for l, layer in enumerate(params):
        trace.inputs.append(a)
        z = matmul(a, layer["w"])
        if multipliers[l] != 1.0:  # SP keeps the product untouched, bit for bit
            z = z * jnp.asarray(multipliers[l], z.dtype)
        z = z + layer["b"]
        trace.z.append(z)
        if l == spec.n_hidden:
            break
        u = z
        if spec.batchnorm:
            if train:
                mean = jnp.mean(z, axis=0)
                var = jnp.mean(jnp.square(z - mean), axis=0)
                new_state.append({
                    "mean": m * state[l]["mean"] + (1 - m) * mean,
                    "var": m * state[l]["var"] + (1 - m) * var,
                })
            else:
                mean, var = state[l]["mean"], state[l]["var"]
                new_state.append(state[l])
            inv_std = jax.lax.rsqrt(var + spec.bn_eps)
            xhat = (z - mean) * inv_std
            u = layer["gamma"] * xhat + layer["beta"]
            trace.xhat.append(xhat)
            trace.inv_std.append(inv_std)
        a = act.fn(u)
        trace.pre.append(u)
        trace.post.append(a)
    return trace.z[-1], new_state, trace


def apply(params: Params, state: State, x: jax.Array, spec: MLPSpec, train: bool,
          matmul=jnp.matmul) -> tuple[jax.Array, State]:
    """Logits and the new BatchNorm state: :func:`forward` without the trace."""
    logits, new_state, _ = forward(params, state, x, spec, train, matmul)
    return logits, new_state
