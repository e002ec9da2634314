"""Atomic writes (temp file in the same folder, fsync, rename), pickle-free reads, the workdir lock.

A reader never sees a half-written file: it sees the old one or the new one (a process killed
mid-write leaves only a ``.<name>.<random>.tmp`` file, which :func:`remove_stale_temps` clears).
Arrays are read back with ``allow_pickle=False`` so nothing in a workdir is ever unpickled. A file
that cannot be read back as written, or a write that finds the disk full, raises one
:class:`FileError` line naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import tempfile
import zipfile
from typing import Any, Iterator

import numpy as np

from research.engine import faults

LOCK = ".lock"


class FileError(Exception):
    """A workdir file that cannot be written (disk full) or read back as written; one line naming it."""


def no_space(path: str) -> FileError:
    return FileError(f"{path}: no space left on device; free space and rerun the same command "
                     "(it resumes from the last finished checkpoint)")


def is_no_space(err: BaseException) -> bool:
    """Whether ``err`` (or what it was raised from) is a full disk or quota, also as tensorstore words it."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(err) or "os_error_code='28'" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False


def _atomic(path: str, write) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        faults.point("rename:" + os.path.basename(path))
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and is_no_space(err):
            raise no_space(path) from None
        raise


_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # ".<name>.<mkstemp's 8 characters>.tmp"


def remove_stale_temps(workdir: str) -> list[str]:
    """Delete the temp files of atomic writes that a killed process left in a workdir (its top,
    ``figures/`` and ``groups/*/``); call it holding the workdir's :func:`lock`, so that no live
    writer owns them. Returns their paths."""
    folders = [workdir, os.path.join(workdir, "figures")]
    groups = os.path.join(workdir, "groups")
    if os.path.isdir(groups):
        folders += [os.path.join(groups, g) for g in sorted(os.listdir(groups))]
    removed = []
    for folder in filter(os.path.isdir, folders):
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if _TEMP.match(name) and os.path.isfile(path):
                os.unlink(path)
                removed.append(path)
    return removed


@contextlib.contextmanager
def lock(folder: str, refuse) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder/.lock`` for the block. If another process holds it,
    raise ``refuse(message)`` without writing anything. The kernel drops the lock when its holder
    exits or is killed, so a killed run never blocks the rerun."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise refuse(f"workdir {folder} is in use by another run (pid {holder}); accepted: wait for it "
                         "to finish, or another --workdir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


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
    """Every array of an ``.npz``; never unpickles. A truncated or corrupt file, or one holding an
    object array, raises :class:`FileError` naming the file (and the key)."""
    out = {}
    try:
        with np.load(path, allow_pickle=False) as z:
            for k in z.files:
                try:
                    out[k] = z[k]
                except ValueError as err:
                    if "allow_pickle" not in str(err):
                        raise
                    raise FileError(f"{path}: array {k!r} holds Python objects; refused (read with "
                                    "allow_pickle=False); expected numeric arrays written by this project") from None
    except FileNotFoundError:
        raise FileError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as err:
        raise FileError(f"{path}: truncated or corrupt ({' '.join(str(err).split())}); expected a complete "
                        ".npz written by this project") from None
    return out


def read_json(path: str) -> Any:
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        raise FileError(f"{path}: no such file") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise FileError(f"{path}: truncated or corrupt JSON ({' '.join(str(err).split())}); "
                        "expected a complete file written by this project") from None


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
