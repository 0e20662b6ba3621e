"""The embedded default summarization dataset: long videos of Moving MNIST scenes, no network.

Taught in notebook 02; the SUM-GAN notebooks train on it when the real feature files are absent.
It has exactly the layout of ``eccv16_dataset_*_google_pool5.h5`` (read back by the same reader)
and is generated in seconds, deterministically from ``config.seed``:

- **Video** = 3–12 *scenes*; a scene is one Moving MNIST sequence (:mod:`moving_mnist`) with its
  own digit class, number of digits (1–3) and speed (0, 1, 2.5 or 4 px/frame), 90–600 frames.
  Digits are scikit-learn's embedded ones, so no download is ever needed.
- **Steps** = every 15th frame (``picks``), as in the benchmarks.
- **Features** (1024-d): a fixed, offline, two-stream random-feature extractor. Appearance =
  log(1 + |2-D FFT|) of the frame pooled 2×2, lowest 15×8 frequencies (translation-invariant,
  as CNN pool5 features roughly are); motion = the same of |frame − previous frame|; the 240
  values go through a fixed Gaussian projection (seed 1024, N(0, 1/240)) and a ReLU. Not a
  learned network: random ReLU features keep distances between inputs roughly intact, which is
  all a summarizer of these videos needs.
- **Shots** = kernel temporal segmentation (KTS; Potapov et al., ECCV 2014) of the
  L2-normalised features: ``ruptures.KernelCPD`` with the linear kernel (KTS's own choice) and a
  penalty per change point, the same minimum-within-segment-scatter objective solved exactly.
  Shots therefore follow the scenes but, like real KTS shots, not perfectly.
- **Annotators** (TVSum-style): each rates every step 1–5. Preference model: a scene's interest
  is ``0.6 · speed/4 + 0.4 · (n_digits − 1)/2`` (motion and crowds are interesting, a still
  single digit is boring); annotator *a* mixes it with a personal taste per scene,
  ``(1 − λ_a) · interest + λ_a · u_{a,s}`` with ``λ_a ~ U(0.3, 0.7)``, ``u ~ U(0, 1)``, adds
  N(0, 0.15) noise per step and rounds ``1 + 4 · x`` to 1..5. ``user_summary`` is each
  annotator's keyshot summary of their own scores (KTS shots + knapsack, 15 %), as TVSum's are;
  ``gtscore`` = mean rating rescaled to [0, 1]; ``gtsummary`` its keyshot summary at the picks.
  Since interest lives in motion and crowding, which the features see, a summarizer that reads
  the features can beat random scores; random scores still do well (Otani et al.'s point).
- **Frames** are not stored: each record keeps its scenes (bounds, class, digits, speed, seed),
  and :func:`render_frames` regenerates any range of frames exactly.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import ruptures

from course_lib.config import SummarizationDataConfig, summarization_data_config
from course_lib.data.mnist import DigitSource, embedded_digits
from course_lib.data.moving_mnist import generate_moving_mnist
from course_lib.data.summarization import SummarizationDataset, VideoRecord, validate_record
from course_lib.evaluation import generate_summary

SPEEDS = (0.0, 1.0, 2.5, 4.0)  # px/frame
FEATURE_SEED = 1024
LOW = 8  # frequencies kept per axis by the feature extractor
KTS_PENALTY = 0.045  # per change point, on unit-norm features: 3-4 shots per scene
SCENE_COLUMNS = ("digit_class", "n_digits", "speed", "seed")


@lru_cache(maxsize=1)
def _digits() -> DigitSource:
    return embedded_digits()


@lru_cache(maxsize=4)
def _projection(in_dim: int, out_dim: int) -> np.ndarray:
    rng = np.random.default_rng(FEATURE_SEED)
    return (rng.standard_normal((in_dim, out_dim)) / np.sqrt(in_dim)).astype(np.float32)


def _spectrum(frames: np.ndarray) -> np.ndarray:
    """log(1 + |2-D Fourier transform|) of the 2×-pooled frames, lowest 15×8 frequencies.

    The magnitude spectrum does not change when a digit moves (translation only changes the
    phase), so, like CNN pool5 features, it describes *what* is seen more than *where*.
    """
    t, h, w = frames.shape
    pooled = frames.reshape(t, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
    spectrum = np.abs(np.fft.rfft2(pooled))
    low = np.concatenate([spectrum[:, :LOW, :LOW], spectrum[:, -LOW + 1:, :LOW]], axis=1)
    return np.log1p(low.reshape(t, -1))


def extract_features(frames: np.ndarray, previous: np.ndarray, dim: int = 1024) -> np.ndarray:
    """The fixed two-stream extractor: [T, H, W] frames and their previous frames → [T, dim]."""
    stacked = np.concatenate([_spectrum(frames), _spectrum(np.abs(frames - previous))], axis=1)
    return np.maximum(stacked @ _projection(stacked.shape[1], dim), 0.0).astype(np.float32)


def kts_change_points(features: np.ndarray, picks: np.ndarray, n_frames: int,
                      penalty: float | None = None) -> np.ndarray:
    """KTS shots as inclusive frame bounds [n_shots, 2] covering ``0 .. n_frames - 1``."""
    penalty = KTS_PENALTY if penalty is None else penalty
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    ends = ruptures.KernelCPD(kernel="linear", min_size=2).fit(unit).predict(pen=penalty)
    starts = np.concatenate([[0], picks[np.asarray(ends[:-1], dtype=np.int64)]])
    return np.stack([starts, np.append(starts[1:] - 1, n_frames - 1)], axis=1).astype(np.int64)


def render_scene(params: np.ndarray, n_frames: int, canvas: int = 64) -> np.ndarray:
    """All frames [n_frames, canvas, canvas] of one scene, from its stored parameters."""
    digit_class, n_digits, speed, seed = params
    digits = _digits()
    mask = digits.labels == int(digit_class)
    subset = DigitSource(digits.images[mask], digits.labels[mask], digits.name)
    return generate_moving_mnist(subset, 1, n_frames=n_frames, n_digits=int(n_digits),
                                 canvas=canvas, speed=float(speed),
                                 rng=np.random.default_rng(int(seed))).frames[0]


def render_frames(record: VideoRecord, start: int = 0, stop: int | None = None,
                  step: int = 1, canvas: int = 64) -> np.ndarray:
    """Frames ``start:stop:step`` of a synthetic video, regenerated from its scenes."""
    if "scene_bounds" not in record.extras:
        raise ValueError(f"{record.key} is not a synthetic video: only those can be rendered "
                         "(the benchmark files hold features, not frames).")
    stop = record.n_frames if stop is None else stop
    wanted = np.arange(start, stop, step)
    out = np.zeros((len(wanted), canvas, canvas), np.float32)
    for (s0, s1), params in zip(record.extras["scene_bounds"], record.extras["scene_params"],
                                strict=True):
        inside = (wanted >= s0) & (wanted <= s1)
        if inside.any():
            out[inside] = render_scene(params, int(s1 - s0 + 1), canvas)[wanted[inside] - s0]
    return out


def _annotate(interest: np.ndarray, scene_of_step: np.ndarray, n_annotators: int,
              rng: np.random.Generator) -> np.ndarray:
    """Step ratings 1..5 [n_annotators, n_steps] from the documented preference model."""
    n_scenes = len(interest)
    mix = rng.uniform(0.3, 0.7, size=(n_annotators, 1))
    taste = (1 - mix) * interest + mix * rng.random((n_annotators, n_scenes))
    x = taste[:, scene_of_step] + rng.normal(0.0, 0.15, size=(n_annotators, len(scene_of_step)))
    return 1 + np.rint(4 * np.clip(x, 0.0, 1.0))


def _frames_at(picks, starts, lengths, params, canvas):
    """Frames at the picks and just before them, one scene in memory at a time."""
    at_picks = np.zeros((len(picks), canvas, canvas), np.float32)
    before = np.zeros_like(at_picks)
    last = np.zeros((canvas, canvas), np.float32)  # the frame before the video: black
    for start, n, p in zip(starts, lengths, params, strict=True):
        frames = render_scene(p, int(n), canvas)
        inside = (picks >= start) & (picks < start + n)
        local = picks[inside] - start
        at_picks[inside] = frames[local]
        before[inside] = np.where((local > 0)[:, None, None], frames[np.maximum(local - 1, 0)],
                                  last)
        last = frames[-1]
    return at_picks, before


def make_video(key: str, config: SummarizationDataConfig, rng: np.random.Generator) -> VideoRecord:
    """One synthetic video, fully annotated, in the benchmark layout."""
    n_scenes = int(rng.integers(config.scenes_per_video[0], config.scenes_per_video[1] + 1))
    lengths = rng.integers(config.scene_frames[0], config.scene_frames[1] + 1, size=n_scenes)
    params = np.stack([rng.integers(0, 10, n_scenes), rng.integers(1, 4, n_scenes),
                       rng.choice(SPEEDS, n_scenes), rng.integers(0, 2**31, n_scenes)],
                      axis=1).astype(np.float64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    n_frames = int(lengths.sum())
    picks = np.arange(0, n_frames, config.subsample)
    at_picks, before = _frames_at(picks, starts, lengths, params, config.canvas)
    features = extract_features(at_picks, before, config.feature_dim)
    change_points = kts_change_points(features, picks, n_frames)

    interest = 0.6 * params[:, 2] / max(SPEEDS) + 0.4 * (params[:, 1] - 1) / 2
    scene_of_step = np.searchsorted(starts, picks, side="right") - 1
    ratings = _annotate(interest, scene_of_step, config.n_annotators, rng)
    hold = np.diff(picks, append=n_frames)
    user_summary = np.stack([generate_summary(r, change_points, picks, n_frames) for r in ratings])
    gtscore = ((ratings.mean(axis=0) - 1) / 4).astype(np.float32)
    gtsummary = generate_summary(gtscore, change_points, picks, n_frames)[picks]
    record = VideoRecord(
        key=key, n_frames=n_frames, picks=picks, features=features, gtscore=gtscore,
        user_summary=user_summary, change_points=change_points,
        n_frame_per_seg=change_points[:, 1] - change_points[:, 0] + 1,
        gtsummary=gtsummary.astype(np.float32), video_name=f"synthetic {key}",
        user_scores=np.repeat(ratings, hold, axis=1).astype(np.float32),
        extras={"scene_bounds": np.stack([starts, starts + lengths - 1], axis=1),
                "scene_params": params, "scene_interest": interest})
    return validate_record(record, "synthetic dataset")


def make_synthetic_dataset(config: SummarizationDataConfig | None = None) -> SummarizationDataset:
    """The embedded dataset for a configuration (default: the current tier's)."""
    config = config or summarization_data_config(verbose=False)
    rng = np.random.default_rng(config.seed)
    videos = {f"video_{i}": make_video(f"video_{i}", config, rng)
              for i in range(1, config.n_videos + 1)}
    return SummarizationDataset("synthetic", videos, eval_method="mean",
                                source=f"synthetic (seed {config.seed}, {config.tier} tier)")
