"""Notebook 05's pictures and the sentences it prints: the attention view (heat map with Play /
slider, animation), the O(T²) cost measurement, and the stability measures, whose sentences must
follow the numbers whichever way they come out."""

import re

import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest
import torch

from course_lib import attention_plots as ap
from course_lib import summary_plots as sp
from course_lib.models import sum_gan_aae as aae
from course_lib.models import sum_gan_sl as sl
from course_lib.models.summarizer_training import SumGanRun
from course_lib.training import History

matplotlib.use("Agg")


def attention_matrix(steps=12, seed=0):
    logits = np.random.default_rng(seed).normal(size=(steps, steps))
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_heat_map_frames_the_decoder_step_and_circles_the_step_it_rebuilds():
    attention = attention_matrix()
    fig = ap.attention_figure(attention, step=3, shot_bounds=np.array([4, 9]))
    heat, row = fig.axes[:2]
    assert "decoder step" in heat.get_ylabel() and "encoder step" in heat.get_xlabel()
    circle = heat.get_lines()[0]
    assert list(circle.get_xdata()) == [12 - 1 - 3] and list(circle.get_ydata()) == [3]
    weights = [line for line in row.get_lines() if line.get_color() == "C0"]  # not 1/T, shots
    assert len(weights) == 1
    np.testing.assert_allclose(weights[0].get_ydata(), attention[3])
    assert "reconstructs step 8" in row.texts[0].get_text()


def test_explorer_plays_over_the_decoder_steps_and_redraws():
    explorer = ap.attention_explorer(attention_matrix(7))
    controls, image = explorer.children
    play, slider = controls.children
    assert isinstance(play, widgets.Play) and (slider.min, slider.max) == (0, 6)
    first = image.value
    slider.value = 5
    assert image.value != first and image.value[:4] == b"\x89PNG"


def test_animation_is_embedded_html_with_at_most_max_frames():
    html = ap.attention_animation(attention_matrix(30), max_frames=5).data
    assert "<script" in html and set(re.findall(r"frames\[(\d+)\]", html)) == set("01234")


def test_cost_measures_both_decoders_and_the_attention_grows_as_t_squared():
    cost = ap.attention_cost({"aae": aae.AttentionDecoder(4, 2), "sl": sl.FeedbackDecoder(4, 2)},
                             (5, 10, 20), repeats=1)
    assert list(cost["aae"]["bytes"]) == [4 * 5 * 5, 4 * 10 * 10, 4 * 20 * 20]
    assert not cost["sl"]["bytes"].any() and (cost["sl"]["seconds"] > 0).all()
    fig = ap.attention_cost_plot(cost, tensors=aae.ATTENTION_TENSORS)
    assert fig.axes[1].get_lines()[0].get_ydata()[-1] == pytest.approx(4 * 1600 / 2**20)


def fake_run(f_scores, seconds=10.0):
    history = History()
    for epoch, f in enumerate(f_scores):
        history.log("eval", epoch, {"f_score": f})
    history.seconds = seconds
    return SumGanRun(torch.nn.Linear(1, 1), history, 1, 0)


def test_stability_measures_and_sentences_follow_the_numbers():
    steady = {0: fake_run([40, 50, 50, 50]), 1: fake_run([41, 50, 50, 50])}
    jumpy = {0: fake_run([40, 50, 30, 50], 20.0), 1: fake_run([41, 40, 50, 40], 20.0)}
    measures = {"A": sp.stability(steady), "B": sp.stability(jumpy)}
    assert measures["A"]["between seeds"] == 0 and measures["A"]["between epochs"] == 0
    assert measures["B"]["between epochs"] == pytest.approx((20 + 20 + 10 + 10) / 4)
    assert measures["B"]["between seeds"] == pytest.approx((5 + 10 + 5) / 3)
    assert measures["A"]["seconds per epoch"] == pytest.approx(10 / 3)
    sentences = sp.stability_sentences(measures)
    assert sentences[0].startswith("A moved less between seeds")
    assert sentences[1].startswith("A moved less from one epoch")
    assert sentences[2].startswith("A took less time per epoch")
    swapped = sp.stability_sentences({"B": measures["B"], "A": measures["A"]})
    assert swapped == sentences
    tie = sp.stability_sentences({"A": measures["A"], "C": measures["A"]})
    assert all("did not differ" in s for s in tie)
