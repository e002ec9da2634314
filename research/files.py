"""Atomic writes (temp file in the same folder, fsync, rename) and pickle-free reads.

A reader never sees a half-written file: it sees the old one or the new one. Arrays are read back
with ``allow_pickle=False`` so nothing in a workdir is ever unpickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np


def _atomic(path: str, write) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def as_json(obj: Any) -> Any:
    """``obj`` as it reads back from :func:`write_json` (tuples become lists, NaN becomes None)."""
    return json.loads(json.dumps(_finite(obj), allow_nan=False, default=_json_default))


def write_json(path: str, obj: Any) -> None:
    """Strict JSON: NaN and infinities are written as null."""
    data = (json.dumps(_finite(obj), indent=2, allow_nan=False, default=_json_default) + "\n").encode()
    _atomic(path, lambda f: f.write(data))


def write_text(path: str, text: str) -> None:
    _atomic(path, lambda f: f.write(text.encode()))


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    _atomic(path, lambda f: np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()}))


def read_npz(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def _finite(o):
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    return o


def _json_default(o):
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serializable: {type(o).__name__}")
