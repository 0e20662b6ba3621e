"""Figures and animations shared by the notebooks.

Animations use celluloid (a thin wrapper around matplotlib's ``ArtistAnimation``) the way it
works with current matplotlib: axes created once before the loop, ``camera.snap()`` per frame,
per-frame titles drawn with ``ax.text`` (``set_title`` does not animate), the figure closed
afterwards, and the result embedded as ``to_jshtml``'s player with its icons made offline
(:func:`course_lib.style.animation_html`; no ffmpeg, no network). Importing this module applies
the course's figure style (:mod:`course_lib.style`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from celluloid import Camera
from IPython.display import HTML

from course_lib.style import animation_html

if TYPE_CHECKING:
    from course_lib.training import History

MAX_ANIMATION_FRAMES = 60  # jshtml embeds every frame as a PNG: keep animations small


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_history(history: History, keys: list[str] | None = None, title: str = "",
                 log_scale: bool = False) -> plt.Figure:
    """Training losses (thin: raw, thick: running mean) and evaluation results (dots), per key."""
    keys = keys or sorted(set(history.train) | set(history.evals))
    train_keys = [k for k in keys if k in history.train]
    eval_keys = [k for k in keys if k in history.evals]
    panels = [("training", train_keys, history.train, history.train_steps),
              ("evaluation", eval_keys, history.evals, history.eval_steps)]
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5.5 * max(len(panels), 1), 3.2),
                             squeeze=False)
    for ax, (label, names, values, steps) in zip(axes[0], panels, strict=False):
        for name in names:
            y = np.asarray(values[name], dtype=float)
            x = np.asarray(steps[-len(y):])
            if label == "training":
                window = max(1, len(y) // 20)
                line, = ax.plot(x, y, alpha=0.25, linewidth=0.8)
                ax.plot(x[window - 1:], _smooth(y, window), color=line.get_color(), label=name)
            else:
                ax.plot(x, y, "o-", markersize=3, label=name)
        ax.set_xlabel("step")
        ax.set_title(f"{title}: {label}" if title else label)
        if log_scale:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def frame_grid(rows: Mapping[str, np.ndarray], max_frames: int = 20, title: str = "",
               first_step: int = 1) -> plt.Figure:
    """Rows of frames [T, H, W] side by side over time; a NaN frame leaves its cell blank."""
    n_cols = min(max_frames, max(len(v) for v in rows.values()))
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(0.9 * n_cols, 1.0 * len(rows) + 0.3),
                             squeeze=False)
    for r, (name, frames) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(frames) and not np.isnan(frames[c]).all():
                ax.imshow(frames[c], cmap="gray", vmin=0, vmax=1)
            else:
                ax.set_facecolor("white")
                for spine in ax.spines.values():
                    spine.set_visible(False)
            if r == 0:
                ax.set_title(f"t={c + first_step}", fontsize="small")
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def animate_panels(panels: Mapping[str, np.ndarray], interval: int = 200, title: str = "",
                   labels: list[str] | None = None, panel_size: float = 1.9) -> HTML:
    """An animation of equal-length frame stacks [T, H, W] side by side (NaN frames are blank).

    ``labels`` gives one caption per time step, drawn inside the figure so that it animates.
    """
    lengths = {len(v) for v in panels.values()}
    if len(lengths) != 1:
        raise ValueError(f"All panels need the same number of frames, got {sorted(lengths)}.")
    n_frames = lengths.pop()
    step = max(1, int(np.ceil(n_frames / MAX_ANIMATION_FRAMES)))
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_size * len(panels), panel_size + 0.5),
                             squeeze=False)
    for ax, name in zip(axes[0], panels, strict=True):
        ax.set_title(name, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    camera = Camera(fig)
    for t in range(0, n_frames, step):
        for ax, frames in zip(axes[0], panels.values(), strict=True):
            frame = frames[t]
            blank = np.isnan(frame).all()
            ax.imshow(np.zeros_like(frame) if blank else frame, cmap="gray", vmin=0, vmax=1,
                      alpha=0.15 if blank else 1.0)
        caption = labels[t] if labels else f"frame {t + 1}/{n_frames}"
        axes[0, 0].text(0.0, -0.16, caption, transform=axes[0, 0].transAxes, fontsize="small")
        camera.snap()
    animation = camera.animate(interval=interval, blit=False)
    plt.close(fig)
    return animation_html(animation)


def prediction_panels(inputs: np.ndarray, reconstruction: np.ndarray | None,
                      prediction: np.ndarray | None, future: np.ndarray) -> dict[str, np.ndarray]:
    """Original / reconstruction / future prediction of one sequence, aligned on a common clock.

    ``inputs`` [T_in, H, W] and ``future`` [T_future, H, W] are the ground truth; the
    reconstruction (already put back in forward time order) fills the input steps and the
    prediction the future steps, blank (NaN) elsewhere.
    """
    blank_in = np.full_like(inputs, np.nan)
    blank_future = np.full_like(future, np.nan)
    panels = {"original": np.concatenate([inputs, future])}
    if reconstruction is not None:
        panels["reconstruction"] = np.concatenate([reconstruction, blank_future])
    if prediction is not None:
        panels["future prediction"] = np.concatenate([blank_in, prediction])
    return panels


def compare_runs(histories: Mapping[str, History], key: str, ylabel: str = "") -> plt.Figure:
    """One evaluation metric of several runs on the same axes."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, history in histories.items():
        ax.plot(history.eval_steps, history.evals[key], "o-", markersize=3, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or key)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def scatter_2d(points: np.ndarray, colors: np.ndarray, title: str, color_label: str,
               ax: plt.Axes | None = None) -> plt.Axes:
    """A 2-D projection coloured by a quantity (a cyclic colour map suits angles)."""
    ax = ax or plt.subplots(figsize=(4, 3.5))[1]
    sc = ax.scatter(points[:, 0], points[:, 1], c=colors, cmap="twilight", s=8)
    ax.figure.colorbar(sc, ax=ax, label=color_label)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax
