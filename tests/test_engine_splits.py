"""Split resampling (``data.split_seeds``): seed s trains, validates and is tested on split
``split_seed + s mod K``. Each split is exactly the one-split dataset of its seed; a run with K
splits gives every seed, in float64, bit for bit what a one-split run on that seed's split gives;
studies that read data outside ctx.train, and gaussian inputs, are refused K > 1 before anything runs."""

import gzip
import json
import os
import struct
import subprocess
import sys

import jax
import numpy as np
import pytest

from research.engine import config as config_lib, data, files, runner
from research.engine.groups import GroupRunner
from tests.test_engine import ROOT, tiny_config


def _open(ds):
    return ds.test.evaluate(lambda x, y: (x, y), label="look")


@pytest.mark.parametrize("seed", [0, 7])
def test_each_stacked_split_is_the_one_split_dataset_of_its_seed(seed):
    base = {"name": "mnist5k", "n_val": 300, "n_test": 200, "split_seed": seed, "limit_train": 1000}
    stacked = data.load(dict(base, split_seeds=3))
    assert stacked.splits == 3 and stacked.train.x.shape == (3, 1000, 784) and stacked.val.y.shape == (3, 300)
    tx, ty = _open(stacked)
    assert tx.shape == (3, 200, 784)
    for k in range(3):
        one = data.load(dict(base, split_seed=seed + k))
        assert one.splits == 1 and one.test.n == stacked.test.n == 200
        ox, oy = _open(one)
        for a, b in ((stacked.train.x[k], one.train.x), (stacked.train.y[k], one.train.y),
                     (stacked.val.x[k], one.val.x), (stacked.val.y[k], one.val.y), (tx[k], ox), (ty[k], oy)):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        assert (stacked.mean[k], stacked.std[k]) == (one.mean, one.std)
        again = data.split(stacked, k)  # unstacked, sealed afresh
        assert np.array_equal(again.train.x, one.train.x) and again.test.evaluations == {}
    # the splits really differ: different validation examples, different standardization
    assert not np.array_equal(stacked.val.x[0], stacked.val.x[1])
    assert stacked.mean[0] != stacked.mean[1]
    # the images are held once, as uint8, whatever the number of splits: splits cost row indices
    assert stacked.train.x.pool is stacked.val.x.pool is tx.pool and stacked.train.x.pool.dtype == np.uint8
    assert stacked.train.x.pool.shape == (5000, 784)


def test_one_split_is_unstacked_and_unchanged():
    cfg = {"name": "mnist5k", "n_val": 300, "n_test": 200, "split_seed": 3}
    a, b = data.load(cfg), data.load(dict(cfg, split_seeds=1))
    assert a.splits == b.splits == 1 and a.train.x.ndim == 2
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(_open(a)[0], _open(b)[0])


def _write_idx(folder, n_train=120, n_test=40):
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        with gzip.open(os.path.join(folder, f"{stem}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
        with gzip.open(os.path.join(folder, f"{stem}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + labels.tobytes())


def test_an_official_test_set_is_kept_while_validation_is_resampled(tmp_path):
    _write_idx(str(tmp_path))
    ds = data.load({"name": "mnist_idx", "path": str(tmp_path), "n_val": 30, "split_seeds": 2, "normalize": "unit"})
    tx, ty = _open(ds)
    assert np.array_equal(tx[0], tx[1]) and np.array_equal(ty[0], ty[1])  # the same 40 official test images
    assert not np.array_equal(ds.val.x[0], ds.val.x[1])                    # other held-out training images
    assert ds.train.x.shape == (2, 90, 784)


def test_split_of_seeds_cycles():
    assert data.split_of_seeds(7, 3).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert data.split_of_seeds(4, 1).tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("bad", [0, -1, True])
def test_a_bad_split_count_is_refused_naming_it(bad):
    c = tiny_config()
    c.data.split_seeds = bad
    with pytest.raises(config_lib.ConfigError, match=r"config\.data\.split_seeds=.* is invalid; accepted: an integer >= 1"):
        config_lib.validate(c)


def test_gaussian_inputs_are_refused_more_than_one_split():
    c = tiny_config()
    c.data.name, c.data.split_seeds = "gaussian", 2
    with pytest.raises(config_lib.ConfigError, match=r"split_seeds=2 is invalid; accepted: 1 for data.name='gaussian'"):
        config_lib.validate(c)
    with pytest.raises(data.DataError, match="split_seeds=2"):
        data.load({"name": "gaussian", "split_seeds": 2})


@pytest.mark.parametrize("study", ["deep_relu", "init_zoo", "gradients", "weight_scale", "width_transfer"])
def test_a_study_reading_data_outside_ctx_train_is_refused_splits(study):
    from research.engine import study as study_lib
    c = study_lib.load(study).get_config()
    c.data.split_seeds = 2
    with pytest.raises(config_lib.ConfigError, match=rf"split_seeds=2 is invalid; accepted: 1 for study '{study}'"):
        config_lib.validate(c)


@pytest.mark.parametrize("study", ["init_study", "batchnorm", "optimizers", "hparam_search", "symmetry"])
def test_studies_that_train_through_the_engine_accept_splits(study):
    from research.engine import study as study_lib
    c = study_lib.load(study).get_config()
    c.data.split_seeds = 4
    config_lib.validate(c)


def test_hooks_are_refused_with_several_splits():
    c = tiny_config()
    c.data.split_seeds = 2
    full = runner.experiment_lib.resolve(c)
    ds = data.load(full.data)
    with pytest.raises(ValueError, match="hooks read one data split"):
        GroupRunner("g0", list(full.arms), full, ds, "unused", finish=lambda *a: {})


def _run(tmp_path, name, **data_overrides):
    c = tiny_config(dtype="float64")
    c.seeds = 4
    c.arms = {k: v for k, v in c.arms.items() if k.startswith("relu")}  # one group, one compile
    c.data.update(data_overrides)
    runner.run(c, str(tmp_path / name), progress=False, log=lambda *_: None)
    return files.read_npz(str(tmp_path / name / "metrics.npz"))


# Measured on validation inputs that are per run with several splits and shared with one: XLA's
# batched products sum in another order there (float64, ~1e-15); everything on the training path
# (parameters, training loss, accuracies, divergence) and the test split are bit for bit.
ON_VALIDATION = ("val_loss", "unit_q", "init_act_mean", "init_act_std")


def test_every_seed_trains_as_alone_on_its_split_float64_bitwise(tmp_path):
    """K=2 over 4 seeds: seeds 0, 2 on split 0 and seeds 1, 3 on split 1 train, bit for bit, as
    one-split runs on split_seed 0 and 1 train those seeds (same keys, same group shapes):
    training curves, validation accuracy, the sealed test split, the final weights' spread."""
    both = _run(tmp_path, "k2", split_seeds=2)
    alone = [_run(tmp_path, "s0", split_seed=0), _run(tmp_path, "s1", split_seed=1)]
    checked = 0
    for key, value in both.items():
        if "/" not in key or key.endswith("_seconds"):
            continue
        if value.ndim == 0:  # a count per arm (test evaluations)
            assert value == alone[0][key] == alone[1][key], key
            continue
        for s in range(value.shape[0]):  # seed axis first (init histograms: their first hist_seeds)
            if key.split("/")[1] in ON_VALIDATION:
                np.testing.assert_allclose(value[s], alone[s % 2][key][s], rtol=1e-12, atol=1e-13, err_msg=key)
            else:
                assert np.array_equal(value[s], alone[s % 2][key][s], equal_nan=True), (key, s)
            checked += 1
    assert checked > 80  # 2 arms x 4 seeds x ~12 arrays
    # and the splits matter: seed 0 and seed 1 see different validation sets
    assert not np.array_equal(alone[0]["relu-he/val_loss"], alone[1]["relu-he/val_loss"])
    assert not np.array_equal(both["relu-he/test_acc"][[0, 2]], alone[1]["relu-he/test_acc"][[0, 2]])


def test_the_report_says_the_splits_were_resampled(tmp_path):
    c = tiny_config()
    c.seeds, c.data.split_seeds = 2, 2
    c.train.epochs = 1
    c.arms = {"relu-he": c.arms["relu-he"]}
    runner.run(c, str(tmp_path), progress=False, log=lambda *_: None)
    report = (tmp_path / "report.md").read_text()
    assert "2 resampled splits (seed s on the split of split_seed + s mod 2" in report
    assert json.loads((tmp_path / "config.json").read_text())["data"]["split_seeds"] == 2
