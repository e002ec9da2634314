"""The workdir of a run: its lock, its config, its metadata.

A run holds ``<workdir>/.lock`` (flock) for its life, so a second run on the same workdir is
refused; the kernel drops it when the holder dies (SIGKILL included). A workdir holding another
config is refused unless ``overwrite``, which discards every output of the old config first.
"""

from __future__ import annotations

import contextlib
from importlib import metadata
import os
import platform
import shutil
import subprocess
import time

import jax

from research.engine import config as config_lib, files


class WorkdirError(ValueError):
    """The workdir holds something this run must not touch."""


def meta(full, started, groups, rates, compute_seconds=None, dataset=None) -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__)), timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "versions": {"python": platform.python_version(),
                     **{pkg: metadata.version(pkg) for pkg in ("jax", "jaxlib", "optax", "flax", "orbax-checkpoint",
                                                             "numpy")}},
        "dataset": dataset,  # the data read: config.data.name, or which of fashion_mnist_or_mnist5k's two
        "devices": [str(d) for d in jax.devices()],
        "processes": jax.process_count(),
        "git_commit": commit or None,
        "wall_seconds": time.time() - started,  # from the start of run() to here (report not included)
        "compute_seconds": compute_seconds,       # inside Study.compute
        "groups": groups,
        "seed_steps_per_second": rates,
    }


OUTPUTS = ("metrics.npz", "meta.json", "summary.json", "report.md")


def claim(full, workdir: str, overwrite: bool) -> None:
    """Write config.json, refusing a workdir that holds another config unless ``overwrite``, which
    discards every output of the old config first (none may sit beside the new config.json)."""
    config_json = files.as_json(full.to_dict())
    cfg_path = os.path.join(workdir, "config.json")
    if os.path.exists(cfg_path) and not overwrite:
        # keys added since (config.LATER_KEYS) at their earlier value are the config it was saved with
        if config_lib.without_later_keys(files.read_json(cfg_path)) != config_lib.without_later_keys(config_json):
            raise WorkdirError(f"workdir {workdir} holds a run of a different config; "
                               f"accepted: the same config, another --workdir, or --overwrite")
    elif os.path.exists(cfg_path) and overwrite:
        for name in OUTPUTS:
            if os.path.exists(os.path.join(workdir, name)):
                os.unlink(os.path.join(workdir, name))
        for name in ("groups", "figures"):
            shutil.rmtree(os.path.join(workdir, name), ignore_errors=True)
    files.write_json(cfg_path, config_json)


@contextlib.contextmanager
def hold(workdir: str, log):
    """The workdir's lock for the run's life (another live run: WorkdirError), and the temporary
    files a killed run left behind cleared."""
    with files.lock(workdir, WorkdirError):
        removed = files.remove_stale_temps(workdir)
        if removed:
            log(f"removed {len(removed)} temporary file(s) an interrupted run left: {', '.join(removed)}")
        yield
