"""A config resolved once: a frozen :class:`Experiment` of typed :class:`Arm` s.

``resolve(config)`` validates the config (one ConfigError line naming the bad key), merges it over
the defaults and resolves every arm exactly once: its full ``model`` and ``train`` sections, the
network it builds (an :class:`research.lib.mlp.MLPSpec` sized by the data's input width and class
count), the static structure that decides which arms share a compiled program, and the traced
hyperparameters (learning rate, L2, init scale) that may differ inside one program. Everything
downstream (engine, studies, report) reads the Experiment; nothing else reads raw config dicts.
"""

from __future__ import annotations

import copy
import dataclasses
import types
from typing import Any, Mapping, NamedTuple

import ml_collections

from research.engine import config as config_lib, data as data_lib
from research.lib import mlp


class Traced(NamedTuple):
    """An arm's hyperparameters that are traced arrays in its program (one value per run)."""

    lr: float
    l2: float
    init_scale: float


@dataclasses.dataclass(frozen=True)
class Arm:
    """One arm, resolved: ``model`` and ``train`` are the base config's sections with the arm's
    ``overrides`` applied."""

    name: str
    overrides: ml_collections.FrozenConfigDict  # what the arm itself sets (a derived arm starts from it)
    model: ml_collections.FrozenConfigDict
    train: ml_collections.FrozenConfigDict
    spec: mlp.MLPSpec       # the network: sizes (input, hidden..., classes), activation, init scheme
    static_key: str        # everything that shapes the compiled program; equal keys share one
    traced: Traced

    def overrides_dict(self) -> dict:
        return self.overrides.to_dict()


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A validated, merged config with its arms resolved; ``study`` is the study's reference
    (built-in name or import path), ``params`` the study's own keys."""

    study: str
    seeds: int
    seed: int
    data: ml_collections.FrozenConfigDict
    model: ml_collections.FrozenConfigDict  # the base sections (arms resolve against them)
    train: ml_collections.FrozenConfigDict
    eval: ml_collections.FrozenConfigDict
    params: ml_collections.FrozenConfigDict
    arms: Mapping[str, Arm]
    input_dim: int
    num_classes: int
    _merged: Any = dataclasses.field(repr=False, compare=False, default=None)

    def to_dict(self) -> dict:
        """The merged config as plain data (what ``config.json`` holds)."""
        return copy.deepcopy(self._merged)

    def with_arms(self, arms: Mapping[str, Any]) -> "Experiment":
        """This experiment with its arms replaced by ``arms`` (``{name: {"model": ..., "train": ...}}``,
        a study's derived grid), validated as a config's own arms are."""
        merged = copy.deepcopy(self._merged)
        merged["arms"] = {name: config_lib.plain(overrides) for name, overrides in arms.items()}
        return resolve(ml_collections.ConfigDict(merged))


def _arm(full: ml_collections.ConfigDict, name: str, input_dim: int, num_classes: int) -> Arm:
    resolved = config_lib.resolve(full, name)
    t = resolved.train
    return Arm(name=name, overrides=ml_collections.FrozenConfigDict(full.arms[name].to_dict()),
               model=ml_collections.FrozenConfigDict(resolved.model.to_dict()),
               train=ml_collections.FrozenConfigDict(t.to_dict()),
               spec=config_lib.spec(resolved, input_dim, num_classes), static_key=config_lib.static_key(resolved),
               traced=Traced(float(t.lr), float(t.l2), float(t.init_scale)))


def resolve(config) -> Experiment:
    """Validate ``config`` (ConfigError, one line), merge it over the defaults, resolve every arm."""
    if isinstance(config, Experiment):
        return config
    config_lib.validate(config)
    full = config_lib.merged(config)
    input_dim, num_classes = config_lib.input_dim(full), data_lib.num_classes(full.data)
    frozen = lambda section: ml_collections.FrozenConfigDict(full[section].to_dict())
    return Experiment(study=full.study, seeds=int(full.seeds), seed=int(full.seed), data=frozen("data"),
                      model=frozen("model"), train=frozen("train"), eval=frozen("eval"), params=frozen("params"),
                      arms=types.MappingProxyType({n: _arm(full, n, input_dim, num_classes) for n in full.arms}),
                      input_dim=input_dim, num_classes=num_classes, _merged=full.to_dict())
