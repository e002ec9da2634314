"""The Study interface: what the engine calls on a study, and how a study is found.

A study is any object (a module will do) with some of the attributes of :class:`Study`; what it
leaves out comes from :mod:`research.engine.defaults`, which trains every arm x seed and reports
validation accuracy, so the smallest study is a ``get_config()`` and a ``claims``. A config names
its study in ``config.study``: a built-in name (``research/studies/<name>/study.py``) or an import
path, ``"mypkg.mystudy"`` (a module) or ``"mypkg.mystudy:STUDY"`` (an object in it), so a user's
study lives in the user's own folder. The engine never compares a study's name: every difference
between studies lives behind this interface.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import types
from typing import Any, Callable, Protocol, runtime_checkable

from research.lib import registry

BUILTIN = "research.studies.{}.study"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@runtime_checkable
class Study(Protocol):
    """What a study provides. Every member is optional; ``get_config`` defaults to the one of the
    ``config`` module beside the study's module (``research/studies/<name>/config.py``).

    ``PARAMS``: ``{key: (default, (ok, accepted))}``, the study's own keys under ``config.params``,
    validated with the rest of the config before anything is read or compiled.
    ``X64``: True if the study computes in float64; the run then holds ``jax.enable_x64`` for its
    own duration only (arms with ``train.dtype="float64"`` get it too).
    ``TRAINS``: True if ``compute`` trains arms through ``ctx.train`` (the default compute does),
    so every arm's program is checked against the data before anything is written.
    ``SPLITS``: True if the study reads data only through ``ctx.train`` without hooks (the default
    compute does), so ``data.split_seeds`` may give each seed its own resampled split; a study that
    reads ``ctx.dataset`` or passes start/finish/probe hooks leaves it False and is refused more
    than one split.
    """

    PARAMS: dict
    X64: bool
    TRAINS: bool
    SPLITS: bool

    def get_config(self) -> Any:
        """The study's default config (an ``ml_collections.ConfigDict``)."""

    def compute(self, ctx) -> dict:
        """Every array the study measures, ``{"<arm>/<metric>": array with the seed axis first}``.
        ``ctx`` (:class:`research.engine.context.Context`) carries the experiment, the run keys and
        ``ctx.train(arms)``: resumable, checkpointed training through the compiled seed-parallel path."""

    def claims(self, full, results) -> list:
        """The study's claims (:class:`research.engine.claims.Claim`), decided from ``results`` alone."""

    def summary(self, full, results) -> dict:
        """``summary.json`` apart from ``claims``: at least ``{"arms": {name: {...}}}``."""

    def figures(self, full, results, fig_dir: str, plt) -> list:
        """Figures written into ``fig_dir``, as ``[(title, "figures/<file>.png")]``."""

    def arms_to_test(self, full, val: dict) -> set:
        """Arms whose sealed test split is opened, chosen from ``{arm: (val_acc, diverged_at)}``
        (validation metrics only) after training; the default opens it for every arm."""


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A study found by :func:`load`, with every member of :class:`Study` filled in."""

    ref: str
    PARAMS: dict
    X64: bool
    TRAINS: bool
    SPLITS: bool
    get_config: Callable
    compute: Callable
    claims: Callable
    summary: Callable
    figures: Callable
    arms_to_test: Callable


def _import(ref: str) -> Any:
    if ":" in ref:
        return registry.import_object("study", ref)
    if _NAME.match(ref):  # a built-in study, else a top-level module of that name (the user's own)
        for module in (BUILTIN.format(ref), ref):
            try:
                return importlib.import_module(module)
            except ModuleNotFoundError as err:
                if err.name not in (module, module.rsplit(".", 1)[0]):
                    raise
        raise ValueError(f"unknown study {ref!r}; accepted: {', '.join(builtin())}, or an import path "
                         "'package.module' or 'package.module:object'")
    return registry.import_object("study", ref)


def load(ref: str) -> Loaded:
    """The study ``ref`` names (see the module docstring); ValueError in one line if it names none."""
    if not isinstance(ref, str) or not ref:
        raise ValueError(f"unknown study {ref!r}; accepted: {', '.join(builtin())}, or an import path")
    obj = _import(ref)
    from research.engine import defaults

    own = lambda name: getattr(obj, name, None)
    for name in ("compute", "claims", "summary", "figures", "arms_to_test", "get_config"):
        if own(name) is not None and not callable(own(name)):
            raise ValueError(f"study {ref!r}: {name} is not callable; accepted: a study as "
                             "research.engine.study.Study describes")
    params = own("PARAMS") or {}
    if not isinstance(params, dict):
        raise ValueError(f"study {ref!r}: PARAMS is {type(params).__name__}; accepted: a dict")
    return Loaded(ref=ref, PARAMS=params, X64=bool(own("X64") or False),
                  TRAINS=bool(own("TRAINS")) if own("TRAINS") is not None else own("compute") is None,
                  SPLITS=bool(own("SPLITS")) if own("SPLITS") is not None else own("compute") is None,
                  get_config=own("get_config") or _sibling_config(obj, ref),
                  compute=own("compute") or defaults.compute,
                  claims=own("claims") or (lambda full, results: []),
                  summary=own("summary") or defaults.summary,
                  figures=own("figures") or defaults.figures,
                  arms_to_test=own("arms_to_test") or defaults.arms_to_test)


def _sibling_config(obj, ref):
    """``get_config`` of the ``config`` module beside a study module (``<pkg>/config.py`` next to
    ``<pkg>/study.py``), imported when called; else one that says there is none."""
    name = getattr(obj, "__name__", "") if isinstance(obj, types.ModuleType) else ""

    def get_config():
        if "." in name:
            try:
                module = importlib.import_module(name.rsplit(".", 1)[0] + ".config")
            except ModuleNotFoundError:
                module = None
            if module is not None and callable(getattr(module, "get_config", None)):
                return module.get_config()
        raise ValueError(f"study {ref!r} has no get_config() and no config.py beside it")
    return get_config


def builtin() -> tuple[str, ...]:
    """Names of the built-in studies (folders of research/studies with a study.py)."""
    import pkgutil

    import research.studies as pkg

    return tuple(sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.ispkg))
