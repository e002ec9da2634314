"""Rebuild a run's summary, report and figures from its saved arrays, without retraining:
``python -m experiments.report --workdir runs/init_study``."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.workdir, "metrics.npz")):
        print(f"error: {args.workdir} has no metrics.npz; accepted: the workdir of a finished run", file=sys.stderr)
        return 2
    from research.engine import config, files, report

    try:
        report.build(args.workdir)
    except (files.FileError, config.ConfigError) as err:  # a truncated, corrupt or pickled file, a config
        # that no longer validates: one line, never unpickled
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {args.workdir}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
