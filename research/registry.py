"""Name -> factory lookup with the one error message every registry in the project gives."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping


def build(kind: str, registry: Mapping[str, Callable[..., Any]], name: str, kwargs: Mapping[str, Any]):
    """``registry[name](**kwargs)``, refusing an unknown name or keyword with one clear ValueError."""
    if not isinstance(name, str) or name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; accepted: {', '.join(registry)}")
    factory = registry[name]
    accepted = tuple(inspect.signature(factory).parameters)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"{kind} {name!r}: unknown argument(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(accepted) if accepted else 'none'}"
        )
    return factory(**kwargs)
