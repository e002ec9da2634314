"""Run a study: ``python -m experiments.run --config configs/init_study.py --workdir runs/init_study``.

Overrides follow the flax-examples convention: ``--config.seeds=64 --config.train.lr=0.05``.
Rerunning the same command on the same workdir resumes it. A malformed config, an unreadable data
file or a workdir holding another config is refused with one line on stderr and exit code 2,
before anything is compiled or written.
"""

from __future__ import annotations

import sys

from absl import flags
from ml_collections import config_flags

USAGE = "usage: python -m experiments.run --config configs/<study>.py --workdir runs/<study> [--config.KEY=VALUE ...]"


def _refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def parse(argv):
    """(config, workdir, overwrite) from the command line; raises ValueError with one line."""
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "study config file (configs/*.py)", flag_values=fv,
                                    lock_config=True)
    flags.DEFINE_string("workdir", None, "folder for the run's outputs and checkpoints", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "discard a workdir that holds a different config", flag_values=fv)
    try:
        fv(argv)
    except flags.Error as err:
        raise ValueError(" ".join(str(err).split())) from None
    except (KeyError, AttributeError, TypeError) as err:  # an override path the config does not have
        raise ValueError(f"bad override: {' '.join(str(err).split())}") from None
    if fv.config is None or not fv.workdir:
        raise ValueError(f"--config and --workdir are required; {USAGE}")
    return fv.config, fv.workdir, fv.overwrite


def main(argv=None) -> int:
    argv = list(sys.argv if argv is None else argv)
    try:
        config, workdir, overwrite = parse(argv)
    except ValueError as err:
        return _refuse(str(err))
    from research import config as config_lib, data, runner  # after parsing: --help stays instant

    try:
        summary = runner.run(config, workdir, overwrite=overwrite)
    except (config_lib.ConfigError, data.DataError, runner.WorkdirError) as err:
        return _refuse(str(err))
    for c in summary.get("claims", []):
        print(f"{'holds ' if c['holds'] else 'FAILS '} {c['id']}: {c['measured']:.4g} "
              f"[{c['ci_low']:.4g}, {c['ci_high']:.4g}]")
    print(f"report: {workdir}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
