"""Name -> object lookup with the one error message every registry in the project gives.

Every registry (initializers, activations, optimizers, studies) is open: besides its built-in
names it takes an import path, ``"package.module:name"``, so a user's own scheme lives in the
user's own folder and is named in a config without touching this package.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any, Callable, Mapping

PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*(:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*)?$")
HOW = "or an import path 'package.module:name'"


def is_path(name: Any) -> bool:
    """Whether ``name`` has the form of an import path (``a.b:c`` or ``a.b``), not whether it imports."""
    return isinstance(name, str) and PATH.match(name) is not None and ("." in name or ":" in name)


def import_object(kind: str, path: str) -> Any:
    """The object ``"package.module:attr"`` names (or the module ``"package.module"``), imported
    now; one ValueError line naming what failed."""
    if not is_path(path):
        raise ValueError(f"{kind} {path!r} is not an import path; accepted: 'package.module:name'")
    module_name, _, attr = path.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"{kind} {path!r}: cannot import {module_name!r} ({err}); accepted: a module on "
                         "sys.path (the config file's folder is on it)") from None
    for part in attr.split(".") if attr else ():
        if not hasattr(obj, part):
            raise ValueError(f"{kind} {path!r}: {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    return obj


def lookup(kind: str, table: Mapping[str, Any], name: Any) -> Any:
    """``table[name]``, or the object the import path ``name`` names."""
    if isinstance(name, str) and name in table:
        return table[name]
    if is_path(name) and ":" in name:
        return import_object(kind, name)
    raise ValueError(f"unknown {kind} {name!r}; accepted: {', '.join(table)}, {HOW}")


def known(kind: str, table: Mapping[str, Any], name: Any) -> bool:
    """Whether :func:`lookup` finds ``name`` (imports an import path to find out)."""
    try:
        lookup(kind, table, name)
    except ValueError:
        return False
    return True


def build(kind: str, registry: Mapping[str, Callable[..., Any]], name: str, kwargs: Mapping[str, Any]):
    """``registry[name](**kwargs)`` (or the factory an import path names), refusing an unknown name
    or keyword with one clear ValueError."""
    factory = lookup(kind, registry, name)
    if not callable(factory):
        raise ValueError(f"{kind} {name!r} is {type(factory).__name__}, not a factory; accepted: a callable "
                         f"returning the {kind}")
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return factory(**kwargs)
    accepted = tuple(params)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise ValueError(
                f"{kind} {name!r}: unknown argument(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(accepted) if accepted else 'none'}"
            )
    return factory(**kwargs)
