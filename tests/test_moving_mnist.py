"""Moving MNIST: the bouncing dynamics, the generator, and the loader of the published test file."""

from __future__ import annotations

import hashlib
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from course_lib.data import DataError
from course_lib.data.mnist import DigitSource
from course_lib.data.moving_mnist import (
    bounce_step,
    download_moving_mnist_test,
    generate_moving_mnist,
    load_moving_mnist_test,
    moving_mnist_batches,
    moving_mnist_test_set,
)

SMALL_SHAPE = (20, 5, 64, 64)  # the published file's layout (time, sequence, H, W), 5 sequences


def make_digits(n: int = 10) -> DigitSource:
    """Random blobs standing in for digits; label i for image i, so labels give back indices."""
    images = np.random.default_rng(1).random((n, 28, 28)).astype(np.float32)
    return DigitSource(images, np.arange(n), "test digits")


def generate(seed: int = 0, n: int = 16, **kwargs):
    return generate_moving_mnist(make_digits(), n, rng=np.random.default_rng(seed), **kwargs)


def test_bounce_step_inside_the_box():
    position, velocity = bounce_step(np.array([0.5, 0.2]), np.array([0.1, -0.05]))
    np.testing.assert_allclose(position, [0.6, 0.15])
    np.testing.assert_array_equal(velocity, [0.1, -0.05])


def test_bounce_step_reflects_at_walls():
    """Hand-computed: a coordinate past a wall is clamped onto it and its velocity flips."""
    position = np.array([[0.95, 0.5], [0.02, 0.5], [0.97, 0.01]])
    velocity = np.array([[0.1, 0.0], [-0.05, 0.03], [0.06, -0.08]])
    new_position, new_velocity = bounce_step(position, velocity)
    np.testing.assert_allclose(new_position, [[1.0, 0.5], [0.0, 0.53], [1.0, 0.0]])
    np.testing.assert_allclose(new_velocity, [[-0.1, 0.0], [0.05, 0.03], [-0.06, 0.08]])
    np.testing.assert_array_equal(position[0], [0.95, 0.5])  # inputs untouched
    np.testing.assert_array_equal(velocity[0], [0.1, 0.0])


def test_bounce_step_bounces_on_touching_a_wall():
    """As the original code (``x >= 1``): landing exactly on a wall already reflects."""
    position, velocity = bounce_step(np.array([0.75, 0.25]), np.array([0.25, -0.25]))
    np.testing.assert_array_equal(position, [1.0, 0.0])
    np.testing.assert_array_equal(velocity, [-0.25, 0.25])


def test_generator_is_deterministic_by_seed():
    a, b, c = generate(0), generate(0), generate(1)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.array_equal(a.frames, c.frames)


def test_generator_shapes_and_values():
    batch = generate(n=6, n_frames=7, n_digits=3, canvas=50)
    assert batch.frames.shape == (6, 7, 50, 50) and batch.frames.dtype == np.float32
    assert batch.labels.shape == (6, 3) and batch.labels.dtype == np.int64
    assert batch.positions.shape == batch.velocities.shape == (6, 7, 3, 2)
    assert batch.frames.min() >= 0.0 and batch.frames.max() <= 1.0
    assert (batch.frames.reshape(6 * 7, -1).max(axis=1) > 0).all()  # every frame shows digits
    assert len(batch) == 6


def test_speed_is_fixed_and_steps_match_velocities():
    batch = generate(n=64)
    speed = np.linalg.norm(batch.velocities, axis=-1)
    np.testing.assert_allclose(speed, 3.6, atol=1e-5)
    step = batch.positions[:, 1:] - batch.positions[:, :-1]
    free = (batch.velocities[:, 1:] == batch.velocities[:, :-1]).all(axis=-1)  # no bounce
    assert free.mean() > 0.5
    np.testing.assert_allclose(np.linalg.norm(step, axis=-1)[free], 3.6, atol=1e-4)
    np.testing.assert_allclose(step[free], batch.velocities[:, :-1][free], atol=1e-4)


def test_velocity_flips_only_on_a_wall():
    batch = generate(n=64)
    flipped = batch.velocities[:, 1:] == -batch.velocities[:, :-1]
    flipped &= batch.velocities[:, 1:] != 0
    assert flipped.any()
    on_wall = np.isin(batch.positions[:, 1:], [0.0, 36.0])
    assert on_wall[flipped].all()


def test_digits_never_leave_the_canvas():
    batch = generate(n=64, canvas=40, speed=5.0)
    assert batch.positions.min() >= 0.0 and batch.positions.max() <= 40 - 28
    assert batch.positions.min() == 0.0 and batch.positions.max() == 40 - 28  # walls reached


def test_overlap_is_pixelwise_maximum():
    """Re-draw every frame by hand from the metadata: digits at int(position), combined by max."""
    digits = make_digits()
    batch = generate(n=8, canvas=40)
    expected = np.zeros_like(batch.frames)
    for n, t, k in np.ndindex(*batch.positions.shape[:3]):
        row, col = batch.positions[n, t, k].astype(int)
        box = expected[n, t, row:row + 28, col:col + 28]
        np.maximum(box, digits.images[batch.labels[n, k]], out=box)
    np.testing.assert_array_equal(batch.frames, expected)
    # With a 40-px canvas the two digits always overlap, so max differs from sum there.
    total = np.zeros_like(batch.frames[0, 0])
    for k in range(2):
        row, col = batch.positions[0, 0, k].astype(int)
        total[row:row + 28, col:col + 28] += digits.images[batch.labels[0, k]]
    assert total.max() > batch.frames[0, 0].max()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"canvas": 28}, "canvas must exceed the digit size 28"),
        ({"n_digits": 0}, "n_digits must be at least 1"),
        ({"n_frames": 0}, "n_frames must be at least 1"),
        ({"speed": -1.0}, "speed must be >= 0"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(**kwargs)


def test_generator_wants_a_generator():
    with pytest.raises(TypeError, match="default_rng"):
        generate_moving_mnist(make_digits(), 2, rng=0)


def test_keep_paints_the_same_pixels_as_the_full_sequence():
    full = generate(n=3, n_frames=12)
    kept = generate(n=3, n_frames=12, keep=np.array([0, 5, 11]))
    np.testing.assert_array_equal(kept.frames, full.frames[:, [0, 5, 11]])
    np.testing.assert_array_equal(kept.positions, full.positions)  # every frame still moves


@pytest.mark.parametrize("keep", [np.array([5, 2]), np.array([0, 12]), np.array([0.5]),
                                  np.array([-1, 3])])
def test_keep_rejects_what_is_not_increasing_frame_indices(keep):
    with pytest.raises(ValueError, match="keep must be increasing frame indices"):
        generate(n=2, n_frames=12, keep=keep)


def test_training_stream_and_test_set():
    stream = moving_mnist_batches(make_digits(), 4, seed=3, n_frames=5)
    first, second = next(stream), next(stream)
    assert first.shape == (4, 5, 64, 64) and first.dtype == torch.float32
    assert not torch.equal(first, second)  # fresh data every batch
    again = next(moving_mnist_batches(make_digits(), 4, seed=3, n_frames=5))
    assert torch.equal(first, again)
    test_set = moving_mnist_test_set(make_digits(), 4, n_frames=5)
    np.testing.assert_array_equal(test_set.frames, moving_mnist_test_set(make_digits(), 4,
                                                                         n_frames=5).frames)
    assert not np.array_equal(test_set.frames, first.numpy())


@pytest.fixture
def small_file(tmp_path):
    """A file laid out like mnist_test_seq.npy, with its md5."""
    data = np.random.default_rng(0).integers(0, 256, SMALL_SHAPE, dtype=np.uint8)
    path = tmp_path / "mnist_test_seq.npy"
    np.save(path, data)
    return path, data, hashlib.md5(path.read_bytes()).hexdigest()


def test_load_test_file(small_file):
    path, data, md5 = small_file
    loaded = load_moving_mnist_test(path, md5=md5, shape=SMALL_SHAPE)
    assert loaded.shape == (5, 20, 64, 64) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, data.transpose(1, 0, 2, 3))


def test_load_test_file_rejects_sequence_first(tmp_path):
    path = tmp_path / "mnist_test_seq.npy"
    np.save(path, np.zeros((5, 20, 64, 64), np.uint8))
    with pytest.raises(DataError, match="sequence-first"):
        load_moving_mnist_test(path, verify=False, shape=SMALL_SHAPE)


def test_load_test_file_rejects_floats(tmp_path):
    path = tmp_path / "mnist_test_seq.npy"
    np.save(path, np.zeros(SMALL_SHAPE, np.float32))
    with pytest.raises(DataError, match="float32 values, expected .* uint8"):
        load_moving_mnist_test(path, verify=False, shape=SMALL_SHAPE)


def test_load_test_file_rejects_bad_checksum(small_file):
    path, _, md5 = small_file
    with pytest.raises(DataError) as error:
        load_moving_mnist_test(path, md5="0" * 32, shape=SMALL_SHAPE)
    assert md5 in str(error.value) and "0" * 32 in str(error.value)
    load_moving_mnist_test(path, verify=False, md5="0" * 32, shape=SMALL_SHAPE)


def test_load_test_file_rejects_non_npy(tmp_path):
    path = tmp_path / "mnist_test_seq.npy"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError, match="not a readable .npy file"):
        load_moving_mnist_test(path)


def test_missing_test_file_says_how_to_download(tmp_path):
    with pytest.raises(DataError) as error:
        load_moving_mnist_test(tmp_path / "mnist_test_seq.npy")
    assert f"course-data moving-mnist-test --dest {tmp_path}" in str(error.value)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_download_test_file_from_local_server(small_file, tmp_path):
    path, data, md5 = small_file
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=path.parent))
    threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{path.name}"
        target = tmp_path / "downloaded"
        got = download_moving_mnist_test(target, urls=(url,), md5=md5, progress=False)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert got == target / "mnist_test_seq.npy"
    loaded = load_moving_mnist_test(got, md5=md5, shape=SMALL_SHAPE)
    np.testing.assert_array_equal(loaded, data.transpose(1, 0, 2, 3))
    # An intact copy is kept: no download is attempted (this mirror would fail).
    assert download_moving_mnist_test(target, urls=("http://127.0.0.1:9/x",), md5=md5) == got
