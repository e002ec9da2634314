"""Run a whole study: every arm x every seed, as few compiled programs as the shapes allow.

Arms whose static structure matches (see ``config.static_key``) form a *group*: one compiled
program over ``arms x seeds`` runs, the seed axis sharded over all devices. Groups run in sequence.
Each group trains in chunks of one epoch; after every chunk its state and metrics are
checkpointed with orbax, so rerunning the same command on the same workdir resumes where it
stopped and gives bitwise the same numbers. A finished group writes ``groups/<id>/results.npz``
(atomically) and is never recomputed. The test split is evaluated once per arm, after training,
through the dataset's sealed test split.

Reliability: a run holds ``<workdir>/.lock`` (flock) for its life, so a second run on the same
workdir is refused; the kernel drops it when the holder dies (SIGKILL included). Every file is
written atomically (temp file, fsync, rename; orbax renames a finished checkpoint into place).
A checkpoint carries a SHA-256 of its arrays, and ``groups/<id>/ckpt_sums.json`` the SHA-256 of
each of its files: one that fails either check, or does not read back, is logged and deleted,
and the previous one is used (or the group starts over). A full disk stops the run with one
line naming the path, keeping the last good checkpoint. ``research/faults.py`` holds the
fault-injection points the tests kill runs at.

Workdir: ``.lock``, ``config.json``, ``meta.json``, ``metrics.npz``, ``summary.json``,
``report.md``, ``figures/``, and ``groups/`` with the per-group results and checkpoints.
"""

from __future__ import annotations

import contextlib
import hashlib
from importlib import metadata
import os
import platform
import shutil
import subprocess
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from research import (claims, config as config_lib, data as data_lib, faults, files, report, study_activations,
                      train as train_lib)

HIST_SAMPLES = study_activations.HIST  # post-activation values kept per layer and seed at init


class WorkdirError(ValueError):
    """The workdir holds something this run must not touch."""


def run_keys(seed: int, seeds: int) -> jax.Array:
    """One key per seed index, shared by every arm: paired comparisons see the same init noise
    stream and the same minibatch order."""
    base = jax.random.key(seed)
    return jax.vmap(lambda s: jax.random.fold_in(base, s))(jnp.arange(seeds))


def groups_of(full) -> list[tuple[str, list[str]]]:
    """Arms grouped by static structure, in config order; ids are stable across reruns."""
    by_key: dict[str, list[str]] = {}
    for name in full.arms:
        by_key.setdefault(config_lib.static_key(config_lib.resolve(full, name)), []).append(name)
    out = []
    for i, (key, names) in enumerate(by_key.items()):
        digest = hashlib.sha1((key + repr(names)).encode()).hexdigest()[:8]
        out.append((f"g{i}-{digest}", names))
    return out


def _mesh():
    return Mesh(np.asarray(jax.devices()), ("runs",))


def _shard(tree, mesh):
    runs = NamedSharding(mesh, P("runs"))
    return jax.device_put(tree, runs)


def _pad(tree, total: int):
    """Repeat the first run until the leading axis is ``total`` long (devices must divide it)."""
    def pad(a):
        extra = total - a.shape[0]
        return a if extra == 0 else jnp.concatenate([a, jnp.repeat(a[:1], extra, axis=0)])
    return jax.tree.map(pad, tree)


def unit_spread(params) -> np.ndarray:
    """Per run and hidden layer: the largest difference between two units' incoming weights,
    max_i (max_j w_ij - min_j w_ij). Exactly 0 iff every unit of the layer is the same unit."""
    hidden = [np.asarray(layer["w"]) for layer in params[:-1]]
    if not hidden:
        return np.zeros((np.asarray(params[0]["w"]).shape[0], 0))
    return np.stack([(w.max(axis=2) - w.min(axis=2)).max(axis=1) for w in hidden], axis=1)


def _digest(tree) -> np.ndarray:
    """SHA-256 over every leaf's dtype, shape and bytes, as 32 uint8: a checkpoint's own checksum."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.reshape(-1).view(np.uint8))
    return np.frombuffer(h.digest(), np.uint8).copy()


def _file_sums(folder: str) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    out = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[os.path.relpath(path, folder)] = h.hexdigest()
    return out


def _sums_problem(recorded: dict | None, folder: str) -> str | None:
    """Why the files under ``folder`` are not the ones whose checksums were recorded; None if they are."""
    if not recorded:
        return "no checksum was recorded for it: the run stopped while saving it"
    try:
        found = _file_sums(folder)
    except OSError as err:
        return _one_line(err)
    for rel, digest in recorded.items():
        if rel not in found:
            return f"{rel} is missing"
        if found[rel] != digest:
            return f"{rel} does not match its recorded checksum: truncated or corrupt"
    return None


def _one_line(err: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[:limit] + "..."


class GroupRunner:
    """Trains one group, checkpointing after every epoch."""

    def __init__(self, gid, arm_names, full, dataset, workdir, log=print):
        self.gid, self.arm_names, self.full, self.dataset = gid, arm_names, full, dataset
        self.dir = os.path.join(workdir, "groups", gid)
        self.progress, self.log = None, log  # progress(seed_steps) after each chunk, if set
        self.arms = {a: config_lib.resolve(full, a) for a in arm_names}
        first = self.arms[arm_names[0]]
        n_train, dim = dataset.train.x.shape
        self.program = train_lib.program(first, n_train, dim, dataset.num_classes)
        self.specs = {a: config_lib.spec(c, dim, dataset.num_classes) for a, c in self.arms.items()}
        self.seeds = full.seeds
        self.n_runs = len(arm_names) * self.seeds
        n_dev = len(jax.devices())
        # Runs go through the compiled program in slices of equal size: a slice's parameters stay
        # in cache, which measured ~1.5x the throughput of one call over a 192-run group on 2 CPU
        # cores. Same shapes, so one compile serves all slices. Each device holds ``per_device``
        # runs of a slice whatever the device count: XLA's kernels for another batch shape round
        # differently (float32, ~3e-7), so this keeps 1 and N devices bitwise equal. The price:
        # a group smaller than runs_per_call x devices pads the other devices with copies.
        self.per_device = min(first.train.runs_per_call, self.n_runs)
        self.slice_size = self.per_device * n_dev
        self.n_slices = -(-self.n_runs // self.slice_size)
        self.n_padded = self.n_slices * self.slice_size
        self.epochs = first.train.epochs
        self.dtype = jnp.dtype(first.train.dtype)
        self.compile_seconds = 0.0
        self.train_seconds = 0.0
        self._sums: dict[str, dict[str, str]] = {}  # per checkpoint step: its files' SHA-256

    @property
    def seed_steps(self) -> int:
        return self.n_runs * self.program.steps_per_epoch * self.epochs

    @property
    def results_path(self):
        return os.path.join(self.dir, "results.npz")

    @property
    def ckpt_dir(self):
        return os.path.abspath(os.path.join(self.dir, "ckpt"))

    @property
    def sums_path(self):
        return os.path.join(self.dir, "ckpt_sums.json")

    def _initial(self, keys):
        carries, hypers = [], []
        for name in self.arm_names:
            arm, spec = self.arms[name], self.specs[name]
            h = train_lib.hyper(arm)
            carries.append(train_lib.one_shot(jax.vmap(lambda k: self.program.init(k, h.init_scale, spec)), keys))
            hypers.append(jax.tree.map(lambda v: jnp.full((self.seeds,), v), h))
        cat = lambda *xs: jnp.concatenate(xs)
        carry = jax.tree.map(cat, *carries)
        hyper = jax.tree.map(cat, *hypers)
        run_keys_all = jnp.concatenate([keys] * len(self.arm_names))
        return carry, hyper, run_keys_all

    def _init_histograms(self, carry, keys, x):
        """Hidden-layer outputs at initialization for the first ``hist_seeds`` seeds of each arm,
        read off the very parameters training started from, in one program for the group."""
        hs = min(self.full.eval.hist_seeds, self.seeds)
        if hs == 0:
            return {}
        rows = np.concatenate([np.arange(hs) + i * self.seeds for i in range(len(self.arm_names))])
        pick = lambda a: jnp.asarray(a)[rows]
        hkeys = jnp.concatenate([keys[:hs]] * len(self.arm_names))
        fn = jax.vmap(lambda p, b, k: study_activations.layer_stats(self.program.spec, p, b, x, jax.random.fold_in(k, 7)))
        stats_ = train_lib.one_shot(fn, jax.tree.map(pick, carry.params), jax.tree.map(pick, carry.bn_state), hkeys)
        means, stds, samples = stats_["act_mean"], stats_["act_std"], stats_["act_samples"]
        out = {}
        for i, name in enumerate(self.arm_names):
            sl = slice(i * hs, (i + 1) * hs)
            out[f"{name}/init_act_mean"] = np.asarray(means[sl])
            out[f"{name}/init_act_std"] = np.asarray(stds[sl])
            out[f"{name}/init_act_samples"] = np.asarray(samples[sl], np.float32)
        return out

    def run(self) -> dict[str, np.ndarray]:
        if os.path.exists(self.results_path):
            self.log(f"[{self.gid}] finished earlier: results.npz read back, nothing recomputed")
            results = files.read_npz(self.results_path)
            self._drop_checkpoints()  # left if a run was killed between writing results and this
            return results
        import orbax.checkpoint as ocp  # imported here: costs a second, and only training needs it

        faults.hook_orbax()
        prog, ds = self.program, self.dataset
        keys = run_keys(self.full.seed, self.seeds)
        data = (jnp.asarray(ds.train.x, self.dtype), jnp.asarray(ds.train.y),
                jnp.asarray(ds.val.x, self.dtype), jnp.asarray(ds.val.y))
        carry, hyper, rkeys = self._initial(keys)
        self.init_hist = self._init_histograms(carry, keys, data[2])
        n_eval = self.epochs * prog.evals_per_epoch
        # Checkpoints hold host arrays of the group's n_runs rows (no padding, no sharding), so a
        # run resumes on any device count.
        state = {"carry": jax.tree.map(np.asarray, carry), "epoch": np.zeros((), np.int64),
                 "metrics": {k: np.full((self.n_runs, n_eval, *train_lib.METRIC_TRAILING[k]), np.nan, np.float64)
                             for k in train_lib.Metrics._fields}}
        self.chunk_seconds = np.full((self.epochs,), np.nan)

        manager = ocp.CheckpointManager(self.ckpt_dir, options=ocp.CheckpointManagerOptions(
            max_to_keep=2, enable_async_checkpointing=False, cleanup_tmp_directories=True))
        try:
            state = self._restore(manager, state, ocp)
            metrics, start_epoch = state["metrics"], int(state["epoch"])
            mesh = _mesh()
            carry, hyper, rkeys = (self._slices(_pad(t, self.n_padded), mesh)
                                   for t in (state["carry"], hyper, rkeys))
            if start_epoch < self.epochs:
                # Each device runs the one-device program on its per_device runs (shard_map), on a
                # CPU over cache-sized groups with the carry updated in place (train.many). The group
                # size leaves cache_group's devices at 1: sized by device count, it would change the
                # batch shapes, and so the float32 rounding, between 1 and N devices.
                group = train_lib.cache_group(prog, self.per_device)
                chunk = train_lib.many(prog.epoch, in_axes=(0, 0, 0, None, None, None, None, None), group=group,
                                       carry=group is not None, mesh=mesh if mesh.size > 1 else None,
                                       donate_argnums=0)
                self.log(f"[{self.gid}] compiling: {self.n_runs} runs in {self.n_slices} slice(s) "
                         f"of {self.slice_size}" + (f", groups of {group}" if group else ""))
                t0 = time.perf_counter()
                compiled = chunk.lower(carry[0], hyper[0], rkeys[0], jnp.int32(0), *data).compile()
                self.compile_seconds = time.perf_counter() - t0

            t0 = time.perf_counter()
            for epoch in range(start_epoch, self.epochs):
                cols = slice(epoch * prog.evals_per_epoch, (epoch + 1) * prog.evals_per_epoch)
                t_chunk = time.perf_counter()
                for i in range(self.n_slices):
                    carry[i], m = compiled(carry[i], hyper[i], rkeys[i], jnp.int32(epoch), *data)
                    lo, hi = i * self.slice_size, min((i + 1) * self.slice_size, self.n_runs)
                    for k in metrics:
                        metrics[k][lo:hi, cols] = np.asarray(getattr(m, k))[: hi - lo]
                    faults.point("slice")
                self.chunk_seconds[epoch] = time.perf_counter() - t_chunk  # np.asarray above waited
                self._save(manager, ocp, {"carry": self._host(carry), "metrics": metrics,
                                          "epoch": np.asarray(epoch + 1, np.int64)})
                if self.progress is not None:
                    self.progress(self.n_runs * prog.steps_per_epoch)
            self.train_seconds = time.perf_counter() - t0
            results = self._finish(carry, metrics, keys, data)
            files.write_npz(self.results_path, results)
        finally:
            with contextlib.suppress(Exception):  # never mask what stopped the run
                manager.close()
        faults.point("group")
        self._drop_checkpoints()
        return results

    def _drop_checkpoints(self) -> None:
        shutil.rmtree(self.ckpt_dir, ignore_errors=True)
        if os.path.exists(self.sums_path):
            os.unlink(self.sums_path)

    def _host(self, carry_slices):
        """The group's carry as host arrays of n_runs rows, from the device slices."""
        return jax.tree.map(lambda *a: np.concatenate([np.asarray(x) for x in a])[: self.n_runs], *carry_slices)

    def _save(self, manager, ocp, state) -> None:
        """Checkpoint ``state`` with a checksum of its arrays, then record a checksum of every file
        orbax wrote for the step; a full disk becomes one FileError line."""
        state = dict(state, digest=_digest(state))
        step = int(state["epoch"])
        try:
            manager.save(step, args=ocp.args.StandardSave(state))
            manager.wait_until_finished()
            kept = {str(s) for s in manager.all_steps()}
            self._sums = {k: v for k, v in self._sums.items() if k in kept}
            self._sums[str(step)] = _file_sums(os.path.join(self.ckpt_dir, str(step)))
            files.write_json(self.sums_path, self._sums)
        except Exception as err:
            if not files.is_no_space(err):
                raise
            kept = f"the checkpoint of epoch {step - 1} is kept" if step > 1 else "no checkpoint was finished yet"
            raise files.FileError(f"{self.ckpt_dir}: no space left on device while checkpointing epoch {step} "
                                  f"({kept}); free space and rerun the same command to resume") from None

    def _restore(self, manager, fresh: dict, ocp) -> dict:
        """The newest checkpoint whose files match their recorded checksums and whose arrays match
        theirs, else ``fresh``. Unusable ones are logged and deleted (so their step can be saved
        again); files are checked before orbax reads them."""
        try:
            self._sums = files.read_json(self.sums_path) if os.path.exists(self.sums_path) else {}
        except files.FileError as err:
            self.log(f"[{self.gid}] {err}; no checkpoint can be verified")
            self._sums = {}
        target = dict(fresh, digest=np.zeros((32,), np.uint8))
        steps = sorted(manager.all_steps(), reverse=True)
        for step in steps:
            path = os.path.join(self.ckpt_dir, str(step))
            problem = _sums_problem(self._sums.get(str(step)), path)
            if problem is None:
                try:
                    state = jax.tree.map(np.asarray, manager.restore(step, args=ocp.args.StandardRestore(target)))
                    if not np.array_equal(state["digest"], _digest({k: v for k, v in state.items() if k != "digest"})):
                        problem = "its arrays do not match the checksum saved with them"
                    elif int(state["epoch"]) != step or not 0 < step <= self.epochs:
                        problem = f"it holds epoch {int(state['epoch'])} of {self.epochs}"
                except Exception as err:  # unreadable or foreign (e.g. another layout): unusable
                    problem = _one_line(err)
            if problem is None:
                self.log(f"[{self.gid}] resuming at epoch {step}/{self.epochs}")
                del state["digest"]
                return state
            self.log(f"[{self.gid}] checkpoint {path} is unusable ({problem}); deleted, falling back to "
                     "the previous one")
            shutil.rmtree(path, ignore_errors=True)
            self._sums.pop(str(step), None)
            manager.reload()
        if steps:
            self.log(f"[{self.gid}] no usable checkpoint left: starting the group over from epoch 0")
        return fresh

    def _slices(self, tree, mesh) -> list:
        size = self.slice_size
        return [_shard(jax.tree.map(lambda a: a[i * size:(i + 1) * size], tree), mesh) for i in range(self.n_slices)]

    def _finish(self, carry, metrics, keys, data) -> dict[str, np.ndarray]:
        prog = self.program
        carry = self._host(carry)
        test_eval = jax.jit(jax.vmap(prog.evaluate, in_axes=(0, 0, None, None)))
        evals = np.arange(1, self.epochs * prog.evals_per_epoch + 1) * prog.steps_per_eval
        out = {"steps": evals}
        rows_of = {name: slice(i * self.seeds, (i + 1) * self.seeds) for i, name in enumerate(self.arm_names)}
        # Which arms are reported, decided on validation metrics alone, before the test split is opened.
        tested = claims.arms_to_test(self.full, {n: (metrics["val_acc"][r], np.asarray(carry.diverged_at[r]))
                                                 for n, r in rows_of.items()})
        for name, rows in rows_of.items():
            params = jax.tree.map(lambda a: a[rows], carry.params)
            bn = jax.tree.map(lambda a: a[rows], carry.bn_state)
            if name in tested:
                # The one use of the test split for this arm; the sealed split counts and refuses a second.
                loss, acc = self.dataset.test.evaluate(
                    lambda x, y: test_eval(params, bn, jnp.asarray(x, self.dtype), jnp.asarray(y)), label=name)
            else:
                loss = acc = np.full((self.seeds,), np.nan)
            out[f"{name}/test_loss"] = np.asarray(loss)
            out[f"{name}/test_acc"] = np.asarray(acc)
            out[f"{name}/test_evaluations"] = np.int64(self.dataset.test.evaluations.get(name, 0))
            out[f"{name}/diverged_at"] = np.asarray(carry.diverged_at[rows])
            out[f"{name}/unit_spread"] = unit_spread(params)
            # wall time of each epoch's chunk for the whole group, per seed-step (NaN before a resume)
            out[f"{name}/step_seconds"] = self.chunk_seconds / (self.n_runs * prog.steps_per_epoch)
            for k, v in metrics.items():
                out[f"{name}/{k}"] = v[rows]
        out.update(self.init_hist)
        out["compile_seconds"] = np.float64(self.compile_seconds)
        out["train_seconds"] = np.float64(self.train_seconds)
        return out


def _meta(full, started, groups, rates) -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__)), timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "versions": {"python": platform.python_version(),
                     **{pkg: metadata.version(pkg) for pkg in ("jax", "jaxlib", "optax", "flax", "orbax-checkpoint",
                                                             "numpy")}},
        "devices": [str(d) for d in jax.devices()],
        "git_commit": commit or None,
        "wall_seconds": time.time() - started,
        "groups": groups,
        "seed_steps_per_second": rates,
    }


OUTPUTS = ("metrics.npz", "meta.json", "summary.json", "report.md")


def _claim_workdir(full, workdir: str, overwrite: bool) -> None:
    """Write config.json, refusing a workdir that holds another config unless ``overwrite``, which
    discards every output of the old config first (none may sit beside the new config.json)."""
    config_json = files.as_json(full.to_dict())
    cfg_path = os.path.join(workdir, "config.json")
    if os.path.exists(cfg_path) and not overwrite:
        if files.read_json(cfg_path) != config_json:
            raise WorkdirError(f"workdir {workdir} holds a run of a different config; "
                               f"accepted: the same config, another --workdir, or --overwrite")
    elif os.path.exists(cfg_path) and overwrite:
        for name in OUTPUTS:
            if os.path.exists(os.path.join(workdir, name)):
                os.unlink(os.path.join(workdir, name))
        for name in ("groups", "figures"):
            shutil.rmtree(os.path.join(workdir, name), ignore_errors=True)
    files.write_json(cfg_path, config_json)


def _run_analysis(full, workdir: str, overwrite: bool, started: float, log) -> dict:
    """Studies that measure at initialization: one pass, no chunks, no checkpoints."""
    with _hold(workdir, log):
        _claim_workdir(full, workdir, overwrite)
        t0 = time.perf_counter()
        results = config_lib.analysis_module(full.study).compute(full, run_keys(full.seed, full.seeds))
        seconds = time.perf_counter() - t0
        files.write_npz(os.path.join(workdir, "metrics.npz"), results)
        files.write_json(os.path.join(workdir, "meta.json"),
                         _meta(full, started, {"analysis": {"arms": list(full.arms), "seconds": seconds}}, {}))
        return report.build(workdir)


@contextlib.contextmanager
def _hold(workdir: str, log):
    """The workdir's lock for the run's life (another live run: WorkdirError), and the temporary
    files a killed run left behind cleared."""
    with files.lock(workdir, WorkdirError):
        removed = files.remove_stale_temps(workdir)
        if removed:
            log(f"removed {len(removed)} temporary file(s) an interrupted run left: {', '.join(removed)}")
        yield


def run(config, workdir: str, overwrite: bool = False, log: Callable[[str], None] = print,
        progress: bool = True) -> dict:
    """Validate, load data, train every group (resuming what a previous run left), write outputs.
    Nothing is written before the config, the data and every group's shapes have been checked."""
    started = time.time()
    config_lib.validate(config)
    full = config_lib.merged(config)
    if any(config_lib.resolve(full, a).train.dtype == "float64" for a in full.arms):
        jax.config.update("jax_enable_x64", True)
    if full.study in report.ANALYSES:
        return _run_analysis(full, workdir, overwrite, started, log)
    groups = groups_of(full)
    n_train = data_lib.train_size(full.data)
    if n_train is not None and n_train >= 1:  # batch vs split from the config: refused before loading compiles
        for _, names in groups:
            train_lib.program(config_lib.resolve(full, names[0]), n_train, config_lib.input_dim(full), 10)
    dataset = data_lib.load(full.data)
    # Building the groups' programs checks the batch against the split as loaded, before any file
    # is written.
    runners = [GroupRunner(gid, names, full, dataset, workdir, log=log) for gid, names in groups]
    with _hold(workdir, log):
        _claim_workdir(full, workdir, overwrite)
        return _run_groups(full, runners, workdir, started, progress)


def _run_groups(full, runners, workdir: str, started: float, progress: bool) -> dict:
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=sum(r.seed_steps for r in runners), unit="seed-step", unit_scale=True,
                   dynamic_ncols=True, desc=os.path.basename(os.path.normpath(workdir)))
    results: dict[str, np.ndarray] = {}
    group_meta, rates = {}, {}
    try:
        for runner in runners:
            if bar is not None:
                runner.progress = bar.update
                if os.path.exists(runner.results_path):
                    bar.update(runner.seed_steps)
            res = runner.run()
            seconds = float(res["train_seconds"])
            group_meta[runner.gid] = {"arms": runner.arm_names, "compile_seconds": float(res["compile_seconds"]),
                                      "train_seconds": seconds, "seed_steps": runner.seed_steps}
            rates[runner.gid] = runner.seed_steps / seconds if seconds > 0 else None
            results.update({k: v for k, v in res.items() if "/" in k or k == "steps"})
    finally:
        if bar is not None:
            bar.close()
    if full.study == "optimizers":  # the study's other half: rules on 2-D surfaces, no data
        from research import study_optimizers
        results.update(study_optimizers.compute(run_keys(full.seed, full.seeds)))
    files.write_npz(os.path.join(workdir, "metrics.npz"), results)
    files.write_json(os.path.join(workdir, "meta.json"), _meta(full, started, group_meta, rates))
    return report.build(workdir)  # summary, claims, report.md and figures, from the saved arrays
