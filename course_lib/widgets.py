"""Interactive controls for the notebooks (ipywidgets), so that each notebook cell is one line.

The frame player joins a ``Play`` button and an ``IntSlider`` with ``jslink``: the browser moves
the slider by itself (smooth even when the kernel is busy) and the kernel redraws the frames.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np


def frame_png(frame: np.ndarray, scale: int = 3) -> bytes:
    """A grey-scale frame in [0, 1] (NaN: blank) as PNG bytes, enlarged by ``scale``."""
    image = np.nan_to_num(np.clip(frame, 0, 1), nan=0.15)
    image = np.kron(image, np.ones((scale, scale)))
    buffer = io.BytesIO()
    plt.imsave(buffer, image, cmap="gray", vmin=0, vmax=1, format="png")
    return buffer.getvalue()


def play_controls(n_frames: int, interval: int = 200, description: str = "frame"
                  ) -> tuple[widgets.Play, widgets.IntSlider]:
    """A ``Play`` button and a slider over ``n_frames`` frames, linked in the browser."""
    play = widgets.Play(min=0, max=n_frames - 1, interval=interval, description="Play",
                        layout=widgets.Layout(width="auto"))
    slider = widgets.IntSlider(min=0, max=n_frames - 1, description=description,
                               continuous_update=True)
    widgets.jslink((play, "value"), (slider, "value"))
    return play, slider


def frame_player(panels: Mapping[str, np.ndarray], interval: int = 200, scale: int = 3,
                 captions: list[str] | None = None) -> widgets.VBox:
    """Play through equal-length frame stacks [T, H, W] shown side by side."""
    n_frames = len(next(iter(panels.values())))
    images = {name: widgets.Image(format="png") for name in panels}
    caption = widgets.HTML()
    play, slider = play_controls(n_frames, interval)

    def show(change=None):
        t = slider.value
        for name, frames in panels.items():
            images[name].value = frame_png(frames[t], scale)
        caption.value = captions[t] if captions else f"frame {t + 1} of {n_frames}"

    slider.observe(show, names="value")
    show()
    columns = [widgets.VBox([widgets.HTML(f"<b>{name}</b>"), image])
               for name, image in images.items()]
    return widgets.VBox([widgets.HBox([play, slider, caption]), widgets.HBox(columns)])


def live_controls(make_panels: Callable[..., Mapping[str, np.ndarray]],
                  controls: Mapping[str, widgets.ValueWidget], interval: int = 200,
                  scale: int = 3) -> widgets.VBox:
    """Frame player whose frames are rebuilt by ``make_panels(**values)`` when a control changes.

    Costly controls should have ``continuous_update=False`` so the frames are rebuilt once per
    release, not on every pixel of a drag.
    """
    box = widgets.VBox()

    def rebuild(change=None):
        panels = make_panels(**{name: w.value for name, w in controls.items()})
        box.children = (widgets.HBox(list(controls.values())),
                        frame_player(panels, interval=interval, scale=scale))

    for control in controls.values():
        control.observe(rebuild, names="value")
    rebuild()
    return box


def moving_mnist_explorer(digits, canvas: int = 64, n_frames: int = 20, seed: int = 0,
                          step: Callable | None = None, n_digits: int = 2) -> widgets.VBox:
    """Change the number of digits, their speed and the random draw; play the sequence.

    ``step`` moves the digits by one frame (default: the library's ``bounce_step``);
    ``canvas`` and ``n_digits`` start it at what a tier's model reads.
    """
    from course_lib.data.moving_mnist import bounce_step, generate_moving_mnist

    def make_panels(n_digits, speed, seed):
        rng = np.random.default_rng(seed)
        batch = generate_moving_mnist(digits, 1, n_frames=n_frames, n_digits=n_digits,
                                      canvas=canvas, speed=speed, rng=rng,
                                      step=step or bounce_step)
        return {f"{n_digits} digit(s) at {speed:.1f} px/frame": batch.frames[0]}

    controls = {
        "n_digits": widgets.IntSlider(value=n_digits, min=1, max=3, description="digits",
                                      continuous_update=False),
        "speed": widgets.FloatSlider(value=3.6, min=0.0, max=10.0, step=0.2,
                                     description="px/frame", continuous_update=False),
        "seed": widgets.IntSlider(value=seed, min=0, max=99, description="seed",
                                  continuous_update=False),
    }
    return live_controls(make_panels, controls)
