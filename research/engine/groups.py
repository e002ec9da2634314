"""One group of arms trained as one compiled program, checkpointed as it goes.

Arms whose static structure matches (``Arm.static_key``) form a *group*: one compiled
program over ``arms x seeds`` runs, the seed axis sharded over all devices. Each group trains in
chunks of one epoch; after a chunk, once a minute at most (:func:`checkpoints.interval`), its
state and metrics are checkpointed
(:mod:`research.engine.checkpoints`), so rerunning the same command resumes where it stopped and
gives bitwise the same numbers. A finished group writes ``groups/<id>/results.npz`` (atomically)
and is never recomputed. The test split is evaluated once per arm the study picks
(``Study.arms_to_test``), after training, through the dataset's sealed test split.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from research.engine import (checkpoints, data as data_lib, distributed, faults, files, keys as keys_lib, placement,
                             train as train_lib)
from research.lib import probes

HIST_SAMPLES = probes.HIST  # post-activation values kept per layer and seed at init


run_keys = keys_lib.run_keys


# where a group's wall time goes (results["phase_seconds"], meta.json): initial state, start hook,
# histograms and checkpoint restore; compiling; the training chunks; checkpoint saves; test split,
# final measures and the results file
PHASES = ("setup", "compile", "chunks", "checkpoints", "finish")


def groups_of(full, names=None) -> list[tuple[str, list[str]]]:
    """Arms (``names``, default every arm) grouped by static structure, in config order; ids are
    stable across reruns."""
    by_key: dict[str, list[str]] = {}
    for name in (full.arms if names is None else names):
        by_key.setdefault(full.arms[name].static_key, []).append(name)
    out = []
    for i, (key, names) in enumerate(by_key.items()):
        digest = hashlib.sha1((key + repr(names)).encode()).hexdigest()[:8]
        out.append((f"g{i}-{digest}", names))
    return out


def unit_spread(params) -> np.ndarray:
    """Per run and hidden layer: the largest difference between two units' incoming weights,
    max_i (max_j w_ij - min_j w_ij). Exactly 0 iff every unit of the layer is the same unit."""
    hidden = [np.asarray(layer["w"]) for layer in params[:-1]]
    if not hidden:
        return np.zeros((np.asarray(params[0]["w"]).shape[0], 0))
    return np.stack([(w.max(axis=2) - w.min(axis=2)).max(axis=1) for w in hidden], axis=1)


class GroupRunner:
    """Trains one group, checkpointing after an epoch once ``checkpoint_seconds`` have passed."""

    def __init__(self, gid, arm_names, full, dataset, workdir, log=print, arms_to_test=None, start=None,
                 finish=None, probe=None, checkpoint_seconds=None):
        self.gid, self.arm_names, self.full, self.dataset = gid, arm_names, full, dataset
        self.checkpoint_seconds = checkpoints.interval(checkpoint_seconds)
        # start(arm, carry, keys, data, program) -> (carry, arrays): changes an arm's fresh runs before
        # training (e.g. LSUV); finish(arm, params, bn_state, data) -> arrays measured on the final
        # parameters. Both are recorded as "<arm>/<name>" in the group's results.
        # probe(params, bn_state, val_x) -> array: measured at every evaluation point, saved as
        # "<arm>/probe" (runs, evaluations, ...)
        self.start, self.finish = start, finish
        # which arms open the sealed test split, from validation metrics only (Study.arms_to_test)
        self.arms_to_test = arms_to_test or (lambda full, val: set(val))
        self.dir = os.path.join(workdir, "groups", gid)
        self.progress, self.log = None, log  # progress(seed_steps) after each chunk, if set
        self.arms = {a: full.arms[a] for a in arm_names}
        first = self.arms[arm_names[0]]
        n_train, dim = dataset.train.x.shape[-2:]
        # resampled splits (data.split_seeds): seed s trains, validates and is tested on split s mod K
        self.splits = dataset.splits
        if self.splits > 1 and (start is not None or finish is not None):
            raise ValueError(f"[{gid}] start/finish hooks read one data split; accepted with "
                             f"data.split_seeds=1 only (got {self.splits})")
        self.program = train_lib.program(first, n_train, dim, dataset.num_classes)
        if probe is not None:
            self.program = dataclasses.replace(self.program, probe=probe)
        if (dim, dataset.num_classes) != (full.input_dim, full.num_classes):
            raise ValueError(f"dataset {dataset.name}: {dim} inputs and {dataset.num_classes} classes, the "
                             f"experiment expects {full.input_dim} and {full.num_classes}")
        self.specs = {a: arm.spec for a, arm in self.arms.items()}
        self.seeds = full.seeds
        self.n_runs = len(arm_names) * self.seeds
        self.split_of_seed = data_lib.split_of_seeds(self.seeds, self.splits)
        # devices, slices and padding (research/engine/placement.py)
        self.plan = placement.plan(self.program, self.n_runs, first.train.runs_per_call)
        # evaluation segments per chunk: whole epochs, the last one partial when train.max_steps stops earlier
        self.schedule = train_lib.schedule(self.program, first.train.epochs, first.train.max_steps)
        self.epochs = len(self.schedule)
        self.n_eval = sum(self.schedule)
        self.dtype = jnp.dtype(first.train.dtype)
        self.compile_seconds = 0.0
        self.train_seconds = 0.0
        self.checkpoints = checkpoints.Checkpoints(self.dir, gid, self.epochs, log)

    @property
    def seed_steps(self) -> int:
        return self.n_runs * self.program.steps_per_eval * self.n_eval

    @property
    def results_path(self):
        return os.path.join(self.dir, "results.npz")

    def _initial(self, keys, data):
        """Every run's fresh Carry (the start hook applied), hyperparameters and keys. Computed on a
        resume too (then replaced by the checkpoint), so the start hook's arrays are always there."""
        carries, hypers = [], []
        self.start_arrays = {}
        # Every arm's fresh runs from one program: bitwise what one program per arm gives, and
        # measured ~2x faster for the main study's six-arm groups (one compile instead of six).
        # Arms that start alike (same network, init scheme and scale: a tuning grid's rates) are
        # drawn once: same keys, same draw.
        start_of = {n: (repr(self.specs[n]), float(train_lib.hyper(self.arms[n]).init_scale)) for n in self.arm_names}
        first = {}  # one arm per distinct start, the first in config order
        for n in self.arm_names:
            first.setdefault(start_of[n], n)
        drawn = dict(zip(first, train_lib.one_shot(lambda k: [
            jax.vmap(lambda key, s=self.specs[n], h=train_lib.hyper(self.arms[n]): self.program.init(key, h.init_scale, s))(k)
            for n in first.values()], keys)))
        fresh = [drawn[start_of[n]] for n in self.arm_names]
        for name, carry in zip(self.arm_names, fresh):
            arm = self.arms[name]
            h = train_lib.hyper(arm)
            if self.start is not None:
                carry, extra = self.start(name, carry, keys, data, self.program)
                self.start_arrays.update({f"{name}/{k}": np.asarray(v) for k, v in extra.items()})
            carries.append(carry)
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
        if self.splits == 1:
            fn = jax.vmap(lambda p, b, k: probes.layer_stats(self.program.spec, p, b, x, keys_lib.stream(k, "probe")))
            args = ()
        else:  # each seed on its own split's validation inputs
            fn = jax.vmap(lambda p, b, k, xs: probes.layer_stats(self.program.spec, p, b, xs, keys_lib.stream(k, "probe")))
            split_rows = np.concatenate([self.split_of_seed[:hs]] * len(self.arm_names))
            args = (jnp.asarray(np.stack([self.dataset.val.x[int(k)] for k in split_rows]), self.dtype),)
        stats_ = train_lib.one_shot(fn, jax.tree.map(pick, carry.params), jax.tree.map(pick, carry.bn_state), hkeys,
                                    *args)
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
        faults.hook_orbax()
        t_setup = time.perf_counter()
        self.phase_seconds = {"setup": 0.0, "compile": 0.0, "chunks": 0.0, "checkpoints": 0.0, "finish": 0.0}
        prog, ds = self.program, self.dataset
        keys = run_keys(self.full.seed, self.seeds)
        data = self._device_data()
        carry, hyper, rkeys = self._initial(keys, data)
        self.init_hist = self._init_histograms(carry, keys, data[2])
        # per run, the split it trains on (an argument of the chunk only when there are several)
        run_splits = jnp.asarray(np.tile(self.split_of_seed, len(self.arm_names)))
        n_eval = self.n_eval
        trailing = dict(train_lib.METRIC_TRAILING)
        if prog.probe is not None:
            one = jax.tree.map(lambda a: a[0], (carry.params, carry.bn_state))
            val_x = jax.ShapeDtypeStruct(ds.val.x.shape[-2:], self.dtype)  # one run's, whatever the splits
            trailing["probe"] = jax.eval_shape(prog.probe, *one, val_x).shape
        # Checkpoints hold host arrays of the group's n_runs rows (no padding, no sharding), so a
        # run resumes on any device count.
        state = {"carry": jax.tree.map(np.asarray, carry), "epoch": np.zeros((), np.int64),
                 "metrics": {k: np.full((self.n_runs, n_eval, *shape), np.nan, np.float64)
                             for k, shape in trailing.items()}}
        self.chunk_seconds = np.full((self.epochs,), np.nan)

        # Several processes: process 0 alone reads, checks and writes checkpoints (and results), and
        # sends what it restored to the others.
        main = distributed.is_main()
        ckpt = self.checkpoints.open(multiprocess=distributed.multi()) if main else None
        try:
            restored = distributed.on_main(lambda: ckpt.restore(state), errors=(files.FileError,))
            state = distributed.broadcast(restored if main else state)
            self.phase_seconds["setup"] = time.perf_counter() - t_setup
            metrics, start_epoch = state["metrics"], int(state["epoch"])
            plan = self.plan
            mesh = placement.mesh(plan.n_dev)
            carry, hyper, rkeys, run_splits = (placement.slices(plan, t, mesh)
                                               for t in (state["carry"], hyper, rkeys, run_splits))
            split_arg = [()] * plan.n_slices if self.splits == 1 else [(s,) for s in run_splits]
            if start_epoch < self.epochs:
                # Each device runs the one-device program on its per_device runs (shard_map), on a
                # CPU over cache-sized groups with the carry updated in place (train.many); the group
                # size does not depend on the device count (placement.plan).
                group = plan.group
                self.log(f"[{self.gid}] compiling: {self.n_runs} runs in {plan.n_slices} slice(s) "
                         f"of {plan.slice_size}" + (f", groups of {group}" if group else ""))
                t0 = time.perf_counter()
                compiled = {}  # by segments per chunk: whole epochs, and a partial last one if any
                for segments in sorted(set(self.schedule[start_epoch:])):
                    part = prog if segments == prog.evals_per_epoch else dataclasses.replace(prog, segments=segments)
                    in_axes = (0, 0, 0, None, None, None, None, None) + ((0,) if self.splits > 1 else ())
                    chunk = train_lib.many(part.epoch, in_axes=in_axes, group=group,
                                           carry=group is not None, mesh=mesh if mesh.size > 1 else None,
                                           donate_argnums=0)
                    compiled[segments] = chunk.lower(carry[0], hyper[0], rkeys[0], jnp.int32(0), *data,
                                                     *split_arg[0]).compile()
                self.compile_seconds = self.phase_seconds["compile"] = time.perf_counter() - t0

            t0 = last_saved = time.perf_counter()
            self.saved_epochs = []
            for epoch in range(start_epoch, self.epochs):
                segments = self.schedule[epoch]
                first_col = sum(self.schedule[:epoch])
                cols = slice(first_col, first_col + segments)
                t_chunk = time.perf_counter()
                for i in range(plan.n_slices):
                    carry[i], m = compiled[segments](carry[i], hyper[i], rkeys[i], jnp.int32(epoch), *data,
                                                     *split_arg[i])
                    rows = plan.rows(i)
                    for k in metrics:
                        metrics[k][rows, cols] = distributed.host(getattr(m, k))[: rows.stop - rows.start]
                    faults.point("slice")
                self.chunk_seconds[epoch] = time.perf_counter() - t_chunk  # np.asarray above waited
                if time.perf_counter() - last_saved >= self.checkpoint_seconds:
                    t_save = time.perf_counter()
                    host_carry = self._host(carry)  # a collective when the runs span processes
                    distributed.on_main(lambda: ckpt.save({"carry": host_carry, "metrics": metrics,
                                                           "epoch": np.asarray(epoch + 1, np.int64)}),
                                        errors=(files.FileError,))
                    last_saved = time.perf_counter()
                    self.phase_seconds["checkpoints"] += last_saved - t_save
                    self.saved_epochs.append(epoch + 1)
                if self.progress is not None:
                    self.progress(self.n_runs * prog.steps_per_eval * segments)
            self.train_seconds = time.perf_counter() - t0
            self.phase_seconds["chunks"] = float(np.nansum(self.chunk_seconds))
            t_finish = time.perf_counter()
            results = self._finish(carry, metrics, keys, data)
            self.phase_seconds["finish"] = time.perf_counter() - t_finish
            results["phase_seconds"] = np.asarray([self.phase_seconds[k] for k in PHASES])
            distributed.on_main(lambda: files.write_npz(self.results_path, results), errors=(files.FileError,))
        finally:
            with contextlib.suppress(Exception):  # never mask what stopped the run
                if ckpt is not None:
                    ckpt.close()
        faults.point("group")
        self._drop_checkpoints()
        return results

    def _device_data(self) -> tuple:
        """(train x, train y, val x, val y) as the chunk program takes them: arrays, or with resampled
        splits each input as (pool, rows, tables) of :class:`research.engine.data.Pixels`, the pool on
        the device once."""
        ds = self.dataset
        if self.splits == 1:
            return (jnp.asarray(ds.train.x, self.dtype), jnp.asarray(ds.train.y),
                    jnp.asarray(ds.val.x, self.dtype), jnp.asarray(ds.val.y))
        pool = jnp.asarray(ds.train.x.pool)
        inputs = lambda px: (pool, jnp.asarray(px.rows), jnp.asarray(px.tables, self.dtype))
        return inputs(ds.train.x), jnp.asarray(ds.train.y), inputs(ds.val.x), jnp.asarray(ds.val.y)

    def _drop_checkpoints(self) -> None:
        if distributed.is_main():
            self.checkpoints.drop()

    def _host(self, carry_slices):
        """The group's carry as host arrays of n_runs rows, from the device slices."""
        return jax.tree.map(lambda *a: np.concatenate([distributed.host(x) for x in a])[: self.n_runs], *carry_slices)

    def _test(self, test_eval, params, bn, x, y):
        """Test loss and accuracy per seed; with resampled splits each seed on its own split's test
        examples (one call per split, not a per-seed copy of the test set)."""
        if self.splits == 1:
            return test_eval(params, bn, jnp.asarray(x, self.dtype), jnp.asarray(y))
        loss, acc = np.full((self.seeds,), np.nan), np.full((self.seeds,), np.nan)
        for k in range(self.splits):
            rows = np.flatnonzero(self.split_of_seed == k)
            if rows.size:
                pick = lambda a: a[rows]
                loss[rows], acc[rows] = map(np.asarray, test_eval(jax.tree.map(pick, params), jax.tree.map(pick, bn),
                                                                  jnp.asarray(x[k], self.dtype), jnp.asarray(y[k])))
        return loss, acc

    def _finish(self, carry, metrics, keys, data) -> dict[str, np.ndarray]:
        prog = self.program
        carry = self._host(carry)
        test_eval = jax.jit(jax.vmap(prog.evaluate, in_axes=(0, 0, None, None)))
        evals = np.arange(1, self.n_eval + 1) * prog.steps_per_eval
        out = {"steps": evals}
        rows_of = {name: slice(i * self.seeds, (i + 1) * self.seeds) for i, name in enumerate(self.arm_names)}
        # Which arms are reported, decided on validation metrics alone, before the test split is opened.
        tested = self.arms_to_test(self.full, {n: (metrics["val_acc"][r], np.asarray(carry.diverged_at[r]))
                                                 for n, r in rows_of.items()})
        for name, rows in rows_of.items():
            params = jax.tree.map(lambda a: a[rows], carry.params)
            bn = jax.tree.map(lambda a: a[rows], carry.bn_state)
            if name in tested:
                # The one use of the test split for this arm; the sealed split counts and refuses a second.
                loss, acc = self.dataset.test.evaluate(
                    lambda x, y: self._test(test_eval, params, bn, x, y), label=name)
            else:
                loss = acc = np.full((self.seeds,), np.nan)
            out[f"{name}/test_loss"] = np.asarray(loss)
            out[f"{name}/test_acc"] = np.asarray(acc)
            out[f"{name}/test_evaluations"] = np.int64(self.dataset.test.evaluations.get(name, 0))
            out[f"{name}/diverged_at"] = np.asarray(carry.diverged_at[rows])
            out[f"{name}/unit_spread"] = unit_spread(params)
            # wall time of each epoch's chunk for the whole group, per seed-step (NaN before a resume)
            out[f"{name}/step_seconds"] = self.chunk_seconds / (self.n_runs * prog.steps_per_eval * np.asarray(self.schedule))
            for k, v in metrics.items():
                out[f"{name}/{k}"] = v[rows]
            if self.finish is not None:
                out.update({f"{name}/{k}": np.asarray(v) for k, v in self.finish(name, params, bn, data).items()})
        out.update(self.init_hist)
        out.update(self.start_arrays)
        out["compile_seconds"] = np.float64(self.compile_seconds)
        out["train_seconds"] = np.float64(self.train_seconds)
        return out
