"""From a video file to its summary with GoogLeNet features: batched vs one frame at a time.

Run:  python benchmarks/bench_summarize.py [--seconds 300] [--batch 32]

Writes a test video (30 fps, moving shapes on a gradient; 5 minutes by default: 600 frames
sampled at 2 per second), then

1. decodes its 600 sampled frames at 224×224 once and runs GoogLeNet pool5 on exactly those
   frames three times: the course's extractor ``--batch`` frames per call and one frame per call
   (inference mode both), and, ``--batch`` per call, the plain network (batch norms not folded,
   PyTorch's threads sharing each convolution across the cores instead of one worker per core),
   and prints frames per second and the ratios;
2. times the whole pipeline, file → features → KTS shots → scores → knapsack → summary video,
   storyboard, scores plot and h5 (``course_lib.video``), against the course's target of 60 s on
   a 2-core CPU.

GoogLeNet has random weights unless ``--imagenet`` (the time is the same; the benchmark never
downloads anything by itself). The summarizer is an untrained SUM-GAN-sl of the laptop sizes:
scoring costs milliseconds either way.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from course_lib.config import sum_gan_sl_config
from course_lib.models.sum_gan_sl import build_sum_gan_sl
from course_lib.video import decode, features, outputs, pipeline, summarizers

TARGET_SECONDS = 60.0


def write_test_video(path: Path, seconds: float, width: int = 320, height: int = 240,
                     fps: int = 30) -> Path:
    """Coloured squares bouncing over a gradient that changes every 10 s (a sixth of a shorter
    video), so there are shots."""
    rng = np.random.default_rng(0)
    scene_frames = int(min(10.0, seconds / 6) * fps)
    y, x = np.mgrid[0:height, 0:width]
    with outputs.VideoWriter(path, fps, width, height) as writer:
        for i in range(int(seconds * fps)):
            scene = i // scene_frames
            base = np.stack([(x * (scene % 3 + 1)) % 256, (y * (scene % 5 + 1)) % 256,
                             np.full_like(x, (scene * 53) % 256)], axis=-1).astype(np.uint8)
            for k in range(3):
                cx = int((width - 40) * abs(np.sin(0.02 * i + k + scene)))
                cy = int((height - 40) * abs(np.cos(0.015 * i + 2 * k)))
                base[cy:cy + 40, cx:cx + 40] = rng.integers(0, 255, 3) if i % 90 == 0 else (
                    80 * k, 255 - 60 * k, 120)
            writer.write(base)
    return path


def time_network(features_of, frames: np.ndarray, batch: int) -> float:
    """Seconds for ``features_of`` the ``frames``, ``batch`` at a time (after one warm-up call)."""
    features_of(frames[:batch])
    start = time.perf_counter()
    for i in range(0, len(frames), batch):
        features_of(frames[i:i + batch])
    return time.perf_counter() - start


def plain_network(imagenet: bool):
    """GoogLeNet pool5 as it was before the extractor's two speed-ups: batch norms as layers of
    their own, each convolution shared by PyTorch's threads."""
    from course_lib.video.googlenet import googlenet_pool5, preprocess

    network = googlenet_pool5("imagenet" if imagenet else None)

    @torch.inference_mode()
    def features_of(frames: np.ndarray) -> np.ndarray:
        flushing = torch.set_flush_denormal(True)
        try:
            return network(preprocess(torch.from_numpy(frames))).numpy()
        finally:
            if flushing:
                torch.set_flush_denormal(False)

    return features_of


def run(seconds: float, batch: int, imagenet: bool, folder: Path) -> dict[str, float]:
    path = write_test_video(folder / "test.mp4", seconds)
    info = decode.probe(path)
    extractor = features.make_extractor("googlenet", weights="imagenet" if imagenet else None)
    frames = np.stack([s.frame for s in decode.iter_samples(info, extractor.size)])
    n = len(frames)
    batched = time_network(lambda f: extractor.batch(f, None), frames, batch)
    single = time_network(lambda f: extractor.batch(f, None), frames, 1)
    plain = time_network(plain_network(imagenet), frames, batch)
    print(f"GoogLeNet pool5 on the same {n} frames at 224x224 ({torch.get_num_threads()} "
          f"threads): batch {batch} {batched:.1f} s ({n / batched:.1f} frames/s), one at a "
          f"time {single:.1f} s ({n / single:.1f} frames/s): batched {single / batched:.2f}x; "
          f"the plain network, batch {batch}, {plain:.1f} s ({n / plain:.1f} frames/s): the "
          f"extractor {plain / batched:.2f}x")
    model = summarizers.from_model(build_sum_gan_sl(sum_gan_sl_config("laptop", verbose=False),
                                                    0), trained_on="summe")
    start = time.perf_counter()
    video = pipeline.analyse(path, extractor)
    video = pipeline.select(video, model)
    pipeline.write_outputs(video, pipeline.output_paths(path, folder / "out"))
    total = time.perf_counter() - start
    print(f"whole pipeline, {seconds:g} s video at {info.fps} fps ({video.record.n_frames} "
          f"frames, {n} sampled) to summary video and h5: {total:.1f} s "
          f"(features {video.seconds['features']:.1f} s, {n / video.seconds['features']:.1f} "
          f"sampled frames/s); target {TARGET_SECONDS:.0f} s for 5 minutes: "
          f"{'met' if total * 300 / seconds <= TARGET_SECONDS else 'NOT met'}"
          + ("" if seconds == 300 else f" (scaled linearly from {seconds:g} s to 300 s: an "
             "estimate, as shot detection grows faster than the video; time a 300 s video to "
             "know)"))
    return {"frames": n, "batched": batched, "single": single, "plain": plain, "total": total}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="test video length")
    parser.add_argument("--batch", type=int, default=32, help="frames per GoogLeNet call")
    parser.add_argument("--imagenet", action="store_true",
                        help="GoogLeNet's ImageNet weights (downloaded once) instead of random")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        return run(args.seconds, args.batch, args.imagenet, Path(folder))


if __name__ == "__main__":
    main()
