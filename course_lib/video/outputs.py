"""Write what a summary produces, each file atomically: the summary video, the storyboard and
scores figures, and the h5 file in the eccv16 layout (notebook 07, ``course-summarize``).

Every file is written to a temporary file beside its destination and renamed over it only when
complete, so an error or Ctrl-C never leaves a half-written file (and, inside
:func:`all_at_once`, never some outputs replaced and others not); an existing output is refused
unless ``overwrite`` is set, before any work starts (:func:`check_outputs`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction
from pathlib import Path

import numpy as np

from course_lib.video import VideoError

MAX_SIDE = 1920  # the summary video's longest side: a 4K video's summary is scaled down to this
CODEC = "libx264"  # H.264 in an MP4: what browsers and phones play


# The files written inside all_at_once(), waiting to replace their destinations; None outside.
_pending: ContextVar[list[tuple[Path, Path]] | None] = ContextVar("pending", default=None)


@contextmanager
def atomic(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers know the format) that replaces
    ``path`` when the block ends without an error (inside :func:`all_at_once`, when that block
    ends), and is removed otherwise."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if (pending := _pending.get()) is not None:
        pending.append((tmp, path))
        return
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def all_at_once() -> Iterator[None]:
    """Every file written by :func:`atomic` inside the block replaces its destination only when
    the whole block succeeds: a run stopped halfway (Ctrl-C, a full disk) leaves every old output
    as it was, rather than some replaced and some not."""
    pending: list[tuple[Path, Path]] = []
    token = _pending.set(pending)
    try:
        yield
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _pending.reset(token)
    from course_lib.training import deferred_interrupts

    with deferred_interrupts():  # a Ctrl-C now waits until every file is in place
        try:
            for tmp, path in pending:
                os.replace(tmp, path)
        finally:
            for tmp, _ in pending:
                tmp.unlink(missing_ok=True)


def check_outputs(paths: Sequence[Path], overwrite: bool = False) -> None:
    """Refuse, before anything runs, outputs that exist (without ``overwrite``) and a folder
    that cannot be written."""
    folders = sorted({Path(p).parent for p in paths})
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise VideoError(f"the output folder {folder} is a file: choose another --out.")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-test-{os.getpid()}-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise VideoError(f"the output folder {folder} cannot be written ({error.strerror}): "
                             "choose another with --out, or give yourself write access."
                             ) from None
    if folders := [str(p) for p in paths if Path(p).is_dir()]:
        raise VideoError(f"{', '.join(folders)}: a folder where an output file would go; move it "
                         "away or choose another --out (--overwrite replaces files only).")
    if existing := [str(p) for p in paths if Path(p).exists()] if not overwrite else []:
        verb, them = ("exists", "it") if len(existing) == 1 else ("exist", "them")
        raise VideoError(f"{', '.join(existing)} already {verb}: pass --overwrite (in Python: "
                         f"overwrite=True) to replace {them}, or choose another --out.")


def even_size(width: int, height: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The largest even size (H.264 in yuv420p needs even sides) with the same shape and its
    longest side at most ``max_side``."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


class VideoWriter:
    """Frames (uint8 RGB [H, W, 3], or [H, W] gray) → an H.264 MP4 at ``fps``, written to a
    temporary file and renamed to ``path`` by :meth:`close` (:meth:`abort` discards it)."""

    def __init__(self, path: str | Path, fps: Fraction | float, width: int, height: int, *,
                 crf: int = 23):
        import av

        self.path, self.size = Path(path), (width, height)
        self._atomic = atomic(self.path)
        self._tmp = self._atomic.__enter__()
        self.container = av.open(str(self._tmp), mode="w")
        self.stream = self.container.add_stream(CODEC, rate=Fraction(fps).limit_denominator(1001))
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(crf), "preset": "veryfast"}
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        import av

        image = np.ascontiguousarray(image)
        frame = av.VideoFrame.from_ndarray(image, format="gray" if image.ndim == 2 else "rgb24")
        if (frame.width, frame.height) != self.size:
            frame = frame.reformat(width=self.size[0], height=self.size[1])
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self) -> Path:
        if not self.frames:
            self.container.start_encoding()  # a valid file even without frames
        self.container.mux(self.stream.encode())
        self.container.close()
        self._atomic.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        self.container.close()
        self._atomic.__exit__(VideoError, VideoError("aborted"), None)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def write_summary_video(info, summary: np.ndarray, path: str | Path, *,
                        key_frames: Sequence[int] = (), thumbnail: int = 320,
                        progress: bool = False) -> dict[int, np.ndarray]:
    """The frames where ``summary`` is true, in order, at the video's frame rate, into an MP4
    (sound dropped: see the module ``pipeline``'s note). Returns the ``key_frames`` as
    thumbnails (longest side ``thumbnail``), taken in the same decoding pass."""
    from tqdm.auto import tqdm

    from course_lib.video.decode import _array, _frames, _open

    width, height = even_size(info.width, info.height)
    thumbs, wanted = {}, set(int(k) for k in key_frames)
    tw, th = even_size(info.width, info.height, thumbnail)
    container = _open(info.path)
    bar = tqdm(total=int(summary.sum()), desc="summary video", unit="frame", disable=not progress)
    with container, VideoWriter(path, info.fps, width, height) as writer:
        for index, frame in enumerate(_frames(container, info.path, info)):
            if index >= len(summary):
                break
            if index in wanted:
                thumbs[index] = _array(frame, (tw, th), info.rotation, False)
            if summary[index]:
                writer.write(_array(frame, (width, height), info.rotation, False))
                bar.update()
    bar.close()
    return thumbs


def write_h5(records, path: str | Path, name: str = "videos") -> Path:
    """The records (:class:`~course_lib.data.summarization.VideoRecord`) as one eccv16-layout h5
    file, one group per video, written atomically."""
    from course_lib.data.summarization import SummarizationDataset
    from course_lib.data.summarization import write_h5 as write

    dataset = SummarizationDataset(name, {r.key: r for r in records})
    with atomic(path) as tmp:
        write(dataset, tmp)
    return Path(path)


def save_figure(figure, path: str | Path) -> Path:
    """A matplotlib figure as a PNG, atomically."""
    with atomic(path) as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight")
    return Path(path)


def storyboard_figure(thumbnails: Sequence[np.ndarray], times: Sequence[float],
                      title: str = "storyboard", columns: int = 6):
    """Frames in a grid, each titled with its time (m:ss.s) in the video: the storyboard (one
    key frame per selected shot), or a strip of the decoded frames."""
    import matplotlib.pyplot as plt

    n = max(1, len(thumbnails))
    rows = -(-n // columns)
    cols = min(columns, n)
    figure, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, t in zip(axes.flat, thumbnails, times, strict=False):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.set_title(f"{int(t // 60)}:{t % 60:04.1f}", fontsize="small")
        ax.axis("on")  # a thin frame, so that a white picture keeps its edges on the page
        ax.set(xticks=[], yticks=[])
        for spine in ax.spines.values():
            spine.set(color="0.6", linewidth=0.8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def scores_figure(video, ax=None):
    """The model's score per sampled frame over the video, the KTS shots and the selection; a
    second axis in seconds, the unit of the storyboard and the printed shots. Drawn into ``ax``
    (a panel of several models' scores), its title is the model's name alone."""
    import matplotlib.pyplot as plt

    from course_lib.summary_plots import importance_plot

    title = video.summarizer
    if ax is None:
        figure, ax = plt.subplots(figsize=(9, 2.8))
        title = (f"{video.info.path.name}: scores of {video.summarizer}, KTS shots (dashed), "
                 "selected shots (shaded)")
    importance_plot(video.record, video.scores, video.summary, ax=ax, title=title,
                    label=f"{video.summarizer} score")
    fps = float(video.info.fps)
    ax.secondary_xaxis("top", functions=(lambda f: f / fps, lambda t: t * fps)).set_xlabel(
        "seconds", fontsize="small")
    return ax.figure


EMBED_LIMIT = 20 * 2**20  # bytes: a larger video is named, not copied into the notebook


def videos_html(videos: dict[str, Path], width: int = 320) -> str:
    """HTML5 players side by side, one per ``{title: path}``, each video embedded in the page
    (so the notebook plays it anywhere) when at most 20 MiB; a larger one is named, with where
    to open it, in place of a player (a page cannot load a file by its path on this machine)."""
    import base64
    import html

    cells = []
    for title, path in videos.items():
        path = Path(path)
        if (size := path.stat().st_size) <= EMBED_LIMIT:
            source = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
            shown = f'<video controls loop muted width="{width}" src="{source}"></video>'
        else:
            shown = (f'<div style="width:{width}px;padding:8px;border:1px solid #999">'
                     f"{size / 2**20:.0f} MiB: too large to embed in the notebook; open "
                     f"<code>{html.escape(str(path))}</code> in a video player.</div>")
        cells.append(f'<figure style="margin:0 12px 0 0">{shown}<figcaption>'
                     f"{html.escape(title)}</figcaption></figure>")
    return f'<div style="display:flex;flex-wrap:wrap">{"".join(cells)}</div>'
