"""Parametrizations as data: how init scale, forward multiplier and learning rate scale with width.

An abc-parametrization (Yang & Hu 2021, "Tensor Programs IV") gives every layer three numbers
that scale with width: the weight is ``W = n^-a w`` (the forward *multiplier*), the trained
parameter starts as ``w ~ N(0, n^-2b)`` (the *init variance*) and trains at rate ``eta n^-c``
(the *learning-rate scale*). This module holds those numbers for one :class:`~research.lib.mlp.MLPSpec`,
as one :class:`LayerScale` per linear layer, *relative to a base model*: the spec's own init
scheme (``weight_init``, e.g. He or LeCun: variance ∝ 1/fan_in) and the config's learning rate are
what the base model uses, and every scale below is 1 at the base width.

Widths. The hidden sizes ``sizes[1:-1]`` are the "infinite" dimensions; the input dimension
``sizes[0]`` and the output dimension ``sizes[-1]`` (the classes) are finite. The width multiplier
of hidden dimension k is ``m_k = sizes[k] / spec.base_width``. For layer l (weight of shape
``(sizes[l], sizes[l+1])``) ``m_in`` is the multiplier of its fan-in and ``m_out`` of its fan-out,
each 1 where that dimension is finite. So the first layer is the *input* layer (finite fan-in,
infinite fan-out), the last the *output* layer (infinite fan-in, finite fan-out), the others
*hidden* (both infinite); a network without hidden layers has no infinite dimension and every
scale 1. Hidden widths may differ (each dimension has its own multiplier); the base model, where
every multiplier is 1, is the network whose hidden widths all equal ``base_width``, and there all
three parametrizations are SP exactly (every scale 1.0: bitwise the same init, logits and updates).
``base_width`` is required (>= 1) for ``"ntk"`` and ``"mup"``: their scales are relative to a
base, and a silent default would train SP under another name; SP ignores it.

Each :class:`LayerScale` has

* ``init_std``: multiplies what the spec's weight initializer draws (1.0: unchanged);
* ``multiplier``: the forward multiplier, ``z = multiplier * (a @ w) + b``;
* ``lr_w``: multiplies the learning rate of the layer's weight ``w``;
* ``lr_b``: multiplies the learning rate of its vector parameters: the bias ``b`` and, on hidden
  layers with BatchNorm, ``gamma`` and ``beta``.

The effective weight is ``W = multiplier * w`` (:func:`effective_weights`), with standard
deviation ``multiplier * init_std * std_SP(fan_in)`` at init.

**SP** (standard): every scale 1. Init variance ∝ 1/fan_in from the spec's scheme, no multiplier,
one learning rate for every parameter.

**NTK** (Jacot et al. 2018; abc with a = 1/2 on every layer with an infinite fan-in, b = c = 0):
``W = w / sqrt(m_in)`` with ``w`` drawn ``sqrt(m_in)`` times wider than the spec's scheme, so the
effective weight has SP's variance at init (``multiplier = 1/sqrt(m_in)``,
``init_std = sqrt(m_in)``; both 1 on the input layer). Learning-rate scales are 1 for every
optimizer family, as the abc definition (c = 0) has it; in effect a gradient step moves ``W`` by
``1/m_in`` times SP's step under SGD, ``1/sqrt(m_in)`` under Adam: the kernel regime, features
stop moving as width grows.

**muP** (maximal update parametrization), in the no-multiplier form of Tensor Programs V (Yang
et al. 2022), Table 3, where ``fan_in``/``fan_out`` count only infinite dimensions (a finite one
is a constant); SP's value in parentheses:

    ========  ==========================  =====================  ===============
              input weights & all biases  output weights         hidden weights
    ========  ==========================  =====================  ===============
    init var  1/fan_in                    1/fan_in^2 (1/fan_in)  1/fan_in
    SGD LR    fan_out (1)                 1/fan_in (1)           1
    Adam LR   1                           1/fan_in (1)           1/fan_in (1)
    ========  ==========================  =====================  ===============

Relative to the base model (the spec's init scheme and rate at ``base_width``) this is:

    ==============  ==============  ============  ============  =========================
    layer           init_std        SGD lr_w      Adam lr_w     lr_b (SGD; Adam: 1)
    ==============  ==============  ============  ============  =========================
    input           1               m_out         1             m_out
    hidden          1               1             1/m_in        m_out
    output          1/sqrt(m_in)    1/m_in        1/m_in        1 (fan_out is finite)
    ==============  ==============  ============  ============  =========================

multiplier 1 everywhere. The output layer's ``init_std``: Table 3's output variance is
``c/fan_in^2``; anchored to equal SP's ``c/base`` at ``fan_in = base`` it is
``c * base / fan_in^2 = (c/fan_in) * (1/m_in)``: SP's scheme at this width times ``1/m_in``, so
``init_std = 1/sqrt(m_in)``. Biases and BatchNorm's gamma and beta are "vector-like" (one
infinite dimension, their fan-out; fan-in 1), in Table 3's first column: SGD rate ``m_out``
(1 on the output layer, whose fan-out is finite), Adam rate 1; their init (the spec's bias
scheme, gamma = 1, beta = 0) does not change.

Families: muP's rates differ between SGD-like rules (``sgd``, ``momentum``, ``nesterov``:
the step is linear in the gradient) and Adam-like ones (``adam``, ``rmsprop``, ``adagrad``: the
step is normalized per coordinate, so its size does not scale with the gradient's).

Learning-rate scales act on the optimizer's final update (:func:`per_layer_lr`,
:func:`transform`). For every rule in :mod:`research.lib.optim` that is the same as running the
layer at rate ``lr * scale``: each rule's step is ``eta_t`` times a function of the gradients
alone (SGD ``-eta g``; momentum and Nesterov's velocity ``v = alpha v + eta g`` is linear in eta
from ``v_0 = 0``, so scaling eta scales v and the step; Adam, RMSProp and AdaGrad step
``-eta * (a ratio of gradient moments)``), up to rounding.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import optax

if TYPE_CHECKING:  # mlp imports this module; the spec is only read here
    from research.lib.mlp import MLPSpec

NAMES = ("sp", "ntk", "mup")
SGD_LIKE = ("sgd", "momentum", "nesterov")
ADAM_LIKE = ("adam", "rmsprop", "adagrad")
FAMILIES = {**{name: "sgd" for name in SGD_LIKE}, **{name: "adam" for name in ADAM_LIKE}}


@dataclasses.dataclass(frozen=True)
class LayerScale:
    """One linear layer's scales relative to the base model (all 1.0: SP)."""

    init_std: float
    multiplier: float
    lr_w: float
    lr_b: float


UNIT = LayerScale(1.0, 1.0, 1.0, 1.0)


def check_name(name) -> str:
    if not (isinstance(name, str) and name in NAMES):
        raise ValueError(f"parametrization {name!r} is invalid; accepted: {', '.join(NAMES)}")
    return name


def family(optimizer) -> str:
    """``"sgd"`` or ``"adam"``: the family of update rule whose muP learning-rate rules apply."""
    if isinstance(optimizer, str) and optimizer in FAMILIES:
        return FAMILIES[optimizer]
    raise ValueError(
        f"optimizer {optimizer!r} has no known parametrization family; accepted: "
        f"{', '.join(SGD_LIKE)} (SGD-like), {', '.join(ADAM_LIKE)} (Adam-like)")


def width_multipliers(spec: MLPSpec) -> tuple[float | None, ...]:
    """``sizes[k] / base_width`` for every hidden dimension k; ``None`` for the finite input and
    output dimensions. All ``None``/1.0 under SP (which has no base)."""
    n = len(spec.sizes)
    if spec.parametrization == "sp":
        return tuple(None if k in (0, n - 1) else 1.0 for k in range(n))
    return tuple(None if k in (0, n - 1) else spec.sizes[k] / spec.base_width for k in range(n))


def _layer(kind: str, m_in: float, m_out: float, name: str, fam: str | None) -> LayerScale:
    if name == "sp" or kind == "finite":
        return UNIT
    if name == "ntk":
        if kind == "input":
            return UNIT
        return LayerScale(init_std=math.sqrt(m_in), multiplier=1.0 / math.sqrt(m_in), lr_w=1.0, lr_b=1.0)
    # muP, Tensor Programs V Table 3 relative to the base (see the module docstring)
    sgd = fam == "sgd"
    if kind == "input":
        return LayerScale(1.0, 1.0, lr_w=m_out if sgd else 1.0, lr_b=m_out if sgd else 1.0)
    if kind == "hidden":
        return LayerScale(1.0, 1.0, lr_w=1.0 if sgd else 1.0 / m_in, lr_b=m_out if sgd else 1.0)
    return LayerScale(init_std=1.0 / math.sqrt(m_in), multiplier=1.0, lr_w=1.0 / m_in, lr_b=1.0)


def _all(spec: MLPSpec, fam: str | None) -> tuple[LayerScale, ...]:
    name = check_name(spec.parametrization)
    m = width_multipliers(spec)
    out = []
    for l in range(spec.depth):
        m_in, m_out = m[l], m[l + 1]
        kind = {(False, True): "input", (True, True): "hidden", (True, False): "output",
                (False, False): "finite"}[(m_in is not None, m_out is not None)]
        out.append(_layer(kind, m_in or 1.0, m_out or 1.0, name, fam))
    return tuple(out)


def scales(spec: MLPSpec, optimizer: str) -> tuple[LayerScale, ...]:
    """One :class:`LayerScale` per linear layer of ``spec`` under its parametrization, for the
    update rule ``optimizer`` (an :mod:`research.lib.optim` name; its family decides muP's rates).
    ValueError for a parametrization or optimizer it does not know."""
    check_name(spec.parametrization)
    return _all(spec, family(optimizer))


def forward_scales(spec: MLPSpec) -> tuple[LayerScale, ...]:
    """The scales with the learning-rate fields left at 1: what init and the forward pass read
    (``init_std`` and ``multiplier`` do not depend on the optimizer)."""
    return tuple(dataclasses.replace(s, lr_w=1.0, lr_b=1.0) for s in _all(spec, None))


def effective_weights(params, spec: MLPSpec) -> list[jax.Array]:
    """``multiplier * w`` per layer: the weights the forward pass multiplies by."""
    return [layer["w"] if s.multiplier == 1.0 else s.multiplier * layer["w"]
            for layer, s in zip(params, forward_scales(spec))]


def _scaled(u: jax.Array, s: float) -> jax.Array:
    return u if s == 1.0 else u * jnp.asarray(s, u.dtype)


def per_layer_lr(spec: MLPSpec, optimizer: str) -> optax.GradientTransformation:
    """Multiply each leaf of the update by its layer's ``lr_w`` (``"w"``) or ``lr_b`` (``"b"``,
    ``"gamma"``, ``"beta"``); chained after a rule, this is a per-layer learning rate (module
    docstring). Stateless; params are the MLP's list of per-layer dicts."""
    layer_scales = scales(spec, optimizer)

    def init(params):
        del params
        return optax.EmptyState()

    def update(updates, state, params=None):
        del params
        if len(updates) != len(layer_scales):
            raise ValueError(f"per_layer_lr: updates have {len(updates)} layers; accepted: "
                             f"{len(layer_scales)} (the spec's depth)")
        out = [{k: _scaled(u, s.lr_w if k == "w" else s.lr_b) for k, u in layer.items()}
               for layer, s in zip(updates, layer_scales)]
        return out, state

    return optax.GradientTransformation(init, update)


def transform(spec: MLPSpec, optimizer: str,
              base: optax.GradientTransformation) -> optax.GradientTransformation:
    """``base`` (the rule built at the config's learning rate) made to follow the spec's
    parametrization: ``base`` itself under SP and NTK (no learning-rate scales, whatever the
    rule, import paths included) or when every scale is 1 (so SP's optimizer state and updates are
    exactly today's), else ``chain(base, per_layer_lr(...))``."""
    if check_name(spec.parametrization) != "mup":  # SP and NTK scale no rate, for any rule
        return base
    if all(s.lr_w == 1.0 and s.lr_b == 1.0 for s in scales(spec, optimizer)):
        return base
    return optax.chain(base, per_layer_lr(spec, optimizer))
