"""Build a workdir's summary, claims, report and figures from its saved arrays alone.

``build(workdir)`` reads ``config.json`` and ``metrics.npz`` (never retrains), asks the study
(:mod:`research.engine.study`) for its summary, claims and figures, and writes ``summary.json``
(per arm: mean and 95% CI over seeds, seed and divergence counts; ``claims``), ``report.md`` and
``figures/*.png``. ``python -m experiments.report --workdir W`` calls it.
"""

from __future__ import annotations

import os

import ml_collections

from research.engine import config as config_lib, defaults, experiment, files, stats

summarize = defaults.summary  # the default study's summary, kept under its old name


def n_of(c: dict) -> str:
    """'16 (0)': the values a claim's interval is over and the seeds that diverged."""
    return f"{c.get('n', '?')} ({c.get('n_diverged', '?')})"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _markdown(full, summary, figures, meta) -> str:
    lines = [f"# {full.study}: report", ""]
    if meta:
        lines += [f"{len(full.arms)} arms x {full.seeds} seeds on {_data_line(full, meta)}; wall time "
                  f"{meta.get('wall_seconds', float('nan')):.0f} s on {len(meta.get('devices', []))} device(s).", ""]
    for kind, title in (("finding", "Claims"), ("check", "Implementation checks")):
        rows = [c for c in summary["claims"] if c.get("kind", "finding") == kind]
        if not rows:
            continue
        lines += [f"## {title}", "", _row(["claim", "source", "measured (95% CI)", "n (diverged)", "holds"]),
                  _row(["---"] * 5)]
        for c in rows:
            s = {"mean": c["measured"], "ci_low": c["ci_low"], "ci_high": c["ci_high"]}
            s = {k: (float("nan") if v is None else v) for k, v in s.items()}
            lines.append(_row([f"`{c['id']}`: {c['claim']}", c["source"], stats.fmt(s), n_of(c),
                               "yes" if c["holds"] else "**no**"]))
        lines.append("")
    if "target_accuracy" not in summary:
        return "\n".join(lines + _analysis_table(summary["arms"]) + _figure_lines(figures))
    target = summary["target_accuracy"]
    lines += ["## Arms", "", _row(["arm", "final val acc", "IQM [bootstrap 95%]", "test acc (once)",
                                    f"steps to {target:.0%}", "reached", "diverged"]), _row(["---"] * 7)]
    for name, a in summary["arms"].items():
        iqm = a.get("final_val_acc_iqm")
        iqm = "n/a" if not iqm or iqm["mean"] is None or iqm["mean"] != iqm["mean"] else \
            f"{iqm['mean']:.3f} [{iqm['ci_low']:.3f}, {iqm['ci_high']:.3f}]"
        lines.append(_row([name, stats.fmt(a["final_val_acc"]), iqm, stats.fmt(a["test_acc"]),
                           stats.fmt(a["steps_to_target"], 0), f"{a['n_reached_target']}/{a['n_seeds']}",
                           a["n_diverged"]]))
    lines += ["", "Means over seeds with Student-t 95% intervals; beside them the interquartile mean with a "
              "percentile bootstrap interval (2000 resamples of the seeds), for skewed outcomes. Diverged seeds "
              "are counted, not averaged. "
              "Steps to target average over the seeds that reached it. The test split is evaluated once per "
              "arm, after training; selection never sees it.", ""]
    return "\n".join(lines + _figure_lines(figures))


def _data_line(full, meta) -> str:
    """The data as configured, the source actually read where that differs (fashion_mnist_or_mnist5k),
    and [0, 1] pixels where they were not standardized."""
    name, read = full.data.name, meta.get("dataset") or full.data.name
    out = f"`{name}`" + (f" (read: `{read}`)" if read != name else "")
    out += ", pixels in [0, 1]" if full.data.normalize == "unit" and name != "gaussian" else ""
    k = full.data.get("split_seeds", 1)  # a workdir from before resampling has no such key
    if k > 1:
        out += (f", {k} resampled splits (seed s on the split of split_seed + s mod {k}: every interval over "
                "seeds includes the split's variation, and pairing by seed keeps one split per pair)")
    return out


def _figure_lines(figures) -> list[str]:
    lines = []
    for title, path in figures:
        lines += [f"## {title}", "", f"![{title}]({path})", ""]
    return lines


def _analysis_table(arms: dict) -> list[str]:
    metrics = [k for k, v in next(iter(arms.values())).items() if isinstance(v, dict)]
    lines = ["## Arms", "", _row(["arm", *metrics, "seeds"]), _row(["---"] * (len(metrics) + 2))]
    for name, a in arms.items():
        lines.append(_row([name, *(stats.fmt(a[m], 4) for m in metrics), a["n_seeds"]]))
    return lines + ["", "Means over seeds with Student-t 95% intervals.", ""]


def build(workdir: str) -> dict:
    raw = files.read_json(os.path.join(workdir, "config.json"))
    results = files.read_npz(os.path.join(workdir, "metrics.npz"))  # a pickled or corrupt file: FileError first
    full = experiment.resolve(ml_collections.ConfigDict(raw))
    meta_path = os.path.join(workdir, "meta.json")
    meta = files.read_json(meta_path) if os.path.exists(meta_path) else {}
    fig_dir = os.path.join(workdir, "figures")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(fig_dir, exist_ok=True)
    study = config_lib.study_of(full)
    summary = dict(study.summary(full, results))
    summary["claims"] = [c.as_dict() for c in study.claims(full, results)]
    figures = study.figures(full, results, fig_dir, plt)
    files.write_json(os.path.join(workdir, "summary.json"), summary)
    files.write_text(os.path.join(workdir, "report.md"), _markdown(full, summary, figures, meta))
    return summary
