"""The label-free diagnostics tell "says nothing" from "selects", and covering from repeating."""

from dataclasses import astuple, replace

import numpy as np
import pytest

from course_lib import config, diagnostics, evaluation
from course_lib.data.summarization import VideoRecord
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.errors import CourseError


@pytest.mark.parametrize("constant", [0.0, 0.1, 0.5, 1.0])
def test_spread_is_zero_for_any_constant(constant):
    assert diagnostics.score_spread(np.full(300, constant)) == pytest.approx(0.0, abs=1e-12)


def test_spread_is_the_gap_of_a_selector_and_ignores_a_lone_spike():
    selector = np.zeros(200)
    selector[40:80] = 1.0  # 20 % of the steps selected
    assert diagnostics.score_spread(selector) == pytest.approx(1.0)
    spike = np.full(200, 0.1)
    spike[-1] = 0.9  # the collapsed models' one high step at the end
    assert diagnostics.score_spread(spike) == pytest.approx(0.0, abs=1e-12)
    assert diagnostics.score_spread({"a": selector, "b": spike}) == pytest.approx(0.5)


def test_spread_rejects_what_it_cannot_measure():
    with pytest.raises(CourseError, match="finite"):
        diagnostics.score_spread(np.array([0.1, np.nan]))
    with pytest.raises(CourseError, match="no videos"):
        diagnostics.score_spread({})


def _record_of_shots(lengths):
    bounds = np.cumsum([0, *lengths])
    return VideoRecord("v", int(bounds[-1]), np.arange(bounds[-1]),
                       change_points=np.stack([bounds[:-1], bounds[1:] - 1], axis=1))


def test_constant_overlap_is_one_for_constant_scores_and_zero_for_other_shots():
    record = _record_of_shots([5, 5, 12, 12, 16, 50])  # budget 15: constant takes both 5s
    assert diagnostics.constant_overlap(record, np.full(record.n_steps, 0.3)) == 1.0
    third_shot = np.zeros(record.n_steps, dtype=np.float32)
    third_shot[10:22] = 1.0
    assert diagnostics.constant_overlap(record, third_shot) == 0.0
    mixed = third_shot.copy()
    mixed[:5] = 0.9  # the first short shot beside the 12-frame one exceeds the budget: 5 + 12
    assert diagnostics.constant_overlap(record, mixed) == 0.0


def test_end_share_is_the_summarys_share_in_the_last_tenth():
    record = _record_of_shots([40, 40, 5, 5, 5, 5])  # 100 steps, a 15-step budget

    def high_on(*shots):
        scores = np.zeros(record.n_steps, dtype=np.float32)
        for start in shots:
            scores[start:start + 5] = 1.0
        return scores

    assert diagnostics.end_share(record, high_on(95)) == 1.0
    assert diagnostics.end_share(record, high_on(80)) == 0.0
    assert diagnostics.end_share(record, high_on(80, 95)) == 0.5
    assert diagnostics.end_share(record, high_on(80), part=0.2) == 1.0
    with pytest.raises(CourseError, match="part"):
        diagnostics.end_share(record, high_on(95), part=1.5)


def test_longest_stretch_is_one_for_a_stretch_and_small_for_a_scattered_summary():
    stretch = np.zeros(100, dtype=bool)
    stretch[30:45] = True
    assert diagnostics.longest_stretch_share(stretch) == 1.0
    scattered = np.zeros(100, dtype=bool)
    scattered[::10] = True  # ten single steps
    assert diagnostics.longest_stretch_share(scattered) == pytest.approx(0.1)
    both = stretch | scattered  # 23 steps: two of the ten single ones lie in the stretch
    assert diagnostics.longest_stretch_share(both) == pytest.approx(15 / 23)
    assert np.isnan(diagnostics.longest_stretch_share(np.zeros(10, dtype=bool)))
    with pytest.raises(CourseError, match="1-D"):
        diagnostics.longest_stretch_share(np.ones((2, 5), dtype=bool))


def test_the_max_over_annotators_rewards_one_stretch_and_the_mean_does_not():
    """Why the runner's report judges every run by both ways to combine annotators: five
    annotators cut five different stretches; a summary on one of them matches that annotator
    whole, one spread over all five matches each a little. Same frames of the annotators' cuts
    in both, so the mean scores them alike; the max scores the stretch far higher."""
    cuts = np.zeros((5, 500), dtype=bool)
    for a in range(5):
        cuts[a, 100 * a:100 * a + 20] = True
    one_stretch = cuts[2].copy()
    spread = np.zeros(500, dtype=bool)
    for a in range(5):
        spread[100 * a:100 * a + 4] = True
    f_stretch = evaluation.f_scores(one_stretch, cuts)
    f_spread = evaluation.f_scores(spread, cuts)
    mean = {m: evaluation.reduce_users(f, "mean") for m, f in (("stretch", f_stretch),
                                                                ("spread", f_spread))}
    best = {m: evaluation.reduce_users(f, "max") for m, f in (("stretch", f_stretch),
                                                               ("spread", f_spread))}
    assert mean["stretch"] == pytest.approx(mean["spread"])
    assert best["stretch"] > 4 * best["spread"]
    assert diagnostics.longest_stretch_share(one_stretch) == 1.0
    assert diagnostics.longest_stretch_share(spread) == pytest.approx(0.2)


def test_selected_steps_agree_with_the_protocols_summary(smoke_data):
    data, splits = smoke_data
    record = data[splits[0].test_keys[0]]
    scores = np.random.default_rng(1).random(record.n_steps).astype(np.float32)
    frames = evaluation.generate_summary(scores, record.change_points, record.picks,
                                         record.n_frames)
    expected = np.zeros(record.n_frames, dtype=bool)
    expected[:len(frames)] = frames
    np.testing.assert_array_equal(diagnostics.selected_steps(record, scores),
                                  expected[record.picks])


def _scenes(n_scenes=4, per_scene=25, dim=16, seed=0):
    """Features of a video of ``n_scenes`` distinct scenes, steps jittered around each."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_scenes, dim)) * 5
    return np.repeat(centres, per_scene, axis=0) + rng.normal(size=(n_scenes * per_scene, dim))


def test_a_covering_summary_beats_a_one_scene_summary():
    features = _scenes()
    covering = np.zeros(100, dtype=bool)
    covering[[3, 28, 53, 78]] = True  # one step of each scene
    one_scene = np.zeros(100, dtype=bool)
    one_scene[[3, 8, 13, 18]] = True  # as many steps, all from the first scene
    assert diagnostics.coverage_error(features, covering) < diagnostics.coverage_error(
        features, one_scene)
    assert diagnostics.diversity(features, covering) > diagnostics.diversity(features, one_scene)


def test_coverage_and_diversity_edge_cases():
    features = _scenes()
    everything = np.ones(100, dtype=bool)
    assert diagnostics.coverage_error(features, everything) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(diagnostics.coverage_error(features, np.zeros(100, dtype=bool)))
    assert np.isnan(diagnostics.diversity(features, np.eye(1, 100, 5, dtype=bool)[0]))
    with pytest.raises(CourseError, match="one True/False per step"):
        diagnostics.coverage_error(features, np.ones(99, dtype=bool))


def test_diagnose_tells_constant_from_random_scores(smoke_data):
    data, splits = smoke_data
    keys = splits[0].test_keys
    constant = diagnostics.diagnose(data, evaluation.uniform_scores(data, keys), keys)
    random = diagnostics.diagnose(
        data, evaluation.random_scores(data, keys, np.random.default_rng(0)), keys)
    assert constant.spread == 0.0 and constant.constant_overlap == 1.0
    assert random.spread > 0.5  # (the smoke video has only two shots within the budget)
    humans = diagnostics.diagnose_humans(data, keys)
    assert np.isnan(humans.spread) and 0 < humans.coverage_error < 2
    with pytest.raises(CourseError, match="No scores"):
        diagnostics.diagnose(data, {}, keys)


def test_selection_table_shows_constant_scores_say_nothing_and_select_the_constant():
    data = make_synthetic_dataset(config.summarization_data_config("smoke", verbose=False))
    keys = list(data.keys())[:3]
    rng = np.random.default_rng(0)
    table = diagnostics.selection_table(data, {
        "constant": evaluation.uniform_scores(data, keys),
        "random": [evaluation.random_scores(data, keys, rng) for _ in range(3)]}, keys)
    assert table["constant"].spread == pytest.approx(0.0, abs=1e-12)
    assert table["constant"].constant_overlap == pytest.approx(1.0)
    assert table["random"].spread > 0.5  # U(0, 1): the 10-90 % range is about 0.8
    assert table["random"].constant_overlap < 1.0
    assert table["constant"].f_score == pytest.approx(
        evaluation.evaluate(data, evaluation.uniform_scores(data, keys), keys).mean)
    text = diagnostics.format_selection_table(table)
    assert "constant" in text and "0.000" in text
    sentence = diagnostics.selection_sentence(
        {"model": table["constant"], "untrained": table["random"], "random": table["random"]},
        "model", "untrained")
    assert "fell below" in sentence and "100%" in sentence and "read its F as theirs" in sentence
    flat_but_better = replace(table["constant"], f_score=table["constant"].f_score + 5)
    sentence = diagnostics.selection_sentence(
        {"model": flat_but_better, "untrained": table["random"], "random": table["random"],
         "uniform": table["constant"]}, "model", "untrained")
    assert "read its F as theirs" not in sentence  # its F is not the constant scores'
    assert f"yet its F ({flat_but_better.f_score:.1f}) is above constant scores'" in sentence
    worse_untrained = replace(table["random"], f_score=flat_but_better.f_score - 1)
    sentence = diagnostics.selection_sentence(
        {"model": flat_but_better, "untrained": worse_untrained, "random": table["random"],
         "uniform": table["constant"]}, "model", "untrained")
    assert "training did not earn it" not in sentence  # its untrained self scores less
    better_untrained = replace(table["random"], f_score=flat_but_better.f_score + 1)
    sentence = diagnostics.selection_sentence(
        {"model": flat_but_better, "untrained": better_untrained, "random": table["random"],
         "uniform": table["constant"]}, "model", "untrained")
    assert (f"its untrained self (score spread {better_untrained.spread:.3f}) scores "
            f"{better_untrained.f_score:.1f}: training did not earn it") in sentence
    sentence = diagnostics.selection_sentence(table, "random", "constant", random="constant")
    assert "rose above" in sentence and "less than" in sentence
    assert "read its F" not in sentence


@pytest.mark.parametrize(("model", "said"), [(0.676, "68% of the shots it selects are those "
                                              "constant scores (uniform) select, about as much "
                                              "as for random scores (68%)"),
                                             (0.674, "less than for random scores (68%)"),
                                             (0.686, "more than for random scores (68%)")])
def test_an_overlap_the_sentence_prints_as_random_s_is_called_level(model, said):
    """Closer than the printed percent, the two overlaps are level: "68% ..., less than for
    random scores (68%)" once stood in notebook 06's output, from an exact comparison."""
    row = diagnostics.SelectionRow(40.0, 0.05, model, 0.3, 0.5)
    table = {"model": row, "untrained": replace(row, spread=0.5),
             "random": replace(row, spread=0.8, constant_overlap=0.684)}
    sentence = diagnostics.selection_sentence(table, "model", "untrained")
    assert said in sentence
    assert ("It selects little" in sentence) == (model > 0.675)  # level counts as selecting little


def test_a_flat_model_is_called_flat_even_where_its_spread_rose():
    """0.006 untrained to 0.019 trained "rose", yet neither selects: the sentence says both are
    flat and, with the constant scores' shots, that it selects little."""
    row = diagnostics.SelectionRow(40.0, 0.019, 0.72, 0.3, 0.5)
    table = {"model": row, "untrained": replace(row, spread=0.006),
             "random": replace(row, spread=0.8, constant_overlap=0.68)}
    sentence = diagnostics.selection_sentence(table, "model", "untrained")
    assert "rose above the untrained model's (0.006), both below 0.05: flat" in sentence
    assert "It selects little" in sentence
    wide = dict(table, model=replace(row, spread=0.3))
    assert "flat" not in diagnostics.selection_sentence(wide, "model", "untrained")


def test_mean_row_averages_each_column_and_is_nan_without_rows():
    rows = [diagnostics.SelectionRow(40.0, 0.0, 1.0, 0.25, 0.5),
            diagnostics.SelectionRow(50.0, 0.2, 0.5, 0.75, 0.25)]
    assert diagnostics.mean_row(rows) == diagnostics.SelectionRow(45.0, 0.1, 0.75, 0.5, 0.375)
    empty = diagnostics.mean_row([])
    assert all(np.isnan(v) for v in astuple(empty)[:-1]) and empty.coverage_by_video == {}


def test_the_table_shows_what_each_summary_covers_and_people_have_a_row(smoke_data):
    data, splits = smoke_data
    keys = splits[0].test_keys
    table = diagnostics.selection_table(
        data, {"constant": evaluation.uniform_scores(data, keys)}, keys)
    found = diagnostics.diagnose(data, evaluation.uniform_scores(data, keys), keys)
    assert table["constant"].coverage_error == pytest.approx(found.coverage_error)
    assert table["constant"].diversity == pytest.approx(found.diversity)
    table["humans"] = diagnostics.human_row(data, keys)
    baseline = evaluation.baseline_table(data, splits[0], n_random_trials=1)
    assert table["humans"].f_score == pytest.approx(
        baseline["human (leave-one-out)"].f_score)
    assert np.isnan(table["humans"].spread)
    assert table["humans"].coverage_error == pytest.approx(
        diagnostics.diagnose_humans(data, keys).coverage_error)
    text = diagnostics.format_selection_table(table)
    assert "coverage error" in text and "nan" not in text  # people's missing cells are blank


def _row(by_video, f=40.0, spread=0.3, overlap=0.5):
    """A selection row whose coverage error is the mean of its videos'."""
    videos = {f"video_{i}": value for i, value in enumerate(by_video)}
    return diagnostics.SelectionRow(f, spread, overlap, float(np.mean(by_video)), 0.5, videos)


def test_the_coverage_sentence_names_whom_a_summary_covers_better_than():
    table = {"model": _row([0.20, 0.22, 0.18, 0.21, 0.19]),
             "untrained": _row([0.30, 0.31, 0.29, 0.32, 0.28]),
             "random": _row([0.25, 0.26, 0.24, 0.27, 0.23]),
             "humans": _row([0.10, 0.11, 0.09, 0.12, 0.08], spread=np.nan, overlap=np.nan)}
    sentence = diagnostics.coverage_sentence(table, "model", "untrained")
    assert "better than untrained (0.300) and random (0.250)" in sentence
    assert "not as well as humans (0.100)" in sentence
    table["model"] = _row([0.50, 0.52, 0.48, 0.51, 0.49])
    assert "no better than any" in diagnostics.coverage_sentence(table, "model", "untrained")


def test_the_coverage_sentence_compares_video_by_video_not_by_a_fixed_margin():
    untrained = [0.30, 0.31, 0.29, 0.32, 0.28]
    table = {"untrained": _row(untrained), "random": _row([0.40, 0.41, 0.39, 0.42, 0.38]),
             "uniform": _row([0.35, 0.36, 0.34, 0.37, 0.33]),
             "humans": _row([0.10, 0.11, 0.09, 0.12, 0.08])}
    # 0.02 better on average, all of it from one video: within the noise of five
    table["model"] = _row(np.subtract(untrained, [0.03, -0.03, 0, 0, 0.1]))
    assert ("it covers the video better than random (0.400) and uniform (0.350); about as well "
            "as untrained (0.300), within the noise (95 % t-interval of the paired per-video "
            "differences); not as well as humans "
            "(0.100).") in diagnostics.coverage_sentence(table, "model", "untrained")
    # 0.004 better on every video: beyond the noise, however small
    table["model"] = _row(np.subtract(untrained, [0.004, 0.0041, 0.0039, 0.004, 0.0042]))
    assert "better than untrained (0.300)" in diagnostics.coverage_sentence(
        table, "model", "untrained")
    one = {"untrained": _row([0.30]), "model": _row([0.29])}  # one video: its difference
    assert "better than untrained (0.300)" in diagnostics.coverage_sentence(
        one, "model", "untrained")
    table["random"] = diagnostics.SelectionRow(35, 0.8, 0.4, 0.4, 0.5)  # made by hand: no videos
    with pytest.raises(CourseError, match="video by video"):
        diagnostics.coverage_sentence(table, "model", "untrained")


def test_rows_keep_each_videos_coverage_through_their_means(smoke_data):
    data, splits = smoke_data
    keys = splits[0].test_keys
    rng = np.random.default_rng(0)
    draws = [evaluation.random_scores(data, keys, rng) for _ in range(2)]
    row = diagnostics.selection_row(data, draws, keys)
    each = [diagnostics.diagnose(data, d, keys).coverage_by_video for d in draws]
    assert row.coverage_by_video == pytest.approx(
        {k: (each[0][k] + each[1][k]) / 2 for k in keys})
    assert np.mean(list(row.coverage_by_video.values())) == pytest.approx(row.coverage_error)
    humans = diagnostics.human_row(data, keys)
    assert set(humans.coverage_by_video) == set(keys)
    merged = diagnostics.mean_row([row, humans])
    assert merged.coverage_by_video[keys[0]] == pytest.approx(
        (row.coverage_by_video[keys[0]] + humans.coverage_by_video[keys[0]]) / 2)


def test_the_constant_overlap_of_videos_that_select_nothing_is_nan_without_a_warning():
    """Your own short videos may have every shot longer than the budget: nothing selected."""
    import warnings

    from course_lib.models.summarizer_training import _mean_of_defined

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's nanmean said "Mean of empty slice" here
        assert np.isnan(_mean_of_defined([float("nan"), float("nan")]))
        assert _mean_of_defined([0.5, float("nan"), 1.0]) == 0.75
