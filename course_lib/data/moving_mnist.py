"""Moving MNIST: digits bouncing in a box, generated with the recipe of the original paper's code.

Srivastava et al. (2015) generate training sequences on the fly and publish one fixed test file,
``mnist_test_seq.npy``. Both are here: ``generate_moving_mnist`` (and an endless training stream
built on it) follows their code's dynamics, and ``load_moving_mnist_test`` reads their file.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from course_lib.data import DataError, data_dir
from course_lib.data.download import download, md5sum
from course_lib.data.mnist import DigitSource

# The test file published with Srivastava et al.'s code (project page of the paper).
MOVING_MNIST_TEST_URL = "http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy"
MOVING_MNIST_TEST_MD5 = "be083ec986bfe91a449d63653c411eb2"
MOVING_MNIST_TEST_SHAPE = (20, 10000, 64, 64)  # (time, sequence, height, width), uint8
TEST_SEED = 2015  # seeds the generated test set; keep training streams on other seeds


def bounce_step(position: np.ndarray, velocity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame of motion inside the unit box: step, then bounce off any wall that was reached.

    ``position`` and ``velocity`` are [..., 2] in units of the free range (0 and 1 are the walls).
    A coordinate that reaches a wall is clamped onto it and that velocity component flips sign,
    as in the original code (which also bounces on touching a wall exactly).
    """
    position = position + velocity
    hit = (position <= 0.0) | (position >= 1.0)
    return np.clip(position, 0.0, 1.0), np.where(hit, -velocity, velocity)


@dataclass
class MovingMNISTBatch:
    """Sequences with the ground truth of their motion (for probing learned representations).

    Coordinates are (row, col) in pixels. ``positions`` are the exact top-left corners (the digit
    is drawn at their integer part); ``velocities[:, t]`` is the velocity after frame t's bounce,
    i.e. the step that leads to frame t + 1.
    """

    frames: np.ndarray  # float32 [N, T, H, W] in [0, 1]
    labels: np.ndarray  # int64 [N, n_digits]
    positions: np.ndarray  # float32 [N, T, n_digits, 2]
    velocities: np.ndarray  # float32 [N, T, n_digits, 2], pixels per frame

    def __len__(self) -> int:
        return len(self.frames)


def _check_arguments(
    digits: DigitSource, n_sequences: int, n_frames: int, n_digits: int, canvas: int,
    speed: float, rng: np.random.Generator,
) -> None:
    size = digits.images.shape[-1]
    problems = [
        (n_sequences < 1, f"n_sequences must be at least 1, got {n_sequences}"),
        (n_frames < 1, f"n_frames must be at least 1, got {n_frames}"),
        (n_digits < 1, f"n_digits must be at least 1, got {n_digits}"),
        (canvas <= size, f"canvas must exceed the digit size {size}, got {canvas}"),
        (not np.isfinite(speed) or speed < 0, f"speed must be >= 0 px/frame, got {speed}"),
        (digits.images.shape[-2] != size, f"digits must be square, got {digits.images.shape}"),
    ]
    messages = [message for failed, message in problems if failed]
    if messages:
        raise ValueError("Invalid Moving MNIST arguments: " + "; ".join(messages) + ".")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy Generator, got {type(rng).__name__}: "
            "pass rng=np.random.default_rng(seed)."
        )


def generate_moving_mnist(
    digits: DigitSource,
    n_sequences: int,
    *,
    n_frames: int = 20,
    n_digits: int = 2,
    canvas: int = 64,
    speed: float = 3.6,
    rng: np.random.Generator,
    step: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] = bounce_step,
    keep: np.ndarray | None = None,
) -> MovingMNISTBatch:
    """Sequences of ``n_digits`` digits bouncing on a black ``canvas``×``canvas`` square.

    The original recipe: each digit (drawn at random, with replacement) starts uniformly in the
    free range ``canvas - 28`` and moves in a uniform random direction at a fixed ``speed``
    (3.6 px/frame = 0.1 of the 36-px free range); overlapping digits combine by pixel-wise max.
    ``step`` moves the digits by one frame (notebook 01 passes a student's ``bounce_step``).
    ``keep`` (sorted frame indices) paints only those frames, the same pixels as the full
    sequence's: the synthetic summarization videos need 2 of every 15 frames, and painting is
    most of the cost.
    """
    _check_arguments(digits, n_sequences, n_frames, n_digits, canvas, speed, rng)
    size = digits.images.shape[-1]
    free = canvas - size
    picks = rng.integers(len(digits), size=(n_sequences, n_digits))
    position = rng.random((n_sequences, n_digits, 2))
    theta = rng.random((n_sequences, n_digits)) * 2 * np.pi
    velocity = (speed / free) * np.stack([np.sin(theta), np.cos(theta)], axis=-1)

    painted = np.arange(n_frames) if keep is None else np.asarray(keep)
    if keep is not None and not (painted.ndim == 1 and np.issubdtype(painted.dtype, np.integer)
                                 and np.all(np.diff(painted) > 0) and painted.min(initial=0) >= 0
                                 and painted.max(initial=0) < n_frames):
        raise ValueError(f"keep must be increasing frame indices in [0, {n_frames}), got "
                         f"{painted!r}: e.g. keep=np.array([0, 15, 30]).")
    slot = np.full(n_frames, -1)
    slot[painted] = np.arange(len(painted))
    frames = np.zeros((n_sequences, len(painted), canvas, canvas), np.float32)
    positions = np.empty((n_sequences, n_frames, n_digits, 2), np.float32)
    velocities = np.empty_like(positions)
    images = digits.images[picks]  # [N, n_digits, size, size]
    sequence = np.arange(n_sequences)[:, None, None]
    offsets = np.arange(size)
    for t in range(n_frames):
        position, velocity = step(position, velocity)
        positions[:, t], velocities[:, t] = free * position, free * velocity
        if slot[t] < 0:
            continue
        corner = positions[:, t].astype(np.int64)  # int(), as the original code
        for k in range(n_digits):
            rows = corner[:, k, 0, None, None] + offsets[:, None]  # [N, size, 1]
            cols = corner[:, k, 1, None, None] + offsets  # [N, 1, size]
            frame = frames[:, slot[t]]
            frame[sequence, rows, cols] = np.maximum(frame[sequence, rows, cols], images[:, k])
    return MovingMNISTBatch(frames, digits.labels[picks].astype(np.int64), positions, velocities)


def moving_mnist_batches(
    digits: DigitSource, batch_size: int, *, seed: int, start: int = 0, **kwargs
) -> Iterator[torch.Tensor]:
    """Endless fresh training batches float32 [B, T, H, W]: no sequence is ever seen twice.

    Batch ``i`` comes from its own generator, seeded by (``seed``, ``i``), so the stream can
    begin at any batch ``start``: a resumed training run continues it exactly. ``kwargs`` go to
    ``generate_moving_mnist`` (n_frames, n_digits, canvas, speed).
    """
    batches = _Batches(digits, batch_size, seed, kwargs)
    for index in itertools.count(start):
        yield batches[index]


class _Batches(torch.utils.data.Dataset):
    """Batch ``i`` of :func:`moving_mnist_batches`, for a ``DataLoader``'s worker processes."""

    def __init__(self, digits: DigitSource, batch_size: int, seed: int, kwargs: dict):
        self.digits, self.batch_size, self.seed, self.kwargs = digits, batch_size, seed, kwargs

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, index])
        return torch.from_numpy(generate_moving_mnist(self.digits, self.batch_size, rng=rng,
                                                      **self.kwargs).frames)


def moving_mnist_loader(
    digits: DigitSource, batch_size: int, *, seed: int, start: int = 0, stop: int,
    workers: int = 0, pin_memory: bool = False, **kwargs
) -> Iterator[torch.Tensor]:
    """Batches ``start`` … ``stop - 1`` of :func:`moving_mnist_batches`, the same tensors bit
    for bit, made ahead by ``workers`` processes while the model trains.

    On a GPU, making a paper-size batch on one CPU core takes longer than a training step, so
    without workers the GPU waits; ``pin_memory`` lets the copy to the GPU run asynchronously
    (``.to(device, non_blocking=True)``). Each batch is still drawn from its own (seed, index)
    generator, so a resumed run gets the batches an uninterrupted one would, whatever the number
    of workers. ``workers=0`` makes them in this process, as they are asked for.
    """
    if workers <= 0:
        yield from itertools.islice(moving_mnist_batches(digits, batch_size, seed=seed,
                                                         start=start, **kwargs), stop - start)
        return
    yield from torch.utils.data.DataLoader(
        _Batches(digits, batch_size, seed, kwargs), batch_size=None, sampler=range(start, stop),
        num_workers=workers, pin_memory=pin_memory, prefetch_factor=4)


def moving_mnist_test_set(
    digits: DigitSource, n_sequences: int = 1000, *, seed: int = TEST_SEED, **kwargs
) -> MovingMNISTBatch:
    """A fixed generated test set: the training generator on its own seed, with the metadata."""
    return generate_moving_mnist(digits, n_sequences, rng=np.random.default_rng(seed), **kwargs)


def moving_mnist_test_path() -> Path:
    """Default location of the published test file."""
    return data_dir() / "moving_mnist" / "mnist_test_seq.npy"


def _fetch_command(folder: Path) -> str:
    dest = "" if Path(folder) == moving_mnist_test_path().parent else f" --dest {folder}"
    return f"course-data moving-mnist-test{dest}"


def load_moving_mnist_test(
    path: Path | None = None,
    *,
    verify: bool = True,
    md5: str = MOVING_MNIST_TEST_MD5,
    shape: tuple[int, int, int, int] = MOVING_MNIST_TEST_SHAPE,
) -> np.ndarray:
    """The published test sequences, uint8 [N, T, 64, 64], sequence-first.

    The result is a read-only view of a memory-mapped file: slice it and copy what you need.
    ``verify`` checks the MD5 (reads all ~819 MB once); ``md5`` and ``shape`` describe the
    expected file (the file itself is time-first).
    """
    path = Path(path or moving_mnist_test_path())
    fix = f"Download the original file (~819 MB) with:\n    {_fetch_command(path.parent)}"
    if not path.exists():
        raise DataError(f"Moving MNIST test file not found: {path}\n{fix}")
    if not path.is_file():
        raise DataError(f"{path} is a folder, not the test file mnist_test_seq.npy.\n{fix}")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes): an interrupted copy?\n{fix}")
    try:
        data = np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"{path} is not a readable .npy file ({error}).\n{fix}") from error
    if not isinstance(data, np.ndarray):  # np.load opens an .npz archive as a dict of arrays
        data.close()
        raise DataError(f"{path} is an .npz archive, not the original .npy array (was it "
                        f"re-saved with np.savez?).\n{fix}")
    expected = f"(time, sequence, H, W) = {shape} uint8"
    if data.dtype != np.uint8:
        raise DataError(
            f"{path} holds {data.dtype} values, expected {expected} with values 0-255: this is "
            f"not the original file (was it converted or normalised?).\n{fix}"
        )
    if data.shape != shape:
        swapped = data.shape == (shape[1], shape[0], *shape[2:])
        hint = (" It looks sequence-first (sequence, time, H, W); the original file is "
                "time-first and this loader transposes it for you.") if swapped else ""
        raise DataError(f"{path} has shape {data.shape}, expected {expected}.{hint}\n{fix}")
    if verify and (got := md5sum(path)) != md5:
        raise DataError(
            f"{path} is damaged: md5 {got}, expected {md5}. Download it again with:\n"
            f"    {_fetch_command(path.parent)}\n(the download replaces it only once the new "
            "copy's checksum is right)."
        )
    return data.transpose(1, 0, 2, 3)


def download_moving_mnist_test(
    folder: Path | None = None,
    *,
    urls: tuple[str, ...] = (MOVING_MNIST_TEST_URL,),
    md5: str = MOVING_MNIST_TEST_MD5,
    progress: bool = True,
) -> Path:
    """Download the published test file into ``folder`` unless an intact copy is already there."""
    path = Path(folder or moving_mnist_test_path().parent) / "mnist_test_seq.npy"
    if path.exists() and md5sum(path) == md5:
        if progress:
            print(f"{path}: already here and intact (md5 checked), not downloaded again")
        return path
    return download(urls, path, md5, progress=progress)
