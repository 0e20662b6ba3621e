"""Figures that do not mislead: fixed, labelled scales with their reference values drawn, one
unit per axis, the course's font sizes, labels-using results told apart, and animations that
play offline (no URL in the page)."""

import re

import matplotlib
import numpy as np
import pytest

from course_lib import attention_plots as ap
from course_lib import config, plotting, style
from course_lib import evaluation as ev
from course_lib import summary_plots as sp
from course_lib.data.synthetic_videos import make_synthetic_dataset

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(scope="module")
def record():
    data = make_synthetic_dataset(config.summarization_data_config("smoke", verbose=False))
    return data[data.keys()[0]]


def no_url(html: str) -> bool:
    return not re.search(r"https?://", html)


def test_importing_the_plotting_modules_sets_the_course_style():
    matplotlib.rcParams["font.size"] = 6.0
    style.apply()
    assert matplotlib.rcParams["font.size"] == style.COURSE_RC["font.size"] >= 12
    assert matplotlib.rcParams["legend.fontsize"] >= 10


def test_a_flat_score_stays_flat_on_a_fixed_0_1_axis_with_sigma_drawn(record):
    flat = np.full(record.n_steps, 0.1) + np.linspace(0, 0.011, record.n_steps)
    ax = sp.scores_vs_gtscore(record, flat, sigma=0.1)
    assert ax.get_ylim() == (0, 1) and len(ax.figure.axes) == 1  # no second, rescaled axis
    assert any(np.allclose(line.get_ydata(), 0.1) for line in ax.get_lines())
    assert any("σ = 0.1" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(ax.figure)


def test_the_seeds_discriminator_panel_draws_how_far_it_tells_them_apart():
    """Both outputs high (0.8 and 0.79) is a discriminator that cannot tell them apart: the panel
    draws their difference, 0.01, on the whole -1..1 scale with 0 drawn, not 0.79 near 1."""
    class Run:
        steps_per_epoch = 1

        class history:  # noqa: N801
            eval_steps = [0, 1, 2]
            evals = {"f_score": [30.0, 31.0, 32.0]}

        @staticmethod
        def epoch_means(key):
            return {"p_original": np.array([0.80, 0.81]), "p_summary": np.array([0.79, 0.80])}[key]

    fig = sp.seeds_plot({0: Run()}, {"random": 30.0}, keys=("p_original", "p_summary"))
    gap = fig.axes[1]
    assert gap.get_ylim() == (-1, 1)
    seed, zero = (next(line for line in gap.get_lines() if line.get_label() == label)
                  for label in ("seed 0", "0: cannot tell them apart"))
    np.testing.assert_allclose(seed.get_ydata(), [0.01, 0.01])
    assert np.allclose(zero.get_ydata(), 0)
    plt.close(fig)


def offline(html: str) -> None:
    assert "<script" in html and no_url(html)
    assert "fa-play" not in html and "font-awesome" not in html
    assert "▶" in html  # the play button has a symbol to show


def test_every_animation_plays_offline(record):
    frames = [{"epoch": e, "scores": np.linspace(0.2, 0.3, record.n_steps), "f_score": 30.0,
               "original": np.ones((record.n_steps, 4)),
               "reconstructed": np.zeros((record.n_steps, 4))} for e in range(2)]
    offline(sp.selection_animation(record, frames, sigma=0.1).data)
    uniform = np.full((6, 6), 1 / 6)
    offline(ap.attention_animation(uniform, max_frames=2).data)
    offline(plotting.animate_panels({"a": np.zeros((2, 4, 4))}).data)


def test_a_legend_drawn_before_the_camera_is_drawn_once_per_frame(monkeypatch):
    """Celluloid adds an axes' legend to every frame again: 40 frames drew it 41 times each."""
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend

    drawn = {Legend: 0, Figure: 0}
    for kind in drawn:
        def counted(self, renderer, draw=kind.draw, kind=kind):
            drawn[kind] += 1
            return draw(self, renderer)
        monkeypatch.setattr(kind, "draw", counted)
    fig, ax = plt.subplots()
    ax.plot([0, 1], label="on every frame")
    ax.legend()
    camera = style.static_camera(fig)
    for k in range(5):
        ax.plot([0, k])
        camera.snap()
    style.animation_html(camera.animate())
    plt.close(fig)
    assert drawn[Legend] == drawn[Figure] >= 5


def test_offline_player_refuses_a_template_that_still_fetches_something():
    with pytest.raises(RuntimeError, match="still references https://example.org"):
        style.offline_player('<img src="https://example.org/x.png">')


def test_selection_animation_has_one_unit_on_x_and_fixed_scales(record, monkeypatch):
    figures = []
    real = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figures.append(fig), real(fig))[1])
    frames = [{"epoch": e, "scores": np.full(record.n_steps, 0.3 + 0.001 * e), "f_score": 30.0,
               "original": np.full((record.n_steps, 4), -8.0),
               "reconstructed": np.full((record.n_steps, 4), 0.5)} for e in range(3)]
    sp.selection_animation(record, frames, sigma=0.3)
    fig = figures[-1]
    panels = [ax for ax in fig.axes if ax.get_visible() and not ax.get_label() == "<colorbar>"]
    # one colour map on two scales: each panel names its scale, the narrower one how much
    assert panels[1].get_title().endswith("colour scale ±8")
    assert panels[2].get_title().endswith("colour scale ±0.5 (16× narrower than the original's)")
    scores = panels[0]
    assert scores.get_ylim() == (0, 1)
    assert all(ax.get_xlim() == pytest.approx((-0.5, record.n_steps - 0.5)) for ax in panels[:3])
    assert "step" in panels[2].get_xlabel() and "frame" not in panels[2].get_xlabel()
    assert any(np.allclose(line.get_ydata(), 0.3) for line in scores.get_lines())  # σ
    assert "σ = 0.3 (dashed)" in fig._suptitle.get_text()
    assert points_under_legends(fig) == 0  # the title names the lines: no legend on the scores


def test_uniform_attention_is_white_and_the_colour_bar_names_one_over_t():
    steps = 40
    nearly = np.full((steps, steps), 1 / steps) + np.random.default_rng(0).normal(
        0, 1e-4, (steps, steps))
    nearly /= nearly.sum(axis=1, keepdims=True)
    norm = ap.attention_norm(nearly)
    assert norm.vmax >= 2 / steps and norm(1 / steps) == pytest.approx(0.5)
    assert np.abs(np.asarray(norm(nearly)) - 0.5).max() < 0.02  # white, not a min-to-max rainbow
    fig = ap.attention_figure(nearly)
    colour_bar = fig.axes[2]
    assert any("1/T" in t.get_text() for t in colour_bar.get_yticklabels())
    row = fig.axes[1]
    assert row.get_ylim()[0] == 0 and row.get_ylim()[1] >= 2 / steps
    assert any("uniform 1/T" in t.get_text() for t in row.get_legend().get_texts())
    plt.close(fig)
    spiked = nearly.copy()  # one row puts most of its weight on one step, as a trained one did
    spiked[7] = 0.14 / (steps - 1)
    spiked[7, 3] = 0.86
    fig = ap.attention_figure(spiked, step=0)
    assert fig.axes[1].get_ylim()[1] < 4 / steps  # the other rows stay readable
    plt.close(fig)
    norm = ap.attention_norm(spiked)  # twice and half uniform alike, and 4/T visibly red
    assert norm(2 / steps) - 0.5 == pytest.approx(0.5 - norm(0.5 / steps))
    assert norm(4 / steps) > 0.65 and norm(0.86) == pytest.approx(1) and norm(0) == 0


def test_the_best_test_epoch_bar_looks_unlike_the_label_free_ones():
    ax = sp.result_bars({"final epoch": 40.0, "best test epoch": 45.0}, {"random": 38.0})
    free, best, baseline = ax.patches[:3]
    assert free.get_facecolor() != best.get_facecolor() != baseline.get_facecolor()
    assert best.get_hatch()
    assert any("uses test labels" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(ax.figure)


def test_no_library_figure_sets_a_point_size_of_its_own():
    """Sizes come from the course's style; a dense label asks for a relative one ("small"): a
    fixed 7-pt legend is unreadable on a projector."""
    from pathlib import Path

    import course_lib

    root = Path(course_lib.__file__).parent
    fixed = [f"{path.relative_to(root)}:{n}" for path in sorted(root.rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"fontsize\s*=\s*[0-9]", line)]
    assert not fixed, f"point sizes set by hand: {fixed}"


def test_the_training_curves_are_readable_at_the_back_of_the_room():
    curves = {"run a": {"reconstruction": [0.5, 0.4], "p_original": [0.5, 0.52],
                        "p_summary": [0.5, 0.48], "mean_score": [0.3, 0.2]}}
    fig = plotting.loss_curves_figure(curves, sigma=0.1)
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
    assert sizes and min(sizes) >= 9
    plt.close(fig)


def test_a_flat_importance_curve_stays_flat_on_the_0_1_scale(record):
    ax = sp.importance_plot(record, np.full(record.n_steps, 0.1) + 1e-3 * np.arange(
        record.n_steps) / record.n_steps)
    assert ax.get_ylim() == (0.0, 1.0)
    plt.close(ax.figure)


def points_under_legends(fig: plt.Figure) -> int:
    """How many drawn line points, in any panel of ``fig``, lie under a legend's box."""
    fig.canvas.draw()
    boxes = [legend.get_window_extent() for legend in
             [ax.get_legend() for ax in fig.axes] + list(fig.legends) if legend is not None]
    hidden = 0
    for line in (line for ax in fig.axes for line in ax.get_lines()):
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        hidden += sum(int(box.contains(x, y)) for box in boxes for x, y in xy)
    return hidden


def test_the_scores_legend_hides_none_of_the_video(record):
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(2, 1, figsize=(9, 4.8))
    for ax in axes:
        sp.scores_vs_gtscore(record, 0.3 + 0.05 * rng.random(record.n_steps), ax=ax, sigma=0.3)
    fig.tight_layout()
    assert points_under_legends(fig) == 0
    plt.close(fig)


def test_the_spread_panel_legend_hides_no_epoch(record):
    epochs = np.arange(16)
    rng = np.random.default_rng(1)
    # wide at first, flat at the end: the points run from the top right to the bottom left
    scores = 0.3 + np.linspace(0.1, 0.025, len(epochs))[:, None] * rng.random(record.n_steps)
    fig = sp.score_heatmap(record, epochs, scores)
    assert points_under_legends(fig) == 0
    plt.close(fig)


def test_quantities_that_end_equal_stay_visible_one_over_the_other():
    """c(x̂) and c(x̂_p) are often equal: their lines must differ in more than colour (a line
    drawn over an equal one hides it)."""
    from course_lib.training import History

    history = History()
    for step in range(1, 9):
        history.log("train", step, {"c_original": 0.7, "c_summary": 0.6, "c_random": 0.6})
    fig = sp.sum_gan_panels(history, 4)
    outputs = next(ax for ax in fig.axes if ax.get_title() == "discriminator outputs")
    looks = [(line.get_linestyle(), line.get_marker()) for line in outputs.get_lines()
             if line.get_label().startswith("c(")]
    assert len(looks) == 3 and len(set(looks)) == 3
    plt.close(fig)


def test_six_runs_named_beside_the_curves_hide_none_of_them():
    epochs = np.arange(1, 21)
    curves = {f"run {i}": {"reconstruction": 0.3 + 0.02 * i + 0.1 * np.sin(epochs / 3 + i),
                           "p_original": np.full(20, 0.5), "p_summary": np.full(20, 0.45),
                           "mean_score": np.full(20, 0.15)} for i in range(6)}
    fig = plotting.loss_curves_figure(curves, sigma=0.15)
    assert points_under_legends(fig) == 0
    named = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert named == list(curves)  # each run once
    plt.close(fig)


# Every baseline a lecture draws beside a model's F: the long legends of notebooks 04 and 05.
TEN_BASELINES = {name: 30.0 + 2 * i for i, name in enumerate(
    ["random", "uniform", "feature norm", "motion", "ramp down from start", "ramp up to end",
     "bump at middle", "untrained model", "supervised (uses labels)", "human"])}


class FinishedRun:
    """A finished run as the seed figures read it: 20 epochs of test F and of P(original)."""

    steps_per_epoch = 1

    class history:  # noqa: N801
        eval_steps = list(range(21))
        evals = {"f_score": list(np.linspace(45, 38, 21))}

    @staticmethod
    def epoch_means(key):
        return np.full(20, 0.5)


def titles_under_legends(fig: plt.Figure) -> list[str]:
    """The panels of ``fig`` whose legend is taller than the panel (beside it, such a legend
    runs into the titles above and below), or whose title or axes a legend overlaps."""
    fig.canvas.draw()
    legends = [(ax, ax.get_legend().get_window_extent()) for ax in fig.axes if ax.get_legend()]
    panels = [ax for ax in fig.axes if ax.axison]
    return [ax.get_title() for ax, box in legends
            if box.height > ax.get_window_extent().height] + \
        [ax.get_title() for ax in fig.axes if ax.get_title()
         if any(box.overlaps(ax.title.get_window_extent()) for _, box in legends)] + \
        [other.get_title() for ax, box in legends for other in panels
         if other is not ax and box.overlaps(other.get_window_extent())]


def test_the_training_panels_legend_of_every_baseline_stays_clear_of_the_titles():
    """Notebook 04: ten baselines and the model beside the F panel ran into its title."""
    from tests.test_summary_plots import sum_gan_history

    fig = sp.sum_gan_panels(sum_gan_history(epochs=20), 4, sigma=0.1, baselines=TEN_BASELINES)
    fig.tight_layout()
    assert titles_under_legends(fig) == []
    plt.close(fig)


def test_a_long_legend_beside_the_f_panel_stays_clear_of_its_title():
    fig = sp.stability_plot({"SUM-GAN-AAE": {0: FinishedRun()}}, TEN_BASELINES)
    assert titles_under_legends(fig) == []
    plt.close(fig)


def test_a_falling_fit_is_written_with_a_minus_sign():
    lengths = np.array([100, 200, 400])
    result = {"lengths": lengths, "seconds": lengths * (3e-4 - 1e-8 * lengths),
              "bytes": 4 * lengths**2}
    fig = ap.attention_cost_plot({"decoder": result})
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any("ms − 0.01 µs·T" in label for label in labels), labels
    plt.close(fig)


def test_the_importance_legend_hides_no_peak_at_the_video_end(record):
    """Trained selectors often peak at the first or last steps (notebook 07's demo video)."""
    scores = np.full(record.n_steps, 0.1)
    scores[-5:] = np.linspace(0.3, 0.95, 5)
    scores[:3] = 0.9
    summary = ev.generate_summary(scores, record.change_points, record.picks, record.n_frames)
    ax = sp.importance_plot(record, scores, summary)
    ax.figure.tight_layout()
    assert points_under_legends(ax.figure) == 0
    plt.close(ax.figure)


@pytest.mark.parametrize("metric, other", [("max", "mean"), ("mean", "max")])
def test_the_users_figure_names_the_reduction_it_used_once_and_the_other_beside(record, metric,
                                                                                 other):
    summary = ev.generate_summary(record.gtscore, record.change_points, record.picks,
                                  record.n_frames)
    f = ev.f_scores(summary, record.user_summary)
    title = sp.summaries_plot(record, summary, metric).get_title()
    assert f"F = {ev.reduce_users(f, metric):.1f} ({metric} over users; their {other}:" in title
    assert title.count(metric) == 1
    plt.close("all")


def test_the_seeds_figure_keeps_both_panels_readable_beside_a_long_legend():
    """Notebook 04: three seeds and ten baselines beside the F panel."""
    fig = sp.seeds_plot({seed: FinishedRun() for seed in range(3)}, TEN_BASELINES,
                        keys=("p_original", "p_summary"))
    assert titles_under_legends(fig) == []
    fig.canvas.draw()  # a legend in two columns left each panel 12 % of the width
    assert all(ax.get_window_extent().width > 0.18 * fig.bbox.width for ax in fig.axes[:2])
    plt.close(fig)


def test_epoch_axes_tick_at_whole_epochs_only():
    """Notebook 04's training panels ticked 0, 2.5, 5, ... 17.5: epochs never evaluated."""
    from tests.test_summary_plots import sum_gan_history

    figures = [sp.sum_gan_panels(sum_gan_history(epochs=20), 4, sigma=0.1),
               sp.seeds_plot({seed: FinishedRun() for seed in range(3)}, {"random": 30.0},
                             keys=("p_original", "p_summary")),
               sp.stability_plot({"SUM-GAN-AAE": {0: FinishedRun()}})]
    for fig in figures:
        fig.canvas.draw()
        epoch_axes = [ax for ax in fig.axes if ax.get_xlabel().startswith("epoch")]
        assert epoch_axes
        for ax in epoch_axes:
            low, high = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if low <= t <= high]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
        plt.close(fig)


def test_a_seeds_line_shares_no_colour_with_a_baseline_and_keeps_it_across_figures():
    """Notebook 04: seed 1 (orange) ran through the three orange positional baselines; 05: seed 0
    was blue in one figure and red in the next."""
    from matplotlib.colors import to_hex

    baselines = {name: 40.0 + i for i, name in enumerate(sp.BASELINE_STYLES)}
    runs = {seed: FinishedRun() for seed in (0, 1, 2)}
    seeds = sp.seeds_plot(runs, baselines, keys=("p_original", "p_summary"))
    stability = sp.stability_plot({"SUM-GAN-AAE": {2: FinishedRun()}, "SUM-GAN-sl": runs},
                                  baselines)
    colours = {}
    for fig in (seeds, stability):
        for ax in fig.axes:
            for line in ax.get_lines():
                label = line.get_label()
                if label.startswith("seed "):
                    colours.setdefault(label, set()).add(to_hex(line.get_color()))
    baseline_colours = {to_hex(style["color"]) for style in sp.BASELINE_STYLES.values()}
    assert len(colours) == 3 and all(len(c) == 1 for c in colours.values()), colours
    assert not set.union(*colours.values()) & baseline_colours
    plt.close("all")
