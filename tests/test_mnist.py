"""MNIST: IDX files the tests write, the embedded stand-in, and the real files where
$COURSE_SHARED_DATA names the reference data."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from course_lib import cli
from course_lib.data import DataError, reference_file
from course_lib.data import mnist as mnist_module
from course_lib.data.download import md5sum
from course_lib.data.mnist import (
    EMBEDDED_NAME,
    MNIST_FILES,
    Checksums,
    digit_source,
    download_mnist,
    embedded_digits,
    load_mnist,
    read_idx,
)

SHARED_MNIST = reference_file("mnist")


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file: big-endian magic and dimensions, then the uint8 data."""
    magic = magic if magic is not None else {3: 2051, 1: 2049}[array.ndim]
    return struct.pack(f">i{array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_split(folder: Path, images: np.ndarray, labels: np.ndarray, prefix="train") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))


@pytest.fixture
def tiny():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.arange(5, dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, tiny, compress):
    for array, name in zip(tiny, ["images", "labels"], strict=True):
        data = idx_bytes(array)
        path = tmp_path / (name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(data) if compress else data)
        loaded = read_idx(path)
        assert loaded.dtype == np.uint8
        np.testing.assert_array_equal(loaded, array)


def test_read_idx_rejects_wrong_magic(tmp_path, tiny):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(idx_bytes(tiny[0], magic=2052))
    with pytest.raises(DataError, match="magic number 2052"):
        read_idx(path)


@pytest.mark.parametrize("cut", [1, 100, 28 * 28 * 5 + 16 - 8])
def test_read_idx_rejects_truncated_payload(tmp_path, tiny, cut):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(idx_bytes(tiny[0])[:-cut])
    with pytest.raises(DataError, match="truncated") as error:
        read_idx(path)
    assert "course-data mnist" in str(error.value)


def test_read_idx_rejects_truncated_gzip(tmp_path, tiny):
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(tiny[0]))[:-50])
    with pytest.raises(DataError, match="not a readable gzip file"):
        read_idx(path)


def test_missing_file_says_how_to_download(tmp_path):
    with pytest.raises(DataError) as error:
        read_idx(tmp_path / "train-images-idx3-ubyte.gz")
    assert "not found" in str(error.value)
    assert f"course-data mnist --dest {tmp_path}" in str(error.value)


def test_load_mnist(tmp_path, tiny):
    write_split(tmp_path, *tiny, prefix="t10k")
    images, labels = load_mnist(tmp_path, "test")
    np.testing.assert_array_equal(images, tiny[0])
    np.testing.assert_array_equal(labels, tiny[1])
    with pytest.raises(DataError, match="not found"):
        load_mnist(tmp_path, "train")
    with pytest.raises(ValueError, match="Unknown MNIST split"):
        load_mnist(tmp_path, "validation")


def test_load_mnist_reads_decompressed_files(tmp_path, tiny):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(tiny[0]))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(tiny[1]))
    np.testing.assert_array_equal(load_mnist(tmp_path)[0], tiny[0])


def test_load_mnist_rejects_count_mismatch(tmp_path, tiny):
    write_split(tmp_path, tiny[0], tiny[1][:4])
    with pytest.raises(DataError, match="5 images but .* 4 labels"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("size", [(8, 8), (28, 20)])
def test_load_mnist_rejects_images_that_are_not_28_by_28(tmp_path, size):
    """An IDX file of 8×8 digits (e.g. scikit-learn's) is well-formed but not MNIST."""
    images = np.zeros((5, *size), np.uint8)
    write_split(tmp_path, images, np.arange(5, dtype=np.uint8))
    with pytest.raises(DataError, match=rf"(?s){size[0]}×{size[1]} pixels, not MNIST's 28×28.*"
                                        "course-data mnist"):
        load_mnist(tmp_path)
    with pytest.raises(DataError, match="not MNIST's 28×28"):
        digit_source(tmp_path)


def test_embedded_digits():
    digits = embedded_digits()
    assert digits.images.shape == (1797, 28, 28) and digits.images.dtype == np.float32
    assert digits.images.min() == 0.0 and digits.images.max() <= 1.0
    assert digits.images.max() > 0.9
    assert not digits.images[:, :4].any() and not digits.images[:, :, 24:].any()  # 20×20 box
    assert digits.images[:, 4:24, 4:24].mean() > 0.1
    assert set(digits.labels.tolist()) == set(range(10)) and len(digits) == 1797
    assert "NOT real MNIST" in digits.name and "course-data mnist" in digits.name
    np.testing.assert_array_equal(digits.images, embedded_digits().images)


def test_digit_source_falls_back_to_embedded(tmp_path):
    assert digit_source(tmp_path).name == EMBEDDED_NAME


def test_digit_source_uses_real_files(tmp_path, tiny):
    write_split(tmp_path, *tiny)
    source = digit_source(tmp_path)
    assert source.name == f"MNIST training digits (5, from {tmp_path})"
    assert source.images.dtype == np.float32
    np.testing.assert_allclose(source.images * 255, tiny[0], atol=1e-4)
    np.testing.assert_array_equal(source.labels, tiny[1])


def test_digit_source_does_not_hide_damaged_files(tmp_path, tiny):
    write_split(tmp_path, *tiny)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="gzip"):
        digit_source(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="not found"):
        digit_source(tmp_path)


@pytest.fixture
def tiny_mirror(tmp_path, tiny, monkeypatch) -> Path:
    """A folder serving test-made MNIST files, whose checksums the download then expects."""
    mirror = tmp_path / "mirror"
    write_split(mirror, *tiny)
    files = {p.name: Checksums(md5sum(p), md5sum(p, gunzip=True)) for p in mirror.iterdir()}
    monkeypatch.setattr(mnist_module, "MNIST_FILES", files)
    return mirror


def test_download_mnist_fetches_then_skips(tmp_path, tiny_mirror):
    """From a file:// mirror; intact files are not fetched."""
    target = tmp_path / "target"
    assert download_mnist(target, mirrors=(tiny_mirror.as_uri() + "/",), progress=False) == target
    assert sorted(p.name for p in target.iterdir()) == sorted(mnist_module.MNIST_FILES)
    # A recompressed copy with the same content counts as intact: nothing is downloaded.
    images = target / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes()), compresslevel=1))
    download_mnist(target, mirrors=("http://127.0.0.1:9/",), progress=False)
    # A damaged file is fetched again, and a failure names the mirror.
    images.write_bytes(b"damaged")
    with pytest.raises(DataError, match="127.0.0.1:9"):
        download_mnist(target, mirrors=("http://127.0.0.1:9/",), progress=False)


def test_the_cli_downloads_from_a_mirror_given_on_the_command_line(tmp_path, tiny_mirror):
    """``--mirror`` replaces the published servers (a classroom's copy, here a folder on disk)."""
    target = tmp_path / "target"
    assert cli.main(["mnist", "--dest", str(target), "--mirror", tiny_mirror.as_uri()]) == 0
    assert {p.name: p.read_bytes() for p in target.iterdir()} == {
        p.name: p.read_bytes() for p in tiny_mirror.iterdir()}


@pytest.fixture
def shared_mnist() -> Path:
    if SHARED_MNIST is None:
        pytest.skip("set $COURSE_SHARED_DATA to the reference data (MNIST's IDX files in mnist/)")
    return SHARED_MNIST


@pytest.mark.shared_data
def test_real_mnist_shapes(shared_mnist):
    train_images, train_labels = load_mnist(shared_mnist, "train")
    test_images, test_labels = load_mnist(shared_mnist, "test")
    assert train_images.shape == (60000, 28, 28) and train_labels.shape == (60000,)
    assert test_images.shape == (10000, 28, 28) and test_labels.shape == (10000,)
    assert train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first training labels
    # Re-encoding what was decoded gives back the official file, byte for byte.
    raw_md5 = MNIST_FILES["train-images-idx3-ubyte.gz"].raw
    assert hashlib.md5(idx_bytes(train_images)).hexdigest() == raw_md5


@pytest.mark.shared_data
def test_real_mnist_checksums(shared_mnist):
    assert md5sum(shared_mnist / "train-images-idx3-ubyte.gz", gunzip=True) == (
        "6bbc9ace898e44ae57da46a324031adb"
    )
    # The shared .gz files are recompressed copies: their content, not their bytes, is official.
    for name, checksums in MNIST_FILES.items():
        assert md5sum(shared_mnist / name, gunzip=True) == checksums.raw, name


@pytest.mark.shared_data
def test_download_mnist_skips_intact_real_files(shared_mnist):
    assert download_mnist(shared_mnist, mirrors=("http://127.0.0.1:9/",)) == shared_mnist


def test_cli_downloads_to_dest_and_reports_errors(tmp_path, monkeypatch, capsys):
    calls = []
    command = cli.COMMANDS["mnist"]
    monkeypatch.setitem(cli.COMMANDS, "mnist",
                        command._replace(fetch=lambda f: calls.append(f) or f))
    assert cli.main(["mnist", "--dest", str(tmp_path)]) == 0
    assert calls == [tmp_path] and str(tmp_path) in capsys.readouterr().out

    def fail(folder):
        raise DataError("no network; run `course-data mnist` again")

    monkeypatch.setitem(cli.COMMANDS, "mnist", command._replace(fetch=fail))
    assert cli.main(["mnist"]) == 1
    assert "no network" in capsys.readouterr().err
