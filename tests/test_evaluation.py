"""The evaluation protocol: hand-made shots with planted ties, empty summaries, real SumMe."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import evaluation as ev
from course_lib.data import reference_file
from course_lib.data.summarization import SummarizationDataset, VideoRecord
from course_lib.errors import CourseError


def make_record(key="video_1", n_frames=100, n_users=3, rng=None, shots=None):
    """A small video: picks every 15th frame, given (or random) inclusive shots, random users."""
    rng = rng or np.random.default_rng(0)
    picks = np.arange(0, n_frames, 15)
    if shots is None:
        cuts = np.sort(rng.choice(np.arange(5, n_frames - 5), size=4, replace=False))
        bounds = np.concatenate([[0], cuts, [n_frames]])
        shots = np.stack([bounds[:-1], bounds[1:] - 1], axis=1)
    users = rng.random((n_users, n_frames)) < 0.2
    return VideoRecord(key=key, n_frames=n_frames, picks=picks, change_points=np.asarray(shots),
                       user_summary=users)


def test_upsample_is_zero_order_hold():
    frames = ev.upsample_scores([0.1, 0.5, 0.9], [0, 15, 30], 40)
    assert frames.dtype == np.float32 and frames.shape == (40,)
    np.testing.assert_array_equal(frames[:15], np.float32(0.1))
    np.testing.assert_array_equal(frames[15:30], np.float32(0.5))
    np.testing.assert_array_equal(frames[30:], np.float32(0.9))
    with pytest.raises(ValueError, match="one score per"):
        ev.upsample_scores([0.1, 0.5], [0, 15, 30], 40)


def test_shot_scores_use_the_float32_mean():
    rng = np.random.default_rng(1)
    frames = rng.random(1000).astype(np.float32)
    shots = np.array([[0, 499], [500, 999]])
    got = ev.shot_scores(frames, shots)
    assert got[0] == frames[:500].mean() and got[1] == frames[500:].mean()
    assert got[0] != frames[:500].astype(np.float64).mean()  # the precision matters


def test_budget_truncates():
    assert ev.summary_budget(np.array([[0, 9], [10, 99]])) == 15
    assert ev.summary_budget(np.array([[0, 9], [10, 105]])) == int(106 * 0.15) == 15


@pytest.mark.parametrize("solver", [ev.knapsack, ev.knapsack_dp])
def test_knapsack_planted_ties_exclude_the_later_item(solver):
    # Items 0 and 1 are interchangeable: the traceback keeps the earlier one.
    assert solver([0.5, 0.5], [3, 3], 3) == [0]
    # Two short shots tie one long shot: the later (long) one is left out.
    assert solver([0.25, 0.25, 0.5], [2, 2, 4], 4) == [0, 1]
    # A score of exactly 0 is never taken, even when it fits.
    assert solver([0.0, 0.0, 0.7], [1, 1, 2], 10) == [2]
    # Nothing fits.
    assert solver([0.9], [11], 10) == []


def test_knapsack_vectorised_is_identical_to_the_dynamic_program():
    rng = np.random.default_rng(2)
    for trial in range(300):
        n = int(rng.integers(1, 25))
        weights = rng.integers(1, 40, size=n)
        # Coarse values plant many exact ties; sums of float32 means plant near-ties.
        values = (rng.integers(0, 4, size=n) / 4 if trial % 2 else
                  rng.random(n).astype(np.float32).astype(np.float64))
        capacity = int(rng.integers(0, weights.sum() + 2))
        assert ev.knapsack(values, weights, capacity) == ev.knapsack_dp(values, weights, capacity)


def test_knapsack_rejects_nan():
    with pytest.raises(ValueError, match="finite"):
        ev.knapsack([np.nan, 1.0], [1, 1], 2)


def test_generate_summary_selects_whole_shots_within_budget():
    shots = np.array([[0, 9], [10, 19], [20, 59], [60, 99]])
    picks = np.arange(0, 100, 5)
    scores = np.zeros(20)
    scores[2:4] = 1.0  # frames 10..19: shot 1 is the only non-zero one
    summary = ev.generate_summary(scores, shots, picks, 100)
    assert summary.dtype == bool and summary.shape == (100,)
    np.testing.assert_array_equal(np.flatnonzero(summary), np.arange(10, 20))


def test_f_scores_match_hand_computation_with_padding():
    summary = np.array([1, 1, 1, 1, 0, 0], bool)          # shorter than the users: padded
    users = np.array([[1, 1, 0, 0, 0, 0, 1, 1],           # P = 2/4, R = 2/4 → 50
                      [0, 0, 0, 0, 1, 1, 0, 0]], bool)     # no overlap → 0
    np.testing.assert_allclose(ev.f_scores(summary, users), [50.0, 0.0])
    assert ev.reduce_users(ev.f_scores(summary, users), "max") == 50.0
    assert ev.reduce_users(ev.f_scores(summary, users), "mean") == 25.0


def test_empty_summaries_are_an_explicit_choice():
    users = np.array([[1, 0, 1], [0, 0, 0]], bool)
    empty = np.zeros(3, bool)
    np.testing.assert_array_equal(ev.f_scores(empty, users), [0.0, 0.0])
    assert np.isnan(ev.f_scores(empty, users, empty="nan")).all()
    # An empty *user* summary: 0 by default, NaN like the reference on request.
    got = ev.f_scores(np.array([1, 0, 1], bool), users, empty="nan")
    assert got[0] == 100.0 and np.isnan(got[1])
    with pytest.raises(ValueError):
        ev.f_scores(empty, users, empty="ignore")


def small_dataset(n=6, metric="max"):
    rng = np.random.default_rng(3)
    videos = {f"video_{i}": make_record(f"video_{i}", int(rng.integers(80, 200)), rng=rng)
              for i in range(1, n + 1)}
    return SummarizationDataset("toy", videos, eval_method=metric, source="test")


def test_evaluate_is_one_call_and_matches_the_pieces():
    data = small_dataset()
    scores = ev.random_scores(data, data.keys(), np.random.default_rng(4))
    result = ev.evaluate(data, scores)
    assert set(result.per_video) == set(data.keys()) and result.metric == "max"
    for key, value in result.per_video.items():
        r = data[key]
        summary = ev.generate_summary(scores[key], r.change_points, r.picks, r.n_frames,
                                      solver="dp")
        assert value == np.max(ev.f_scores(summary, r.user_summary))
    assert result.mean == pytest.approx(np.mean(list(result.per_video.values())))
    assert ev.evaluate(data, scores, metric="mean").mean <= result.mean
    # Many epochs at once give the same numbers as one call per epoch, with either solver.
    epochs = [ev.random_scores(data, data.keys(), np.random.default_rng(e)) for e in range(5)]
    batched = ev.evaluate_epochs(data, epochs)
    for e, scores_e in enumerate(epochs):
        assert batched[e].per_video == ev.evaluate(data, scores_e, solver="dp").per_video


def test_evaluate_splits_averages_split_means():
    from course_lib.data.summarization import Split
    data = small_dataset()
    keys = data.keys()
    splits = [Split(tuple(keys[:4]), tuple(keys[4:])), Split(tuple(keys[2:]), tuple(keys[:2]))]
    scores = ev.uniform_scores(data, keys)
    res = ev.evaluate_splits(data, splits, [scores, scores])
    assert res.mean == pytest.approx(np.mean([ev.evaluate(data, scores, s.test_keys).mean
                                              for s in splits]))
    with pytest.raises(CourseError, match="No scores"):
        ev.evaluate(data, {}, ["video_1"])


def test_human_leave_one_out_against_a_hand_computation():
    users = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1]], bool)
    rec = VideoRecord(key="v", n_frames=4, picks=np.array([0]), user_summary=users)
    # F(u0 | u1) = 2/3·100, F(u0 | u2) = 0, F(u1 | u0) = 2/3·100, F(u1 | u2) = 0, F(u2 | ·) = 0.
    assert ev.human_leave_one_out(rec, "max") == pytest.approx((200 / 3 * 2) / 3)
    assert ev.human_leave_one_out(rec, "mean") == pytest.approx((100 / 3 * 2) / 3)


def test_rank_correlation_is_perfect_for_the_targets_and_near_zero_for_noise():
    rng = np.random.default_rng(5)
    targets = rng.random((4, 300))
    tau, rho = ev.rank_correlation(targets[0], targets[:1])
    assert tau == pytest.approx(1.0) and rho == pytest.approx(1.0)
    tau, rho = ev.rank_correlation(rng.random(300), targets)
    assert abs(tau) < 0.1 and abs(rho) < 0.15
    ties = rng.integers(1, 6, (5, 40)).astype(float)  # 1-5 ratings: many ties
    ties[2] = 3.0  # a constant annotator ranks nothing
    from scipy.stats import spearmanr
    with np.errstate(invalid="ignore"), pytest.warns(Warning):
        expected = np.nanmean([spearmanr(ties[0], t).statistic for t in ties[1:]])
    assert ev.rank_correlation(ties[0], ties[1:])[1] == pytest.approx(expected, abs=1e-12)
    raw = np.array([[1, 2, 5, 5], [2, 2, 4, 1]], float)
    np.testing.assert_allclose(ev.annotator_step_scores(raw, [0, 2]), [[0.2, 1.0], [0.5, 1.0]])


# ---------------------------------------------------------------- the real SumMe annotations

SUMME = reference_file("summe", "summe_annotations.h5")


@pytest.mark.shared_data
@pytest.mark.skipif(SUMME is None, reason="set $COURSE_SHARED_DATA to the reference data")
def test_real_summe_baselines_are_in_otanis_range():
    from course_lib.data.summarization import read_h5
    data = read_h5(SUMME, name="summe", require_features=False)
    assert len(data) == 25 and data.eval_method == "max"
    human = np.mean([ev.human_leave_one_out(data[k], "max") for k in data.keys()])
    rng = np.random.default_rng(0)
    rand = np.mean([ev.evaluate(data, ev.random_scores(data, data.keys(), rng)).mean
                    for _ in range(3)])
    # Otani et al. (CVPR 2019): human leave-one-out ≈ 54, random scores ≈ 41 on SumMe (max).
    assert 45 < human < 65, human
    assert 30 < rand < 50, rand
    assert human > rand


def test_stored_exercise_references_match_the_library():
    from course_lib.exercises import lecture02
    for exercise in lecture02.EXERCISES:
        assert exercise.check(exercise.solution), exercise.name
    assert not lecture02.check_knapsack(lambda v, w, c: [0, 3])


def test_per_video_rank_correlations_average_to_the_reported_mean_and_give_its_noise():
    from course_lib.config import summarization_data_config
    from course_lib.data.synthetic_videos import make_synthetic_dataset

    data = make_synthetic_dataset(summarization_data_config("smoke", verbose=False))
    keys = data.keys()[:3]
    scores = ev.random_scores(data, keys, np.random.default_rng(0))
    per_video = ev.rank_correlation_per_video(data, scores, keys)
    assert per_video.shape == (3, 2)
    assert per_video[1, 0] == pytest.approx(ev.rank_correlation(
        scores[keys[1]], ev.annotator_step_scores(data[keys[1]].user_scores,
                                                  data[keys[1]].picks))[0])
    mean = ev.evaluate_rank_correlation(data, scores, keys)
    assert mean["kendall_tau"] == pytest.approx(per_video[:, 0].mean())
    assert ev.standard_error([1.0, 3.0]) == pytest.approx(1.0)  # s.d. √2, n 2
    assert np.isnan(ev.standard_error([1.0]))
    # "within the noise" is the 95 % t-interval: 2.78 standard errors on five values, so that
    # a pure-noise difference is called a win 1 time in 20, not (at one standard error) 1 in 3
    five = [0.0, 0.0, 7.0, -0.1, 0.6]  # a "win" that one video carries
    assert ev.noise_halfwidth(five) == pytest.approx(2.776 * ev.standard_error(five), rel=1e-3)
    assert np.mean(five) > ev.standard_error(five) and np.mean(five) < ev.noise_halfwidth(five)
    assert np.isnan(ev.noise_halfwidth([1.0]))
