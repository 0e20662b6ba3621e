"""Features of the sampled frames: GoogLeNet pool5 (the benchmark's kind) or a weight-free
fallback (notebook 07, ``course-summarize --features``).

- ``googlenet``: 1024-d pool5 of an ImageNet GoogLeNet (:mod:`~course_lib.video.googlenet`), each
  sampled frame resized to 224×224 whole (not cropped), batched, in inference mode. The features
  of the eccv16 files, so models trained on SumMe / TVSum read them.
- ``fallback``: the course's own weight-free extractor, the one the embedded synthetic dataset is
  made with (:func:`course_lib.data.synthetic_videos.extract_features`: Fourier spectra of a
  64×64 grey frame and of its difference from the previous frame, through a fixed random
  projection). **Not the benchmark's features**: it needs no download, and the models the
  notebooks train on the synthetic videos read it; a model trained on GoogLeNet features is
  refused (and the other way round) by :func:`course_lib.video.summarizers.check_features`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from course_lib.video import VideoError
from course_lib.video.decode import Decoded, VideoInfo, iter_samples

KINDS = ("googlenet", "fallback")
DIMS = {"googlenet": 1024, "fallback": 1024}
FALLBACK_CANVAS = 64  # the synthetic dataset's frame size
FALLBACK_WARNING = ("*** fallback features: NOT the benchmark's GoogLeNet features. The course's "
                    "weight-free spectral features (those of its synthetic videos) are used; "
                    "only models trained on those (the notebooks' synthetic data, or an h5 of "
                    "your videos made with them) can score them. ***")
OFFLINE_FIX = ("connect to the internet once (PyTorch caches them under ~/.cache/torch), or use "
               "--features fallback (in Python: features='fallback') with a model trained on "
               "the course's synthetic videos")


@dataclass
class Extractor:
    """How to turn sampled frames into features: the frame size and colour it needs, whether it
    needs each frame's neighbour (motion), and the batched function."""

    kind: str
    dim: int
    size: tuple[int, int]
    gray: bool
    neighbours: bool
    batch: Callable[[np.ndarray, np.ndarray | None], np.ndarray]
    description: str


def googlenet_extractor(weights: str | None = "imagenet", *, device: torch.device | None = None
                        ) -> Extractor:
    """GoogLeNet pool5 on ``device`` (default CPU), batch norms folded into the convolutions;
    ``weights=None``: random weights, the same cost (tests and the benchmark).

    On a CPU each batch is cut into one part per thread, each run by its own worker on one core
    (:func:`_one_core`): a convolution spread over the cores waits at every layer for the slowest
    one, which on a busy machine halved the throughput (``benchmarks/bench_summarize.py``)."""
    from course_lib.video.googlenet import INPUT_SIZE, fold_batch_norm, googlenet_pool5, preprocess

    device = device or torch.device("cpu")
    try:
        network = fold_batch_norm(googlenet_pool5(weights)).to(device)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; a bad hash a RuntimeError
        raise VideoError(f"GoogLeNet's ImageNet weights could not be fetched ({error}): "
                         f"{OFFLINE_FIX}.") from None
    workers = torch.get_num_threads() if device.type == "cpu" else 1
    pool = ThreadPoolExecutor(workers, initializer=_one_core) if workers > 1 else None

    @torch.inference_mode()
    def run(images: torch.Tensor) -> torch.Tensor:
        flushing = torch.set_flush_denormal(True)  # denormal numbers are slow on a CPU
        try:
            return network(images)
        finally:
            if flushing:
                torch.set_flush_denormal(False)

    @torch.inference_mode()
    def batch(frames: np.ndarray, _neighbours) -> np.ndarray:
        images = preprocess(torch.from_numpy(frames).to(device))
        if pool is None:
            return run(images).float().cpu().numpy()
        threads = torch.get_num_threads()
        try:
            return torch.cat(list(pool.map(run, images.chunk(workers)))).numpy()
        finally:
            torch.set_num_threads(threads)  # the workers' setting reaches MKL's global one

    what = "ImageNet weights" if weights else "RANDOM weights (timing and tests only)"
    return Extractor("googlenet", 1024, (INPUT_SIZE, INPUT_SIZE), False, False, batch,
                     f"GoogLeNet pool5, 1024-d, {what}")


def _one_core() -> None:
    """A feature worker computes on its own core, without PyTorch's threads."""
    torch.set_num_threads(1)


def fallback_extractor() -> Extractor:
    """The synthetic dataset's weight-free features (see the module docstring)."""
    from course_lib.data.synthetic_videos import extract_features

    def batch(frames: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
        return extract_features(frames.astype(np.float32) / 255, neighbours.astype(np.float32)
                                / 255)

    return Extractor("fallback", 1024, (FALLBACK_CANVAS, FALLBACK_CANVAS), True, True, batch,
                     "fallback: the course's weight-free spectral features (NOT GoogLeNet's)")


def make_extractor(kind: str, *, weights: str | None = "imagenet",
                   device: torch.device | None = None) -> Extractor:
    """The extractor named ``kind`` (``googlenet`` or ``fallback``)."""
    if kind == "googlenet":
        return googlenet_extractor(weights, device=device)
    if kind == "fallback":
        print(FALLBACK_WARNING)
        return fallback_extractor()
    raise VideoError(f"unknown features {kind!r}: choose one of {', '.join(KINDS)}.")


def extract(info: VideoInfo, extractor: Extractor, *, batch_size: int = 32,
            progress: bool = False) -> tuple[np.ndarray, Decoded]:
    """Features [n_steps, dim] of the frames sampled at 2 per second, computed ``batch_size``
    frames at a time while the video streams, and what the decoding found (frames, picks)."""
    from tqdm.auto import tqdm

    decoded, rows, frames, neighbours = Decoded(), [], [], []
    expected = int(info.duration * 2) + 1 if info.duration else None
    bar = tqdm(total=expected, desc=f"features ({extractor.kind})", unit="frame",
               disable=not progress)

    def flush():
        if frames:
            rows.append(extractor.batch(np.stack(frames),
                                        np.stack(neighbours) if extractor.neighbours else None))
            bar.update(len(frames))
            frames.clear(), neighbours.clear()

    try:  # a bad file's error is printed after the bar, not inside it
        for sample in iter_samples(info, extractor.size, gray=extractor.gray,
                                   neighbours=extractor.neighbours, decoded=decoded):
            frames.append(sample.frame)
            neighbours.append(sample.neighbour)
            if len(frames) == batch_size:
                flush()
        flush()
        bar.total = bar.n  # the container's duration only estimated it: end the bar at 100 %
    finally:
        bar.close()
    return np.concatenate(rows).astype(np.float32), decoded
