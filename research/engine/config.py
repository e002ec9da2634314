"""The study config: its defaults, its validation, and how arms resolve against it.

A study config is an ``ml_collections.ConfigDict`` with the sections below. ``arms`` maps an arm's
name to overrides of ``model`` and ``train`` keys; every arm runs ``seeds`` seeds. Validation
happens before any data is read or anything compiled, and refuses the first bad key with one
line: ``config.<key>=<value> is invalid; accepted: <what is>``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import ml_collections

from research.engine import data as data_lib, study as study_lib
from research.lib import activations, initializers, losses, mlp, optim, parametrization, registry

# The study a config that names none runs: the engine's defaults (train every arm, no claims).
DEFAULT_STUDY = "research.engine.defaults"
DATA_NAMES = data_lib.NAMES
GRADS = ("autodiff", "hand")
DTYPES = ("float32", "float64")
# Where a run's divergence is checked: every step (the exact program of earlier releases), or once
# per evaluation segment with the per-step check redone only for a run that fell in it (faster; the
# same arithmetic, float32 rounded as XLA fuses it); research/engine/train.py's module docstring.
DIVERGENCE_CHECKS = ("step", "segment")
# Keys added to the defaults after runs were saved without them, with the value that gives the
# program those runs had. At that value a key is left out of an arm's static key (so group ids, and
# the results and checkpoints saved under them, stay what they were) and out of the workdir's
# config comparison (so a workdir saved before the key existed resumes).
LATER_KEYS = {"train.divergence_check": "step"}
# Hyperparameters that may differ between arms of one compiled program: they are traced arrays,
# one value per run. Every other model/train key is static and splits arms into programs.
TRACED = ("lr", "l2", "init_scale")


class ConfigError(ValueError):
    """A config value the project refuses; the message is one line naming key, value, accepted."""


def defaults() -> ml_collections.ConfigDict:
    """Every key a study config may set, with its default."""
    return ml_collections.ConfigDict({
        "study": DEFAULT_STUDY,
        "seeds": 32,
        "seed": 0,
        "data": {"name": "mnist5k", "path": "", "n_val": 500, "n_test": 500, "split_seed": 0, "split_seeds": 1,
                 "limit_train": 0, "normalize": "standardize", "n": 1000, "dim": 500},
        "model": {"hidden": (390, 156, 62, 25), "activation": "relu", "batchnorm": False,
                  "weight_init": "he_normal", "weight_init_kwargs": {}, "bias_init": "zeros",
                  "bn_momentum": 0.9, "bn_eps": 1e-5, "parametrization": "sp", "base_width": 0},
        "train": {"optimizer": "momentum", "optimizer_kwargs": {"alpha": 0.9}, "lr": 0.05, "l2": 0.0,
                  "init_scale": 1.0, "batch_size": 64, "epochs": 5, "max_steps": 0, "evals_per_epoch": 4,
                  "loss": "softmax_ce", "grad": "autodiff", "dtype": "float32", "runs_per_call": 32,
                  "divergence_check": "step"},
        "eval": {"target_accuracy": 0.9, "hist_seeds": 4, "hist_bins": 60},
        "params": {},  # study-specific keys, declared by the study module's PARAMS
        "arms": {},
    })


def _int(lo: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo), f"an integer >= {lo}"


def _num(lo: float, hi: float = math.inf, lo_open=False, hi_open=True) -> tuple[Callable[[Any], bool], str]:
    def ok(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    lb, rb = "(" if lo_open else "[", ")" if hi_open else "]"
    return ok, f"a finite number in {lb}{lo}, {hi}{rb}"


def _one_of(names) -> tuple[Callable[[Any], bool], str]:
    names = tuple(names)
    return (lambda v: isinstance(v, str) and v in names), "one of " + ", ".join(names)


def _str():
    return (lambda v: isinstance(v, str)), "a string"


def _bool():
    return (lambda v: isinstance(v, bool)), "True or False"


def _widths():
    ok = lambda v: isinstance(v, (tuple, list)) and all(
        isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in v)
    return ok, "a list of integer widths >= 1, e.g. (390, 156)"


def _kwargs():
    return (lambda v: isinstance(v, (dict, ml_collections.ConfigDict))), "a dict of keyword arguments"


# Public names for study modules declaring PARAMS rules.
integer, number, one_of, flag, widths = _int, _num, _one_of, _bool, _widths


def _registered(kind: str, table) -> tuple[Callable[[Any], bool], str]:
    """A built-in name of ``table`` or an import path that imports (checked now, before any compile)."""
    return (lambda v: registry.known(kind, table, v)), "one of " + ", ".join(table) + ", " + registry.HOW


def study_of(config) -> study_lib.Loaded:
    """The study ``config.study`` names, imported and checked (ConfigError if it names none)."""
    ref = config.get("study", DEFAULT_STUDY) if hasattr(config, "get") else config.study
    try:
        return study_lib.load(ref)
    except ValueError as err:
        raise ConfigError(f"config.study={ref!r} is invalid: {err}") from None


def study_params(config) -> dict:
    """``{key: (default, (ok, accepted))}`` of the study's ``config.params``; empty for most studies."""
    return study_of(config).PARAMS


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "study": ((lambda v: isinstance(v, str) and bool(v)), "a built-in study name or an import path"),
    "seeds": _int(1),
    "seed": _int(0),
    "data.name": _one_of(DATA_NAMES),
    "data.path": _str(),
    "data.n_val": _int(1),
    "data.n_test": _int(1),
    "data.split_seed": _int(0),
    "data.split_seeds": _int(1),  # > 1: seed s trains on split split_seed + s mod split_seeds (data.load)
    "data.limit_train": _int(0),
    "data.normalize": _one_of(data_lib.NORMALIZATIONS),  # ignored by gaussian inputs (N(0, 1) as drawn)
    "data.n": _int(1),
    "data.dim": _int(1),
    "model.hidden": _widths(),
    "model.activation": _registered("activation", activations.ACTIVATIONS),
    "model.batchnorm": _bool(),
    "model.weight_init": _registered("initializer", initializers.REGISTRY),
    "model.weight_init_kwargs": _kwargs(),
    "model.bias_init": _registered("initializer", initializers.REGISTRY),
    "model.bn_momentum": _num(0, 1),
    "model.bn_eps": _num(0, lo_open=True),
    "model.parametrization": _one_of(parametrization.NAMES),
    "model.base_width": ((lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
                         "an integer >= 0 (the base model's hidden width; >= 1 for ntk and mup, 0: none, sp only)"),
    "train.optimizer": _registered("optimizer", optim.REGISTRY),
    "train.optimizer_kwargs": _kwargs(),
    "train.lr": _num(0, lo_open=True),
    "train.l2": _num(0),
    "train.init_scale": _num(0),
    "train.batch_size": _int(1),
    "train.epochs": _int(1),
    "train.max_steps": _int(0),
    "train.evals_per_epoch": _int(1),
    "train.loss": _one_of(losses.LOSSES),
    "train.grad": _one_of(GRADS),
    "train.dtype": _one_of(DTYPES),
    "train.runs_per_call": _int(1),
    "train.divergence_check": _one_of(DIVERGENCE_CHECKS),  # research/engine/train.py, module docstring
    "eval.target_accuracy": _num(0, 1, lo_open=True, hi_open=False),
    "eval.hist_seeds": _int(0),
    "eval.hist_bins": _int(2),
}
ARM_SECTIONS = ("model", "train")


def plain(value):
    if isinstance(value, ml_collections.ConfigDict):
        return value.to_dict()
    return value


def _fail(key: str, value: Any, accepted: str):
    raise ConfigError(f"config.{key}={plain(value)!r} is invalid; accepted: {accepted}")


def _check_section(prefix: str, section: Any, allowed: tuple[str, ...], where: str):
    if not isinstance(section, (dict, ml_collections.ConfigDict)):
        _fail(where, section, "a dict of " + ", ".join(allowed))
    for key in section.keys():
        full = f"{prefix}{key}"
        if full not in RULES:
            raise ConfigError(f"config.{where}.{key} is not a known key; accepted: {', '.join(allowed)}")
        ok, accepted = RULES[full]
        if not ok(plain(section[key])):
            _fail(f"{where}.{key}", section[key], accepted)


def _section_keys(section: str) -> tuple[str, ...]:
    return tuple(k.split(".", 1)[1] for k in RULES if k.startswith(section + "."))


def validate(config: ml_collections.ConfigDict) -> None:
    """Refuse the first bad key (ConfigError). Checks names, types, ranges, arm overrides and
    that every arm builds a valid network and optimizer. Reads no data, compiles nothing."""
    allowed_top = ("study", "seeds", "seed", "data", "model", "train", "eval", "params", "arms")
    for key in config.keys():
        if key not in allowed_top:
            raise ConfigError(f"config.{key} is not a known key; accepted: {', '.join(allowed_top)}")
    for key in ("study", "seeds", "seed"):
        if key in config:
            ok, accepted = RULES[key]
            if not ok(config[key]):
                _fail(key, config[key], accepted)
    for section in ("data", "model", "train", "eval"):
        if section in config:
            _check_section(section + ".", config[section], _section_keys(section), section)
    _check_splits(config, study_of(config))
    _check_params(config)
    arms = config.get("arms", {})
    if not isinstance(arms, (dict, ml_collections.ConfigDict)) or len(arms) == 0:
        _fail("arms", arms, "a non-empty dict: arm name -> {model: {...}, train: {...}} overrides")
    for name, overrides in arms.items():
        if not isinstance(name, str) or not name or "/" in name or name != name.strip():
            raise ConfigError(f"config.arms has an arm named {name!r}; accepted: a non-empty name without '/' "
                              "or surrounding spaces (results are stored as '<arm>/<metric>')")
        if not isinstance(overrides, (dict, ml_collections.ConfigDict)):
            _fail(f"arms.{name}", overrides, "a dict with model and/or train overrides")
        for section in overrides.keys():
            if section not in ARM_SECTIONS:
                raise ConfigError(f"config.arms.{name}.{section} is not a known key; accepted: model, train")
            _check_section(section + ".", overrides[section], _section_keys(section), f"arms.{name}.{section}")
    full = merged(config)
    for name in full.arms:
        arm = resolve(full, name)
        where = f"arms.{name}"
        try:
            arm_spec = spec(arm, input_dim=input_dim(full), num_classes=data_lib.num_classes(full.data))
        except ValueError as err:
            raise ConfigError(f"config.{where}.model: {err}") from None
        if arm_spec.parametrization == "mup":  # muP's rates depend on the rule's family
            try:
                parametrization.scales(arm_spec, arm.train.optimizer)
            except ValueError as err:
                raise ConfigError(f"config.{where}.train.optimizer: {err} (model.parametrization='mup')") from None
        try:
            optim.get(arm.train.optimizer, lr=0.1, **plain(arm.train.optimizer_kwargs))
        except (ValueError, TypeError) as err:
            raise ConfigError(f"config.{where}.train.optimizer_kwargs: {err}") from None


def _check_splits(config, study) -> None:
    """``data.split_seeds`` > 1 only where the study reads data through ``ctx.train`` alone
    (``Study.SPLITS``) and the data has splits to resample."""
    data = config.get("data", {})
    n = data.get("split_seeds", 1)
    if n == 1:
        return
    if data.get("name", defaults().data.name) == "gaussian":
        _fail("data.split_seeds", n, "1 for data.name='gaussian' (no validation or test split to resample)")
    if not study.SPLITS:
        _fail("data.split_seeds", n, f"1 for study {study.ref!r} (it reads the data split outside ctx.train, "
              "through hooks or ctx.dataset, so every seed must see the same split)")


def _check_params(config) -> None:
    study = config.get("study", DEFAULT_STUDY)
    declared = study_params(config)
    params = config.get("params", {})
    accepted = ", ".join(declared) or f"nothing (study {study} has no params)"
    if not isinstance(params, (dict, ml_collections.ConfigDict)):
        _fail("params", params, "a dict of " + accepted)
    for key in params.keys():
        if key not in declared:
            raise ConfigError(f"config.params.{key} is not a known key; accepted: {accepted}")
        ok, what = declared[key][1]
        if not ok(plain(params[key])):
            _fail(f"params.{key}", params[key], what)


def merged(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """``defaults()`` updated with ``config``: every key present."""
    full = defaults()
    full.params = {k: d for k, (d, _) in study_params(config).items()}
    for key in config.keys():
        value = config[key]
        if isinstance(value, ml_collections.ConfigDict) and key != "arms":
            for sub in value.keys():
                full[key][sub] = value[sub]
        else:
            full[key] = value
    return full


def resolve(full: ml_collections.ConfigDict, arm: str) -> ml_collections.ConfigDict:
    """The config one arm runs with: the base model/train sections with the arm's overrides."""
    out = ml_collections.ConfigDict(full.to_dict())
    for section, overrides in full.arms[arm].items():
        for key, value in overrides.items():
            out[section][key] = plain(value)
    del out["arms"]
    return out


def input_dim(full: ml_collections.ConfigDict) -> int:
    """Input width known before loading (see ``data.input_dim``)."""
    return data_lib.input_dim(full.data)


def spec(arm: ml_collections.ConfigDict, input_dim: int, num_classes: int) -> mlp.MLPSpec:
    """The MLPSpec of a resolved arm config."""
    m = arm.model
    sizes = (input_dim, *m.hidden, num_classes)
    return mlp.MLPSpec(sizes, activation=m.activation, batchnorm=m.batchnorm, weight_init=m.weight_init,
                       bias_init=m.bias_init, bn_momentum=m.bn_momentum, bn_eps=m.bn_eps,
                       weight_init_kwargs=dict(plain(m.weight_init_kwargs)),
                       parametrization=m.parametrization, base_width=m.base_width)


def static_key(arm: ml_collections.ConfigDict) -> str:
    """Everything of an arm that shapes its compiled program (all but the traced hyperparameters
    and the init scheme, which runs outside the program). Arms with equal keys share a program."""
    m = {k: plain(v) for k, v in arm.model.items() if k not in ("weight_init", "weight_init_kwargs", "bias_init")}
    t = {k: plain(v) for k, v in arm.train.items() if k not in TRACED and not _earlier(f"train.{k}", v)}
    return repr((sorted(m.items()), sorted(t.items())))


def _earlier(key: str, value: Any) -> bool:
    return key in LATER_KEYS and plain(value) == LATER_KEYS[key]


def without_later_keys(merged: dict) -> dict:
    """A merged config as plain data (``config.json``) without the ``LATER_KEYS`` that hold their
    earlier value, in its sections and in every arm's overrides: what a config saved before those
    keys existed holds."""
    def strip(sections: dict) -> dict:
        return {name: ({k: v for k, v in sec.items() if not _earlier(f"{name}.{k}", v)} if isinstance(sec, dict) else sec)
                for name, sec in sections.items()}

    out = strip(merged)
    if isinstance(out.get("arms"), dict):
        out["arms"] = {a: (strip(o) if isinstance(o, dict) else o) for a, o in out["arms"].items()}
    return out
