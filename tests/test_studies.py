"""The notes' studies (symmetry, batchnorm, optimizers, hparam_search, activations, gradcheck) on tiny overrides: they run through the same
command, and their report and claims are produced and well-formed."""

import ast
import sys

import pytest
from studyrun import ROOT, run_and_check

TINY = {
    "activations": (["--config.seeds=3", "--config.data.n=64", "--config.data.dim=32",
                     "--config.model.hidden=(32,32,32)", "--config.eval.hist_seeds=2"],
                    {"activations.small_random.collapse", "activations.unit_normal.saturation",
                     "activations.xavier.tanh_healthy", "activations.xavier.relu_halves",
                     "activations.he.relu_stable"}),
    "symmetry": (["--config.seeds=2", "--config.data.limit_train=256", "--config.train.epochs=1",
                  "--config.model.hidden=(8,4)", "--config.eval.hist_seeds=1"],
                 {"symmetry.zero.identical_units", "symmetry.zero.accuracy", "symmetry.constant.identical_units",
                  "symmetry.small_random.distinct_units"}),
    "batchnorm": (["--config.seeds=2", "--config.data.limit_train=240", "--config.train.epochs=2",
                   "--config.model.hidden=(8,8)", "--config.eval.hist_seeds=1", "--config.params.tune_seeds=2",
                   "--config.params.tune_lrs=(0.3,3.0)"],
                  {"batchnorm.faster", "batchnorm.final_accuracy", "batchnorm.stable_inputs", "batchnorm.higher_lr",
                   "batchnorm.step_cost"}),
    "optimizers": (["--config.seeds=2", "--config.data.limit_train=256", "--config.train.epochs=1",
                    "--config.model.hidden=(8,)"],
                   {"optimizers.momentum_faster_quadratic", "optimizers.momentum_beats_sgd_mnist"}),
    "hparam_search": (["--config.seeds=2", "--config.data.limit_train=256", "--config.train.epochs=1",
                       "--config.model.hidden=(8,)"],
                      {"hparam_search.test_once", "hparam_search.val_test_gap"}),
    "gradcheck": (["--config.seeds=2", "--config.data.n=4", "--config.data.dim=3", "--config.model.hidden=(4,)"],
                  {"gradcheck.best_eps_f64", "gradcheck.min_error_f64", "gradcheck.min_error_f32"}),
}


@pytest.mark.parametrize("study", sorted(TINY))
def test_study_runs_and_reports_its_claims(tmp_path, study):
    overrides, ids = TINY[study]
    run_and_check(tmp_path, study, overrides, ids)
    if study == "hparam_search":
        _check_test_opened_once(tmp_path)


def test_run_all_indexes_every_claim(tmp_path):
    sys.path.insert(0, ROOT)
    from experiments import run_all

    configs = {}
    for study in ("symmetry", "gradcheck"):
        c = run_all.load_config(run_all.study_configs()[study])
        for override in TINY[study][0]:
            key, value = override[len("--config."):].split("=")
            section, _, field = key.rpartition(".")
            target = c[section] if section else c
            target[field] = ast.literal_eval(value)
        configs[study] = c
    text = run_all.run_all(configs, str(tmp_path), progress=False)
    for study in configs:
        for claim_id in TINY[study][1]:
            assert f"`{claim_id}`" in text
        assert f"({study}/report.md)" in text
    assert (tmp_path / "index.md").read_text() == text
    # a finished study is read back, not rerun
    stamp = (tmp_path / "symmetry" / "metrics.npz").stat().st_mtime_ns
    run_all.run_all(configs, str(tmp_path), progress=False)
    assert (tmp_path / "symmetry" / "metrics.npz").stat().st_mtime_ns == stamp


def _check_test_opened_once(tmp_path):
    """hparam_search: of 36 settings only the validation argmax was evaluated on test, once."""
    import numpy as np
    from research.engine import files

    m = files.read_npz(str(tmp_path / "metrics.npz"))
    counts = {k.split("/")[0]: int(v) for k, v in m.items() if k.endswith("/test_evaluations")}
    assert sum(counts.values()) == 1 and len(counts) == 36
    (chosen,) = [n for n, c in counts.items() if c == 1]
    finals = {n: np.mean(m[f"{n}/val_acc"][:, -1]) for n in counts}
    assert finals[chosen] == max(finals.values())
    assert all(np.isnan(m[f"{n}/test_acc"]).all() for n in counts if n != chosen)
