"""From a video file to its summary: sample, features, KTS shots, scores, knapsack (notebook 07,
``course-summarize``).

Every step is the course's own: the shots are :func:`course_lib.data.synthetic_videos.
kts_change_points` (the KTS of notebook 02; its penalty was set on the course's features, so on
GoogLeNet features the shots may be longer or shorter than the benchmark's; shots over 5 s, or a
tenth of the video, are cut in equal parts, so that every shot can fit the budget), the scores
come from a trained model of the family (:mod:`~course_lib.video.summarizers`), and the summary is
:func:`course_lib.evaluation.generate_summary` (the 0/1 knapsack at a 15 % budget), as in
evaluation. :func:`summarize` returns a :class:`VideoSummary`; :func:`write_outputs` writes the
summary video, the storyboard, the scores plot and the h5 file.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from course_lib.evaluation import BUDGET
from course_lib.video import VideoError
from course_lib.video.decode import VideoInfo, probe
from course_lib.video.features import DIMS, Extractor, extract, make_extractor
from course_lib.video.summarizers import Summarizer, check_features, score

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".3gp")
MAX_SHOT_SECONDS = 5.0
AUDIO_NOTE = ("note: the summary video has no sound (the original's audio is dropped; cutting it "
              "to the selected shots is not implemented).")


@dataclass
class VideoSummary:
    """One video through the pipeline: its record in the eccv16 layout (features, picks, shots)
    and, once scored, the scores per step and the 0/1 summary over frames."""

    info: VideoInfo
    record: object  # course_lib.data.summarization.VideoRecord
    features: str
    scores: np.ndarray | None = None
    summary: np.ndarray | None = None
    summarizer: str | None = None
    budget: float = BUDGET
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return float(self.info.fps)

    @property
    def selected(self) -> np.ndarray:
        """Indices of the selected shots."""
        return np.flatnonzero(self.summary[self.record.change_points[:, 0]])

    @property
    def summary_seconds(self) -> float:
        return float(self.summary.sum()) / self.fps

    def shot_times(self) -> np.ndarray:
        """[start, end) in seconds of each selected shot."""
        return shot_times(self.record.change_points, self.selected, self.fps)

    def key_frames(self) -> np.ndarray:
        """One frame per selected shot: its highest-scoring sampled frame."""
        return key_frames(self.record.change_points[self.selected], self.record.picks,
                          self.scores)

    def describe(self) -> str:
        return (f"{self.info.path.name}: {self.record.n_frames} frames at {self.fps:.3g} fps "
                f"({self.record.n_frames / self.fps:.1f} s), {self.record.n_steps} sampled, "
                f"{_shots(len(self.record.change_points))}, {self.features} features"
                + (f", scored by {self.summarizer}: {_shots(len(self.selected))}, "
                   f"{self.summary_seconds:.1f} s ({self.budget:.0%} budget)"
                   if self.summary is not None else ""))


def _shots(n: int) -> str:
    return f"{n} shot" + ("s" if n != 1 else "")


def shot_times(change_points: np.ndarray, shots, fps: float) -> np.ndarray:
    """Inclusive frame bounds of the chosen ``shots`` → [start, end) in seconds: a shot of frames
    s..e starts at s / fps and ends when frame e ends, at (e + 1) / fps."""
    bounds = np.asarray(change_points, dtype=np.int64)[np.asarray(shots, dtype=np.int64)]
    return np.stack([bounds[:, 0], bounds[:, 1] + 1], axis=1).astype(np.float64) / fps


def shots(features: np.ndarray, picks: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """KTS shots [n_shots, 2] (inclusive frames), none longer than :func:`max_shot_frames`; a
    video too short to cut is one shot (then split the same way)."""
    import ruptures

    from course_lib.data.synthetic_videos import kts_change_points

    try:
        bounds = kts_change_points(features, picks, n_frames)
    except ruptures.exceptions.BadSegmentationParameters:  # fewer steps than two shots need
        bounds = np.array([[0, n_frames - 1]], dtype=np.int64)
    return split_long_shots(bounds, max_shot_frames(n_frames, fps))


def max_shot_frames(n_frames: int, fps: float) -> int:
    """The longest shot kept whole: 5 s, and at most a tenth of the video. A shot longer than
    the budget can never be selected, and KTS's penalty was set on the course's features: on
    other features (GoogLeNet's, a long static scene) it can leave one shot for a minute."""
    return max(1, int(min(MAX_SHOT_SECONDS * fps, n_frames / 10)))


def split_long_shots(change_points: np.ndarray, longest: int) -> np.ndarray:
    """Each shot longer than ``longest`` frames cut into equal parts no longer than that."""
    out = []
    for start, end in np.asarray(change_points, dtype=np.int64):
        parts = -(-(end - start + 1) // longest)
        edges = start + np.round(np.linspace(0, end - start + 1, parts + 1)).astype(np.int64)
        out += [[a, b - 1] for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return np.asarray(out, dtype=np.int64)


def key_frames(change_points: np.ndarray, picks: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each shot's highest-scoring sampled frame (the first on a tie; the shot's first frame if
    no frame of it was sampled): what a storyboard shows."""
    keys = []
    for start, end in np.asarray(change_points, dtype=np.int64):
        inside = np.flatnonzero((picks >= start) & (picks <= end))
        keys.append(picks[inside[np.argmax(scores[inside])]] if len(inside) else start)
    return np.asarray(keys, dtype=np.int64)


def analyse(path: str | Path, extractor: Extractor, *, key: str = "video_1",
            progress: bool = False):
    """Decode and sample the video, compute its features and KTS shots: a
    :class:`VideoSummary` without scores, whose record is a valid eccv16 group."""
    from course_lib.data.summarization import VideoRecord, validate_record

    info, started = probe(path), time.perf_counter()
    features, decoded = extract(info, extractor, progress=progress)
    extracted = time.perf_counter()
    change_points = shots(features, decoded.picks, decoded.n_frames, float(info.fps))
    record = validate_record(VideoRecord(
        key=key, n_frames=decoded.n_frames, picks=decoded.picks, features=features,
        change_points=change_points,
        n_frame_per_seg=change_points[:, 1] - change_points[:, 0] + 1,
        video_name=info.path.name,
        extras={"fps": np.float64(info.fps), "feature_kind": np.bytes_(extractor.kind)}),
        str(info.path))
    return VideoSummary(info, record, extractor.kind, seconds={
        "features": extracted - started, "shots": time.perf_counter() - extracted})


def check_budget(budget: float) -> None:
    """Refuse a budget that is no share of a video (called before a video is decoded too, so
    that a typo costs no minutes of feature extraction)."""
    if not 0 < budget <= 1:
        raise VideoError(f"the budget is the summary's share of the video, above 0 and at most "
                         f"1 (0.15 is the benchmark's 15 %), got {budget}.")


def select(video: VideoSummary, summarizer: Summarizer, budget: float = BUDGET) -> VideoSummary:
    """Score the video's steps with ``summarizer`` and choose its shots by the knapsack."""
    from course_lib.evaluation import ScoreWarning, generate_summary

    check_budget(budget)
    check_features(summarizer, video.features, video.record.features.shape[1])
    record = video.record
    scores = score(summarizer, record.features)
    with warnings.catch_warnings():  # the error below says it better
        warnings.simplefilter("ignore", ScoreWarning)
        summary = generate_summary(scores, record.change_points, record.picks, record.n_frames,
                                   proportion=budget)
    if not summary.any():
        shortest = record.shot_lengths.min() / video.fps
        raise VideoError(f"{video.info.path.name}: no shot fits the budget ({budget:.0%} of "
                         f"{record.n_frames / video.fps:.1f} s; the shortest shot lasts "
                         f"{shortest:.1f} s), so the summary would be empty: pass a larger "
                         f"--budget (at least {shortest * video.fps / record.n_frames:.2f}).")
    return replace(video, scores=scores, summary=summary, summarizer=summarizer.name,
                   budget=budget)


def summarize(path: str | Path, summarizer: Summarizer, *, features: str | None = None,
              budget: float = BUDGET, weights: str | None = "imagenet",
              progress: bool = False) -> VideoSummary:
    """The whole pipeline on one file; ``features`` defaults to the kind the model reads."""
    kind = features or summarizer.features
    check_features(summarizer, kind, DIMS.get(kind, 0))  # before any download or decoding
    extractor = make_extractor(kind, weights=weights)
    return select(analyse(path, extractor, progress=progress), summarizer, budget)


def output_paths(video: str | Path, out: str | Path, h5_only: bool = False) -> dict[str, Path]:
    """Where :func:`write_outputs` puts each file of ``video``."""
    stem, out = Path(video).stem, Path(out)
    paths = {"h5": out / f"{stem}.h5"}
    if not h5_only:
        paths |= {"video": out / f"{stem}_summary.mp4",
                  "storyboard": out / f"{stem}_storyboard.png",
                  "scores": out / f"{stem}_scores.png"}
    return paths


def write_outputs(video: VideoSummary, paths: dict[str, Path], *, overwrite: bool = False,
                  progress: bool = False) -> dict[str, Path]:
    """Write the files of ``paths`` (from :func:`output_paths`), each atomically; existing ones
    only with ``overwrite``."""
    import matplotlib.pyplot as plt

    from course_lib.video import outputs

    outputs.check_outputs(list(paths.values()), overwrite)
    written = {}
    if "video" in paths:
        keys = video.key_frames()
        thumbs = outputs.write_summary_video(video.info, video.summary, paths["video"],
                                             key_frames=keys, progress=progress)
        written["video"] = paths["video"]
        if video.info.has_audio:
            print(AUDIO_NOTE)
        figure = outputs.storyboard_figure([thumbs[k] for k in keys], keys / video.fps,
                                           f"{video.info.path.name}: one key frame per "
                                           "selected shot")
        written["storyboard"] = outputs.save_figure(figure, paths["storyboard"])
        plt.close(figure)
        figure = outputs.scores_figure(video)
        written["scores"] = outputs.save_figure(figure, paths["scores"])
        plt.close(figure)
    if "h5" in paths:
        written["h5"] = outputs.write_h5([video.record], paths["h5"])
    return written
