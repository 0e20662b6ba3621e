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


def test_cost_runs_on_the_threads_asked_and_restores_them():
    before = torch.get_num_threads()
    seen = []
    decoder = sl.FeedbackDecoder(4, 1)
    forward = decoder.forward
    decoder.forward = lambda *a: (seen.append(torch.get_num_threads()), forward(*a))[1]
    ap.attention_cost({"sl": decoder}, (5, 10), repeats=2, threads=1)
    assert seen == [1] * 5 and torch.get_num_threads() == before  # a warm-up and 2 x 2 passes


def test_per_step_fit_recovers_each_term_and_says_when_the_quadratic_is_not_measured():
    """Notebook 05 on a 2-core CPU: a fixed cost per video made the shortest video's steps the
    dearest, and a line a + c·T through the time per step called the T² term negative."""
    lengths = np.array([100, 200, 400, 800, 1600])
    seconds = 0.17 + 1e-3 * lengths + 1e-7 * lengths**2
    fit = ap.per_step_fit({"lengths": lengths, "seconds": seconds})
    assert (fit.video, fit.step, fit.quadratic) == pytest.approx((0.17, 1e-3, 1e-7))
    assert fit.measured
    assert np.polyfit(lengths, seconds / lengths, 1)[0] < 0  # the old line: a negative T² term
    noisy = seconds * np.array([1.0, 1.05, 0.95, 1.05, 0.95])  # noise far above 1e-7·T²
    assert not ap.per_step_fit({"lengths": lengths, "seconds": noisy}).measured
    assert ap.per_step_fit({"lengths": lengths[:3], "seconds": seconds[:3]}).quadratic_error \
        == float("inf")


def fake_run(f_scores, seconds=10.0, spread=None):
    history = History()
    for epoch, f in enumerate(f_scores):
        history.log("eval", epoch, {"f_score": f} if spread is None
                    else {"f_score": f, "score_spread": spread})
    history.seconds = seconds
    return SumGanRun(torch.nn.Linear(1, 1), history, 1, 0)


def test_stability_measures_and_sentences_follow_the_numbers():
    steady = {s: fake_run([40 + s, 50, 51, 52, 51, 52, 51, 52, 53, 52]) for s in (0, 1)}
    jumpy = {0: fake_run([40, 50, 30] * 3 + [50], 20.0), 1: fake_run([41, 40, 50] * 3 + [40], 20.0)}
    measures = {"A": sp.stability(steady), "B": sp.stability(jumpy)}
    assert measures["A"]["between seeds"] == 0 and measures["A"]["between epochs"] == 1
    assert measures["A"]["seeds with a frozen F"] == measures["B"]["seeds with a frozen F"] == 0
    f = np.array([[40, 50, 30] * 3 + [50], [41, 40, 50] * 3 + [40]], dtype=float)
    assert measures["B"]["between epochs"] == pytest.approx(np.abs(np.diff(f[:, 1:])).mean())
    assert measures["B"]["between seeds"] == pytest.approx(f[:, 1:].std(axis=0, ddof=1).mean())
    assert measures["B"]["final epoch, between seeds"] == pytest.approx(np.std([50, 40], ddof=1))
    assert measures["A"]["seconds per epoch"] == pytest.approx(10 / 9)
    sentences = sp.stability_sentences(measures)
    assert sentences[0].startswith("A moved less between seeds")
    assert sentences[1].startswith("A moved less from one epoch")
    assert sentences[2].startswith("A took less time per epoch")
    swapped = sp.stability_sentences({"B": measures["B"], "A": measures["A"]})
    assert swapped == sentences
    tie = sp.stability_sentences({"A": measures["A"], "C": measures["A"]})
    assert all("did not differ" in s for s in tie[:2]) and "about as long" in tie[2]


def test_collapsed_seeds_do_not_win_the_stability_comparison():
    # Every seed ends with the same summary (F stuck at 30.9, one change to 29.8): spreads near
    # 0, and no stability to speak of.
    collapsed = {s: fake_run([43.6, 28.3, 29.7] + [30.9] * 5 + [29.8] * 2) for s in (0, 1, 2)}
    learning = {0: fake_run([43.6, 40, 45, 47, 44, 46, 48, 45, 47, 44]),
                1: fake_run([43.6, 44, 41, 46, 48, 43, 45, 47, 44, 46])}
    measures = {"A": sp.stability(collapsed), "B": sp.stability(learning)}
    assert measures["A"]["between seeds"] == pytest.approx(0, abs=1e-9)
    assert measures["B"]["between seeds"] > 0.5
    frozen = [m["seeds with a frozen F"] for m in measures.values()]
    assert frozen == [3, 0]
    sentences = sp.stability_sentences(measures)
    assert "3 of A's seeds ended with a frozen F" in sentences[0]
    assert not any("moved less" in s for s in sentences)


def test_the_model_whose_scores_still_spread_is_named_and_unlogged_spreads_say_nothing():
    flat = {s: fake_run([40, 41, 42], spread=0.01) for s in (0, 1)}
    selecting = {s: fake_run([40, 41, 42], spread=0.2 + s / 10) for s in (0, 1)}
    measures = {"A": sp.stability(flat), "B": sp.stability(selecting)}
    assert measures["B"]["final score spread"] == pytest.approx(0.25)
    said = [s for s in sp.stability_sentences(measures) if "spread more" in s]
    assert said == [sp.stability_sentences({"B": measures["B"], "A": measures["A"]})[-1]]
    assert said[0].startswith("After the last epoch B's scores spread more") and "0.250" in said[0]
    flatter = {"A": measures["A"], "C": sp.stability({0: fake_run([40, 41, 42], spread=0.03)})}
    said = sp.stability_sentences(flatter)[-1]
    assert said.startswith("After the last epoch neither model's scores spread")
    unlogged = {"A": sp.stability({0: fake_run([40, 41, 42])}), "B": measures["B"]}
    assert not any("spread more" in s for s in sp.stability_sentences(unlogged))


def test_models_that_do_not_select_are_not_ranked_by_their_spreads_of_f():
    """Flat scores make F jump with the knapsack's choice among near-equal shots: no frozen F,
    yet neither model's steadiness is learning, so neither 'moves less'."""
    steady = {s: fake_run([40, 50, 51, 52, 51, 52, 51, 52, 53, 52], spread=0.01) for s in (0, 1)}
    jumpy = {s: fake_run([40, 50, 30] * 3 + [50], 11.0, spread=0.02) for s in (0, 1)}
    measures = {"A": sp.stability(steady), "B": sp.stability(jumpy)}
    assert measures["A"]["seeds with a frozen F"] == 0
    sentences = sp.stability_sentences(measures)
    assert "rank nothing here" in sentences[0] and "neither model's scores spread" in sentences[0]
    assert not any("moved less" in s for s in sentences)
    assert "about as long per epoch" in sentences[-1]  # 10 against 11 s: within 1.2 times
    selecting = {s: fake_run([40, 50, 30] * 3 + [50], 11.0, spread=0.2) for s in (0, 1)}
    ranked = sp.stability_sentences({"A": sp.stability(steady), "B": sp.stability(selecting)})
    assert ranked[0].startswith("A moved less between seeds") or "did not differ" in ranked[0]
    assert any(s.startswith("A moved less from one epoch") for s in ranked)


def test_spreads_between_a_few_seeds_are_not_ranked_unless_far_apart():
    """3 seeds each: one standard deviation must be over 6 times the other (F-test, 5 %) before
    a sentence says which model moved less between seeds; the table prints counts whole."""
    def runs(offsets):
        return {s: fake_run([40, 45 + o, 46 + o, 45 + o]) for s, o in enumerate(offsets)}

    close = {"A": sp.stability(runs([0, 2, 4])), "B": sp.stability(runs([0, 3, 6]))}
    said = sp.stability_sentences(close)[0]
    assert "did not differ measurably between seeds" in said and "6.2 times" in said
    assert not any("moved less between seeds" in s for s in sp.stability_sentences(close))
    far = {"A": sp.stability(runs([0, 0.2, 0.4])), "B": sp.stability(runs([0, 3, 6]))}
    assert sp.stability_sentences(far)[0].startswith("A moved less between seeds")
    rows = dict(line.split(None, 1) for line in sp.stability_table(close).splitlines()[1:2])
    assert rows["seeds"].split() == ["3", "3"]
