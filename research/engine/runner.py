"""Run a whole study: validate, hold the workdir, ``study.compute(ctx)``, save, report.

The study (:mod:`research.engine.study`) decides what to measure; the engine decides how: every
arm a study trains goes through :meth:`Context.train`, which groups arms by static structure
(:mod:`research.engine.groups`), compiles one seed-parallel program per group, checkpoints once a
minute at most and after its last epoch (:mod:`research.engine.checkpoints`) and resumes, bitwise, when the same command is
rerun. A finished group is never recomputed. The test split is opened once per arm the study
picks, after training.

Reliability: a run holds ``<workdir>/.lock`` for its life (:mod:`research.engine.workdir`);
every file is written atomically; a full disk stops the run with one line naming the path,
keeping the last good checkpoint. ``research/engine/faults.py`` holds the fault-injection points
the tests kill runs at.

Workdir: ``.lock``, ``config.json``, ``meta.json``, ``metrics.npz``, ``summary.json``,
``report.md``, ``figures/``, and ``groups/`` with the per-group results and checkpoints.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Callable, Mapping

import jax
import numpy as np

from research.engine import (checkpoints, config as config_lib, data as data_lib, distributed,
                             experiment as experiment_lib, files, report, train as train_lib)
from research.engine.groups import PHASES, GroupRunner, HIST_SAMPLES, groups_of, run_keys, unit_spread  # noqa: F401
from research.engine.workdir import WorkdirError, claim as _claim_workdir, hold as _hold, meta as _meta  # noqa: F401


class Context:
    """What ``Study.compute`` gets: the :class:`research.engine.experiment.Experiment` (``full``),
    one key per seed (``keys``), the dataset (loaded on first use) and :meth:`train`."""

    def __init__(self, full, study, workdir: str, log: Callable[[str], None] = print, progress: bool = True,
                 dataset=None, checkpoint_seconds=None):
        self.full, self.study, self.workdir, self.log, self.progress = full, study, workdir, log, progress
        self.checkpoint_seconds = checkpoint_seconds
        self._dataset, self._keys = dataset, None
        self.group_meta: dict = {}
        self.rates: dict = {}

    @property
    def keys(self):
        """One key per seed index, shared by every arm (made on first use: nothing compiles before
        the config and the data are checked)."""
        if self._keys is None:
            self._keys = run_keys(self.full.seed, self.full.seeds)
        return self._keys

    @property
    def dataset(self):
        if self._dataset is None:
            self._dataset = data_lib.load(self.full.data)
        return self._dataset

    @property
    def data_source(self) -> str:
        """The data read (``Dataset.source``; without loading it, what :func:`data.source` says):
        ``fashion_mnist_or_mnist5k`` names only which it might be, and meta.json records which it was."""
        return self._dataset.source if self._dataset is not None else data_lib.source(self.full.data)

    def runners(self, arms=None, start=None, finish=None, probe=None) -> list[GroupRunner]:
        """One :class:`GroupRunner` per group of ``arms`` (see :meth:`train`); building them checks
        each group's batch against the training split."""
        full, names = self.full, arms
        if isinstance(arms, Mapping):  # arms the study derives (a grid): overrides on the base config
            full, names = self.full.with_arms(arms), list(arms)
        return [GroupRunner(gid, group, full, self.dataset, self.workdir, log=self.log,
                            arms_to_test=self.study.arms_to_test, start=start, finish=finish, probe=probe,
                            checkpoint_seconds=self.checkpoint_seconds)
                for gid, group in groups_of(full, names)]

    def train(self, arms=None, start=None, finish=None, probe=None) -> dict[str, np.ndarray]:
        """Train ``arms`` x every seed: ``{"<arm>/<metric>": array with the seed axis first}`` and
        ``"steps"``. ``arms``: None (every arm of the config), a list of its arm names, or a dict
        ``{name: {"model": {...}, "train": {...}}}`` of arms derived by the study (validated like the
        config's own). ``start(arm, carry, keys, data, program) -> (carry, arrays)`` changes an arm's
        fresh runs before training; ``finish(arm, params, bn_state, data) -> arrays`` measures the
        final parameters; ``probe(params, bn_state, val_x) -> array`` is measured at every evaluation
        point (``"<arm>/probe"``: seeds, evaluations, ...); their arrays are saved with the results.
        ``train.max_steps`` stops training before the last whole epoch. Resumable, checkpointed, the
        sealed test split opened after training for the arms the study's ``arms_to_test`` picks,
        progress on a bar."""
        runners = self.runners(arms, start, finish, probe)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=sum(r.seed_steps for r in runners), unit="seed-step", unit_scale=True,
                       dynamic_ncols=True, desc=os.path.basename(os.path.normpath(self.workdir)))
        results: dict[str, np.ndarray] = {}
        try:
            for runner in runners:
                if bar is not None:
                    runner.progress = bar.update
                    if os.path.exists(runner.results_path):
                        bar.update(runner.seed_steps)
                res = runner.run()
                seconds = float(res["train_seconds"])
                self.group_meta[runner.gid] = {"arms": runner.arm_names, "compile_seconds": float(res["compile_seconds"]),
                                               "train_seconds": seconds, "seed_steps": runner.seed_steps}
                if "phase_seconds" in res:
                    self.group_meta[runner.gid]["phase_seconds"] = dict(zip(PHASES, map(float, res["phase_seconds"])))
                self.rates[runner.gid] = runner.seed_steps / seconds if seconds > 0 else None
                results.update({k: v for k, v in res.items() if "/" in k or k == "steps"})
        finally:
            if bar is not None:
                bar.close()
        return results


def _x64(full, study) -> bool:
    return study.X64 or any(arm.train.dtype == "float64" for arm in full.arms.values())


def run(config, workdir: str, overwrite: bool = False, log: Callable[[str], None] = print,
        progress: bool = True, checkpoint_seconds: float | None = None) -> dict:
    """Validate, load data, compute the study (training resumes what a previous run left), write
    outputs. For a study that trains, nothing is written before the config, the data and every
    group's shapes have been checked. float64 is switched on for this run only, if the study or
    an arm asks for it."""
    started = time.time()
    full = experiment_lib.resolve(config)  # validated, merged, every arm resolved once
    study = config_lib.study_of(full)
    try:
        checkpoint_seconds = checkpoints.interval(checkpoint_seconds)
    except ValueError as err:
        raise config_lib.ConfigError(str(err)) from None
    main = distributed.is_main()
    if not main:  # one voice: process 0 logs, shows progress and writes the shared files
        log, progress = (lambda *_: None), False
    with jax.enable_x64(True) if _x64(full, study) else contextlib.nullcontext():
        ctx = Context(full, study, workdir, log=log, progress=progress, checkpoint_seconds=checkpoint_seconds)
        if study.TRAINS:
            n_train = data_lib.train_size(full.data)
            if n_train is not None and n_train >= 1:  # batch vs split from the config: refused before loading
                for _, names in groups_of(full):
                    train_lib.program(full.arms[names[0]], n_train, full.input_dim, full.num_classes)
            ctx.runners()  # the batch against the split as loaded, before any file is written
        errors = (WorkdirError, files.FileError, config_lib.ConfigError, data_lib.DataError)
        with contextlib.ExitStack() as stack:
            # The lock admits the processes of this run (process 0 holds it for all) and refuses anyone else.
            distributed.on_main(lambda: stack.enter_context(_hold(workdir, log)), errors)
            distributed.on_main(lambda: _claim_workdir(full, workdir, overwrite), errors)
            t0 = time.perf_counter()
            results = study.compute(ctx)
            seconds = time.perf_counter() - t0
            groups = ctx.group_meta or {"compute": {"arms": list(full.arms), "seconds": seconds}}

            def write():
                files.write_npz(os.path.join(workdir, "metrics.npz"), results)
                files.write_json(os.path.join(workdir, "meta.json"), _meta(full, started, groups, ctx.rates, seconds,
                                                                         ctx.data_source))
                return report.build(workdir)  # summary, claims, report.md and figures, from the saved arrays

            summary = distributed.on_main(write, errors)
            return summary if main else files.read_json(os.path.join(workdir, "summary.json"))
