"""The Study interface and the open registries: a user's own study, init, activation and optimizer,
in a folder outside the package, run through the same command; bad import paths refused in one
line before anything compiles; studies found by name or path; float64 scoped to the study that
asks for it."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.engine import config as config_lib, experiment, runner, study as study_lib
from research.lib import activations, initializers, optim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USER_INITS = '''
import jax
import jax.numpy as jnp


def scaled_normal(std=1.0):
    """A user's init: N(0, (std / sqrt(fan_in))^2)."""
    def init(key, shape, dtype=jnp.float32):
        return std / jnp.sqrt(shape[0]) * jax.random.normal(key, shape, dtype)
    return init
'''

USER_STUDY = '''
"""A user's study: the default training of every arm, one claim of its own."""
import numpy as np

from research.engine import stats
from research.engine.claims import claim, final


def claims(full, results):
    s = stats.mean_ci(final(results, "mine"))
    return [claim("mystudy.mine_learns", "the user's init learns: final val acc above 0.2", "the user", s,
                  s["ci_low"] > 0.2)]
'''

USER_CONFIG = '''
"""python -m experiments.run --config <this file> --workdir runs/mine"""
from research.engine.config import defaults


def get_config():
    c = defaults()
    c.study = "mystudy"
    c.seeds = 2
    c.data.update({"limit_train": 256, "n_val": 100, "n_test": 100})
    c.model.hidden = (16,)
    c.train.update({"epochs": 2, "batch_size": 32, "evals_per_epoch": 1, "lr": 0.1})
    c.eval.hist_seeds = 1
    c.arms = {"mine": {"model": {"weight_init": "myinits:scaled_normal", "weight_init_kwargs": {"std": 1.4}}},
              "he": {"model": {"weight_init": "he_normal"}}}
    return c
'''


def _user_folder(tmp_path):
    folder = tmp_path / "my_research"
    folder.mkdir()
    (folder / "myinits.py").write_text(USER_INITS)
    (folder / "mystudy.py").write_text(USER_STUDY)  # found by its bare name: not a built-in study
    (folder / "my_config.py").write_text(USER_CONFIG)
    return folder


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "experiments.run", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_a_users_study_and_init_in_their_own_folder_run_through_the_command(tmp_path):
    folder = _user_folder(tmp_path)
    workdir = tmp_path / "run"
    out = _cli("--config", str(folder / "my_config.py"), "--workdir", str(workdir))
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    (c,) = summary["claims"]
    assert c["id"] == "mystudy.mine_learns" and isinstance(c["holds"], bool)
    assert set(summary["arms"]) == {"mine", "he"} and summary["arms"]["mine"]["n_seeds"] == 2
    assert "`mystudy.mine_learns`" in (workdir / "report.md").read_text()
    assert "holds " in out.stdout or "FAILS " in out.stdout


def test_a_bad_import_path_is_refused_in_one_line_before_anything_is_written(tmp_path):
    folder = _user_folder(tmp_path)
    workdir = tmp_path / "run"
    out = _cli("--config", str(folder / "my_config.py"), "--workdir", str(workdir),
               "--config.arms.mine.model.weight_init=myinits:no_such_init")
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: config.arms.mine.model.weight_init='myinits:no_such_init' is invalid; "
                           "accepted: one of zeros, ")
    assert "import path" in line and not workdir.exists()
    out = _cli("--config", str(folder / "my_config.py"), "--workdir", str(workdir), "--config.study=nomodule.here")
    (line,) = out.stderr.strip().splitlines()
    assert out.returncode == 2 and line.startswith("error: config.study='nomodule.here' is invalid: study "
                                                   "'nomodule.here': cannot import 'nomodule.here'")
    assert not workdir.exists()


def test_studies_are_found_by_name_or_import_path_and_filled_with_defaults():
    assert set(study_lib.builtin()) >= {"init_study", "symmetry", "batchnorm", "optimizers", "hparam_search",
                                        "activations", "gradcheck", "gradients", "deep_relu", "signal_theory",
                                        "weight_scale", "init_zoo"}
    by_name = study_lib.load("hparam_search")
    by_path = study_lib.load("research.studies.hparam_search.study")
    by_object = study_lib.load("research.studies.hparam_search:study")
    for s in (by_name, by_path, by_object):
        assert s.arms_to_test is by_name.arms_to_test and s.TRAINS
    plain = study_lib.load(config_lib.DEFAULT_STUDY)
    assert plain.claims(None, {}) == [] and plain.arms_to_test(None, {"a": 0, "b": 1}) == {"a", "b"}
    assert study_lib.load("gradcheck").X64 and not study_lib.load("gradcheck").TRAINS
    with pytest.raises(ValueError, match=r"^unknown study 'nope'; accepted: activations, batchnorm, "):
        study_lib.load("nope")


def test_every_builtin_study_satisfies_the_protocol_and_names_itself():
    for name in study_lib.builtin():
        s = study_lib.load(name)
        assert s.get_config().study == name
        for member in ("get_config", "compute", "claims", "summary", "figures", "arms_to_test"):
            assert callable(getattr(s, member)), (name, member)


def test_an_activation_by_import_path_gets_its_derivative_from_jvp():
    act = activations.get("jax.numpy:sin")
    u = jnp.linspace(-3.0, 3.0, 13, dtype=jnp.float64)
    np.testing.assert_array_equal(act.grad(u, act.fn(u)), jnp.cos(u))  # forward mode: exactly sin's jvp
    assert activations.get("tanh") is activations.ACTIVATIONS["tanh"]
    with pytest.raises(ValueError, match=r"^activation 'research.lib.activations:ACTIVATIONS' is dict; accepted: "):
        activations.get("research.lib.activations:ACTIVATIONS")
    with pytest.raises(ValueError, match=r"^unknown activation 'swish'; accepted: sigmoid, tanh, relu, leaky_relu, "
                                         r"linear, or an import path 'package.module:name'$"):
        activations.get("swish")


def test_an_init_and_an_optimizer_by_import_path_build_like_builtins():
    init = initializers.get("research.lib.initializers:he_normal")
    ref = initializers.get("he_normal")
    key = jax.random.key(0)
    np.testing.assert_array_equal(init(key, (5, 3), jnp.float64), ref(key, (5, 3), jnp.float64))
    opt = optim.get("research.lib.optim:momentum", lr=0.1, alpha=0.5)
    assert opt.init({"w": jnp.zeros(2)}) is not None
    with pytest.raises(ValueError, match="unknown argument"):
        initializers.get("research.lib.initializers:he_normal", nope=1)
    with pytest.raises(ValueError, match="cannot import 'no_such_pkg.inits'"):
        initializers.get("no_such_pkg.inits:fancy")


def _tiny_init_study():
    from research.studies.init_study.config import get_config

    c = get_config()
    c.seeds = 2
    c.data.update({"limit_train": 128, "n_val": 50, "n_test": 50})
    c.model.hidden = (8,)
    c.train.update({"epochs": 1, "batch_size": 32, "evals_per_epoch": 1})
    c.eval.hist_seeds = 1
    c.arms = {"relu-he_normal": {"model": {"activation": "relu", "weight_init": "he_normal"}, "train": {"lr": 0.05}},
              "relu-zeros": {"model": {"activation": "relu", "weight_init": "zeros"}, "train": {"lr": 0.05}}}
    return c


def test_derived_arms_start_and_finish_hooks_train_through_the_engine(tmp_path):
    """ctx.train on arms a study derives: arms with equal settings are paired runs (same key per
    seed), the start hook changes fresh runs before training and the finish hook measures the final
    parameters, both saved with the group's results and read back on a rerun."""
    full = experiment.resolve(_tiny_init_study())
    ctx = runner.Context(full, config_lib.study_of(full), str(tmp_path), log=lambda *_: None, progress=False)
    calls = []

    def start(name, carry, keys, data, prog):
        calls.append(name)
        if name != "frozen":
            return carry, {}
        zero = [{k: jnp.zeros_like(v) for k, v in layer.items()} for layer in carry.params]
        return carry._replace(params=zero), {"marker": np.arange(keys.shape[0])}

    def finish(name, params, bn_state, data):
        return {"w_norm": np.asarray(jax.vmap(lambda p: jnp.sum(p[0]["w"] ** 2))(params))}

    arms = {"a": {"model": {"weight_init": "he_normal"}}, "b": {"model": {"weight_init": "he_normal"}},
            "frozen": {"model": {"weight_init": "he_normal"}, "train": {"lr": 0.05}}}
    res = ctx.train(arms, start=start, finish=finish)
    np.testing.assert_array_equal(res["a/val_acc"], res["b/val_acc"])
    np.testing.assert_array_equal(res["a/w_norm"], res["b/w_norm"])
    assert res["a/val_acc"].shape == (2, 1) and res["a/train_loss"][0, 0] != res["a/train_loss"][1, 0]  # seeds differ
    np.testing.assert_array_equal(res["frozen/marker"], [0, 1])
    # zero weights and biases in a ReLU net: every gradient but the output bias's is 0
    np.testing.assert_array_equal(res["frozen/w_norm"], [0.0, 0.0])
    assert "a/marker" not in res and sorted(calls) == ["a", "b", "frozen"]
    with pytest.raises(config_lib.ConfigError, match=r"^config.arms.x.train.lr=-1.0 is invalid"):
        ctx.train({"x": {"train": {"lr": -1.0}}})
    again = runner.Context(full, config_lib.study_of(full), str(tmp_path), log=lambda *_: None,
                           progress=False).train(arms, start=start, finish=finish)
    assert set(again) == set(res)
    for k in res:
        if not k.endswith("_seconds"):
            np.testing.assert_array_equal(again[k], res[k], err_msg=k)


SCOPED = '''
import json, sys
import jax
import numpy as np
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
from test_study_interface import _tiny_init_study
from experiments import run_all
from research.engine import files, runner

mode, workdir = sys.argv[1], sys.argv[2]
if mode == "all":
    g = run_all.load_config(run_all.study_configs()["gradcheck"])
    g.seeds, g.data.n, g.data.dim, g.model.hidden = 2, 4, 3, (4,)
    run_all.run_all({{"gradcheck": g, "init_study": _tiny_init_study()}}, workdir, progress=False)
    path = workdir + "/init_study/metrics.npz"
else:
    runner.run(_tiny_init_study(), workdir, progress=False, log=lambda *_: None)
    path = workdir + "/metrics.npz"
m = files.read_npz(path)
print(json.dumps({{"x64_after": bool(jax.config.jax_enable_x64),
                   "dtype": str(m["relu-he_normal/val_acc"].dtype)}}))
'''


@pytest.mark.slow  # two fresh processes (~30 s); .ci/run runs the slow marker too
def test_float64_is_scoped_to_the_study_that_asks_for_it(tmp_path):
    """run_all runs gradcheck (X64) before init_study: init_study's arrays equal a standalone run's,
    bitwise, and float64 is off again afterwards. Fresh processes: the test suite itself has x64 on."""
    script = tmp_path / "scoped.py"
    script.write_text(SCOPED.format(root=ROOT, tests=os.path.join(ROOT, "tests")))
    outs = {}
    for mode in ("all", "alone"):
        out = subprocess.run([sys.executable, str(script), mode, str(tmp_path / mode)], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        outs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    assert outs["all"] == outs["alone"] == {"x64_after": False, "dtype": outs["alone"]["dtype"]}
    from research.engine import files

    together = files.read_npz(str(tmp_path / "all" / "init_study" / "metrics.npz"))
    alone = files.read_npz(str(tmp_path / "alone" / "metrics.npz"))
    assert set(together) == set(alone)
    for k in alone:
        if not k.endswith("_seconds"):
            np.testing.assert_array_equal(together[k], alone[k], err_msg=k)
    g = files.read_npz(str(tmp_path / "all" / "gradcheck" / "metrics.npz"))
    assert any(v.dtype == np.float64 for v in g.values())
