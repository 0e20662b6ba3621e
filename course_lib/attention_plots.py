"""Pictures of SUM-GAN-AAE's attention (notebook 05): where each decoder step looks.

The attention of a video of T steps is a [T_decoder, T_encoder] matrix whose row t (the weights
of decoder step t over the encoder's steps, summing to 1) is what the decoder reads while it
reconstructs step T − 1 − t (the decoder emits the video backwards). :func:`attention_explorer`
scrubs through the rows with a ``Play`` button and a slider, :func:`attention_animation` plays
them as a celluloid animation, and :func:`attention_cost` / :func:`attention_cost_plot` measure
what the T² matrix costs as videos get longer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from course_lib.runtime import synchronize
from course_lib.style import animation_html, static_camera
from course_lib.summary_plots import _png
from course_lib.widgets import play_controls


def attention_norm(attention: np.ndarray) -> LogNorm:
    """Colours by how many times the uniform weight 1/T a weight is, on a log scale: white at
    1/T, red above, blue below, symmetric (2/T as red as 1/(2T) is blue), out to the largest
    weight's ratio (at least 2) either way; weights further below are the deepest blue. On a
    linear scale from 0 to the largest weight (0.86 in a trained run, 1/T = 0.015), the weights
    below uniform took the whole blue half and a step given 4/T stayed nearly white."""
    uniform = 1 / attention.shape[1]
    ratio = max(float(attention.max()) / uniform, 2.0)
    return LogNorm(vmin=uniform / ratio, vmax=uniform * ratio, clip=True)


def _ticks(norm: LogNorm) -> tuple[list[float], list[str]]:
    """Colour-bar ticks at 1/T times powers of 2 (at most about seven), labelled k/T or 1/(kT)."""
    uniform = (norm.vmin * norm.vmax) ** 0.5
    top = int(np.floor(np.log2(norm.vmax / uniform) + 1e-9))
    stride = max(1, int(np.ceil(top / 3)))
    powers = range(-(top // stride) * stride, top + 1, stride)
    labels = ["1/T" if k == 0 else f"{2 ** k}/T" if k > 0 else f"1/({2 ** -k}T)" for k in powers]
    return [uniform * 2.0 ** k for k in powers], labels


def _draw(axes, attention: np.ndarray, step: int, bounds: np.ndarray | None) -> list:
    """The heat map with decoder step ``step`` framed, and that step's weights below it; returns
    the artists drawn (for celluloid, which keeps every frame's artists)."""
    heat_ax, row_ax = axes
    steps = attention.shape[1]
    target = attention.shape[0] - 1 - step
    artists = [heat_ax.imshow(attention, aspect="auto", cmap="RdBu_r", interpolation="nearest",
                              norm=attention_norm(attention))]
    artists.append(heat_ax.axhspan(step - 0.5, step + 0.5, fill=False, ec="k", lw=1.5))
    artists += heat_ax.plot([target], [step], "o", mfc="none", mec="k", ms=8)
    artists += row_ax.plot(np.arange(steps), attention[step], color="C0", lw=1.4)
    artists.append(row_ax.axvline(target, color="r", lw=1, ls="--"))
    artists.append(row_ax.text(0.01, 0.95, f"decoder step {step} (reconstructs step {target}): "
                               f"largest weight {attention[step].max():.3f} at encoder step "
                               f"{int(attention[step].argmax())}", transform=row_ax.transAxes,
                               va="top", fontsize="small"))
    return artists


def _figure(attention: np.ndarray, title: str, bounds: np.ndarray | None):
    """The two axes with what every frame shares: the colour bar (white: uniform 1/T, labelled),
    the row panel's fixed scale, the uniform weight 1/T and the shot boundaries. The scale runs
    from 0 to the weights' 99th percentile (at least 2/T), not to their largest: one row that
    puts 0.86 on a step made every other row of a trained model lie flat on 0 (its largest
    weight is printed in the panel either way)."""
    fig, axes = plt.subplots(2, 1, figsize=(10, 8.5), height_ratios=(2.2, 1))
    heat_ax, row_ax = axes
    steps = attention.shape[1]
    uniform = 1 / steps
    heat_ax.set(xlabel="encoder step i (the video, forward)",
                ylabel="decoder step t\n(emits the video backwards)", title=title)
    norm = attention_norm(attention)
    bar = fig.colorbar(plt.cm.ScalarMappable(norm, cmap="RdBu_r"), ax=heat_ax,
                       label=f"weight α_t,i, log scale (white: uniform 1/T = {uniform:.3g})")
    ticks, labels = _ticks(norm)
    bar.set_ticks(ticks, labels=labels)
    bar.minorticks_off()
    row_ax.plot(np.arange(steps), np.full(steps, uniform), color="0.4", lw=1.2, ls=":",
                label=f"uniform 1/T = {uniform:.3g}")
    for bound in () if bounds is None else bounds:
        row_ax.axvline(bound - 0.5, color="0.8", lw=0.8, zorder=0)
    top = max(float(np.quantile(attention, 0.99)), 2 * uniform)
    row_ax.set(xlabel="encoder step i", ylabel="α_t,i", xlim=(-0.5, steps - 0.5),
               ylim=(0, 1.1 * top))
    fig.colorbar(plt.cm.ScalarMappable(cmap="Greys"), ax=row_ax).ax.set_visible(False)  # align
    row_ax.legend(loc="lower right", fontsize="small")
    row_ax.grid(alpha=0.3)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    heat_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, axes


def attention_figure(attention: np.ndarray, step: int = 0, shot_bounds: np.ndarray | None = None,
                     title: str = "attention weights") -> plt.Figure:
    """The decoder-step × encoder-step heat map of ``attention`` [T, T] (colours from uniform
    1/T, white, see :func:`attention_norm`) with decoder step ``step`` framed and the step it
    reconstructs circled, and that row's weights over the encoder's steps below, on a scale from
    0 (red dashes: the reconstructed step; uniform weights 1/T dotted; grey: shot boundaries
    ``shot_bounds``, the first step of each shot)."""
    attention = np.asarray(attention, dtype=float)
    fig, axes = _figure(attention, title, shot_bounds)
    _draw(axes, attention, step, shot_bounds)
    fig.tight_layout()
    return fig


def attention_explorer(attention: np.ndarray, shot_bounds: np.ndarray | None = None,
                       title: str = "attention weights", interval: int = 300) -> widgets.VBox:
    """:func:`attention_figure` with a ``Play`` button and a slider over the decoder steps (the
    kernel redraws the picture for each step the slider shows)."""
    attention = np.asarray(attention, dtype=float)
    image = widgets.Image(format="png")
    play, slider = play_controls(len(attention), interval, description="decoder step")

    def show(change=None):
        image.value = _png(attention_figure(attention, slider.value, shot_bounds, title))

    slider.observe(show, names="value")
    show()
    return widgets.VBox([widgets.HBox([play, slider]), image])


def attention_animation(attention: np.ndarray, shot_bounds: np.ndarray | None = None,
                        title: str = "attention weights", max_frames: int = 40,
                        interval: int = 250) -> HTML:
    """The rows of ``attention`` as a celluloid animation (at most ``max_frames`` decoder
    steps, evenly spaced, so the page stays small), embedded as JavaScript HTML."""
    attention = np.asarray(attention, dtype=float)
    fig, axes = _figure(attention, title, shot_bounds)
    fig.tight_layout()
    camera = static_camera(fig)  # the colour bar, 1/T and the shot boundaries on every frame
    for step in np.unique(np.linspace(0, len(attention) - 1, max_frames).round().astype(int)):
        _draw(axes, attention, int(step), shot_bounds)
        camera.snap()
    animation = camera.animate(interval=interval)
    plt.close(fig)
    return animation_html(animation)


def attention_cost(decoders: dict[str, torch.nn.Module], lengths: Sequence[int], *,
                   repeats: int = 3, threads: int = 1) -> dict[str, dict[str, np.ndarray]]:
    """Measured seconds of a forward and backward pass of each decoder over one video of each
    length (the median of ``repeats``), and the bytes of the attention weights it returned.

    Made to survive a busy machine: PyTorch runs on ``threads`` threads (restored afterwards),
    one unmeasured pass warms each decoder up, and the repeats go round all the lengths in turn,
    so a burst of load from elsewhere hits every length alike instead of one.

    ``decoders`` maps a name to a SUM-GAN-AAE ``AttentionDecoder`` or a SUM-GAN-sl
    ``FeedbackDecoder`` (no attention: 0 bytes), so the two can be drawn side by side.
    """
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = {}
        for name, decoder in decoders.items():
            passes = {steps: _cost_pass(decoder, steps) for steps in lengths}
            passes[lengths[0]]()  # warm-up, not measured
            times, sizes = {steps: [] for steps in lengths}, {}
            for _ in range(repeats):
                for steps in lengths:
                    seconds, sizes[steps] = passes[steps]()
                    times[steps].append(seconds)
            results[name] = {"lengths": np.asarray(lengths),
                             "seconds": np.asarray([np.median(times[n]) for n in lengths]),
                             "bytes": np.asarray([sizes[n] for n in lengths], dtype=float)}
        return results
    finally:
        torch.set_num_threads(saved)


def _cost_pass(decoder: torch.nn.Module, steps: int):
    """A function timing one forward and backward pass of ``decoder`` over ``steps`` steps of
    fixed random inputs (the same on any device), returning (seconds, attention bytes)."""
    first = decoder.cells[0]
    hidden, layers, device = first.hidden_size, len(decoder.cells), first.weight_hh.device
    generator = torch.Generator().manual_seed(steps)

    def draw(*shape):
        return torch.randn(*shape, generator=generator).to(device).requires_grad_()

    state = (draw(layers, 1, hidden), draw(layers, 1, hidden))
    memory = draw(1, steps, hidden)

    def timed() -> tuple[float, int]:
        synchronize(device)
        started = time.perf_counter()
        size = 0
        if hasattr(decoder, "attention"):
            emitted, attention = decoder(state, memory)
            size = attention.numel() * attention.element_size()
        else:
            emitted = decoder(state, steps)
        emitted.sum().backward()
        synchronize(device)  # a GPU's work is done when it says so
        return time.perf_counter() - started, size

    return timed


class CostFit(NamedTuple):
    """A video of T steps takes ``video + step·T + quadratic·T²`` seconds (:func:`per_step_fit`):
    ``video`` once per video (starting the pass), ``step`` per decoder step (its cells),
    ``quadratic·T`` per step for attending to T steps. ``quadratic_error``: the standard error
    of ``quadratic`` from the fit's residuals (infinite where as many lengths as terms leave
    none); a ``quadratic`` within two of it is not measured."""

    video: float
    step: float
    quadratic: float
    quadratic_error: float

    @property
    def measured(self) -> bool:
        return bool(self.quadratic > 2 * self.quadratic_error)


def per_step_fit(result: dict[str, np.ndarray]) -> CostFit:
    """Least squares of the time per step, seconds / T ≈ video / T + step + quadratic·T, through
    one decoder's :func:`attention_cost`. The video's own cost matters: at T = 100 it made a
    step cost more than twice as much as at T = 800, and a line a + c·T through that sloped
    down (a negative T² term) where the T² term was there."""
    lengths = np.asarray(result["lengths"], dtype=float)
    per_step = np.asarray(result["seconds"], dtype=float) / lengths
    terms = np.stack([1 / lengths, np.ones_like(lengths), lengths], axis=1)
    video, step, quadratic = np.linalg.lstsq(terms, per_step, rcond=None)[0]
    free = len(lengths) - 3
    if free > 0:
        variance = float(np.sum((terms @ (video, step, quadratic) - per_step) ** 2)) / free
        error = float(np.sqrt(variance * np.linalg.inv(terms.T @ terms)[2, 2]))
    else:
        error = float("inf")
    return CostFit(float(video), float(step), float(quadratic), error)


def attention_cost_plot(results: dict[str, dict[str, np.ndarray]], tensors: int = 1
                        ) -> plt.Figure:
    """Time per decoder step (a video's time / T) against its length for each decoder of
    :func:`attention_cost`, with the fit k / T + a + c·T of :func:`per_step_fit` (flat: the
    video's time grows as T; rising: the c·T² term; falling at small T: the video's own cost k,
    spread over few steps); and the attention's memory (``tensors`` copies of the T×T weights,
    as training holds them) beside T²."""
    fig, (time_ax, memory_ax) = plt.subplots(1, 2, figsize=(12, 3.8))
    for index, (name, result) in enumerate(results.items()):
        lengths, seconds = result["lengths"], result["seconds"]
        color = f"C{index}"
        time_ax.plot(lengths, 1e3 * seconds / lengths, "o", color=color,
                     label=f"{name} (measured)")
        fit = per_step_fit(result)
        dense = np.linspace(lengths.min(), lengths.max(), 100)
        signs = ["−" if value < 0 else "+" for value in (fit.quadratic, fit.video)]
        time_ax.plot(dense, 1e3 * (fit.video / dense + fit.step + fit.quadratic * dense), "--",
                     lw=1, color=color, label=f"fit: {1e3 * fit.step:.2f} ms {signs[0]} "
                     f"{1e6 * abs(fit.quadratic):.2f} µs·T {signs[1]} "
                     f"{1e3 * abs(fit.video):.0f} ms / T")
        if result["bytes"].any():
            memory_ax.plot(lengths, tensors * result["bytes"] / 2**20, "o-", color=color,
                           label=f"{name}: {tensors} × the weights")
            memory_ax.plot(dense, tensors * result["bytes"][-1] / 2**20
                           * (dense / lengths[-1]) ** 2, "--", lw=0.8, color=color,
                           label="c·T²")
    time_ax.set(xlabel="video length T (steps)", ylabel="ms per decoder step (fwd + bwd)",
                title="decoder time per step: a video takes T × this", ylim=(0, None))
    memory_ax.set(xlabel="video length T (steps)", ylabel="MiB",
                  title="memory of the attention weights")
    for ax in (time_ax, memory_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
