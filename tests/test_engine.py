"""The engine: vmapped seeds, hand vs autodiff gradients, divergence, compile counts, resume,
sharding over forced host devices, outputs, and bad input refused before anything runs."""

import importlib.util
import json
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from research.engine import checkpoints, config as config_lib, data, files, runner, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _init_study():
    spec = importlib.util.spec_from_file_location("init_study", os.path.join(ROOT, "configs", "init_study.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config()


def tiny_config(**train_overrides):
    """The init study shrunk: 3 arms, 3 seeds, 2 epochs on 192 training images, a small net."""
    c = _init_study()
    c.seeds = 3
    c.data.limit_train = 192
    c.data.n_val = 100
    c.data.n_test = 100
    c.model.hidden = (16, 8)
    c.train.epochs = 2
    c.train.batch_size = 32
    c.train.evals_per_epoch = 2
    c.eval.hist_seeds = 2
    c.arms = {"relu-he": {"model": {"activation": "relu", "weight_init": "he_normal"}, "train": {"lr": 0.05}},
              "relu-zeros": {"model": {"activation": "relu", "weight_init": "zeros"}, "train": {"lr": 0.05}},
              "tanh-xavier": {"model": {"activation": "tanh", "weight_init": "xavier_normal"}, "train": {"lr": 0.1}}}
    c.train.update(train_overrides)
    return c


def _dataset(n_train=96, dtype=np.float64):
    images = (np.arange(300 * 784) * 7919 % 256).reshape(300, 784).astype(np.uint8)
    labels = (np.arange(300) % 10).astype(np.int32)
    return data.make_splits(images, labels, jax.random.key(0), n_val=60, n_test=60, name="synthetic", dtype=dtype,
                            limit_train=n_train)


def _arm(**train):
    c = tiny_config(**train)
    c.arms = {"a": {"model": {"activation": "tanh", "weight_init": "xavier_normal"}, "train": {"lr": 0.05}}}
    return config_lib.resolve(config_lib.merged(c), "a")


def test_vmapped_seeds_equal_single_runs():
    arm = _arm(dtype="float64")
    jax.config.update("jax_enable_x64", True)
    fn = train.make_train(arm, _dataset())
    keys = jax.random.split(jax.random.key(1), 3)
    carry, metrics = jax.jit(jax.vmap(fn))(keys)
    chex.assert_shape(metrics.val_acc, (3, arm.train.epochs, arm.train.evals_per_epoch))
    for i in range(3):
        c1, m1 = jax.jit(fn)(keys[i])
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[i], metrics), m1, rtol=1e-12, atol=1e-14)
    assert not np.allclose(metrics.train_loss[0], metrics.train_loss[1])  # seeds differ


@pytest.mark.parametrize("group", [1, 2, 4, 6])
def test_grouped_chunk_program_equals_one_vmap_bitwise(group):
    """train.many over groups of runs (the runner's program on a CPU: a loop over vmapped groups,
    the carry updated in place) computes, run for run, what one jit(vmap) computes: float64,
    bit for bit. 6 runs: group 4 becomes 3 (a divisor). Group 1 calls the chunk unbatched, whose
    unbatched products XLA sums in another order: equal to 1e-12, not bitwise."""
    jax.config.update("jax_enable_x64", True)
    ds = _dataset()
    arm = _arm(dtype="float64")
    prog = train.program(arm, *ds.train.x.shape, ds.num_classes)
    spec = config_lib.spec(arm, ds.train.x.shape[1], ds.num_classes)
    data = (jnp.asarray(ds.train.x), jnp.asarray(ds.train.y), jnp.asarray(ds.val.x), jnp.asarray(ds.val.y))
    keys = jax.random.split(jax.random.key(5), 6)
    hyper = train.Hyper(jnp.linspace(0.01, 0.2, 6), jnp.full(6, 1e-4), jnp.ones(6))
    fresh = lambda: jax.vmap(lambda k: prog.init(k, 1.0, spec))(keys)
    axes = (0, 0, 0, None, None, None, None, None)
    ref, grouped = train.many(prog.epoch, axes), train.many(prog.epoch, axes, group=group, carry=True,
                                                             donate_argnums=0)
    a, b = fresh(), fresh()
    for e in range(2):
        a, ma = ref(a, hyper, keys, jnp.int32(e), *data)
        b, mb = grouped(b, hyper, keys, jnp.int32(e), *data)
        for x, y in zip(jax.tree.leaves((a, ma)), jax.tree.leaves((b, mb))):
            if group == 1:
                np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-12, atol=1e-14)
            else:
                assert np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
    assert not np.array_equal(np.asarray(ma.train_loss[0]), np.asarray(ma.train_loss[1]))  # runs differ


def test_cache_group_shares_the_cache_between_devices_and_divides_the_runs():
    """cache_group: a divisor of the runs; a wide net's runs (~8.5 MB of working set each) come in
    pairs within the 20 MiB budget on one device, one at a time when two devices share it; a tiny
    net's group is capped by the temporaries rule, whatever the device count."""
    c = tiny_config()
    c.arms = {"a": {"model": {"activation": "relu", "weight_init": "he_normal", "hidden": (256,) * 4},
                    "train": {"lr": 0.01, "batch_size": 128}}}
    wide = train.program(config_lib.resolve(config_lib.merged(c), "a"), 1024, 784, 10)
    assert train.cache_group(wide, 32) == 2 and train.cache_group(wide, 32, devices=2) == 1
    assert train.cache_group(wide, 7) == 1  # 7 runs: the only divisors are 1 and 7
    c.arms["a"]["model"]["hidden"] = (32,) * 10
    c.arms["a"]["train"]["batch_size"] = 32
    deep = train.program(config_lib.resolve(config_lib.merged(c), "a"), 1024, 32, 10)
    assert train.cache_group(deep, 128) == 16 and train.cache_group(deep, 64, devices=2) == 8
    assert train.cache_group(deep, 12) == 12  # few runs: all in one group


def test_hand_and_autodiff_gradients_give_the_same_training_curve():
    jax.config.update("jax_enable_x64", True)
    ds = _dataset()
    for batchnorm in (False, True):
        curves = []
        for grad in ("autodiff", "hand"):
            arm = _arm(dtype="float64", grad=grad)
            arm.model.batchnorm = batchnorm
            _, m = jax.jit(train.make_train(arm, ds))(jax.random.key(3))
            curves.append(m)
        chex.assert_trees_all_close(curves[0], curves[1], rtol=1e-9, atol=1e-12)


def test_diverging_seed_is_frozen_and_leaves_others_untouched():
    ds = _dataset(dtype=np.float32)
    arm = _arm()
    prog = train.program(arm, *ds.train.x.shape, ds.num_classes)
    spec = config_lib.spec(arm, ds.train.x.shape[1], ds.num_classes)
    args = (jnp.asarray(ds.train.x), jnp.asarray(ds.train.y), jnp.asarray(ds.val.x), jnp.asarray(ds.val.y))
    keys = jax.random.split(jax.random.key(0), 2)

    chunk = jax.jit(jax.vmap(prog.epoch, in_axes=(0, 0, 0, None, None, None, None, None)))

    def run(lrs):
        n = len(lrs)
        hyper = train.Hyper(jnp.asarray(lrs, jnp.float32), jnp.zeros(n), jnp.ones(n))
        carry = jax.vmap(lambda k: prog.init(k, 1.0, spec))(keys[:n])
        out = []
        for e in range(2):
            carry, m = chunk(carry, hyper, keys[:n], jnp.int32(e), *args)
            out.append(m)
        return carry, jax.tree.map(lambda *a: jnp.concatenate(a, axis=1), *out)

    carry, m = run([0.05, 1e30])
    alone_carry, alone = run([0.05])
    twin_carry, twin = run([0.05, 0.05])  # the bad seed's place taken by a healthy one: same shapes
    assert int(carry.diverged_at[0]) == -1 and int(carry.diverged_at[1]) >= 0
    assert all(bool(jnp.all(jnp.isfinite(leaf[1]))) for leaf in jax.tree.leaves(carry.params))
    assert np.isnan(np.asarray(m.train_loss[1, -1]))
    chex.assert_trees_all_close(jax.tree.map(lambda a: a[0], m), jax.tree.map(lambda a: a[0], alone),
                                rtol=1e-6, atol=1e-7)  # another batch shape: XLA rounds differently
    for a, b in zip(jax.tree.leaves((m, carry.params)), jax.tree.leaves((twin, twin_carry.params))):
        assert np.array_equal(np.asarray(a[0]), np.asarray(b[0]))  # the healthy seed: bit for bit


def _count_backend_compiles():
    events = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, *_a, **_k: events.append(name) if name == "/jax/core/compile/backend_compile_duration" else None)
    return events


def test_chunks_do_not_recompile(tmp_path):
    """Doubling the epochs adds chunks, never compiles: the chunk program is compiled once."""
    events = _count_backend_compiles()
    counts = []
    runner.run(tiny_config(epochs=1), str(tmp_path / "warm"), progress=False, log=lambda *_: None)
    for epochs in (1, 3):
        c = tiny_config(epochs=epochs)
        before = len(events)
        runner.run(c, str(tmp_path / f"e{epochs}"), progress=False, log=lambda *_: None)
        counts.append(len(events) - before)
    assert counts[0] == counts[1] > 0, counts


def test_run_writes_outputs_and_resumes_bitwise(tmp_path, monkeypatch):
    c = tiny_config()
    whole = tmp_path / "whole"
    summary = runner.run(c, str(whole), progress=False, log=lambda *_: None)
    for f in ("config.json", "meta.json", "metrics.npz", "summary.json", "report.md",
              "figures/val_accuracy.png", "figures/init_activations_relu.png"):
        assert (whole / f).exists(), f
    metrics = files.read_npz(str(whole / "metrics.npz"))
    chex.assert_shape(metrics["relu-he/val_acc"], (3, 4))   # explicit seed axis: (seeds, evaluations)
    chex.assert_shape(metrics["relu-he/test_acc"], (3,))
    chex.assert_shape(metrics["relu-he/init_act_samples"], (2, 2, runner.HIST_SAMPLES))
    arm = summary["arms"]["relu-he"]
    assert arm["n_seeds"] == 3 and arm["n_diverged"] == 0
    assert arm["final_val_acc"]["ci_low"] <= arm["final_val_acc"]["mean"] <= arm["final_val_acc"]["ci_high"]
    assert {c["id"] for c in json.loads((whole / "summary.json").read_text())["claims"]} >= {
        "init_study.relu.zeros_at_chance"}

    # Interrupt after the first checkpoint of the second group, then rerun the same command.
    interrupted = tmp_path / "interrupted"
    real = runner.GroupRunner.run
    calls = {"n": 0}

    def dying_progress(self_n):
        calls["n"] += 1
        if calls["n"] == 3:  # group 1: 2 chunks; group 2: dies after its first chunk was saved
            raise KeyboardInterrupt

    monkeypatch.setattr(runner.GroupRunner, "run", lambda self: (setattr(self, "progress", dying_progress), real(self))[1])
    with pytest.raises(KeyboardInterrupt):
        runner.run(c, str(interrupted), progress=False, log=lambda *_: None)
    monkeypatch.setattr(runner.GroupRunner, "run", real)
    done = sorted(p.name for p in (interrupted / "groups").iterdir() if (p / "results.npz").exists())
    assert len(done) == 1 and any((interrupted / "groups").glob("*/ckpt"))
    resumed_from = []
    runner.run(c, str(interrupted), progress=False, log=resumed_from.append)
    assert any("resuming at epoch 1/2" in m for m in resumed_from)
    again = files.read_npz(str(interrupted / "metrics.npz"))
    assert set(again) == set(metrics)
    for k in metrics:
        if not k.endswith("_seconds"):
            assert np.array_equal(again[k], metrics[k], equal_nan=True), k
    assert (json.loads((interrupted / "summary.json").read_text())
            == json.loads((whole / "summary.json").read_text()))


def test_finished_groups_are_never_recomputed(tmp_path, monkeypatch):
    c = tiny_config()
    runner.run(c, str(tmp_path), progress=False, log=lambda *_: None)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("groups/*/results.npz")}
    monkeypatch.setattr(train.Program, "epoch", lambda *a, **k: pytest.fail("a finished group was retrained"))
    runner.run(c, str(tmp_path), progress=False, log=lambda *_: None)
    assert stamps == {p: p.stat().st_mtime_ns for p in tmp_path.glob("groups/*/results.npz")}


def test_checkpoints_follow_elapsed_time(tmp_path, monkeypatch):
    """0 s: a checkpoint after every epoch; an interval longer than the run: none (the group's
    results file is its finished state), and the same numbers either way. One run of each (the
    0 s run is the other's reference), not three."""
    saved = []
    real = checkpoints.Checkpoints.save
    monkeypatch.setattr(checkpoints.Checkpoints, "save", lambda self, state: (saved.append(int(state["epoch"])),
                                                                              real(self, state))[1])
    c = tiny_config(epochs=3)
    for workdir, seconds, expected in (("every", 0, [1, 2, 3]), ("w", 1e9, [])):
        saved.clear()
        runner.run(c, str(tmp_path / workdir), progress=False, log=lambda *_: None, checkpoint_seconds=seconds)
        n_groups = len(list((tmp_path / workdir / "groups").iterdir()))
        assert n_groups >= 1 and saved == expected * n_groups, (seconds, saved)
    a, b = (files.read_npz(str(tmp_path / w / "metrics.npz")) for w in ("w", "every"))
    for k in a:
        if not k.endswith("_seconds"):
            assert np.array_equal(a[k], b[k], equal_nan=True), k


@pytest.mark.parametrize("bad", [-1, float("nan"), "soon"])
def test_a_bad_checkpoint_interval_is_refused_naming_it(tmp_path, monkeypatch, bad):
    with pytest.raises(config_lib.ConfigError, match="checkpoint_seconds=.*accepted: a finite number of seconds"):
        runner.run(tiny_config(), str(tmp_path / "w"), progress=False, log=lambda *_: None, checkpoint_seconds=bad)
    assert not (tmp_path / "w").exists()
    monkeypatch.setenv(checkpoints.ENV, "x")
    with pytest.raises(config_lib.ConfigError, match="RESEARCH_CHECKPOINT_SECONDS='x'"):
        runner.run(tiny_config(), str(tmp_path / "w"), progress=False, log=lambda *_: None)


def test_test_split_is_evaluated_once_per_arm(tmp_path, monkeypatch):
    seen = []
    real_load = data.load

    def spying_load(cfg):
        ds = real_load(cfg)
        seen.append(ds)
        return ds

    monkeypatch.setattr(runner.data_lib, "load", spying_load)
    runner.run(tiny_config(), str(tmp_path), progress=False, log=lambda *_: None)
    assert seen[0].test.evaluations == {"relu-he": 1, "relu-zeros": 1, "tanh-xavier": 1}


def test_report_rebuilds_from_saved_arrays(tmp_path):
    runner.run(tiny_config(), str(tmp_path), progress=False, log=lambda *_: None)
    before = (tmp_path / "report.md").read_text()
    (tmp_path / "report.md").unlink()
    out = subprocess.run([sys.executable, "-m", "experiments.report", "--workdir", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "report.md").read_text() == before


def test_a_workdir_of_another_config_is_refused(tmp_path):
    runner.run(tiny_config(), str(tmp_path), progress=False, log=lambda *_: None)
    other = tiny_config()
    other.seed = 5
    with pytest.raises(runner.WorkdirError, match="different config"):
        runner.run(other, str(tmp_path), progress=False, log=lambda *_: None)


_SHARD_SCRIPT = """
import sys, jax
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from test_engine import tiny_config
from research.engine import runner
print(len(jax.devices()))
c = tiny_config(runs_per_call=2)  # blocks of 2 runs: groups of 3 and 6 runs span 2 and 3 of the 4 devices
full = runner.experiment_lib.resolve(c)
print(" ".join(str(g.plan.n_dev) for g in runner.Context(full, runner.config_lib.study_of(full), "unused").runners()))
runner.run(c, {workdir!r}, progress=False, log=lambda *_: None)
"""


def test_cpu_devices_are_one_per_core_unless_the_user_chose():
    from research.engine import distributed

    assert distributed.cpu_devices({}) == max(1, os.cpu_count() or 1)
    assert distributed.cpu_devices({"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}) is None
    assert distributed.cpu_devices({"JAX_NUM_CPU_DEVICES": "4"}) is None
    assert distributed.cpu_devices({"XLA_FLAGS": "--xla_cpu_use_thunk_runtime=true"}) == max(1, os.cpu_count() or 1)


def test_four_host_devices_give_the_one_device_numbers(tmp_path):
    results = {}
    for n in (1, 4):
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
        script = _SHARD_SCRIPT.format(root=ROOT, tests=os.path.join(ROOT, "tests"), workdir=str(tmp_path / str(n)))
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split()[0] == str(n)
        # a group never spreads over more devices than it has blocks of runs (no device pads only)
        assert sorted(map(int, out.stdout.split()[1:])) == ([1, 1] if n == 1 else [2, 3]), out.stdout
        results[n] = files.read_npz(str(tmp_path / str(n) / "metrics.npz"))
    # Bitwise: every device runs the program on as many runs as the one device did (XLA's CPU
    # kernels for another batch shape would round differently, ~3e-7 in float32).
    assert set(results[4]) == set(results[1])
    for k in results[1]:
        if not k.endswith("_seconds"):
            assert np.array_equal(results[4][k], results[1][k], equal_nan=True), k


BAD = [
    (["--config.seeds=0"], "config.seeds=0"),
    (["--config.seeds=-3"], "config.seeds=-3"),
    (["--config.train.lr=-0.1"], "config.train.lr=-0.1"),
    (["--config.train.lr=nan"], "config.train.lr=nan"),
    (["--config.model.weight_init=kaiming"], "kaiming"),
    (["--config.model.activation=swish"], "swish"),
    (["--config.model.hidden=(390,-4)"], "-4"),
    (["--config.train.optimizer=lbfgs"], "lbfgs"),
    (["--config.train.loss=hinge"], "hinge"),
    (["--config.train.batch_size=100000"], "batch_size=100000"),
    (["--config.no_such_key=1"], "no_such_key"),
    (["--config.seeds=many"], "many"),
    (["--config.data.name=cifar"], "cifar"),
]


@pytest.mark.parametrize("overrides, needle", BAD)
def test_bad_config_is_one_line_exit_2_nothing_written(tmp_path, overrides, needle):
    workdir = tmp_path / "w"
    out = subprocess.run([sys.executable, "-m", "experiments.run", "--config", "configs/init_study.py",
                          "--workdir", str(workdir), *overrides], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in out.stderr, out.stderr
    assert not workdir.exists()


def test_arms_that_start_alike_are_drawn_once_and_equal(monkeypatch):
    """A tuning grid's arms (same net, init scheme and scale; other rates) share one draw of their
    fresh runs: Program.init is traced once for them, and their carries are equal; an arm with
    another init scheme or scale is drawn on its own."""
    c = tiny_config()
    c.arms = {"a": {"train": {"lr": 0.01}}, "b": {"train": {"lr": 0.1}},
              "c": {"train": {"lr": 0.1, "init_scale": 0.5}}, "d": {"model": {"weight_init": "lecun_normal"}}}
    full = runner.experiment_lib.resolve(c)
    ds = data.load(full.data)
    (gid, names), = runner.groups_of(full)
    g = runner.GroupRunner(gid, names, full, ds, "unused")
    traced = []
    real = train.Program.init
    monkeypatch.setattr(train.Program, "init", lambda self, *a: (traced.append(1), real(self, *a))[1])
    keys = runner.run_keys(full.seed, full.seeds)
    carry, hyper, _ = g._initial(keys, None)
    assert len(traced) == 3
    rows = {n: slice(i * full.seeds, (i + 1) * full.seeds) for i, n in enumerate(names)}
    w = lambda n: np.asarray(carry.params[0]["w"][rows[n]])
    assert np.array_equal(w("a"), w("b"))
    np.testing.assert_array_equal(w("c"), w("a") * np.float32(0.5))
    assert not np.allclose(w("d"), w("a"))
    np.testing.assert_array_equal(np.asarray(hyper.lr), np.repeat([0.01, 0.1, 0.1, c.train.lr], full.seeds).astype(np.float32))
