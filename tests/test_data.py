"""Data loaders on tiny files written to tmp_path, the bundled MNIST subset, splits and the sealed test split."""

import gzip
import os
import re
import struct
import types

import jax
import numpy as np
import pytest

from research.engine import data
from research.engine.data import DataError

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _write(path, payload: bytes, gz: bool):
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def _csv_row(pixels, label) -> str:
    return ",".join(str(v) for v in list(pixels) + [label])


def _good_rows(n=4):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 784))
    labels = np.arange(n) % 10
    return images, labels, [_csv_row(im, lab) for im, lab in zip(images, labels)]


def _idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    big = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.asarray(array).astype(big).tobytes()


def _idx_dir(directory, n_train=6, n_test=4, gz=(False, True, True, False), seed=0):
    """The four standard IDX files with random 28x28 uint8 images; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        arrays[split] = (rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8))
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array, z in zip(STEMS, (*arrays["train"], *arrays["test"]), gz):
        _write(directory / (stem + (".gz" if z else "")), _idx_bytes(array), z)
    return arrays


# ----------------------------------------------------------------------------- CSV


@pytest.mark.parametrize("gz", [False, True])
def test_read_digits_csv_round_trip(tmp_path, gz):
    images, labels, rows = _good_rows()
    path = _write(tmp_path / ("d.csv.gz" if gz else "d.csv"), ("\n".join(rows) + "\n").encode(), gz)
    got_images, got_labels = data.read_digits_csv(path)
    assert got_images.dtype == np.uint8 and got_images.shape == (4, 784)
    assert got_labels.dtype == np.int32
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_read_digits_csv_detects_gzip_by_magic_not_name(tmp_path):
    images, _, rows = _good_rows(2)
    path = _write(tmp_path / "digits.csv", "\n".join(rows).encode(), gz=True)
    np.testing.assert_array_equal(data.read_digits_csv(path)[0], images)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "line, bad_row, expected",
    [
        (2, lambda: ",".join(["0"] * 784), "line 2: found 784 fields; expected 785 (784 pixels then the label)"),
        (3, lambda: _csv_row([0] * 4 + [300] + [0] * 779, 1), "line 3, field 5: pixel value 300; expected 0..255"),
        (1, lambda: _csv_row([0] * 784, 12), "line 1: label 12 in the last field; expected 0..9"),
        (2, lambda: _csv_row([0] * 6 + ["abc"] + [0] * 777, 1), "line 2, field 7: 'abc' is not an integer"),
        (3, lambda: "", "line 3: found 1 fields; expected 785"),
        (2, lambda: _csv_row([0] * 783 + [-1], 1), "line 2, field 784: pixel value -1; expected 0..255"),
    ],
)
def test_read_digits_csv_bad_row_names_file_and_line(tmp_path, gz, line, bad_row, expected):
    rows = _good_rows()[2]
    rows[line - 1] = bad_row()
    path = _write(tmp_path / ("bad.csv.gz" if gz else "bad.csv"), "\n".join(rows).encode(), gz)
    with pytest.raises(DataError) as err:
        data.read_digits_csv(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_read_digits_csv_missing_empty_and_truncated(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'nope.csv'}: no such file")):
        data.read_digits_csv(tmp_path / "nope.csv")
    empty = _write(tmp_path / "empty.csv", b"\n\n", gz=False)
    with pytest.raises(DataError, match=re.escape(f"{empty}: empty; expected rows of 784 pixels")):
        data.read_digits_csv(empty)
    payload = gzip.compress("\n".join(_good_rows()[2]).encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataError, match=re.escape(f"{cut}: truncated or corrupt gzip data")):
        data.read_digits_csv(cut)


# ----------------------------------------------------------------------------- bundled mnist5k


@pytest.fixture(scope="module")
def mnist5k():
    return data.load_mnist5k()


def test_mnist5k_is_the_real_subset(mnist5k):
    images, labels = mnist5k
    assert images.shape == (5000, 784) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [500] * 10)
    assert images.max() == 255 and images.min() == 0 and images.mean() > 20  # real strokes, not blank
    assert (np.diff(labels) >= 0).all()  # the file is sorted by class: splits must shuffle
    again = data.load_mnist5k()
    np.testing.assert_array_equal(again[0], images)
    np.testing.assert_array_equal(again[1], labels)


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("code", [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E])
def test_read_idx_round_trip(tmp_path, gz, code):
    rng = np.random.default_rng(code)
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32, 0x0E: np.float64}[code]
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=(3, 5, 7), endpoint=True).astype(dtype)
    else:
        array = rng.standard_normal((3, 5, 7)).astype(dtype)
    path = _write(tmp_path / "a-idx3", _idx_bytes(array, code), gz)  # no .gz suffix: detected by magic
    got = data.read_idx(path)
    assert got.dtype == dtype and got.dtype.isnative and got.shape == (3, 5, 7)
    np.testing.assert_array_equal(got, array)


def test_read_idx_labels_1d(tmp_path):
    labels = np.array([5, 0, 4, 1, 9], np.uint8)
    np.testing.assert_array_equal(data.read_idx(_write(tmp_path / "l.gz", _idx_bytes(labels), True)), labels)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda b: b"\x00\x01" + b[2:], "bad IDX magic 0x00 0x01 0x08 0x03; expected 0x00 0x00 0x08 0x01 (labels) "
                                         "or 0x00 0x00 0x08 0x03 (images)"),
        (lambda b: b"\x00\x00\x07" + b[3:], "bad IDX magic 0x00 0x00 0x07 0x03"),
        (lambda b: b"PK\x03\x04" + b[4:], "bad IDX magic 0x50 0x4b 0x03 0x04"),
        (lambda b: b[:-1], "truncated IDX data: expected 24 bytes for shape (2, 3, 4), found 23"),
        (lambda b: b + b"\x00\x00", "2 trailing bytes after the IDX data; expected exactly 24 bytes for shape (2, 3, 4)"),
        (lambda b: b[:9], "truncated IDX header: expected 16 bytes for 3 dims, found 9"),
        (lambda b: b[:2], "truncated IDX header: found 2 bytes"),
    ],
)
def test_read_idx_errors_name_the_file(tmp_path, gz, mutate, expected):
    good = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    path = _write(tmp_path / "broken-idx3-ubyte", mutate(good), gz)
    with pytest.raises(DataError) as err:
        data.read_idx(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_read_idx_missing_and_cut_gzip(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'absent'}: no such file")):
        data.read_idx(tmp_path / "absent")
    payload = gzip.compress(_idx_bytes(np.zeros((50, 28, 28), np.uint8) + np.arange(28, dtype=np.uint8)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(payload[:-10])
    with pytest.raises(DataError, match=re.escape(f"{cut}: truncated or corrupt gzip data")):
        data.read_idx(cut)


@pytest.mark.parametrize("gz", [(False,) * 4, (True,) * 4, (False, True, True, False)])
def test_load_idx_dir(tmp_path, gz):
    arrays = _idx_dir(tmp_path / "mnist", gz=gz)
    got = data.load_idx_dir(tmp_path / "mnist")
    assert set(got) == {"train", "test"}
    for split, n in (("train", 6), ("test", 4)):
        images, labels = got[split]
        assert images.shape == (n, 784) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.int32
        np.testing.assert_array_equal(images, arrays[split][0].reshape(n, 784))
        np.testing.assert_array_equal(labels, arrays[split][1])


def test_load_idx_dir_missing_files_and_dir(tmp_path):
    _idx_dir(tmp_path / "d")
    os.remove(tmp_path / "d" / "t10k-labels-idx1-ubyte")
    with pytest.raises(DataError) as err:
        data.load_idx_dir(tmp_path / "d")
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'd'}: missing t10k-labels-idx1-ubyte;")
    assert all(stem in msg for stem in STEMS) and ".gz" in msg
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'nowhere'}: not a directory")):
        data.load_idx_dir(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "stem, array, expected",
    [
        ("train-images-idx3-ubyte", np.zeros((6, 27, 28), np.uint8), "shape (6, 27, 28); expected uint8 (n, 28, 28)"),
        ("train-images-idx3-ubyte", np.zeros((6, 784), np.uint8), "shape (6, 784); expected uint8 (n, 28, 28)"),
        ("train-labels-idx1-ubyte", np.zeros((5,), np.uint8), "5 labels for 6 images"),
        ("t10k-labels-idx1-ubyte", np.array([1, 2, 10, 3], np.uint8), "label 10; expected 0..9"),
        ("t10k-labels-idx1-ubyte", np.zeros((4, 1), np.uint8), "shape (4, 1); expected uint8 (n,)"),
    ],
)
def test_load_idx_dir_bad_contents(tmp_path, stem, array, expected):
    _idx_dir(tmp_path / "d", gz=(False,) * 4)
    _write(tmp_path / "d" / stem, _idx_bytes(array), gz=False)
    with pytest.raises(DataError) as err:
        data.load_idx_dir(tmp_path / "d")
    assert str(tmp_path / "d" / stem) in str(err.value) and expected in str(err.value)


# ----------------------------------------------------------------------------- Fashion-MNIST (Debian)


def test_fashion_mnist_dir_asks_dpkg(tmp_path, monkeypatch):
    _idx_dir(tmp_path / "share" / "fm", gz=(True,) * 4)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    listing = "\n".join(["/.", str(tmp_path / "share")] + [str(tmp_path / "share" / "fm" / f"{s}.gz") for s in STEMS])
    (bin_dir / "dpkg").write_text(f"#!/bin/sh\ncat <<'EOF'\n{listing}\nEOF\n")
    (bin_dir / "dpkg").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(data.datafiles, "FASHION_MNIST_DIR", str(tmp_path / "not-there"))
    assert data.fashion_mnist_dir() == str(tmp_path / "share" / "fm")


def test_fashion_mnist_dir_not_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(data.datafiles, "FASHION_MNIST_PACKAGE", "dataset-no-such-package-for-tests")
    monkeypatch.setattr(data.datafiles, "FASHION_MNIST_DIR", str(tmp_path / "not-there"))
    with pytest.raises(DataError, match=re.escape("install it with `apt-get install dataset-no-such-package-for-tests`")):
        data.fashion_mnist_dir()


@pytest.fixture(scope="module")
def fashion_dir():
    try:
        return data.fashion_mnist_dir()
    except DataError as err:
        pytest.skip(f"Debian package dataset-fashion-mnist is not installed ({err})")


def test_fashion_mnist_files(fashion_dir):
    assert sorted(os.listdir(fashion_dir)) == sorted(f"{s}.gz" for s in STEMS)
    parts = data.load_idx_dir(fashion_dir)
    images, labels = parts["train"]
    assert images.shape == (60000, 784) and labels.shape == (60000,)
    assert parts["test"][0].shape == (10000, 784) and parts["test"][1].shape == (10000,)
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(parts["test"][1], minlength=10), [1000] * 10)


def test_load_fashion_mnist(fashion_dir):
    ds = data.load({"name": "fashion_mnist", "n_val": 5000, "split_seed": 0, "limit_train": 1000})
    assert ds.name == "fashion_mnist" and ds.val.x.shape == (5000, 784) and ds.test.n == 10000
    assert ds.train.x.shape == (1000, 784) and ds.train.x.dtype == np.float32


# ----------------------------------------------------------------------------- synthetic inputs


def test_gaussian():
    x = data.gaussian(jax.random.key(0), 4000, 64)
    assert x.shape == (4000, 64) and x.dtype == np.float32
    np.testing.assert_array_equal(x, data.gaussian(jax.random.key(0), 4000, 64))
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1) < 0.01
    with pytest.raises(DataError, match=re.escape("gaussian n=0 is invalid; accepted: an integer >= 1")):
        data.gaussian(jax.random.key(0), 0, 3)


# ----------------------------------------------------------------------------- splits


def _indexed(n, d=6):
    """Images whose first two pixels encode the row index; labels = index % 10."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, d), dtype=np.uint8)
    images[:, 0], images[:, 1] = np.arange(n) % 256, np.arange(n) // 256
    return images, (np.arange(n) % 10).astype(np.int32)


def _rows(ds, x):
    raw = np.rint((np.asarray(x, np.float64) * ds.std + ds.mean) * 255).astype(np.int64)
    return raw[:, 0] + 256 * raw[:, 1]


def test_make_splits_partition_and_normalization():
    images, labels = _indexed(700)
    ds = data.make_splits(images, labels, jax.random.key(3), n_val=100, n_test=150, name="toy")
    train, val = _rows(ds, ds.train.x), _rows(ds, ds.val.x)
    test = ds.test.evaluate(lambda x, y: (_rows(ds, x), np.asarray(y)), "indices")
    assert (len(train), len(val), len(test[0]), ds.test.n) == (450, 100, 150, 150)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val, test[0]])), np.arange(700))
    for rows, y in ((train, ds.train.y), (val, ds.val.y), test):
        np.testing.assert_array_equal(y, rows % 10)  # labels travel with their rows
    assert ds.train.y.dtype == np.int32 and ds.train.x.dtype == np.float32
    assert ds.name == "toy" and ds.num_classes == 10
    assert not np.array_equal(np.sort(train), train)  # shuffled, not a prefix
    # statistics from the train rows only, as floats in [0, 1] units
    train_pixels = images[train] / 255.0
    assert ds.mean == pytest.approx(train_pixels.mean(), abs=1e-12)
    assert ds.std == pytest.approx(train_pixels.std(), abs=1e-12)
    assert abs(ds.train.x.mean(dtype=np.float64)) < 1e-6 and abs(ds.train.x.std(dtype=np.float64) - 1) < 1e-6
    assert abs(ds.val.x.mean(dtype=np.float64)) > 1e-6
    all_pixels = images / 255.0
    assert all_pixels.mean() != pytest.approx(ds.mean, abs=1e-9)


def test_make_splits_deterministic_in_key():
    images, labels = _indexed(300)
    a = data.make_splits(images, labels, jax.random.key(7), 30, 40, "toy")
    b = data.make_splits(images, labels, jax.random.key(7), 30, 40, "toy")
    c = data.make_splits(images, labels, jax.random.key(8), 30, 40, "toy")
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.val.y, b.val.y)
    assert a.mean == b.mean and a.std == b.std
    assert not np.array_equal(_rows(a, a.train.x), _rows(c, c.train.x))


def test_make_splits_limit_train_and_zero_sizes():
    images, labels = _indexed(50)
    ds = data.make_splits(images, labels, jax.random.key(0), 0, 0, "toy", limit_train=20)
    assert ds.train.x.shape == (20, 6) and ds.val.x.shape == (0, 6) and ds.test.n == 0
    full = data.make_splits(images, labels, jax.random.key(0), 0, 0, "toy")
    np.testing.assert_array_equal(_rows(ds, ds.train.x), _rows(full, full.train.x)[:20])
    assert abs(ds.train.x.mean(dtype=np.float64)) < 1e-6  # statistics from the kept rows


@pytest.mark.parametrize(
    "n_val, n_test, expected",
    [
        (30, 20, "toy: n_val=30 + n_test=20 leaves no training example of the 50; expected n_val + n_test <= 49"),
        (40, 20, "n_val=40 + n_test=20 leaves no training example of the 50"),
        (-1, 0, "toy: n_val=-1 is invalid; accepted: an integer >= 0"),
        (0, 2.5, "toy: n_test=2.5 is invalid; accepted: an integer >= 0"),
    ],
)
def test_make_splits_refuses_bad_sizes(n_val, n_test, expected):
    images, labels = _indexed(50)
    with pytest.raises(DataError, match=re.escape(expected)):
        data.make_splits(images, labels, jax.random.key(0), n_val, n_test, "toy")


def test_make_splits_refuses_bad_arrays():
    images, labels = _indexed(20)
    with pytest.raises(DataError, match=re.escape("toy: images float64 (20, 6) and labels (20,); expected uint8")):
        data.make_splits(images.astype(np.float64), labels, jax.random.key(0), 1, 1, "toy")
    with pytest.raises(DataError, match=re.escape("toy: labels span 0..9; expected 0..4")):
        data.make_splits(images, labels, jax.random.key(0), 1, 1, "toy", num_classes=5)


def test_make_splits_with_test_seals_the_official_test_set():
    images, labels = _indexed(200)
    test_images, test_labels = _indexed(30)
    ds = data.make_splits_with_test(images, labels, test_images, test_labels, jax.random.key(1), 40, "toy")
    train, val = _rows(ds, ds.train.x), _rows(ds, ds.val.x)
    assert (len(train), len(val), ds.test.n) == (160, 40, 30)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(200))
    got = ds.test.evaluate(lambda x, y: (_rows(ds, x), np.asarray(y)), "official")
    np.testing.assert_array_equal(got[0], np.arange(30))  # official test set, in its order
    np.testing.assert_array_equal(got[1], test_labels)
    assert ds.mean == pytest.approx((images[train] / 255.0).mean(), abs=1e-12)
    with pytest.raises(DataError, match=re.escape("toy: n_val=200 leaves no training example of the 200")):
        data.make_splits_with_test(images, labels, test_images, test_labels, jax.random.key(1), 200, "toy")


def test_sealed_split_is_used_once_per_label():
    x, y = np.arange(12.0).reshape(4, 3), np.array([0, 1, 2, 3], np.int32)
    test = data.SealedSplit(x, y)
    assert test.n == 4 and test.evaluations == {}
    assert test.evaluate(lambda a, b: float(a.sum()) + int(b.sum()), "run-a") == 66.0 + 6
    assert test.evaluations == {"run-a": 1}
    with pytest.raises(RuntimeError, match=re.escape("test split already evaluated for run-a: the test split is used once")):
        test.evaluate(lambda a, b: 0, "run-a")
    assert test.evaluate(lambda a, b: len(a), "run-b") == 4
    with pytest.raises(ZeroDivisionError):
        test.evaluate(lambda a, b: 1 / 0, "run-c")
    with pytest.raises(RuntimeError, match="already evaluated for run-c"):  # a failed look still counts
        test.evaluate(lambda a, b: 0, "run-c")
    assert test.evaluations == {"run-a": 1, "run-b": 1, "run-c": 1}
    for name in ("x", "y", "images", "labels", "__dict__"):
        assert not hasattr(test, name)
    public = {name for name in dir(test) if not name.startswith("_")}
    assert public == {"n", "evaluate", "evaluations"}
    assert "SealedSplit(n=4" in repr(test)


# ----------------------------------------------------------------------------- load(cfg)


def test_load_mnist5k_attribute_and_item_access():
    cfg = {"name": "mnist5k", "n_val": 500, "n_test": 1000, "split_seed": 0, "limit_train": 0}
    ds = data.load(cfg)
    assert ds.train.x.shape == (3500, 784) and ds.val.x.shape == (500, 784) and ds.test.n == 1000
    assert abs(ds.train.x.mean(dtype=np.float64)) < 1e-6
    small = data.load(types.SimpleNamespace(**{**cfg, "limit_train": 64}))
    assert small.train.x.shape == (64, 784)
    np.testing.assert_array_equal(small.val.y, ds.val.y)  # the limit leaves val alone
    assert small.mean != ds.mean  # statistics come from the 64 kept rows


def test_load_mnist_idx_and_fashion_override(tmp_path):
    arrays = _idx_dir(tmp_path / "idx", n_train=12, n_test=5)
    cfg = types.SimpleNamespace(name="mnist_idx", path=str(tmp_path / "idx"), n_val=3, split_seed=1, limit_train=0)
    ds = data.load(cfg)
    assert (ds.train.x.shape, ds.val.x.shape, ds.test.n) == ((9, 784), (3, 784), 5)
    np.testing.assert_array_equal(np.sort(np.concatenate([ds.train.y, ds.val.y])), np.sort(arrays["train"][1]))
    fm = data.load({"name": "fashion_mnist", "path": str(tmp_path / "idx"), "n_val": 3, "split_seed": 1})
    np.testing.assert_array_equal(fm.train.x, ds.train.x)
    with pytest.raises(DataError, match=re.escape("mnist_idx needs cfg.path")):
        data.load({"name": "mnist_idx", "n_val": 1})


def test_load_gaussian():
    ds = data.load({"name": "gaussian", "n": 256, "dim": 32, "split_seed": 5})
    assert ds.train.x.shape == (256, 32) and ds.train.x.dtype == np.float32
    np.testing.assert_array_equal(ds.train.y, np.zeros(256, np.int32))
    assert ds.val.x.shape == (0, 32) and ds.test.n == 0
    np.testing.assert_array_equal(ds.train.x, data.load({"name": "gaussian", "n": 256, "dim": 32, "split_seed": 5}).train.x)


def test_load_unknown_name():
    with pytest.raises(DataError, match=re.escape("unknown dataset 'cifar10'; accepted: mnist5k, fashion_mnist, mnist_idx, "
                                                  "fashion_mnist_or_mnist5k, gaussian")):
        data.load({"name": "cifar10"})
    with pytest.raises(DataError, match="unknown dataset None"):
        data.load(types.SimpleNamespace())


# ----------------------------------------------------------------------------- normalize: standardize or unit


def test_unit_pixels_are_exactly_pixel_over_255_in_float64():
    images, labels = _indexed(300)
    ds = data.make_splits(images, labels, jax.random.key(3), 30, 40, "toy", dtype=np.float64, normalize="unit")
    assert (ds.mean, ds.std) == (0.0, 1.0) and ds.train.x.dtype == np.float64
    rows = _rows(ds, ds.train.x)  # mean 0, std 1: the rows come back from x * 255
    np.testing.assert_array_equal(ds.train.x, images[rows] / 255.0)  # bitwise: one division, one rounding
    np.testing.assert_array_equal(ds.val.x, images[_rows(ds, ds.val.x)] / 255.0)
    test_x = ds.test.evaluate(lambda x, y: x, "unit")
    np.testing.assert_array_equal(test_x, images[_rows(ds, test_x)] / 255.0)
    standardized = data.make_splits(images, labels, jax.random.key(3), 30, 40, "toy", dtype=np.float64)
    np.testing.assert_array_equal(_rows(standardized, standardized.train.x), rows)  # same split, same order
    np.testing.assert_array_equal(standardized.train.x, (images[rows] / 255.0 - standardized.mean) / standardized.std)


def test_load_unit_on_idx_files_gives_float32_pixel_over_255(tmp_path):
    arrays = _idx_dir(tmp_path / "idx", n_train=12, n_test=5)
    cfg = {"name": "mnist_idx", "path": str(tmp_path / "idx"), "n_val": 3, "split_seed": 1}
    unit = data.load({**cfg, "normalize": "unit"})
    assert unit.train.x.dtype == np.float32 and (unit.mean, unit.std) == (0.0, 1.0)
    test_x = unit.test.evaluate(lambda x, y: x, "unit")  # the official test set, in its order
    np.testing.assert_array_equal(test_x, (arrays["test"][0].reshape(5, 784) / 255.0).astype(np.float32))
    standard = data.load(cfg)  # the default: standardized with the train split's moments, as before
    assert standard.mean > 0.0 and standard.std > 0.0
    raw = np.rint(unit.train.x.astype(np.float64) * 255).astype(np.uint8)
    np.testing.assert_array_equal(unit.train.x, (raw / 255.0).astype(np.float32))
    np.testing.assert_array_equal(standard.train.x, ((raw / 255.0 - standard.mean) / standard.std).astype(np.float32))
    written = arrays["train"][0].reshape(12, 784)
    kept = np.concatenate([raw, np.rint(unit.val.x.astype(np.float64) * 255).astype(np.uint8)])
    np.testing.assert_array_equal(np.sort(kept, axis=0), np.sort(written, axis=0))


def test_unit_pixels_need_no_spread():
    """Standardizing constant pixels divides by 0 and is refused; [0, 1] pixels need no statistics."""
    images, labels = np.full((20, 6), 7, np.uint8), np.arange(20) % 10
    with pytest.raises(DataError, match="the training pixels are constant"):
        data.make_splits(images, labels, jax.random.key(0), 2, 2, "toy")
    ds = data.make_splits(images, labels, jax.random.key(0), 2, 2, "toy", dtype=np.float64, normalize="unit")
    np.testing.assert_array_equal(ds.train.x, np.full((16, 6), 7 / 255.0))


@pytest.mark.parametrize("bad", ["minmax", "Unit", "", None, 1])
def test_bad_normalize_is_refused_before_anything_is_read(monkeypatch, bad):
    import ml_collections
    from research.engine import config as config_lib

    monkeypatch.setattr(data, "load_mnist5k", lambda: pytest.fail("data was read for a refused normalize"))
    with pytest.raises(DataError) as err:
        data.load({"name": "mnist5k", "normalize": bad})
    assert str(err.value) == f"normalize={bad!r} is invalid; accepted: standardize, unit"
    images, labels = _indexed(20)
    with pytest.raises(DataError, match=re.escape(f"normalize={bad!r} is invalid")):
        data.make_splits(images, labels, jax.random.key(0), 1, 1, "toy", normalize=bad)
    c = config_lib.defaults().to_dict()
    c["data"]["normalize"], c["arms"] = bad, {"a": {}}
    with pytest.raises(config_lib.ConfigError) as err:
        config_lib.validate(ml_collections.ConfigDict(c))
    assert str(err.value) == f"config.data.normalize={bad!r} is invalid; accepted: one of standardize, unit"


def test_gaussian_inputs_ignore_normalize():
    cfg = {"name": "gaussian", "n": 64, "dim": 8, "split_seed": 2}
    a, b = data.load(cfg), data.load({**cfg, "normalize": "unit"})
    np.testing.assert_array_equal(a.train.x, b.train.x)  # N(0, 1) as drawn either way
    assert (b.mean, b.std, b.source) == (0.0, 1.0, "gaussian")


# ----------------------------------------------------------------------------- fashion_mnist_or_mnist5k


@pytest.fixture
def fashion_installed(tmp_path, monkeypatch):
    """The Fashion-MNIST locator pointed at tiny IDX files (as if the Debian package were installed)."""
    arrays = _idx_dir(tmp_path / "fm", n_train=40, n_test=10, gz=(True,) * 4, seed=4)
    monkeypatch.setattr(data.datafiles, "FASHION_MNIST_PACKAGE", "dataset-no-such-package-for-tests")
    monkeypatch.setattr(data.datafiles, "FASHION_MNIST_DIR", str(tmp_path / "fm"))
    return arrays


@pytest.fixture
def fashion_absent(tmp_path, monkeypatch):
    monkeypatch.setattr(data.datafiles, "FASHION_MNIST_PACKAGE", "dataset-no-such-package-for-tests")
    monkeypatch.setattr(data.datafiles, "FASHION_MNIST_DIR", str(tmp_path / "not-there"))


FALLBACK_CFG = {"name": "fashion_mnist_or_mnist5k", "n_val": 8, "n_test": 500, "split_seed": 0}


def test_fashion_or_mnist5k_reads_fashion_where_installed(fashion_installed, tmp_path):
    assert data.source(FALLBACK_CFG) == "fashion_mnist" and data.train_size(FALLBACK_CFG) == 32
    ds = data.load({**FALLBACK_CFG, "path": str(tmp_path / "elsewhere")})  # path is not read by this source
    assert (ds.name, ds.source) == ("fashion_mnist_or_mnist5k", "fashion_mnist")
    assert ds.train.x.shape == (32, 784) and ds.val.x.shape == (8, 784) and ds.test.n == 10  # the real test set
    same = data.load({"name": "fashion_mnist", "n_val": 8, "split_seed": 0})
    np.testing.assert_array_equal(ds.train.x, same.train.x)
    np.testing.assert_array_equal(ds.val.y, same.val.y)


def test_fashion_or_mnist5k_falls_back_to_mnist5k(fashion_absent):
    assert data.source(FALLBACK_CFG) == "mnist5k" and data.train_size(FALLBACK_CFG) == 5000 - 8 - 500
    ds = data.load(FALLBACK_CFG)
    assert (ds.name, ds.source) == ("fashion_mnist_or_mnist5k", "mnist5k")
    same = data.load({**FALLBACK_CFG, "name": "mnist5k"})
    assert same.source == "mnist5k" and ds.test.n == 500
    np.testing.assert_array_equal(ds.train.x, same.train.x)
    with pytest.raises(DataError, match="install it with"):  # fashion_mnist itself does not fall back
        data.load({**FALLBACK_CFG, "name": "fashion_mnist"})


def _tiny_run(workdir):
    import json

    import ml_collections
    from research.engine import config as config_lib, runner

    c = config_lib.defaults()
    c.seeds = 1
    c.data.update({"name": "fashion_mnist_or_mnist5k", "n_val": 8, "n_test": 500, "limit_train": 32,
                   "normalize": "unit"})
    c.model.hidden = (4,)
    c.train.update({"epochs": 1, "batch_size": 16, "evals_per_epoch": 1})
    c.eval.hist_seeds = 0
    c.arms = {"a": {}}
    runner.run(ml_collections.ConfigDict(c.to_dict()), str(workdir), progress=False, log=lambda *_: None)
    meta = json.loads((workdir / "meta.json").read_text())
    return meta["dataset"], (workdir / "report.md").read_text()


def test_the_run_records_which_dataset_it_read(tmp_path, monkeypatch):
    monkeypatch.setattr(data.datafiles, "FASHION_MNIST_PACKAGE", "dataset-no-such-package-for-tests")
    monkeypatch.setattr(data.datafiles, "FASHION_MNIST_DIR", str(tmp_path / "fm"))
    read, report = _tiny_run(tmp_path / "absent")
    assert read == "mnist5k"
    assert "on `fashion_mnist_or_mnist5k` (read: `mnist5k`), pixels in [0, 1];" in report
    _idx_dir(tmp_path / "fm", n_train=40, n_test=10, gz=(True,) * 4, seed=4)  # now "installed"
    read, report = _tiny_run(tmp_path / "installed")
    assert read == "fashion_mnist"
    assert "on `fashion_mnist_or_mnist5k` (read: `fashion_mnist`), pixels in [0, 1];" in report
