"""Run a study config on a tiny override through the real command and check its report and claims.

Shared by the study tests: ``run_and_check(tmp_path, study, overrides, claim_ids)`` runs
``python -m experiments.run --config configs/<study>.py`` in a subprocess, then asserts that
``summary.json`` holds exactly ``claim_ids``, each well-formed (boolean verdict, CI around the
measured value), that ``report.md`` names every claim and every figure it links exists. Returns the
summary for study-specific checks.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLAIM_KEYS = {"id", "claim", "source", "measured", "ci_low", "ci_high", "holds", "n", "n_diverged", "kind"}


def run_study(study: str, workdir, overrides) -> None:
    out = subprocess.run([sys.executable, "-m", "experiments.run", "--config", f"configs/{study}.py",
                          "--workdir", str(workdir), *overrides], cwd=ROOT, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]


def run_and_check(tmp_path, study: str, overrides, claim_ids) -> dict:
    run_study(study, tmp_path, overrides)
    summary = json.loads((tmp_path / "summary.json").read_text())
    claims = {c["id"]: c for c in summary["claims"]}
    assert set(claims) == set(claim_ids)
    for c in claims.values():
        assert set(c) == CLAIM_KEYS and isinstance(c["holds"], bool)
        assert c["ci_low"] <= c["measured"] <= c["ci_high"]
    report = (tmp_path / "report.md").read_text()
    for i in claim_ids:
        assert f"`{i}`" in report
    for line in report.splitlines():
        if line.startswith("!["):
            assert (tmp_path / line[line.rindex("](") + 2:-1]).exists(), line
    assert all(a["n_seeds"] >= 2 for a in summary["arms"].values())
    return summary
