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

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from celluloid import Camera
from IPython.display import HTML

from course_lib.runtime import synchronize
from course_lib.summary_plots import _png
from course_lib.widgets import play_controls


def _draw(axes, attention: np.ndarray, step: int, bounds: np.ndarray | None,
          reference: Sequence[float] | None = None) -> list:
    """The heat map with decoder step ``step`` framed, and that step's weights below it; returns
    the artists drawn (for celluloid, which keeps every frame's artists)."""
    heat_ax, row_ax = axes
    steps = attention.shape[1]
    target = attention.shape[0] - 1 - step
    artists = [heat_ax.imshow(attention, aspect="auto", cmap="viridis", interpolation="nearest",
                              vmin=float(attention.min()), vmax=float(attention.max()))]
    artists.append(heat_ax.axhspan(step - 0.5, step + 0.5, fill=False, ec="w", lw=1.5))
    artists += heat_ax.plot([target], [step], "o", mfc="none", mec="r", ms=7)
    artists += row_ax.plot(np.arange(steps), attention[step], color="C0", lw=1.2)
    artists.append(row_ax.axvline(target, color="r", lw=1, ls="--"))
    if reference is not None:
        artists += row_ax.plot(np.arange(steps), reference, color="0.5", lw=0.8, ls=":")
    for bound in () if bounds is None else bounds:
        artists.append(row_ax.axvline(bound - 0.5, color="0.8", lw=0.6, zorder=0))
    artists.append(row_ax.text(0.01, 0.95, f"decoder step {step} (reconstructs step {target}): "
                               f"largest weight {attention[step].max():.3f} at encoder step "
                               f"{int(attention[step].argmax())}", transform=row_ax.transAxes,
                               va="top", fontsize=8))
    return artists


def _figure(attention: np.ndarray, title: str, colorbar: bool = True):
    """The two axes; with ``colorbar`` a colour bar (celluloid loses it after the first frame,
    so an animation states the range in its title instead)."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 6.2), height_ratios=(2.2, 1))
    heat_ax, row_ax = axes
    low, high = float(attention.min()), float(attention.max())
    heat_ax.set(xlabel="encoder step i (the video, forward)",
                ylabel="decoder step t (emits the video backwards)",
                title=title if colorbar else f"{title}\n(colours: weights {low:.4f} to {high:.4f})")
    if colorbar:
        mappable = plt.cm.ScalarMappable(plt.Normalize(low, high), cmap="viridis")
        fig.colorbar(mappable, ax=heat_ax, label="weight α_t,i (colours: its min to max)")
    row_ax.set(xlabel="encoder step i", ylabel="α_t,i", xlim=(-0.5, attention.shape[1] - 0.5),
               ylim=(0, 1.1 * float(attention.max())))
    row_ax.grid(alpha=0.3)
    return fig, axes


def attention_figure(attention: np.ndarray, step: int = 0, shot_bounds: np.ndarray | None = None,
                     title: str = "attention weights") -> plt.Figure:
    """The decoder-step × encoder-step heat map of ``attention`` [T, T] with decoder step
    ``step`` framed (white) and the step it reconstructs circled (red), and that row's weights
    over the encoder's steps below (red dashes: the reconstructed step; uniform weights 1/T
    dotted; grey: shot boundaries ``shot_bounds``, the first step of each shot)."""
    attention = np.asarray(attention, dtype=float)
    fig, axes = _figure(attention, title)
    _draw(axes, attention, step, shot_bounds, np.full(attention.shape[1], 1 / attention.shape[1]))
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
    fig, axes = _figure(attention, title, colorbar=False)
    camera = Camera(fig)
    uniform = np.full(attention.shape[1], 1 / attention.shape[1])
    for step in np.unique(np.linspace(0, len(attention) - 1, max_frames).round().astype(int)):
        _draw(axes, attention, int(step), shot_bounds, uniform)
        camera.snap()
    fig.tight_layout()
    animation = camera.animate(interval=interval)
    plt.close(fig)
    return HTML(animation.to_jshtml(default_mode="loop"))


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


def per_step_fit(result: dict[str, np.ndarray]) -> tuple[float, float]:
    """(a, c) of the least-squares line seconds / T ≈ a + c·T through one decoder's
    :func:`attention_cost`: ``a`` the fixed cost of a decoder step, ``c·T`` what attending to T
    steps adds to it. The whole video then takes a·T + c·T²: the T² term is the larger one
    beyond T = a / c."""
    lengths = np.asarray(result["lengths"], dtype=float)
    c, a = np.polyfit(lengths, np.asarray(result["seconds"]) / lengths, 1)
    return float(a), float(c)


def attention_cost_plot(results: dict[str, dict[str, np.ndarray]], tensors: int = 1
                        ) -> plt.Figure:
    """Time per decoder step (a video's time / T) against its length for each decoder of
    :func:`attention_cost`, with the line a + c·T of :func:`per_step_fit` (flat: the video's time
    grows as T; rising: the c·T² term); and the attention's memory (``tensors`` copies of the T×T
    weights, as training holds them) beside T²."""
    fig, (time_ax, memory_ax) = plt.subplots(1, 2, figsize=(12, 3.8))
    for index, (name, result) in enumerate(results.items()):
        lengths, seconds = result["lengths"], result["seconds"]
        color = f"C{index}"
        time_ax.plot(lengths, 1e3 * seconds / lengths, "o", color=color,
                     label=f"{name} (measured)")
        a, c = per_step_fit(result)
        dense = np.linspace(0, lengths.max(), 100)
        time_ax.plot(dense, 1e3 * (a + c * dense), "--", lw=1, color=color,
                     label=f"a + c·T: {1e3 * a:.2f} ms + {1e6 * c:.2f} µs·T")
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
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
