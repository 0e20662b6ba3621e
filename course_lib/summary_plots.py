"""Figures and widgets for video summaries (notebook 02 and the SUM-GAN notebooks).

Generic players and loss curves live in :mod:`course_lib.widgets` and :mod:`course_lib.plotting`;
this module draws what is specific to summaries: importance curves with shot boundaries, the
knapsack's choice, user summaries against a machine summary, and a video explorer.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from course_lib import evaluation as ev
from course_lib.data.summarization import SummarizationDataset, VideoRecord
from course_lib.widgets import frame_png, play_controls


def importance_plot(record: VideoRecord, scores: np.ndarray | None = None,
                    summary: np.ndarray | None = None, cursor: int | None = None,
                    ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Step scores (default ``gtscore``) over frames, KTS shot boundaries, selected shots shaded."""
    if ax is None:
        ax = plt.subplots(figsize=(8, 2.4))[1]
    scores = record.gtscore if scores is None else np.asarray(scores)
    ax.step(record.picks, scores, where="post", color="C0", lw=1.2, label="importance")
    if record.change_points is not None:
        for start in record.change_points[1:, 0]:
            ax.axvline(start, color="0.6", lw=0.6, ls="--")
    if summary is not None:
        ax.fill_between(np.arange(len(summary)), 0, np.max(scores) * summary, step="post",
                        color="C1", alpha=0.3, label="selected shots")
    if cursor is not None:
        ax.axvline(cursor, color="C3", lw=1.5)
    ax.set(xlim=(0, record.n_frames), xlabel="frame", ylabel="score",
           title=title or f"{record.key}: importance, shots (dashed)")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def knapsack_plot(values: np.ndarray, weights: np.ndarray, capacity: int,
                  chosen: list[int], ax: plt.Axes | None = None) -> plt.Axes:
    """Shots as bars (width = length in frames, height = mean score), the knapsack's pick in
    orange: the budget is spent on value per frame *and* on fitting, not on the best shots."""
    if ax is None:
        ax = plt.subplots(figsize=(8, 2.6))[1]
    lefts = np.concatenate([[0], np.cumsum(weights)[:-1]])
    colors = ["C1" if i in set(chosen) else "C0" for i in range(len(values))]
    ax.bar(lefts, values, width=weights, align="edge", color=colors, edgecolor="white")
    used = int(np.sum(np.asarray(weights)[chosen]))
    ax.set(xlabel="frame", ylabel="shot score", xlim=(0, np.sum(weights)),
           title=f"Knapsack: {len(chosen)} of {len(values)} shots, {used} of {capacity} frames "
                 f"of budget (orange = selected)")
    return ax


def summaries_plot(record: VideoRecord, summary: np.ndarray, metric: str,
                   ax: plt.Axes | None = None) -> plt.Axes:
    """Each user's keyshots (rows) above the machine summary, with the F-score per user."""
    if ax is None:
        ax = plt.subplots(figsize=(8, 0.25 * record.n_users + 1.2))[1]
    users = record.user_summary
    f = ev.f_scores(summary, users)
    image = np.vstack([users, np.zeros((1, users.shape[1])), 2 * summary[None, :users.shape[1]]])
    ax.imshow(image, aspect="auto", interpolation="nearest", cmap="Blues", vmin=0, vmax=2)
    ax.set_yticks(list(range(len(users))) + [len(users) + 1])
    ax.set_yticklabels([f"user {u + 1}: F={v:.0f}" for u, v in enumerate(f)] + ["machine"],
                       fontsize=7)
    ax.set(xlabel="frame", title=f"{record.key}: F = {ev.reduce_users(f, metric):.1f} "
                                 f"({metric} over users; mean {f.mean():.1f}, max {f.max():.1f})")
    return ax


def baseline_bars(ours: Mapping[str, float], published: Mapping[str, float],
                  title: str = "", ax: plt.Axes | None = None) -> plt.Axes:
    """Our F-scores beside published ones, per baseline."""
    if ax is None:
        ax = plt.subplots(figsize=(6, 2.8))[1]
    names = list(ours)
    x = np.arange(len(names))
    ax.bar(x - 0.2, [ours[n] for n in names], 0.4, label="this course")
    ax.bar(x + 0.2, [published.get(n, np.nan) for n in names], 0.4, label="Otani et al. 2019")
    for xi, name in zip(x, names, strict=True):
        ax.text(xi - 0.2, ours[name] + 1, f"{ours[name]:.1f}", ha="center", fontsize=8)
    ax.set_xticks(x, names)
    ax.set(ylabel="F-score (%)", title=title, ylim=(0, 100))
    ax.legend(fontsize=8)
    return ax


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def video_explorer(dataset: SummarizationDataset, interval: int = 300) -> widgets.VBox:
    """Pick a video, scrub its steps: the frame (synthetic videos) beside the importance curve,
    the shot boundaries, the ground-truth summary and a cursor at the current frame."""
    from course_lib.data.synthetic_videos import render_frames

    choose = widgets.Dropdown(options=dataset.keys(), description="video")
    frame, curve, caption = widgets.Image(format="png"), widgets.Image(format="png"), \
        widgets.HTML()
    play, slider = play_controls(2, interval, description="step")
    cache: dict[str, np.ndarray] = {}

    def frames_of(record):
        if record.key not in cache:
            cache[record.key] = render_frames(record, step=int(np.diff(record.picks[:2])[0]))
        return cache[record.key]

    def show(change=None):
        record = dataset[choose.value]
        t = min(slider.value, record.n_steps - 1)
        if "scene_bounds" in record.extras:
            frame.value = frame_png(frames_of(record)[t], scale=2)
        summary = ev.generate_summary(record.gtscore, record.change_points, record.picks,
                                      record.n_frames)
        fig, ax = plt.subplots(figsize=(7, 2.2))
        importance_plot(record, summary=summary, cursor=int(record.picks[t]), ax=ax,
                        title=f"{record.key}: gtscore, KTS shots, keyshot summary of gtscore")
        curve.value = _png(fig)
        caption.value = f"step {t + 1} of {record.n_steps} = frame {record.picks[t]}"

    def new_video(change=None):
        n = dataset[choose.value].n_steps
        slider.value = 0
        play.max = slider.max = n - 1
        show()

    choose.observe(new_video, names="value")
    slider.observe(show, names="value")
    new_video()
    return widgets.VBox([widgets.HBox([choose, play, slider, caption]),
                         widgets.HBox([frame, curve])])
