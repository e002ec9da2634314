"""Several processes, one run: JAX's multi-controller runtime on one machine.

Two processes on 127.0.0.1 (gloo collectives, one CPU device each, the coordinator bound to
loopback) run the same tiny study as one run, the seed axis sharded over both; the results must
be bitwise those of one process. The flags and environment that describe a run are checked
before anything starts. A slow test kills one process mid-run and reruns the command.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from research.engine import distributed, faults, files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 240

CONFIG = '''
from research.engine.config import defaults

def get_config():
    c = defaults()
    c.study = "init_study"
    c.seeds = 3
    c.data.update({"name": "mnist5k", "n_val": 100, "n_test": 100, "limit_train": 128})
    c.model.hidden = (8,)
    c.train.update({"epochs": 3, "batch_size": 32, "evals_per_epoch": 1, "runs_per_call": 2})
    c.eval.update({"hist_seeds": 1, "target_accuracy": 0.5})
    c.arms = {"relu-he": {"model": {"activation": "relu", "weight_init": "he_normal"}, "train": {"lr": 0.05}},
              "relu-zeros": {"model": {"activation": "relu", "weight_init": "zeros"}, "train": {"lr": 0.05}},
              "tanh-xavier": {"model": {"activation": "tanh", "weight_init": "xavier_normal"}, "train": {"lr": 0.1}}}
    return c
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(devices: int, fault: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", faults.ENV) and not k.startswith("SLURM_")
           and k not in distributed.ENV}
    env.update(PYTHONUNBUFFERED="1", JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES=str(devices))
    if fault:
        env[faults.ENV] = fault
    return env


def _start(config, workdir, log, n=1, i=0, port=None, fault=None, devices=1):
    cmd = [sys.executable, "-m", "experiments.run", "--config", str(config), "--workdir", str(workdir)]
    if n > 1:
        cmd += [f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={n}", f"--process_id={i}"]
    out = open(log, "w")
    return subprocess.Popen(cmd, cwd=ROOT, env=_env(devices, fault), stdout=out, stderr=subprocess.STDOUT)


def _wait(procs, logs, timeout=TIMEOUT):
    end = time.monotonic() + timeout
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(1, end - time.monotonic())))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("a process did not finish:\n" + "\n".join(open(l).read()[-3000:] for l in logs))
    return codes


def _two(config, workdir, tmp_path, tag, fault1=None):
    port = _free_port()
    logs = [tmp_path / f"{tag}-{i}.log" for i in range(2)]
    procs = [_start(config, workdir, logs[i], n=2, i=i, port=port, fault=fault1 if i == 1 else None) for i in range(2)]
    return procs, logs


def _comparable(workdir):
    metrics = files.read_npz(os.path.join(workdir, "metrics.npz"))
    summary = json.loads(open(os.path.join(workdir, "summary.json")).read())
    return {k: v for k, v in metrics.items() if not k.endswith("_seconds")}, summary


def _assert_same(a, b):
    (ma, sa), (mb, sb) = _comparable(a), _comparable(b)
    assert set(ma) == set(mb)
    for k in ma:
        assert ma[k].dtype == mb[k].dtype and np.array_equal(ma[k], mb[k], equal_nan=True), k
    assert sa == sb


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("dist")
    config = base / "tiny.py"
    config.write_text(CONFIG)
    ref = base / "one"
    p = _start(config, ref, base / "one.log")
    assert _wait([p], [base / "one.log"]) == [0], open(base / "one.log").read()[-3000:]
    return config, ref


def test_two_processes_give_the_one_process_numbers_bitwise(setup, tmp_path):
    config, ref = setup
    workdir = tmp_path / "two"
    procs, logs = _two(config, workdir, tmp_path, "two")
    codes = _wait(procs, logs)
    assert codes == [0, 0], "\n".join(open(l).read()[-3000:] for l in logs)
    meta = json.loads((workdir / "meta.json").read_text())
    assert len(meta["devices"]) == 2  # one CPU device per process: the seeds were split over both
    _assert_same(workdir, ref)
    # process 0 spoke for the run; the other wrote nothing and logged no group lines
    assert "compiling" in open(logs[0]).read() and "compiling" not in open(logs[1]).read()


@pytest.mark.slow
def test_the_lock_refuses_another_run_while_the_processes_of_one_share_it(setup, tmp_path):
    config, _ = setup
    workdir = tmp_path / "locked"
    procs, logs = _two(config, workdir, tmp_path, "held", fault1="slice:2:stop")  # process 1 freezes mid-run
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (workdir / "config.json").exists():  # written by process 0 under the lock
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), open(logs[0]).read()[-3000:]
            time.sleep(0.1)
        other = _start(config, workdir, tmp_path / "other.log")
        assert _wait([other], [tmp_path / "other.log"]) == [2]
        assert "is in use by another run" in open(tmp_path / "other.log").read()
    finally:
        for p in procs:
            p.kill()
            p.wait()


@pytest.mark.parametrize("env, needle", [
    ({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1"}, "do not describe a multi-process run"),
    ({"JAX_COORDINATOR_ADDRESS": "nohostport", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"},
     "coordinator_address='nohostport' is invalid"),
    ({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "2"},
     "process_id='2' is invalid; accepted: 0 .. 1"),
    ({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1", "JAX_NUM_PROCESSES": "zero", "JAX_PROCESS_ID": "0"},
     "num_processes='zero' is invalid"),
])
def test_a_bad_process_description_is_one_line_before_anything_starts(tmp_path, env, needle):
    with pytest.raises(distributed.DistributedError, match=needle):
        distributed.settings(environ=env)
    proc = subprocess.run([sys.executable, "-m", "experiments.run", "--config", "configs/symmetry.py", "--workdir",
                           str(tmp_path / "w")], cwd=ROOT, env={**_env(1), **env}, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and needle in proc.stderr and not (tmp_path / "w").exists()
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_settings_read_flags_then_the_environment():
    assert distributed.settings(environ={}) is None
    assert distributed.settings(environ={"SLURM_NTASKS": "1"}) is None
    assert distributed.settings(environ={"SLURM_NTASKS": "4"}) == {}  # JAX reads SLURM's layout itself
    assert distributed.settings("10.0.0.1:1234", 4, 3, environ={}) == {
        "coordinator_address": "10.0.0.1:1234", "num_processes": 4, "process_id": 3}
    assert distributed.settings(environ={"JAX_COORDINATOR_ADDRESS": "127.0.0.1:99", "JAX_NUM_PROCESSES": "2",
                                         "JAX_PROCESS_ID": "0"}) == {
        "coordinator_address": "127.0.0.1:99", "num_processes": 2, "process_id": 0,
        "coordinator_bind_address": "127.0.0.1:99"}
    # flags win over the environment
    assert distributed.settings("127.0.0.1:5", 2, 1, environ={"JAX_PROCESS_ID": "0"})["process_id"] == 1


@pytest.mark.slow
def test_a_process_killed_mid_run_is_resumed_by_rerunning_with_nothing_lost(setup, tmp_path):
    """Process 1 is SIGKILLed in its second epoch (after epoch 1's checkpoint); process 0 is then
    stopped as a job scheduler would stop the job. Rerunning both resumes from the checkpoint and
    ends with the one-process numbers."""
    config, ref = setup
    workdir = tmp_path / "killed"
    procs, logs = _two(config, workdir, tmp_path, "killed", fault1="slice:3")  # group 0: 2 slices per epoch
    assert procs[1].wait(timeout=TIMEOUT) == -signal.SIGKILL, open(logs[1]).read()[-3000:]
    try:
        procs[0].wait(timeout=30)  # it may notice its peer is gone, or hang in a collective
    except subprocess.TimeoutExpired:
        procs[0].kill()
        procs[0].wait()
    assert not (workdir / "metrics.npz").exists()
    assert list(workdir.glob("groups/*/ckpt/1"))  # epoch 1 was checkpointed before the kill
    procs, logs = _two(config, workdir, tmp_path, "rerun")
    codes = _wait(procs, logs)
    assert codes == [0, 0], "\n".join(open(l).read()[-3000:] for l in logs)
    assert "resuming at epoch 1/3" in open(logs[0]).read()
    _assert_same(workdir, ref)
