"""Fault injection for the reliability tests; a no-op unless ``RESEARCH_FAULT`` is set.

``RESEARCH_FAULT=<point>:<n>`` makes the n-th pass (counting from 1, per process) through
``point(<point>)`` SIGKILL the process, as a power cut or the OOM killer would; ``<point>:<n>:stop``
sends SIGSTOP instead (the process freezes until SIGCONT: a run held at a known place). Several
faults: comma-separated. The tests then rerun the same command and check that nothing was lost.

Points (names are matched exactly):

* ``slice``: after each slice of runs of an epoch's chunk, before the chunk's checkpoint (mid-chunk).
* ``checkpoint``: inside an orbax checkpoint save, once the step's data is written to its
  temporary directory and before that directory is renamed to the step's name.
* ``group``: after a group's ``results.npz`` is written, before the next group starts.
* ``rename:<file name>``: inside :func:`research.engine.files` atomic writes, the temporary file written
  and fsynced, not yet renamed to ``<file name>`` (e.g. ``rename:report.md``: during report writing).
"""

from __future__ import annotations

import functools
import os
import signal

ENV = "RESEARCH_FAULT"
_passes: dict[str, int] = {}


@functools.lru_cache(maxsize=8)
def _parse(spec: str) -> dict[str, tuple[int, int]]:
    out = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        head, _, last = item.rpartition(":")
        sig = signal.SIGKILL
        if last == "stop":
            sig, (head, _, last) = signal.SIGSTOP, head.rpartition(":")
        if not head or not last.isdigit() or int(last) < 1:
            raise ValueError(f"{ENV}={spec!r} is invalid; accepted: <point>:<n>[:stop], n >= 1, comma-separated")
        out[head] = (int(last), sig)
    return out


def active(name: str) -> bool:
    return name in _parse(os.environ.get(ENV, ""))


def point(name: str) -> None:
    """Count a pass through ``name``; SIGKILL (or SIGSTOP) this process on the configured pass."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target = _parse(spec).get(name)
    if target is None:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] == target[0]:
        os.kill(os.getpid(), target[1])


def hook_orbax() -> None:
    """Put the ``checkpoint`` point into orbax's step finalization (only when that fault is set)."""
    if not active("checkpoint"):
        return
    from orbax.checkpoint._src.path import atomicity

    cls = atomicity.AtomicRenameTemporaryPath
    if getattr(cls.finalize, "_fault_hooked", False):
        return
    real = cls.finalize

    async def finalize(self, *args, **kwargs):
        if self.get_final().name.isdigit():  # the step directory (items inside it finalize first)
            point("checkpoint")
        return await real(self, *args, **kwargs)

    finalize._fault_hooked = True
    cls.finalize = finalize
