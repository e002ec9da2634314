"""Reliability under faults: killed runs resume to bitwise the same results, a workdir is used by
one run at a time, unreadable files and checkpoints are named (and a bad checkpoint falls back to
the previous one), a full disk stops the run with one line and loses nothing, and nothing in a
workdir is unpickled.

The runs of the tiny study below go through the real command in subprocesses and are killed with
SIGKILL, either from outside at wall-clock times or from inside by ``research.engine.faults``
(``RESEARCH_FAULT=<point>:<n>``) at places a clock cannot hit reliably. Those tests are marked
``slow`` (deselected by default; ``python -m pytest -m slow tests`` runs them). Reruns share a
persistent JAX compilation cache (same executables, so the same bits) to keep them short; the
uninterrupted reference run and the run killed during compilation compile for real.
"""

import errno
import gzip
import os
import shutil
import signal
import subprocess
import sys
import time

import ml_collections
import numpy as np
import pytest

from research.engine import checkpoints, config as config_lib, experiment, faults, files, report, runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Two groups (relu arms share a program; tanh gets its own), 2 epochs, runs in slices of 2:
# group 0 has 6 runs = 3 slices per epoch, group 1 has 3 runs = 2 slices.
CONFIG = '''
from research.engine.config import defaults

def get_config():
    c = defaults()
    c.study = "init_study"
    c.seeds = 3
    c.data.update({"name": "mnist5k", "n_val": 100, "n_test": 100, "limit_train": 128})
    c.model.hidden = (8,)
    c.train.update({"epochs": 2, "batch_size": 32, "evals_per_epoch": 1, "runs_per_call": 2})
    c.eval.update({"hist_seeds": 1, "target_accuracy": 0.5})
    c.arms = {"relu-he": {"model": {"activation": "relu", "weight_init": "he_normal"}, "train": {"lr": 0.05}},
              "relu-zeros": {"model": {"activation": "relu", "weight_init": "zeros"}, "train": {"lr": 0.05}},
              "tanh-xavier": {"model": {"activation": "tanh", "weight_init": "xavier_normal"}, "train": {"lr": 0.1}}}
    return c
'''
TIMEOUT = 300


# ----------------------------------------------------------------------------- helpers


class Launch:
    """One ``python -m experiments.run`` of the tiny config in a subprocess, output to files."""

    def __init__(self, env_dir, workdir, *extra, fault=None, cache=True):
        self.n = len(os.listdir(env_dir["logs"]))
        self.out_path = os.path.join(env_dir["logs"], f"{self.n}.out")
        self.err_path = os.path.join(env_dir["logs"], f"{self.n}.err")
        env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", faults.ENV)}
        # one CPU device: the kill points count the slices of the one-device layout (the CLI would
        # otherwise start one device per core and run fewer, wider slices)
        env.update(PYTHONUNBUFFERED="1", JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES="1")
        if cache:
            env.update(JAX_COMPILATION_CACHE_DIR=env_dir["cache"], JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                       JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
        if fault:
            env[faults.ENV] = fault
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "experiments.run", "--config", env_dir["config"],
                                          "--workdir", str(workdir), *extra], cwd=ROOT, env=env, stdout=out, stderr=err)
        self.started = time.monotonic()

    def wait(self, timeout=TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"run {self.n} did not finish in {timeout} s:\n{self.stdout}\n{self.stderr[-3000:]}")

    @property
    def stdout(self) -> str:
        with open(self.out_path) as f:
            return f.read()

    @property
    def stderr(self) -> str:
        with open(self.err_path) as f:
            return f.read()

    def error_lines(self) -> list[str]:
        """stderr without the progress bar."""
        lines = self.stderr.replace("\r", "\n").splitlines()
        return [l for l in lines if l.strip() and "seed-step" not in l]

    def state(self) -> str:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def wait_until(self, predicate, what: str, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                pytest.fail(f"run {self.n} ended ({self.proc.returncode}) before {what}:\n{self.stdout}\n"
                            f"{self.stderr[-3000:]}")
            if time.monotonic() > end:
                self.proc.kill()
                pytest.fail(f"run {self.n}: no {what} in {timeout} s")
            time.sleep(0.05)


def _comparable(workdir) -> tuple[dict, bytes]:
    metrics = files.read_npz(os.path.join(workdir, "metrics.npz"))
    with open(os.path.join(workdir, "summary.json"), "rb") as f:
        return {k: v for k, v in metrics.items() if not k.endswith("_seconds")}, f.read()


def assert_same_results(workdir, reference) -> None:
    """metrics.npz bitwise equal to the reference's (wall-clock timings aside) and summary.json byte-equal."""
    metrics, summary = _comparable(workdir)
    ref_metrics, ref_summary = reference
    assert set(metrics) == set(ref_metrics)
    for k in ref_metrics:
        assert metrics[k].dtype == ref_metrics[k].dtype, k
        assert np.array_equal(metrics[k], ref_metrics[k], equal_nan=True), k
    assert summary == ref_summary


def assert_nothing_partial(workdir) -> None:
    """Every file under its final name reads back whole; only temp files may be partial, and
    every checkpoint step orbax lists was committed."""
    for root, dirs, names in os.walk(workdir):
        if os.path.basename(root) == "ckpt":
            for d in dirs:
                if d.isdigit():
                    assert os.path.exists(os.path.join(root, d, "commit_success.txt")), (root, d)
            dirs[:] = []
            continue
        for name in names:
            path = os.path.join(root, name)
            if name.endswith(".npz"):
                files.read_npz(path)
            elif name.endswith(".json"):
                files.read_json(path)


def finished_groups(workdir) -> set[str]:
    groups = os.path.join(workdir, "groups")
    return {g for g in os.listdir(groups) if os.path.exists(os.path.join(groups, g, "results.npz"))} \
        if os.path.isdir(groups) else set()


def assert_not_recomputed(launch, done_before: set[str]) -> None:
    """A group whose results.npz existed when ``launch`` started was read back, never compiled."""
    for gid in done_before:
        assert f"[{gid}] finished earlier" in launch.stdout, (gid, launch.stdout)
        assert f"[{gid}] compiling" not in launch.stdout, (gid, launch.stdout)


def _snapshot(workdir) -> dict:
    out = {}
    for root, _, names in os.walk(workdir):
        for name in names:
            st = os.stat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), workdir)] = (st.st_size, st.st_mtime_ns)
    return out


def _largest_file(folder) -> str:
    paths = [os.path.join(r, n) for r, _, ns in os.walk(folder) for n in ns]
    return max(paths, key=os.path.getsize)


@pytest.fixture(scope="module")
def env_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    (base / "logs").mkdir()
    (base / "cache").mkdir()
    (base / "tiny.py").write_text(CONFIG)
    return {"base": base, "logs": str(base / "logs"), "cache": str(base / "cache"), "config": str(base / "tiny.py")}


@pytest.fixture(scope="module")
def reference(env_dir):
    """The uninterrupted run every faulty one must reproduce bit for bit."""
    workdir = env_dir["base"] / "reference"
    run = Launch(env_dir, workdir)
    assert run.wait() == 0, run.stderr[-3000:]
    assert "resuming" not in run.stdout and "finished earlier" not in run.stdout
    return _comparable(workdir)


# ----------------------------------------------------------------------------- fast: the pieces


def _python(code: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    if fault:
        env[faults.ENV] = fault
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_faults_are_a_no_op_unless_set(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    for _ in range(3):
        faults.point("slice")
    assert not faults.active("checkpoint")
    monkeypatch.setenv(faults.ENV, "slice:0")
    with pytest.raises(ValueError, match="RESEARCH_FAULT='slice:0' is invalid; accepted: <point>:<n>"):
        faults.point("slice")


def test_a_fault_point_kills_on_its_nth_pass():
    code = "from research.engine import faults\nfor i in range(5):\n    print(i, flush=True)\n    faults.point('slice')\n"
    out = _python(code, fault="group:1,slice:3")
    assert out.returncode == -signal.SIGKILL and out.stdout.split() == ["0", "1", "2"]
    assert _python(code).stdout.split() == ["0", "1", "2", "3", "4"]


def test_a_write_killed_before_its_rename_leaves_the_old_file(tmp_path):
    target = tmp_path / "summary.json"
    files.write_json(str(target), {"v": 1})
    code = f"from research.engine import files\nfiles.write_json({str(target)!r}, {{'v': 2}})\n"
    out = _python(code, fault="rename:summary.json:1")
    assert out.returncode == -signal.SIGKILL
    assert files.read_json(str(target)) == {"v": 1}
    temps = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].startswith(".summary.json.")
    assert files.remove_stale_temps(str(tmp_path)) == [str(tmp_path / temps[0])]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_full_disk_in_an_atomic_write_names_the_file_and_keeps_the_old(tmp_path):
    target = tmp_path / "metrics.npz"
    files.write_npz(str(target), {"a": np.arange(3)})

    def full(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(files.FileError) as err:
        files._atomic(str(target), full)
    assert str(err.value).startswith(f"{target}: no space left on device; free space and rerun")
    assert np.array_equal(files.read_npz(str(target))["a"], np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.npz"]
    assert files.is_no_space(ValueError("RESOURCE_EXHAUSTED: Failed to write: No space left on device "
                                        "[os_error_code='28']"))  # tensorstore's words, as orbax raises them


def test_workdir_files_are_never_unpickled(tmp_path):
    pickled = tmp_path / "metrics.npz"
    np.savez(pickled, fine=np.arange(3), evil=np.array([{"x": 1}], dtype=object))
    with pytest.raises(files.FileError) as err:
        files.read_npz(str(pickled))
    msg = str(err.value)
    assert msg.startswith(str(pickled)) and "'evil'" in msg and "allow_pickle=False" in msg and "\n" not in msg

    good = tmp_path / "good.npz"
    files.write_npz(str(good), {"a": np.arange(1000.0)})
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:700])
    with pytest.raises(files.FileError, match=f"^{cut}: truncated or corrupt"):
        files.read_npz(str(cut))
    (tmp_path / "c.json").write_text('{"a": [1, 2')
    with pytest.raises(files.FileError, match="c.json: truncated or corrupt JSON"):
        files.read_json(str(tmp_path / "c.json"))
    with pytest.raises(files.FileError, match="nope.npz: no such file"):
        files.read_npz(str(tmp_path / "nope.npz"))


def test_report_cli_refuses_a_pickled_metrics_file(tmp_path, capsys):
    from experiments import report as report_cli

    files.write_json(str(tmp_path / "config.json"), files.as_json(config_lib.defaults().to_dict()))
    np.savez(tmp_path / "metrics.npz", evil=np.array([print], dtype=object))
    assert report_cli.main(["--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds Python objects; refused" in err[0]
    assert not (tmp_path / "summary.json").exists()


def test_the_lock_refuses_a_second_holder_and_dies_with_its_holder(tmp_path):
    with files.lock(str(tmp_path), runner.WorkdirError):
        with pytest.raises(runner.WorkdirError, match=f"is in use by another run \\(pid {os.getpid()}\\); accepted"):
            with files.lock(str(tmp_path), runner.WorkdirError):
                pass
    with files.lock(str(tmp_path), runner.WorkdirError):  # released on exit
        pass
    # A holder killed with SIGKILL: the kernel drops its lock, so the rerun is not blocked.
    code = (f"import os, signal\nfrom research.engine import files\n"
            f"with files.lock({str(tmp_path)!r}, RuntimeError):\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    assert _python(code).returncode == -signal.SIGKILL
    with files.lock(str(tmp_path), runner.WorkdirError):
        pass


def _cli(capsys, *argv) -> tuple[int, list[str]]:
    from experiments import run as run_cli

    rc = run_cli.main(["run", *argv])
    err = [l for l in capsys.readouterr().err.replace("\r", "\n").splitlines() if l.strip()]
    return rc, err


def test_cli_refuses_a_workdir_in_use_before_writing(tmp_path, capsys):
    workdir = tmp_path / "w"
    with files.lock(str(workdir), runner.WorkdirError):
        before = _snapshot(workdir)
        rc, err = _cli(capsys, "--config", "configs/init_study.py", "--workdir", str(workdir))
        assert rc == 2 and len(err) == 1 and f"error: workdir {workdir} is in use by another run" in err[0], err
        assert _snapshot(workdir) == before == {".lock": before[".lock"]}


_HUGE = 50 * 84216071 * 83886082 * 67305473 * 17303047 * 50333700 * 134349824  # the 7 dims below, times 1 byte


def test_cli_names_a_corrupt_data_file_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "idx"
    src.mkdir()
    rng = np.random.default_rng(0)
    for stem, n, shape in (("train-images-idx3-ubyte", 300, (28, 28)), ("t10k-images-idx3-ubyte", 50, (28, 28)),
                           ("train-labels-idx1-ubyte", 300, ()), ("t10k-labels-idx1-ubyte", 50, ())):
        arr = rng.integers(0, 10 if not shape else 256, size=(n, *shape), dtype=np.uint8)
        header = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
        (src / stem).write_bytes(header + arr.tobytes())
    bad = src / "t10k-labels-idx1-ubyte"
    good = bad.read_bytes()
    workdir = tmp_path / "w"
    for magic, expected in ((b"\x00\x00\x07\x01", f"{bad}: bad IDX magic 0x00 0x00 0x07 0x01; expected"),
                            # 7 dims read from label bytes: a product past int64 once overflowed to a negative size
                            (b"\x00\x00\x09\x07", f"{bad}: truncated IDX data: expected {_HUGE} bytes for shape")):
        bad.write_bytes(magic + good[4:])
        rc, err = _cli(capsys, "--config", "configs/init_study.py", "--workdir", str(workdir),
                       "--config.data.name=mnist_idx", f"--config.data.path={src}")
        assert rc == 2 and len(err) == 1 and expected in err[0], err
        assert not workdir.exists()
    bad.write_bytes(good)

    # gzipped and cut short: named, nothing written
    payload = (src / "train-images-idx3-ubyte").read_bytes()
    (src / "train-images-idx3-ubyte").unlink()
    (src / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(payload)[:4000])
    rc, err = _cli(capsys, "--config", "configs/init_study.py", "--workdir", str(workdir),
                   "--config.data.name=mnist_idx", f"--config.data.path={src}")
    assert rc == 2 and len(err) == 1 and f"{src}/train-images-idx3-ubyte.gz: truncated or corrupt gzip" in err[0], err
    assert not workdir.exists()


def test_a_corrupt_or_pickled_group_result_is_named_not_used(tmp_path, capsys):
    """A finished group's results.npz that does not read back stops the run with one line naming
    it before any training program is compiled; it is never unpickled or silently recomputed."""
    c = config_lib.defaults()
    c.update({"seeds": 2, "arms": {"a": {}}})
    c.data.update({"limit_train": 128, "n_val": 50, "n_test": 50})
    c.train.batch_size = 16
    full = experiment.resolve(c)
    (gid, _), = runner.groups_of(full)
    for payload in (b"PK\x03\x04 not really a zip", None):
        workdir = tmp_path / ("cut" if payload else "pickled")
        files.write_json(str(workdir / "config.json"), files.as_json(full.to_dict()))
        results = workdir / "groups" / gid / "results.npz"
        results.parent.mkdir(parents=True)
        if payload:
            results.write_bytes(payload)
        else:
            np.savez(results, **{"a/val_acc": np.array([object()], dtype=object)})
        with pytest.raises(files.FileError, match=f"^{results}: "):
            runner.run(c, str(workdir), progress=False, log=lambda *_: None)
    assert not (workdir / "metrics.npz").exists()


def test_a_diverged_seed_is_counted_and_leaves_the_others_statistics_unchanged():
    """The summary counts a diverged seed and averages the rest exactly as a run without it."""
    full = experiment.resolve(ml_collections.ConfigDict(files.as_json(config_lib.merged(_two_arms()).to_dict())))
    rng = np.random.default_rng(0)
    results = {"steps": np.arange(1, 5) * 10}
    for name in full.arms:
        results[f"{name}/val_acc"] = rng.uniform(0.5, 0.9, size=(4, 4))
        results[f"{name}/train_loss"] = rng.uniform(0.1, 1.0, size=(4, 4))
        results[f"{name}/test_acc"] = rng.uniform(0.5, 0.9, size=(4,))
        results[f"{name}/diverged_at"] = np.full((4,), -1)
    bad = dict(results)
    bad["a/diverged_at"] = np.array([-1, -1, 17, -1])
    bad["a/val_acc"] = results["a/val_acc"].copy()
    bad["a/val_acc"][2, 2:] = np.nan
    bad["a/train_loss"] = results["a/train_loss"].copy()
    bad["a/train_loss"][2, 2:] = np.nan
    without = {k: (np.delete(v, 2, axis=0) if k.startswith("a/") else v) for k, v in results.items()}
    s_bad, s_without = report.summarize(full, bad), report.summarize(full, without)
    assert s_bad["arms"]["a"]["n_diverged"] == 1 and s_bad["arms"]["a"]["n_seeds"] == 4
    for key in ("final_val_acc", "test_acc", "final_train_loss", "steps_to_target"):
        assert s_bad["arms"]["a"][key] == s_without["arms"]["a"][key], key
    assert s_bad["arms"]["b"] == report.summarize(full, results)["arms"]["b"]


def _two_arms():
    c = config_lib.defaults()
    c.arms = {"a": {"train": {"lr": 0.05}}, "b": {"train": {"lr": 0.01}}}
    c.eval.target_accuracy = 0.8
    return c


# ----------------------------------------------------------------------------- slow: killed runs


@pytest.mark.slow
def test_killed_at_every_stage_resumes_to_the_same_bits(env_dir, reference):
    """One workdir, killed (SIGKILL) at one more stage by each rerun of the same command: mid-chunk,
    inside a checkpoint save, writing a group's results, between groups, during compilation (from
    outside), writing metrics.npz and writing the report. The last rerun finishes with the
    reference's bits; a finished group is never recomputed; nothing partial is ever read."""
    workdir = env_dir["base"] / "chain"
    stages = [
        # (fault, log lines the killed run must show, log lines its rerun must show)
        ("slice:5", [], ["resuming at epoch 1/2"]),                 # group 0, epoch 2, after slice 2 of 3
        ("checkpoint:1", ["resuming at epoch 1/2"], ["resuming at epoch 1/2"]),  # dies saving epoch 2
        ("rename:results.npz:1", [], ["resuming at epoch 2/2", "removed 1 temporary file"]),
        ("group:1", ["resuming at epoch 2/2"], ["finished earlier"]),
        ("compile", [], []),                                         # group 1's compile, killed from outside
        ("rename:metrics.npz:1", [], ["removed 1 temporary file"]),
        ("rename:report.md:1", [], ["removed 1 temporary file"]),
    ]
    expect_next: list[str] = []
    for fault, expect_here, expect_after in stages:
        done = finished_groups(workdir)
        if fault == "compile":  # no compilation cache here: a real XLA compile, killed 1 s in
            run = Launch(env_dir, workdir, cache=False)
            run.wait_until(lambda: "compiling" in run.stdout.split("finished earlier")[-1], "compile")
            time.sleep(0.5)
            run.proc.send_signal(signal.SIGKILL)
        else:
            run = Launch(env_dir, workdir, fault=fault)
        assert run.wait() == -signal.SIGKILL, (fault, run.proc.returncode, run.stderr[-3000:])
        for line in expect_here + expect_next:
            assert line in run.stdout, (fault, line, run.stdout)
        assert_not_recomputed(run, done)
        assert_nothing_partial(workdir)
        if fault == "compile":  # killed before group 1 finished an epoch
            g1 = (set(os.listdir(workdir / "groups")) - done).pop()
            assert not os.path.exists(workdir / "groups" / g1 / "ckpt" / "1")
        expect_next = expect_after
    done = finished_groups(workdir)
    assert len(done) == 2
    final = Launch(env_dir, workdir)
    assert final.wait() == 0, final.stderr[-3000:]
    for line in expect_next:
        assert line in final.stdout, (line, final.stdout)
    assert_not_recomputed(final, done)
    assert_same_results(workdir, reference)
    assert not any(n.endswith(".tmp") for _, _, ns in os.walk(workdir) for n in ns)


@pytest.mark.slow
def test_killed_from_outside_at_fixed_delays_resumes_to_the_same_bits(env_dir, reference):
    # Delays are fractions of this machine's own uninterrupted (cache-warm) run, so that a fast
    # machine does not finish before the third kill: fixed seconds made the test flaky.
    timing = Launch(env_dir, env_dir["base"] / "clock_timing")
    assert timing.wait() == 0, timing.stderr[-3000:]
    full = time.monotonic() - timing.started
    workdir = env_dir["base"] / "clock"
    killed = 0
    for delay in (f * full for f in (0.2, 0.3, 0.4, 0.5, 0.6)):
        done = finished_groups(workdir)
        run = Launch(env_dir, workdir)
        while run.proc.poll() is None and time.monotonic() - run.started < delay:
            time.sleep(0.02)
        if run.proc.poll() is None:
            run.proc.send_signal(signal.SIGKILL)
        rc = run.wait()
        killed += rc == -signal.SIGKILL
        assert rc in (0, -signal.SIGKILL), run.stderr[-3000:]
        assert_not_recomputed(run, done)
        if os.path.exists(workdir):
            assert_nothing_partial(workdir)
        if rc == 0:
            break
    assert killed >= 3, killed
    final = Launch(env_dir, workdir)
    assert final.wait() == 0, final.stderr[-3000:]
    assert_same_results(workdir, reference)


@pytest.mark.slow
def test_a_second_run_on_a_busy_workdir_is_refused_and_the_first_is_unharmed(env_dir, reference):
    workdir = env_dir["base"] / "busy"
    first = Launch(env_dir, workdir, fault="slice:2:stop")  # freezes itself mid-chunk, holding the lock
    first.wait_until(lambda: first.state() == "T", "stop")
    before = _snapshot(workdir)
    second = Launch(env_dir, workdir)
    assert second.wait() == 2
    assert second.error_lines() == [f"error: workdir {workdir} is in use by another run (pid {first.proc.pid}); "
                                     "accepted: wait for it to finish, or another --workdir"]
    assert _snapshot(workdir) == before
    first.proc.send_signal(signal.SIGCONT)
    assert first.wait() == 0, first.stderr[-3000:]
    assert_same_results(workdir, reference)

    # Another config on this workdir: refused through the command, unless --overwrite.
    before = _snapshot(workdir)
    other = Launch(env_dir, workdir, "--config.seed=5")
    assert other.wait() == 2
    lines = other.error_lines()
    assert len(lines) == 1 and "holds a run of a different config; accepted:" in lines[0] and "--overwrite" in lines[0]
    before.pop(".lock")  # it took the lock (so no run could change the workdir while it looked): its pid is in it
    assert {k: v for k, v in _snapshot(workdir).items() if k != ".lock"} == before
    over = Launch(env_dir, workdir, "--config.seed=5", "--overwrite")
    assert over.wait() == 0, over.stderr[-3000:]
    assert files.read_json(str(workdir / "config.json"))["seed"] == 5
    assert "finished earlier" not in over.stdout  # the old config's groups were discarded, not reused
    metrics, _ = _comparable(workdir)
    assert not np.array_equal(metrics["relu-he/val_loss"], reference[0]["relu-he/val_loss"])


@pytest.mark.slow
def test_a_truncated_or_corrupt_latest_checkpoint_falls_back_to_the_previous(env_dir, reference):
    workdir = env_dir["base"] / "corrupt"
    gid = None
    for damage in ("truncate", "flip"):
        run = Launch(env_dir, workdir, fault="rename:results.npz:1")  # group 0 holds checkpoints 1 and 2
        assert run.wait() == -signal.SIGKILL, run.stderr[-3000:]
        gid = gid or sorted(os.listdir(workdir / "groups"))[0]
        if damage == "flip":
            assert f"[{gid}] checkpoint" in run.stdout and "resuming at epoch 1/2" in run.stdout
        latest = workdir / "groups" / gid / "ckpt" / "2"
        victim = _largest_file(latest)
        raw = bytearray(open(victim, "rb").read())
        if damage == "truncate":
            raw = raw[: len(raw) // 2]
        else:  # same size, different bytes: orbax alone would read these back as numbers
            raw[len(raw) // 2: len(raw) // 2 + 16] = bytes(b ^ 0xFF for b in raw[len(raw) // 2: len(raw) // 2 + 16])
        with open(victim, "wb") as f:
            f.write(raw)
    final = Launch(env_dir, workdir)
    assert final.wait() == 0, final.stderr[-3000:]
    rel = os.path.relpath(victim, latest)
    assert (f"[{gid}] checkpoint {latest} is unusable ({rel} does not match its recorded checksum: truncated or "
            f"corrupt); deleted, falling back to the previous one") in final.stdout, final.stdout
    assert f"[{gid}] resuming at epoch 1/2" in final.stdout
    assert_same_results(workdir, reference)


_FULL_DISK = """
import errno, os, sys
import orbax.checkpoint as ocp
real, calls = ocp.CheckpointManager.save, []
def save(self, step, *a, **k):
    calls.append(step)
    if len(calls) == 2:  # the second checkpoint finds the disk full halfway
        os.makedirs(os.path.join(str(self.directory), f"{step}.orbax-checkpoint-tmp"), exist_ok=True)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(str(self.directory), str(step)))
    return real(self, step, *a, **k)
ocp.CheckpointManager.save = save
from experiments import run
sys.exit(run.main(["run"] + sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_full_disk_while_checkpointing_stops_with_one_line_and_loses_nothing(env_dir, reference, tmp_path):
    """The checkpoint writer raising ENOSPC: exit 2, one line naming the path; the previous
    checkpoint is intact and the rerun resumes from it to the reference's bits."""
    workdir = env_dir["base"] / "full_patched"
    wrapper = tmp_path / "full_disk.py"
    wrapper.write_text(_FULL_DISK)
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    env.update(JAX_COMPILATION_CACHE_DIR=env_dir["cache"], JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, str(wrapper), "--config", env_dir["config"], "--workdir", str(workdir)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 2, out.stderr[-3000:]
    lines = [l for l in out.stderr.replace("\r", "\n").splitlines() if l.strip() and "seed-step" not in l]
    gid = sorted(os.listdir(workdir / "groups"))[0]
    ckpt = workdir / "groups" / gid / "ckpt"
    assert lines == [f"error: {ckpt}: no space left on device while checkpointing epoch 2 (the checkpoint of "
                     "epoch 1 is kept); free space and rerun the same command to resume"], out.stderr[-3000:]
    assert checkpoints.sums_problem(files.read_json(str(ckpt.parent / "ckpt_sums.json"))["1"], str(ckpt / "1")) is None
    rerun = Launch(env_dir, workdir)
    assert rerun.wait() == 0, rerun.stderr[-3000:]
    assert f"[{gid}] resuming at epoch 1/2" in rerun.stdout
    assert_same_results(workdir, reference)


@pytest.mark.slow
def test_a_really_full_disk_stops_with_one_line_and_the_rerun_resumes(env_dir, reference, tmp_path):
    """A real filesystem filling up (a small tmpfs; skipped where mounting is not permitted): the
    run held mid-chunk, the disk filled to the last byte, the run let go: one line naming the path,
    exit 2; space freed, the rerun resumes from the last good checkpoint to the reference's bits."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if not shutil.which("mount") or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)],
                                                   capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        workdir = mount / "w"
        run = Launch(env_dir, workdir, fault="slice:4:stop")  # group 0, epoch 2: checkpoint 1 is on disk
        run.wait_until(lambda: run.state() == "T", "stop")
        ballast = mount / "ballast"
        with open(ballast, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 16))
                    f.flush()
            except OSError as err:
                assert err.errno == errno.ENOSPC
        run.proc.send_signal(signal.SIGCONT)
        assert run.wait() == 2, run.stderr[-3000:]
        lines = run.error_lines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {workdir}") and "no space left on device" in lines[0], \
            run.stderr[-3000:]
        assert "Traceback" not in run.stderr
        ballast.unlink()  # space freed
        rerun = Launch(env_dir, workdir)
        assert rerun.wait() == 0, rerun.stderr[-3000:]
        assert "resuming at epoch 1/2" in rerun.stdout, rerun.stdout
        assert_same_results(workdir, reference)
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
