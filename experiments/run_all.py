"""Run every study config and index their claims:
``python -m experiments.run_all --workdir runs/all``.

Each study runs into ``<workdir>/<study>`` (resumable like a single run; a finished study is read
back, not rerun) and ``<workdir>/index.md`` gets one table of every claim with its verdict, linking
each report. ``--only a,b`` runs a subset.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import logging
import os
import sys

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def load_config(path: str):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def study_configs() -> dict:
    """Every config under configs/, by file stem, in a stable order."""
    return {os.path.basename(p)[:-3]: p for p in sorted(glob.glob(os.path.join(CONFIG_DIR, "*.py")))
            if not os.path.basename(p).startswith("_")}


def run_all(configs: dict, workdir: str, progress: bool = True) -> str:
    """Run ``{name: ConfigDict}`` into ``workdir/<name>`` and write ``workdir/index.md``; returns its text."""
    from research.engine import files, report, runner, stats

    rows = []
    for name, config in configs.items():
        study_dir = os.path.join(workdir, name)
        summary_path = os.path.join(study_dir, "summary.json")
        if os.path.exists(summary_path) and os.path.exists(os.path.join(study_dir, "report.md")):
            summary = files.read_json(summary_path)
        else:
            print(f"== {name}", flush=True)
            summary = runner.run(config, study_dir, progress=progress)
        for c in summary.get("claims", []):
            rows.append((name, c))
    lines = ["# All studies: claims and verdicts", "",
             "| study | claim | measured (95% CI) | n (diverged) | kind | holds |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, c in rows:
        s = {k: float("nan") if c[k] is None else c[k] for k in ("measured", "ci_low", "ci_high")}
        measured = stats.fmt({"mean": s["measured"], "ci_low": s["ci_low"], "ci_high": s["ci_high"]})
        lines.append(f"| [{name}]({name}/report.md) | `{c['id']}`: {c['claim']} | {measured} | {report.n_of(c)} | "
                     f"{c.get('kind', 'finding')} | {'yes' if c['holds'] else '**no**'} |")
    findings = [c for _, c in rows if c.get("kind", "finding") == "finding"]
    checks = [c for _, c in rows if c.get("kind", "finding") == "check"]
    lines += ["", f"{sum(c['holds'] for c in findings)} of {len(findings)} findings hold "
              f"({sum(c['holds'] for c in checks)} of {len(checks)} implementation checks pass). A finding that "
              "does not hold is a measurement disagreeing with the notes or the literature, reported as such in "
              "its study's report.", ""]
    text = "\n".join(lines)
    from research.engine import distributed

    distributed.on_main(lambda: files.write_text(os.path.join(workdir, "index.md"), text), (files.FileError,))
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--only", default="", help="comma-separated study names (config file stems)")
    parser.add_argument("--coordinator_address", default=None, help="host:port of process 0 (multi-process run)")
    parser.add_argument("--num_processes", type=int, default=None)
    parser.add_argument("--process_id", type=int, default=None)
    args = parser.parse_args(argv)
    from experiments.run import join

    try:
        join(args.coordinator_address, args.num_processes, args.process_id)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    available = study_configs()
    names = [n for n in args.only.split(",") if n] or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"error: --only names unknown studies {', '.join(unknown)}; accepted: {', '.join(available)}",
              file=sys.stderr)
        return 2
    from research.engine import config as config_lib, data, files, runner

    logging.getLogger("absl").setLevel(logging.CRITICAL)  # orbax's thread errors: reported below in one line
    try:
        run_all({n: load_config(available[n]) for n in names}, args.workdir)
    except (config_lib.ConfigError, data.DataError, runner.WorkdirError, files.FileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"index: {args.workdir}/index.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
