"""Read a video file and sample it the way the benchmark's features were made: 2 frames per second.

Taught in notebook 07. The eccv16 feature files (K. Zhou et al., "Deep reinforcement learning for
unsupervised video summarization", AAAI 2018, after K. Zhang et al., "Video summarization with
long short-term memory", ECCV 2016) subsample every video to 2 frames per second: every 15th
frame of a 30 fps video (their ``picks``). :func:`sample_indices` does the same for any frame
rate (frame ``round(k · fps / 2)``, rounding halves up).

Decoding is PyAV's (FFmpeg inside its wheel: no system FFmpeg needed) and streams: one frame is
decoded at a time and only the sampled ones (and, where a feature needs motion, their
neighbours) are converted and kept, so a video of any length fits in memory. Every problem with a
file (not a video, truncated, no video stream, no frames, too short, a variable frame rate)
becomes one :class:`~course_lib.video.VideoError` that says what to do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from course_lib.video import VideoError

SAMPLE_RATE = 2.0  # sampled frames per second, as in the benchmark's features
MIN_STEPS = 2  # sampled frames a summarizer needs (it selects among them)
VFR_TOLERANCE = 1.5  # frame durations a frame's time may stray from index / fps
CFR_FIX = ("Re-encode it at a constant frame rate first: with the ffmpeg program (installed "
           "apart from the course), `ffmpeg -i IN -fps_mode cfr OUT.mp4`, or a video editor's "
           "'constant frame rate' export.")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video's first video stream (before decoding it)."""

    path: Path
    fps: Fraction
    width: int  # as displayed (after the rotation the file asks for)
    height: int
    rotation: int  # degrees clockwise that a player turns the stored frames
    announced_frames: int  # 0 when the container does not say
    duration: float  # seconds; 0.0 when unknown
    has_audio: bool

    @property
    def portrait(self) -> bool:
        return self.height > self.width


def sample_indices(n_frames: int, fps: float, rate: float = SAMPLE_RATE) -> np.ndarray:
    """The frames sampled at ``rate`` per second: ``round(k · fps / rate)`` for k = 0, 1, …
    (halves rounded up) below ``n_frames``. For 30 fps and rate 2: 0, 15, 30, …"""
    if fps <= 0 or rate <= 0:
        raise VideoError(f"the frame rate ({fps}) and the sampling rate ({rate}) must be positive.")
    step = fps / rate
    k = np.arange(int(np.ceil(n_frames / step)) + 1)
    picks = np.floor(k * step + 0.5).astype(np.int64)
    return np.unique(picks[picks < n_frames])


def _open(path: Path):
    import av

    if path.is_dir():
        raise VideoError(f"{path} is a folder; give a video file (course-summarize also takes a "
                         "folder of videos as its only input).")
    if not path.is_file():
        raise VideoError(f"{path} does not exist: check the path.")
    try:
        container = av.open(str(path))
    except av.error.EOFError:
        raise VideoError(f"{path} holds no frames (FFmpeg reached its end before any picture): "
                         "it is empty or truncated; copy it again.") from None
    except av.FFmpegError as error:
        raise VideoError(f"{path} is not a video FFmpeg can read ({error.strerror or error}): it "
                         "may be another kind of file, or truncated (an interrupted copy or "
                         "download); open it in a video player to check, or copy it again."
                         ) from None
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        container.close()  # after listing them: a closed container has no streams
        raise VideoError(f"{path} has no video stream (its streams: {kinds}), so there is "
                         "nothing to summarize: give a file with pictures.")
    return container


def _rotation(container) -> int:
    """Degrees clockwise a player turns the frames (phones store portrait videos sideways)."""
    stream = container.streams.video[0]
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                return int(round(-frame.rotation)) % 360
    except Exception:  # noqa: BLE001 - the real decode reports any damage with its message
        return 0
    return 0


def probe(path: str | Path) -> VideoInfo:
    """The video's frame rate, size, rotation, length and whether it has sound."""
    path = Path(path)
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        fps = stream.average_rate or stream.guessed_rate
        if not fps or fps <= 0:
            raise VideoError(f"{path}: its video stream has no frame rate, so it cannot be "
                             f"sampled at {SAMPLE_RATE:g} frames per second. {CFR_FIX}")
        width, height = stream.codec_context.width, stream.codec_context.height
        # the picture's own length: a file's (container.duration) is its longest stream's, and
        # a sound track often runs on past the last frame
        duration = (float(stream.duration * stream.time_base) if stream.duration
                    else float(container.duration / 1e6) if container.duration else 0.0)
        has_audio = bool(container.streams.audio)
        announced = int(stream.frames or 0)
        rotation = _rotation(container)
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(path, Fraction(fps), width, height, rotation, announced, duration, has_audio)


def _array(frame, size: tuple[int, int] | None, rotation: int, gray: bool) -> np.ndarray:
    """One decoded frame as uint8 [H, W, 3] RGB (or [H, W] gray), scaled to ``size`` = (width,
    height) as displayed, turned the way a player shows it."""
    turned = rotation in (90, 270)
    width, height = (size[::-1] if turned else size) if size else (frame.width, frame.height)
    image = frame.reformat(width=width, height=height, format="gray" if gray else "rgb24")
    array = image.to_ndarray()
    return np.ascontiguousarray(np.rot90(array, k=-rotation // 90)) if rotation else array


@dataclass
class Sample:
    """A sampled frame: its index, the frame, and its neighbour (the frame before it, or the
    one after for frame 0), for features that measure motion."""

    index: int
    frame: np.ndarray
    neighbour: np.ndarray | None = None


@dataclass
class Decoded:
    """Filled in when :func:`iter_samples` has run: what the decoding found."""

    n_frames: int = 0
    picks: np.ndarray | None = None


def _frames(container, path: Path, info: VideoInfo) -> Iterator:
    """The decoded frames in order; damage, a variable frame rate and too few frames raise."""
    import av

    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    fps, start, count = float(info.fps), None, 0
    try:
        for frame in container.decode(stream):
            if frame.time is not None:
                start = frame.time if start is None else start
                drift = abs(frame.time - start - count / fps) * fps
                if drift > VFR_TOLERANCE:
                    raise VideoError(
                        f"{path} has a variable frame rate: frame {count} is shown at "
                        f"{frame.time - start:.3f} s, {drift:.1f} frames away from where "
                        f"{fps:.3f} fps puts it, so frame indices do not tell times. {CFR_FIX}")
            yield frame
            count += 1
    except av.FFmpegError as error:
        if count == 0:
            raise VideoError(f"{path} has a video stream but no frame could be decoded from it "
                             f"({error.strerror or error}): the file is empty or damaged; copy "
                             "it again.") from None
        raise VideoError(f"{path} is damaged: decoding stopped after {count} frames "
                         f"({error.strerror or error}). It is probably truncated; copy it "
                         "again.") from None
    if count == 0:
        raise VideoError(f"{path} has a video stream but no frames could be decoded from it: "
                         "the file is empty or truncated; copy it again.")
    if info.announced_frames and count < 0.98 * info.announced_frames - 2:
        raise VideoError(f"{path} is truncated: it holds {count} decodable frames of the "
                         f"{info.announced_frames} its header announces; copy it again.")


def iter_samples(info: VideoInfo, size: tuple[int, int] | None = None, *, gray: bool = False,
                 neighbours: bool = False, decoded: Decoded | None = None) -> Iterator[Sample]:
    """Stream the frames sampled at 2 per second as :class:`Sample` s, scaled to ``size`` =
    (width, height) (``None``: as stored). ``decoded`` gets the frame count and picks at the
    end; a video with fewer than :data:`MIN_STEPS` samples raises."""
    step = float(info.fps) / SAMPLE_RATE
    k, previous, waiting = 0, None, None
    container = _open(info.path)
    with container:
        for index, frame in enumerate(_frames(container, info.path, info)):
            pick = int(np.floor(k * step + 0.5))
            keep = index == pick or waiting is not None or (neighbours and index + 1 == pick)
            array = _array(frame, size, info.rotation, gray) if keep else None
            if waiting is not None:  # frame 0's neighbour is frame 1
                waiting.neighbour = array
                yield waiting
                waiting = None
            if index == pick:
                while int(np.floor(k * step + 0.5)) <= index:  # below 2 fps, one frame each
                    k += 1
                sample = Sample(index, array, previous)
                if neighbours and index == 0:
                    waiting = sample
                else:
                    yield sample
            previous = array if neighbours else None
        n_frames = index + 1
    if waiting is not None:  # a one-frame video: frame 0 is its own neighbour
        waiting.neighbour = waiting.frame
        yield waiting
    picks = sample_indices(n_frames, float(info.fps))
    if decoded is not None:
        decoded.n_frames, decoded.picks = n_frames, picks
    if len(picks) < MIN_STEPS:
        raise VideoError(f"{info.path} is too short: {n_frames} frame(s) at {float(info.fps):.3g} "
                         f"fps give {len(picks)} sampled frame(s) at {SAMPLE_RATE:g} per second, "
                         f"and a summary needs at least {MIN_STEPS} to choose from (a video "
                         f"longer than {(MIN_STEPS - 1) / SAMPLE_RATE:g} s).")


def read_frames(info: VideoInfo, indices: Sequence[int], size: tuple[int, int] | None = None
                ) -> dict[int, np.ndarray]:
    """The frames at ``indices`` (RGB uint8, scaled to ``size``), in one decoding pass."""
    wanted, found = set(int(i) for i in indices), {}
    container = _open(info.path)
    with container:
        for index, frame in enumerate(_frames(container, info.path, info)):
            if index in wanted:
                found[index] = _array(frame, size, info.rotation, False)
                if len(found) == len(wanted):
                    break
    return found
