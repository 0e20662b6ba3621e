"""Figures and animations shared by the notebooks.

Animations use celluloid (a thin wrapper around matplotlib's ``ArtistAnimation``) the way it
works with current matplotlib: axes created once before the loop, ``camera.snap()`` per frame,
per-frame titles drawn with ``ax.text`` (``set_title`` does not animate), the figure closed
afterwards, and the result embedded as ``to_jshtml``'s player with its icons made offline
(:func:`course_lib.style.animation_html`; no ffmpeg, no network). Importing this module applies
the course's figure style (:mod:`course_lib.style`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from celluloid import Camera
from IPython.display import HTML

from course_lib.errors import CourseError
from course_lib.style import animation_html, legend_beside, whole_epochs

MAX_ANIMATION_FRAMES = 60  # jshtml embeds every frame as a PNG: keep animations small


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_history(history, keys: list[str] | None = None, title: str = "",
                 log_scale: bool = False, ylabel: str = "", *,
                 labels: Mapping[str, str] | None = None,
                 floor: float | None = None) -> plt.Figure:
    """Training losses (thin: raw, thick: running mean) and evaluation results (dots), per key,
    of a :class:`course_lib.training.History` (not imported: training draws with this module).
    The training panel's scale follows the running means, so that the first steps' losses, often
    several times the rest, do not flatten the whole curve. ``labels`` names keys in the legends;
    ``floor``, the lowest value any model can reach (notebook 01's entropy floor), is drawn on
    every panel as in :func:`compare_runs`: such a loss is read by its distance above it."""
    keys = keys or sorted(set(history.train) | set(history.evals))
    labels = labels or {}
    train_keys = [k for k in keys if k in history.train]
    eval_keys = [k for k in keys if k in history.evals]
    panels = [("training", train_keys, history.train, history.train_steps),
              ("evaluation", eval_keys, history.evals, history.eval_steps)]
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5.5 * max(len(panels), 1), 3.2),
                             squeeze=False)
    for ax, (label, names, values, steps) in zip(axes[0], panels, strict=False):
        top = -np.inf
        for name in names:
            y = np.asarray(values[name], dtype=float)
            x = np.asarray(steps[-len(y):])
            if label == "training":
                window = max(1, len(y) // 20)
                line, = ax.plot(x, y, alpha=0.25, linewidth=0.8)
                smooth = _smooth(y, window)
                ax.plot(x[window - 1:], smooth, color=line.get_color(),
                        label=labels.get(name, name))
                top = max(top, float(np.nanmax(smooth)))
            else:
                ax.plot(x, y, "o-", markersize=3, label=labels.get(name, name))
        if floor is not None:
            ax.axhline(floor, color="k", lw=1, ls="--", label=f"floor ({floor:.1f})")
        if np.isfinite(top) and top > 0 and not log_scale:
            ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.15 * top)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
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


def sequences_side_by_side(shown: Mapping[str, Mapping[str, np.ndarray]], input_step: int,
                           future_step: int, title: str = "") -> plt.Figure:
    """Many sequences at two moments, one row each: an input frame beside its reconstruction,
    a future frame beside its prediction (``shown``: name -> what
    :func:`course_lib.models.lstm_autoencoder.predict_frames` returns; steps counted from 1
    within the inputs and within the future). One sequence can flatter a model: a row per
    sequence shows whether the digits it keeps are the rule."""
    n_input = len(next(iter(shown.values()))["inputs"])
    columns = {f"frame {input_step}": ("inputs", input_step),
               "reconstructed": ("reconstruction", input_step),
               f"frame {n_input + future_step}": ("future", future_step),
               "predicted": ("prediction", future_step)}
    fig, axes = plt.subplots(len(shown), len(columns),
                             figsize=(1.3 * len(columns) + 1.2, 1.2 * len(shown) + 0.5),
                             squeeze=False)
    for r, (name, frames) in enumerate(shown.items()):
        for c, (heading, (part, step)) in enumerate(columns.items()):
            ax = axes[r, c]
            ax.imshow(frames[part][step - 1], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(heading, fontsize="small")
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize="small")
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


def compare_runs(histories: Mapping, key: str, ylabel: str = "", title: str = "",
                 floor: float | None = None) -> plt.Figure:
    """One evaluation metric of several runs on the same axes, with the lowest value any run can
    reach (``floor``, e.g. the entropy floor) drawn when given."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, history in histories.items():
        ax.plot(history.eval_steps, history.evals[key], "o-", markersize=3, label=name)
    if floor is not None:
        ax.axhline(floor, color="k", lw=1, ls="--", label=f"floor ({floor:.1f})")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or key)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def scatter_2d(points: np.ndarray, colors: np.ndarray, title: str, color_label: str,
               ax: plt.Axes | None = None) -> plt.Axes:
    """A 2-D projection coloured by a quantity on a sequential colour map."""
    ax = ax or plt.subplots(figsize=(4, 3.5))[1]
    sc = ax.scatter(points[:, 0], points[:, 1], c=colors, cmap="viridis", s=8)
    ax.figure.colorbar(sc, ax=ax, label=color_label)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


# ---------------------------------------------------------------- training curves per epoch

# The panels of :func:`loss_curves_figure`: (title, y label, keys drawn, fixed y range). The
# discriminator's outputs are SUM-GAN-sl/-AAE's ``p_*`` or SUM-GAN's ``c_*``; the reconstruction
# is in each model's own units (SUM-GAN's is squared, -sl's and -AAE's are not).
LOSS_PANELS = (
    ("reconstruction loss", "$L_{reconst}$, epoch mean\n(the model's units)",  # 2 lines: fits
     ("reconstruction",), None),
    ("discriminator outputs", "P(original), epoch mean",
     ("p_original", "p_summary", "c_original", "c_summary"), (0.0, 1.0)),
    ("mean score", "mean of $s_t$, epoch mean", ("mean_score",), (0.0, 1.0)),
)
_ON_SUMMARIES = ("p_summary", "c_summary")  # drawn dashed; the originals solid


def run_curves(run) -> dict[str, np.ndarray]:
    """Every training metric of a SUM-GAN-family run (a ``SumGanRun``) as its per-epoch means,
    element i for epoch i + 1: what :func:`loss_curves_figure` takes for one run."""
    return {key: run.epoch_means(key) for key in run.history.train}


def loss_curves_figure(curves: Mapping[str, Mapping[str, Sequence[float]]], *,
                       sigma: float | Mapping[str, float] | None = None,
                       title: str = "", colors: Mapping[str, str] | None = None) -> plt.Figure:
    """Per-epoch training curves of several runs side by side, on fixed scales, so that a
    divergence (a growing reconstruction, a discriminator that tells every summary apart) is
    seen at once.

    ``curves`` maps a run's label (``"faithful, seed 0"``) to its per-epoch means by metric,
    element i for epoch i + 1: :func:`run_curves` of a run, or the experiment runner's
    ``train_curves`` without their first element (epoch 0, NaN). Panels: the reconstruction loss
    (from 0); the discriminator's outputs on originals (solid) and summaries (dashed) on [0, 1]
    with 0.5 drawn, where it cannot tell them apart; the mean score on [0, 1] with ``sigma``
    drawn when given (one σ, or named ones, e.g. ``{"-sl": 0.1, "AAE": 0.15}``: models with
    other targets each get theirs). A panel no run has a metric for is left out; one colour per
    run (``colors`` by label, e.g. each model's colour in the other figures; else C0, C1, ...).
    """
    if not curves:
        raise CourseError("loss_curves_figure needs at least one run: pass {label: {metric: "
                          "per-epoch values}}, e.g. {'seed 0': plotting.run_curves(run)}.")
    panels = [(name, ylabel, [k for k in keys if any(k in c for c in curves.values())], limits)
              for name, ylabel, keys, limits in LOSS_PANELS]
    panels = [panel for panel in panels if panel[2]]
    if not panels:
        known = sorted({k for _, _, keys, _ in LOSS_PANELS for k in keys})
        given = sorted({k for c in curves.values() for k in c})
        raise CourseError(f"loss_curves_figure draws the metrics {known}; the runs have only "
                          f"{given}. Pass the per-epoch means of a run's training metrics "
                          "(plotting.run_curves(run)).")
    targets = {} if sigma is None else dict(sigma) if isinstance(sigma, Mapping) else {"": sigma}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.8), squeeze=False)
    for ax, (name, ylabel, keys, limits) in zip(axes[0], panels, strict=True):
        for index, (label, run) in enumerate(curves.items()):
            for key in (k for k in keys if k in run):
                values = np.asarray(run[key], dtype=float)
                ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3,
                        color=(colors or {}).get(label, f"C{index}"),
                        ls="--" if key in _ON_SUMMARIES else "-", label=label)
        if name == "discriminator outputs":
            ax.axhline(0.5, color="0.4", lw=1, ls=":")
            ax.plot([], [], color="0.3", ls="-", label="on originals")
            ax.plot([], [], color="0.3", ls="--", label="on summaries")
        for i, (who, value) in enumerate(targets.items() if name == "mean score" else ()):
            ax.axhline(value, color="k", lw=1, ls=(":", "-.", "--")[i % 3],
                       label=f"σ = {value}" + (f" ({who})" if who else ""))
        top = max((np.nanmax(np.asarray(run[k], dtype=float)) for run in curves.values()
                   for k in keys if k in run and np.isfinite(run[k]).any()), default=1.0)
        ax.set_ylim(limits or (0.0, 1.08 * top if top > 0 else 1.0))
        ax.set_title(name)
        ax.set_xlabel("epoch")
        whole_epochs(ax)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        own = {k: v for k, v in zip(labels, handles, strict=True) if k not in curves}
        if own:  # what this panel alone draws (σ, the line styles); the runs are named below
            ax.legend(own.values(), own.keys(), fontsize="small", loc="lower left"
                      if name == "discriminator outputs" else "best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    # the runs once, beside the panels: inside one, six runs' names would hide its curves
    runs = {label: handle for ax in axes[0] for handle, label in zip(
        *ax.get_legend_handles_labels(), strict=True) if label in curves}
    legend_beside(fig, list(runs.values()), list(runs.keys()))
    return fig


# A run diverges when its reconstruction ends more than this many times its lowest epoch mean,
# or when the discriminator ends telling originals from summaries by more than DISCRIMINATOR_WINS
# (P(original) − P(summary)). Laptop tier, 20 epochs (the runs measured in course_lib/config.py):
# at each trainer's rates growth 1.0-1.5x and margins 0.01-0.03; the faithful trainer at 10x
# them 26x and 38x with margins 0.91-0.92, the fast one at 10x 2.5x and 2.7x.
RECONSTRUCTION_GROWTH = 2.0
DISCRIMINATOR_WINS = 0.5


def divergence_sentences(curves: Mapping[str, Mapping[str, Sequence[float]]]) -> list[str]:
    """One sentence per run of :func:`loss_curves_figure`'s ``curves``, computed from them:
    whether its training diverged or not (the reconstruction grew past
    ``RECONSTRUCTION_GROWTH`` times its lowest epoch mean, or the discriminator won outright,
    P(original) − P(summary) > ``DISCRIMINATOR_WINS`` at the last epoch), with the numbers."""
    sentences = []
    for label, run in curves.items():
        reconstruction = np.asarray(run["reconstruction"], dtype=float)
        original, summary = (next(np.asarray(run[k], dtype=float) for k in keys if k in run)
                             for keys in (("p_original", "c_original"),
                                          ("p_summary", "c_summary")))
        growth = reconstruction[-1] / reconstruction.min()
        margin = original[-1] - summary[-1]
        diverged = growth > RECONSTRUCTION_GROWTH or margin > DISCRIMINATOR_WINS
        sentences.append(
            f"{label}: {'diverged' if diverged else 'did not diverge'}: the reconstruction went "
            f"from {reconstruction[0]:.2f} (epoch 1) to {reconstruction[-1]:.2f} (epoch "
            f"{len(reconstruction)}), {growth:.1f} times its lowest epoch; at the last epoch the "
            f"discriminator gave originals {original[-1]:.2f} and summaries {summary[-1]:.2f}"
            + (" (it wins outright)." if margin > DISCRIMINATOR_WINS else "."))
    return sentences
