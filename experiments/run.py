"""Run a study: ``python -m experiments.run --config configs/init_study.py --workdir runs/init_study``.

Overrides follow the flax-examples convention: ``--config.seeds=64 --config.train.lr=0.05``.
Rerunning the same command on the same workdir resumes it. Several processes (hosts) run one
study together through JAX's multi-controller runtime: the same command on each, with
``--coordinator_address=host0:port --num_processes=N --process_id=i`` (or the environment
JAX and SLURM use); see the README. A malformed config, an unreadable data
file, a workdir holding another config or in use by another run is refused with one line on
stderr and exit code 2, before anything is compiled or written. A full disk or an unreadable
workdir file stops the run with one line and exit code 2; rerunning resumes from what was kept.
"""

from __future__ import annotations

import logging
import os
import sys

from absl import flags
from ml_collections import config_flags

USAGE = "usage: python -m experiments.run --config configs/<study>.py --workdir runs/<study> [--config.KEY=VALUE ...]"


def _refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _config_folder_on_path(argv) -> None:
    """Put the config file's folder on ``sys.path`` (last), so a config may name the user's own
    studies, inits, activations and optimizers by import path from beside it."""
    for i, arg in enumerate(argv[1:], 1):
        path = arg.split("=", 1)[1] if arg.startswith("--config=") else (
            argv[i + 1] if arg == "--config" and i + 1 < len(argv) else None)
        if path:
            folder = os.path.dirname(os.path.abspath(path))
            if folder not in sys.path:
                sys.path.append(folder)
            return


def distributed_flags(fv) -> None:
    """Flags of a multi-process run (JAX's multi-controller runtime); see research/engine/distributed.py."""
    flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (else $JAX_COORDINATOR_ADDRESS)",
                        flag_values=fv)
    flags.DEFINE_integer("num_processes", None, "processes in the run (else $JAX_NUM_PROCESSES)", flag_values=fv)
    flags.DEFINE_integer("process_id", None, "this process, 0 .. num_processes-1 (else $JAX_PROCESS_ID)",
                         flag_values=fv)


def join(coordinator, num_processes, process_id) -> None:
    """Join the multi-process run the flags or environment describe (before jax starts); raises
    ValueError with one line if they describe none."""
    from research.engine import distributed  # jax only: the backend has not started yet

    distributed.use_cpu_devices()
    distributed.initialize(distributed.settings(coordinator, num_processes, process_id))


def parse(argv):
    """(config, workdir, overwrite, checkpoint_seconds) from the command line; raises ValueError with one line."""
    _config_folder_on_path(argv)
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "study config file (configs/*.py)", flag_values=fv,
                                    lock_config=True, sys_argv=list(argv))  # else it reads sys.argv's overrides
    flags.DEFINE_string("workdir", None, "folder for the run's outputs and checkpoints", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "discard a workdir that holds a different config", flag_values=fv)
    distributed_flags(fv)
    flags.DEFINE_float("checkpoint_seconds", None, "seconds between a group's checkpoints (default: "
                       "$RESEARCH_CHECKPOINT_SECONDS, else 60; 0: after every epoch)", flag_values=fv)
    for arg in argv[1:]:
        path = arg.split("=", 1)[0]
        if path.startswith("--config.") and "[" not in path:
            bad = [p for p in path[len("--config."):].split(".") if not p.isidentifier()]
            if bad:
                raise ValueError(f"bad override {arg}: {bad[0]!r} is not a Python name, so the flag cannot reach it; "
                                 f"accepted: brackets, e.g. --config.arms['{bad[0]}'].train.lr=0.1")
    try:
        fv(argv)
    except flags.Error as err:
        raise ValueError(" ".join(str(err).split())) from None
    except (KeyError, AttributeError, TypeError) as err:  # an override path the config does not have
        inner = err
        while inner.args and isinstance(inner.args[0], BaseException):  # AttributeError(KeyError('x'))
            inner = inner.args[0]
        key = str(inner.args[0]).strip("'\"") if isinstance(inner, KeyError) and inner.args else None
        culprit = next((a for a in argv[1:] if key is not None and a.startswith("--config.")
                        and str(key) in a.split("=", 1)[0]), None)
        if culprit is None:
            raise ValueError(f"bad override: {' '.join(str(err).split())}") from None
        raise ValueError(f"bad override {culprit}: the config has no key {key!r} there; accepted: keys the config "
                         "file sets (under --config.arms[...], the keys that arm sets)") from None
    if fv.config is None or not fv.workdir:
        raise ValueError(f"--config and --workdir are required; {USAGE}")
    join(fv.coordinator_address, fv.num_processes, fv.process_id)
    return fv.config, fv.workdir, fv.overwrite, fv.checkpoint_seconds


def main(argv=None) -> int:
    argv = list(sys.argv if argv is None else argv)
    try:
        config, workdir, overwrite, checkpoint_seconds = parse(argv)
    except ValueError as err:
        return _refuse(str(err))
    from research.engine import config as config_lib, data, files, runner  # after parsing: --help stays instant

    # orbax logs the errors of its writer threads with tracebacks before re-raising them; the
    # error this command reports is the one line below.
    logging.getLogger("absl").setLevel(logging.CRITICAL)
    try:
        summary = runner.run(config, workdir, overwrite=overwrite, checkpoint_seconds=checkpoint_seconds)
    except (config_lib.ConfigError, data.DataError, runner.WorkdirError, files.FileError) as err:
        return _refuse(str(err))
    except OSError as err:  # a full disk outside the writers that name their file (mkdir, the lock)
        if not files.is_no_space(err):
            raise
        return _refuse(str(files.no_space(err.filename or workdir)))
    from research.engine import distributed

    if not distributed.is_main():
        return 0  # process 0 prints the verdicts
    for c in summary.get("claims", []):
        print(f"{'holds ' if c['holds'] else 'FAILS '} {c['id']}: {c['measured']:.4g} "
              f"[{c['ci_low']:.4g}, {c['ci_high']:.4g}]")
    print(f"report: {workdir}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
