"""Checksummed orbax checkpoints of one group's training state.

Each checkpoint carries a SHA-256 of its arrays, and ``ckpt_sums.json`` beside the checkpoint
folder the SHA-256 of each file orbax wrote: one that fails either check, or does not read back,
is logged and deleted, and the previous one is used (or the group starts over). A full disk
becomes one :class:`research.engine.files.FileError` line naming the path, keeping the last good
checkpoint. Checkpoints hold host arrays of the group's runs (no padding, no sharding), so a run
resumes on any device count.

How often: a group checkpoints after an epoch once ``interval()`` seconds have passed since its
last checkpoint (or since its training began); its finished state is its ``results.npz``. A
checkpoint of a big group is hundreds of MB (every run's parameters and optimizer state,
checksummed twice; ~10 s for the main study's 192-run groups), so one per epoch cost a large
share of a short study; at most one a minute loses at most a minute of training to a kill.
``RESEARCH_CHECKPOINT_SECONDS`` (or ``--checkpoint_seconds``) sets the interval; 0 checkpoints
after every epoch (the fault tests do).
"""

from __future__ import annotations

import hashlib
import os
import shutil

import jax
import numpy as np

from research.engine import files

ENV = "RESEARCH_CHECKPOINT_SECONDS"
DEFAULT_SECONDS = 60.0


def interval(value=None) -> float:
    """Seconds between two checkpoints of a group: ``value``, else ``$RESEARCH_CHECKPOINT_SECONDS``,
    else 60. Raises ValueError naming a bad value."""
    source = "checkpoint_seconds"
    if value is None:
        value, source = os.environ.get(ENV), ENV
        if value is None or value == "":
            return DEFAULT_SECONDS
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{source}={value!r} is invalid; accepted: a finite number of seconds >= 0 "
                         "(0: a checkpoint after every epoch)")
    return seconds


def digest(tree) -> np.ndarray:
    """SHA-256 over every leaf's dtype, shape and bytes, as 32 uint8: a checkpoint's own checksum."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.reshape(-1).view(np.uint8))
    return np.frombuffer(h.digest(), np.uint8).copy()


def file_sums(folder: str) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    out = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[os.path.relpath(path, folder)] = h.hexdigest()
    return out


def sums_problem(recorded: dict | None, folder: str) -> str | None:
    """Why the files under ``folder`` are not the ones whose checksums were recorded; None if they are."""
    if not recorded:
        return "no checksum was recorded for it: the run stopped while saving it"
    try:
        found = file_sums(folder)
    except OSError as err:
        return one_line(err)
    for rel, digest in recorded.items():
        if rel not in found:
            return f"{rel} is missing"
        if found[rel] != digest:
            return f"{rel} does not match its recorded checksum: truncated or corrupt"
    return None


def one_line(err: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[:limit] + "..."



class Checkpoints:
    """The checkpoints of one group under ``folder`` (``ckpt/`` and ``ckpt_sums.json``); ``label``
    prefixes log lines, ``epochs`` bounds a valid step."""

    def __init__(self, folder: str, label: str, epochs: int, log=print):
        self.ckpt_dir = os.path.abspath(os.path.join(folder, "ckpt"))
        self.sums_path = os.path.join(folder, "ckpt_sums.json")
        self.gid, self.epochs, self.log = label, epochs, log
        self._sums: dict[str, dict[str, str]] = {}  # per checkpoint step: its files' SHA-256
        self.manager = None

    def open(self, multiprocess: bool = False):
        """Ready to save and restore. ``multiprocess``: this is process 0 of several and the only
        one that touches checkpoints (orbax is told so; it would otherwise wait for the others)."""
        import orbax.checkpoint as ocp  # imported here: costs a second, and only training needs it

        self.ocp = ocp
        options = dict(max_to_keep=2, enable_async_checkpointing=False, cleanup_tmp_directories=True)
        if multiprocess:
            os.makedirs(self.ckpt_dir, exist_ok=True)  # orbax does not create it for a subset of processes
            options.update(create=False, multiprocessing_options=ocp.options.MultiprocessingOptions(
                primary_host=0, active_processes={0}))
        self.manager = ocp.CheckpointManager(self.ckpt_dir, options=ocp.CheckpointManagerOptions(**options))
        return self

    def close(self) -> None:
        if self.manager is not None:
            self.manager.close()

    def drop(self) -> None:
        shutil.rmtree(self.ckpt_dir, ignore_errors=True)
        if os.path.exists(self.sums_path):
            os.unlink(self.sums_path)

    def save(self, state) -> None:
        """Checkpoint ``state`` with a checksum of its arrays, then record a checksum of every file
        orbax wrote for the step; a full disk becomes one FileError line."""
        manager, ocp = self.manager, self.ocp
        state = dict(state, digest=digest(state))
        step = int(state["epoch"])
        try:
            manager.save(step, args=ocp.args.StandardSave(state))
            manager.wait_until_finished()
            kept = {str(s) for s in manager.all_steps()}
            self._sums = {k: v for k, v in self._sums.items() if k in kept}
            self._sums[str(step)] = file_sums(os.path.join(self.ckpt_dir, str(step)))
            files.write_json(self.sums_path, self._sums)
        except Exception as err:
            if not files.is_no_space(err):
                raise
            kept = f"the checkpoint of epoch {step - 1} is kept" if step > 1 else "no checkpoint was finished yet"
            raise files.FileError(f"{self.ckpt_dir}: no space left on device while checkpointing epoch {step} "
                                  f"({kept}); free space and rerun the same command to resume") from None

    def restore(self, fresh: dict) -> dict:
        """The newest checkpoint whose files match their recorded checksums and whose arrays match
        theirs, else ``fresh``. Unusable ones are logged and deleted (so their step can be saved
        again); files are checked before orbax reads them."""
        manager, ocp = self.manager, self.ocp
        try:
            self._sums = files.read_json(self.sums_path) if os.path.exists(self.sums_path) else {}
        except files.FileError as err:
            self.log(f"[{self.gid}] {err}; no checkpoint can be verified")
            self._sums = {}
        target = dict(fresh, digest=np.zeros((32,), np.uint8))
        steps = sorted(manager.all_steps(), reverse=True)
        for step in steps:
            path = os.path.join(self.ckpt_dir, str(step))
            problem = sums_problem(self._sums.get(str(step)), path)
            if problem is None:
                try:
                    state = jax.tree.map(np.asarray, manager.restore(step, args=ocp.args.StandardRestore(target)))
                    if not np.array_equal(state["digest"], digest({k: v for k, v in state.items() if k != "digest"})):
                        problem = "its arrays do not match the checksum saved with them"
                    elif int(state["epoch"]) != step or not 0 < step <= self.epochs:
                        problem = f"it holds epoch {int(state['epoch'])} of {self.epochs}"
                except Exception as err:  # unreadable or foreign (e.g. another layout): unusable
                    problem = one_line(err)
            if problem is None:
                self.log(f"[{self.gid}] resuming at epoch {step}/{self.epochs}")
                del state["digest"]
                return state
            self.log(f"[{self.gid}] checkpoint {path} is unusable ({problem}); deleted, falling back to "
                     "the previous one")
            shutil.rmtree(path, ignore_errors=True)
            self._sums.pop(str(step), None)
            manager.reload()
        if steps:
            self.log(f"[{self.gid}] no usable checkpoint left: starting the group over from epoch 0")
        return fresh

