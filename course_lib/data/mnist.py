"""MNIST digits: the real IDX files when downloaded, else a small embedded stand-in.

Moving MNIST only needs 28×28 digit images, so notebooks ask for a ``DigitSource`` and get the
real training digits if ``course-data mnist`` has been run, or scikit-learn's bundled 8×8 digits
upscaled to look like MNIST otherwise; the source's ``name`` always says which one it is.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data import DataError, data_dir
from course_lib.data.download import download, md5sum


class Checksums(NamedTuple):
    """MD5s of one official MNIST file, as published (``gz``) and decompressed (``raw``)."""

    gz: str
    raw: str


# gz: the MD5s torchvision lists in torchvision/datasets/mnist.py (MNIST.resources).
# raw: the MD5s of the decompressed files, as listed e.g. by secml (CDataLoaderMNIST). The raw
# MD5s were checked against a recompressed copy of the official files (whose gz MD5s differ).
MNIST_FILES: dict[str, Checksums] = {
    "train-images-idx3-ubyte.gz": Checksums(
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte.gz": Checksums(
        "d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte.gz": Checksums(
        "9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte.gz": Checksums(
        "ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
}
# The PyTorch mirror first: LeCun's site often refuses downloads nowadays.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
SPLITS = {"train": "train", "test": "t10k"}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # IDX: 0x0000, type 0x08 (uint8), number of dimensions


def mnist_dir() -> Path:
    """Default folder of the MNIST files."""
    return data_dir() / "mnist"


def _fetch_command(folder: Path) -> str:
    dest = "" if Path(folder) == mnist_dir() else f" --dest {folder}"
    return f"course-data mnist{dest}   (or: python -m course_lib.cli mnist{dest})"


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of MNIST images [N, rows, cols] or labels [N], plain or gzipped."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"MNIST file not found: {path}\nDownload MNIST with:\n    {_fetch_command(path.parent)}"
        )
    redownload = (f"Download it again with:\n    {_fetch_command(path.parent)}\n(the download "
                  "replaces a file only once the new copy's checksum is right).")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path} is not a readable gzip file ({error}). {redownload}") from error
    ndim = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}
    magic = struct.unpack(">i", raw[:4])[0] if len(raw) >= 4 else None
    if magic not in ndim:
        raise DataError(
            f"{path} is not an MNIST IDX file: magic number {magic}, expected {IMAGES_MAGIC} "
            f"(images) or {LABELS_MAGIC} (labels). {redownload}"
        )
    header = 4 * (1 + ndim[magic])
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header. {redownload}")
    dims = struct.unpack(f">{ndim[magic]}I", raw[4:header])
    expected = math.prod(dims)  # exact: sizes from a damaged header may overflow 64 bits
    if len(raw) - header != expected:
        raise DataError(
            f"{path} is damaged or truncated: its header announces dimensions {dims}, i.e. "
            f"{expected} bytes of data, but it holds {len(raw) - header}. {redownload}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims).copy()  # copy: writable


def _split_path(folder: Path, name: str) -> Path:
    """The file as downloaded (``.gz``), or decompressed by hand if that is what is there."""
    gz = folder / name
    return gz if gz.exists() or not gz.with_suffix("").exists() else gz.with_suffix("")


def _split_files(folder: Path, split: str) -> tuple[Path, Path]:
    if split not in SPLITS:
        raise ValueError(f"Unknown MNIST split {split!r}: use 'train' or 'test'.")
    prefix = SPLITS[split]
    return (_split_path(folder, f"{prefix}-images-idx3-ubyte.gz"),
            _split_path(folder, f"{prefix}-labels-idx1-ubyte.gz"))


def load_mnist(folder: Path | None = None, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images uint8 [N, 28, 28] and labels uint8 [N] of one split ('train' or 'test')."""
    images_path, labels_path = _split_files(Path(folder or mnist_dir()), split)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(
            f"{images_path} and {labels_path} are swapped or mislabelled: expected images "
            f"[N, rows, cols] and labels [N], got {images.shape} and {labels.shape}."
        )
    if images.shape[1:] != (28, 28):
        raise DataError(
            f"{images_path} holds images of {images.shape[1]}×{images.shape[2]} pixels, not "
            f"MNIST's 28×28 (Moving MNIST and the course's models expect them): it is another "
            f"data set. Put the official MNIST files there, e.g. with:\n"
            f"    {_fetch_command(images_path.parent)}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels: "
            f"the files come from different downloads. Download both again with:\n"
            f"    {_fetch_command(images_path.parent)}"
        )
    return images, labels


def _is_intact(path: Path, checksums: Checksums) -> bool:
    """Whether ``path`` holds the official file (any gzip compression of its content counts)."""
    if not path.exists():
        return False
    try:
        return checksums.gz == md5sum(path) or checksums.raw == md5sum(path, gunzip=True)
    except (OSError, EOFError, zlib.error):
        return False


def download_mnist(
    folder: Path | None = None,
    *,
    mirrors: tuple[str, ...] = MNIST_MIRRORS,
    progress: bool = True,
) -> Path:
    """Download the four MNIST files into ``folder``, skipping those already there and intact."""
    folder = Path(folder or mnist_dir()).expanduser()
    for name, checksums in MNIST_FILES.items():
        path = folder / name
        if not _is_intact(path, checksums):
            download([mirror + name for mirror in mirrors], path, checksums.gz, progress=progress)
        elif progress:
            print(f"{path}: already here and intact (md5 checked), not downloaded again")
    return folder


@dataclass
class DigitSource:
    """Digit images float32 [N, 28, 28] in [0, 1] with labels [N], and where they come from."""

    images: np.ndarray
    labels: np.ndarray
    name: str

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or len(self.images) != len(self.labels) or not len(self.images):
            raise ValueError(
                f"A DigitSource needs images [N, H, W] and labels [N] with N > 0; "
                f"got images {self.images.shape} and labels {self.labels.shape}."
            )

    def __len__(self) -> int:
        return len(self.images)


EMBEDDED_NAME = (
    "Embedded scikit-learn 8×8 digits upscaled to 28×28 — NOT real MNIST "
    "(run `course-data mnist` for the real digits)"
)


def embedded_digits() -> DigitSource:
    """scikit-learn's 1,797 bundled 8×8 digits made MNIST-like, for working without a download.

    MNIST digits are size-normalised into a 20×20 box centred in 28×28, so the 8×8 images are
    upscaled (bilinear, for smooth strokes) to 20×20 and padded by 4 pixels on every side.
    """
    from sklearn.datasets import load_digits  # deferred: scikit-learn is slow to import

    digits = load_digits()
    small = torch.from_numpy(digits.images / 16.0).float()[:, None]  # values 0..16 -> [0, 1]
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    images = F.pad(big[:, 0], (4, 4, 4, 4)).clamp(0.0, 1.0).numpy()
    return DigitSource(images, digits.target.astype(np.int64), EMBEDDED_NAME)


def digit_source(folder: Path | None = None, split: str = "train") -> DigitSource:
    """Real MNIST digits if their files are in ``folder``, else the embedded stand-in.

    Damaged or half-present MNIST files raise a ``DataError`` rather than falling back, so a
    broken download is never silently replaced by the stand-in. The stand-in has no splits.
    """
    folder = Path(folder or mnist_dir())
    if not any(path.exists() for path in _split_files(folder, split)):
        return embedded_digits()
    images, labels = load_mnist(folder, split)
    kind = "training" if split == "train" else "test"
    return DigitSource(
        images.astype(np.float32) / 255.0,
        labels.astype(np.int64),
        f"MNIST {kind} digits ({len(images):,}, from {folder})",
    )
