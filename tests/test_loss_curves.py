"""The per-epoch training curves of notebooks 04-06: one panel per quantity on fixed scales, one
colour per run, and a clear error for input it cannot draw."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import plotting
from course_lib.errors import CourseError
from course_lib.training import History


def curves(reconstruction_end: float, epochs: int = 5) -> dict[str, np.ndarray]:
    return {"reconstruction": np.linspace(0.5, reconstruction_end, epochs),
            "p_original": np.linspace(0.5, 0.95, epochs),
            "p_summary": np.linspace(0.5, 0.05, epochs),
            "mean_score": np.full(epochs, 0.1)}


def test_a_panel_per_quantity_on_fixed_scales():
    fig = plotting.loss_curves_figure({"stable": curves(0.4), "diverging": curves(9.7, 3)},
                                      sigma=0.1)
    reconstruction, discriminator, score = fig.axes
    assert discriminator.get_ylim() == score.get_ylim() == (0.0, 1.0)
    low, high = reconstruction.get_ylim()
    assert low == 0.0 and 9.7 < high < 11  # the diverging run's growth shows, from zero
    assert len(discriminator.lines) == 2 * 2 + 1 + 2  # 2 runs x 2 outputs, 0.5, style keys
    drawn = [line.get_xdata() for line in reconstruction.lines]
    assert [list(x) for x in drawn] == [[1, 2, 3, 4, 5], [1, 2, 3]]  # epochs from 1
    dashed = [line for line in discriminator.lines[:4] if line.get_linestyle() == "--"]
    assert all(line.get_ydata()[-1] < 0.5 for line in dashed)  # summaries dashed
    assert any(abs(line.get_ydata()[0] - 0.1) < 1e-9 for line in score.lines[1:])  # σ drawn
    labels = reconstruction.get_legend_handles_labels()[1]
    assert labels == ["stable", "diverging"]
    plt.close(fig)


def test_panels_follow_the_metrics_given():
    sum_gan = {"reconstruction": [2.0, 1.0], "c_original": [0.6, 0.7], "c_summary": [0.4, 0.3]}
    fig = plotting.loss_curves_figure({"SUM-GAN": sum_gan})
    assert [ax.get_title() for ax in fig.axes] == ["reconstruction loss",
                                                   "discriminator outputs"]
    plt.close(fig)


def test_run_curves_are_epoch_means():
    class Run:
        history = History()
        steps_per_epoch = 2

        def epoch_means(self, key):
            values = np.asarray(self.history.train[key])
            return values.reshape(-1, self.steps_per_epoch).mean(axis=1)

    run = Run()
    for step, value in enumerate([1.0, 3.0, 5.0, 7.0], start=1):
        run.history.log("train", step, {"reconstruction": value})
    np.testing.assert_allclose(plotting.run_curves(run)["reconstruction"], [2.0, 6.0])


def test_bad_input_names_the_fix():
    with pytest.raises(CourseError, match="at least one run"):
        plotting.loss_curves_figure({})
    with pytest.raises(CourseError, match=r"only \['f_score'\].*run_curves"):
        plotting.loss_curves_figure({"a": {"f_score": [40.0]}})


def test_divergence_sentences_follow_the_curves():
    stable = {**curves(0.4), "p_original": [0.5, 0.55], "p_summary": [0.5, 0.48]}
    growing = curves(9.7)  # reconstruction 0.5 -> 9.7, P(original) 0.95 vs P(summary) 0.05
    winning = {**curves(0.5), "p_original": [0.5, 0.9], "p_summary": [0.5, 0.45]}
    said = plotting.divergence_sentences({"a": stable, "b": growing, "c": winning})
    assert said[0].startswith("a: did not diverge") and "wins outright" not in said[0]
    assert said[1].startswith("b: diverged") and "wins outright" in said[1]
    assert said[2].startswith("c: did not diverge")
    assert "from 0.50 (epoch 1) to 0.50 (epoch 5)" in said[2]
    winning["p_summary"] = [0.5, 0.1]
    assert plotting.divergence_sentences({"c": winning})[0].startswith("c: diverged")


def test_runs_with_other_sparsity_targets_each_get_their_sigma():
    run = {"mean_score": [0.3, 0.2], "reconstruction": [1.0, 0.9]}
    fig = plotting.loss_curves_figure({"a": run, "b": run}, sigma={"-sl": 0.1, "AAE": 0.15})
    panel = next(ax for ax in fig.axes if ax.get_title() == "mean score")
    drawn = {line.get_label(): line.get_ydata()[0] for line in panel.get_lines()}
    assert drawn["σ = 0.1 (-sl)"] == 0.1 and drawn["σ = 0.15 (AAE)"] == 0.15
    plt.close(fig)


def test_runs_can_keep_the_colours_they_have_in_other_figures():
    run = {"mean_score": [0.3, 0.2], "reconstruction": [1.0, 0.9]}
    fig = plotting.loss_curves_figure({"a": run, "b": run}, colors={"b": "C4"})
    panel = fig.axes[0]
    assert [line.get_color() for line in panel.get_lines()[:2]] == ["C0", "C4"]
    plt.close(fig)
