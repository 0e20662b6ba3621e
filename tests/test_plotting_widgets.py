import numpy as np
import pytest

from course_lib import plotting, widgets
from course_lib.training import History


def test_animation_has_one_frame_per_step_and_blank_panels():
    rng = np.random.default_rng(0)
    inputs, future = rng.random((4, 8, 8)), rng.random((3, 8, 8))
    panels = plotting.prediction_panels(inputs, inputs[::-1], future * 0.5, future)
    assert list(panels) == ["original", "reconstruction", "future prediction"]
    assert np.isnan(panels["reconstruction"][4:]).all()
    assert np.isnan(panels["future prediction"][:4]).all()
    html = plotting.animate_panels(panels).data
    assert html.count("frames[") >= 7 and "anim" in html
    with pytest.raises(ValueError, match="same number of frames"):
        plotting.animate_panels({"a": inputs, "b": future})


def test_history_plot_has_a_panel_per_kind():
    history = History()
    for step in range(1, 11):
        history.log("train", step, {"loss": 1 / step})
    history.log("eval", 10, {"score": 0.5})
    fig = plotting.plot_history(history)
    assert len(fig.axes) == 2


def test_a_first_steps_spike_does_not_flatten_the_training_curve():
    """Notebook 01: step 0's loss was 1100 nats/frame, the rest 150-300."""
    history = History()
    for step in range(1, 401):
        history.log("train", step, {"loss": 1100.0 if step == 1 else 150 + 150 / step})
    history.log("eval", 400, {"loss_nats": 160.0})
    fig = plotting.plot_history(history, ylabel="nats per frame")
    training = fig.axes[0]
    assert training.get_ylim()[1] < 400 and training.get_ylabel() == "nats per frame"


def test_the_history_names_its_curves_and_draws_the_floor():
    """Notebook 01 reads its losses above the entropy floor: the figure must show it."""
    history = History()
    for step in range(1, 21):
        history.log("train", step, {"future": 300.0 / step + 100})
    history.log("eval", 20, {"future_nats": 140.0})
    fig = plotting.plot_history(history, labels={"future": "future", "future_nats": "held out"},
                                floor=95.0)
    for ax, name in zip(fig.axes, ("future", "held out"), strict=True):
        floors = [line for line in ax.get_lines() if np.allclose(line.get_ydata(), 95.0)]
        assert len(floors) == 1 and floors[0].get_linestyle() == "--"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [name, "floor (95.0)"]


def test_compared_runs_draw_the_floor_no_run_can_pass():
    history = History()
    history.log("eval", 10, {"future_nats": 200.0})
    fig = plotting.compare_runs({"a": history}, "future_nats", "nats per frame", floor=129.0)
    assert any(np.allclose(line.get_ydata(), 129.0) for line in fig.axes[0].get_lines())


def test_frame_player_links_play_to_slider_and_redraws():
    frames = np.stack([np.full((4, 4), v) for v in (0.0, 0.5, 1.0)])
    player = widgets.frame_player({"a": frames})
    controls, images = player.children
    play, slider, caption = controls.children
    image = images.children[0].children[1]
    first = image.value
    slider.value = 2
    assert image.value != first and "3 of 3" in caption.value
    assert play.max == slider.max == 2


def test_explorer_rebuilds_when_a_control_changes():
    from course_lib.data.mnist import embedded_digits

    explorer = widgets.moving_mnist_explorer(embedded_digits())
    controls = explorer.children[0].children
    old_player = explorer.children[1]
    controls[0].value = 1
    assert explorer.children[1] is not old_player


def test_the_explorer_starts_at_the_frames_a_tiers_model_reads():
    import struct

    from course_lib.data.mnist import embedded_digits

    def widths(explorer):  # each frame's PNG width, read from its header
        def images(w):
            return [w] if type(w).__name__ == "Image" else [
                i for c in getattr(w, "children", ()) for i in images(c)]
        return [struct.unpack(">I", i.value[16:20])[0] for i in images(explorer.children[1])]

    small = widgets.moving_mnist_explorer(embedded_digits(), canvas=40, n_digits=1)
    assert small.children[0].children[0].value == 1  # the digits slider
    default = widgets.moving_mnist_explorer(embedded_digits())
    assert widths(small) and widths(small)[0] * 64 == widths(default)[0] * 40


def test_many_sequences_show_each_ones_frames_at_the_two_steps_asked():
    """Notebook 01: a row per test sequence, an input frame beside its reconstruction and a future
    frame beside its prediction, each from its own sequence and step."""
    import matplotlib.pyplot as plt

    def sequence(k):
        return {part: np.full((n, 3, 3), (k + 1) / 10 + offset)
                + np.arange(n)[:, None, None] / 100
                for part, n, offset in (("inputs", 4, 0.0), ("reconstruction", 4, 0.01),
                                        ("future", 3, 0.02), ("prediction", 3, 0.03))}

    shown = {f"sequence {k}": sequence(k) for k in range(3)}
    fig = plotting.sequences_side_by_side(shown, input_step=4, future_step=2)
    assert [ax.get_title() for ax in fig.axes[:4]] == ["frame 4", "reconstructed", "frame 6",
                                                       "predicted"]
    for r, frames in enumerate(shown.values()):
        images = [ax.get_images()[0].get_array() for ax in fig.axes[4 * r:4 * r + 4]]
        np.testing.assert_allclose(images[0], frames["inputs"][3])
        np.testing.assert_allclose(images[1], frames["reconstruction"][3])
        np.testing.assert_allclose(images[2], frames["future"][1])
        np.testing.assert_allclose(images[3], frames["prediction"][1])
    plt.close(fig)
