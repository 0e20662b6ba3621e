"""The embedded synthetic dataset: layout, determinism, KTS shots, frames and preference model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from course_lib.config import summarization_data_config
from course_lib.data import summarization as sm
from course_lib.data import synthetic_videos as sv
from course_lib.errors import DataError


@pytest.fixture(scope="module")
def config():
    return replace(summarization_data_config("smoke", verbose=False), n_videos=4)


@pytest.fixture(scope="module")
def data(config):
    return sv.make_synthetic_dataset(config)


def test_layout_matches_the_benchmark_files(data, config, tmp_path):
    assert data.keys() == [f"video_{i}" for i in range(1, 5)] and data.eval_method == "max"
    for r in data:
        assert r.features.shape == (r.n_steps, config.feature_dim)
        np.testing.assert_array_equal(r.picks, np.arange(0, r.n_frames, 15))
        assert r.user_summary.shape == (config.n_annotators, r.n_frames)
        assert r.user_scores.min() >= 1 and r.user_scores.max() <= 5
        assert 0 <= r.gtscore.min() and r.gtscore.max() <= 1
    # The same reader reads it back from the standard layout, identically.
    again = sm.read_h5(sm.write_h5(data, tmp_path / "synthetic.h5"), name="synthetic",
                       eval_method="mean")
    for a, b in zip(data, again, strict=True):
        for name in ("features", "user_summary", "change_points", "gtscore", "user_scores"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(a.extras["scene_params"], b.extras["scene_params"])


def test_deterministic_by_seed(data, config):
    sv._features_and_shots.cache_clear()  # painted again, not recalled
    same = sv.make_video("video_1", config, np.random.default_rng(config.seed))
    np.testing.assert_array_equal(same.features, data["video_1"].features)
    np.testing.assert_array_equal(same.user_summary, data["video_1"].user_summary)
    other = sv.make_video("video_1", config, np.random.default_rng(config.seed + 1))
    assert other.n_frames != same.n_frames or not np.array_equal(other.features, same.features)


def test_kts_shots_find_the_scene_cuts(data):
    lengths = np.concatenate([r.shot_lengths for r in data])
    assert np.median(lengths) > 30, lengths  # not mostly 2-step shots (see kts_change_points)
    for r in data:
        starts = r.change_points[:, 0]
        for cut in r.extras["scene_bounds"][1:, 0]:
            assert np.min(np.abs(starts - cut)) <= 15, (r.key, cut, starts)


def test_kts_recovers_planted_segments():
    rng = np.random.default_rng(0)
    means = rng.random((3, 16)) * 4
    features = np.concatenate([m + 0.05 * rng.standard_normal((n, 16))
                               for m, n in zip(means, (10, 6, 14), strict=True)])
    picks = np.arange(30) * 15
    cps = sv.kts_change_points(features, picks, 450, smoothing=0)
    np.testing.assert_array_equal(cps, [[0, 149], [150, 239], [240, 449]])


def test_kts_makes_a_video_too_short_for_two_shots_one_shot():
    for steps in (2, 3):
        np.testing.assert_array_equal(
            sv.kts_change_points(np.random.default_rng(0).random((steps, 8)),
                                 np.arange(steps) * 15, steps * 15), [[0, steps * 15 - 1]])
        assert sv.feature_recurrence(np.ones((steps, 8))).tolist() == [1.0] * steps


def test_rendered_frames_reproduce_the_features(data, config):
    r = data["video_2"]
    frames = sv.render_frames(r, 0, r.n_frames)
    assert frames.shape == (r.n_frames, config.canvas, config.canvas)
    previous = frames[np.maximum(r.picks - 1, 0)]
    previous[0] = frames[1]  # the first frame moves against the second (mirrored in time)
    np.testing.assert_allclose(sv.extract_features(frames[r.picks], previous), r.features,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(sv.render_frames(r, 30, 61, 15), frames[[30, 45, 60]])
    with pytest.raises(ValueError, match="not a synthetic video"):
        sv.render_frames(sm.VideoRecord("v", 10, np.arange(1)))


def test_interest_is_rarity_and_appeal_not_motion_or_crowds():
    model = sv.AnnotatorModel()
    # digit, n_digits, speed, seed: digit 7 appears twice, 0 once; speed and crowd vary.
    params = np.array([[7, 1, 0.0, 0], [0, 3, 4.0, 0], [7, 3, 4.0, 0], [0 + 1, 1, 0.0, 0]])
    interest = sv.scene_interest(params, model)
    w = model.rarity_weight
    np.testing.assert_allclose(interest, [w / 2 + (1 - w) * model.appeal[7],
                                          w + (1 - w) * model.appeal[0],
                                          w / 2 + (1 - w) * model.appeal[7],
                                          w + (1 - w) * model.appeal[1]])
    assert interest[0] == interest[2]  # speed and crowd change nothing


def test_annotators_cut_their_own_summaries(data):
    for r in data:
        assert np.all(r.user_summary.sum(axis=1) <= int(0.15 * r.n_frames))
        assert np.all(r.user_summary.sum(axis=1) > 0.1 * r.n_frames)
        # Each annotator's cut keeps the steps they rated highest.
        ratings = r.user_scores[:, r.picks]
        kept = r.user_summary[:, r.picks]
        for rating, keep in zip(ratings, kept, strict=True):
            assert rating[keep].min() >= rating[~keep].max()
        chosen = [set(np.flatnonzero(k)) for k in kept]
        assert len(set.intersection(*chosen)) < len(set.union(*chosen))  # they disagree


def test_a_lecture_without_the_benchmark_says_so_and_uses_the_synthetic_videos(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # nothing downloaded there
    data, splits = sv.benchmark_or_synthetic("summe", "smoke")
    assert "summe is not available" in capsys.readouterr().out
    same, same_splits = sv.synthetic_benchmark("smoke")
    assert data.name == "synthetic" and data.keys() == same.keys()
    assert len(splits) == 5 and [s.test_keys for s in splits] == [
        s.test_keys for s in same_splits]
    sv.benchmark_or_synthetic("synthetic", "smoke")
    assert capsys.readouterr().out == ""  # asked for the synthetic videos: nothing to explain


def test_the_rarity_weight_sets_how_much_the_annotators_like_what_is_rare(config, data):
    """At 1 they value only what is unlike the rest of the video (visible without labels), at 0
    only a taste for digits; the frames, features and shots do not change."""
    def interest_follows_rarity(dataset):
        pairs = []
        for record in dataset.videos.values():
            classes = record.extras["scene_params"][:, 0].astype(int)
            rarity = 1.0 / np.bincount(classes)[classes]
            pairs.append(np.corrcoef(rarity, record.extras["scene_interest"])[0, 1]
                         if rarity.std() > 0 else np.nan)
        return np.nanmean(pairs)

    sv._features_and_shots.cache_clear()  # painted again, not recalled
    only_rarity = sv.make_synthetic_dataset(replace(config, rarity_weight=1.0))
    only_taste = sv.make_synthetic_dataset(replace(config, rarity_weight=0.0))
    assert interest_follows_rarity(only_rarity) == pytest.approx(1.0)
    assert interest_follows_rarity(only_taste) < interest_follows_rarity(data) < 1.0
    for key in data.keys():
        np.testing.assert_array_equal(only_rarity[key].features, data[key].features)
        np.testing.assert_array_equal(only_rarity[key].change_points, data[key].change_points)
    assert "rarity weight 1.0" in only_rarity.source and "rarity" not in data.source
    with pytest.raises(ValueError, match="rarity_weight must lie in"):
        sv.make_synthetic_dataset(replace(config, rarity_weight=1.5))
    with pytest.raises(ValueError, match="recognizer_weight must be 0"):
        sv.make_synthetic_dataset(replace(config, recognizer_weight=-1.0))
    with pytest.raises(DataError, match="synthetic, synthetic-digits"):
        sv.synthetic_benchmark("smoke", dataset="synthetic-letters")


def test_a_draw_judged_by_other_annotators_is_not_painted_again(config, data, monkeypatch):
    """Its features and shots are recalled, as copies: changing one dataset's leaves the next."""
    def paint(*args, **kwargs):
        raise AssertionError("painted again")

    sv.make_synthetic_dataset(config)  # the last videos made
    monkeypatch.setattr(sv, "render_scene", paint)
    other = sv.make_synthetic_dataset(replace(config, rarity_weight=1.0))
    for record in other:
        np.testing.assert_array_equal(record.features, data[record.key].features)
        np.testing.assert_array_equal(record.change_points, data[record.key].change_points)
        record.features[:] = 0.0
        record.change_points[:] = 0
    again = sv.make_synthetic_dataset(replace(config, rarity_weight=0.0))
    for record in again:
        np.testing.assert_array_equal(record.features, data[record.key].features)
        np.testing.assert_array_equal(record.change_points, data[record.key].change_points)
    with pytest.raises(AssertionError, match="painted again"):  # other scenes are painted
        sv.make_synthetic_dataset(replace(config, seed=config.seed + 1))


def test_the_features_and_shots_do_not_depend_on_numpys_blas_threads():
    """On a 2-core AMD EPYC, OpenBLAS on two threads gave other features than on one (the
    runner's jobs), and the runner refused the notebook's data as another dataset."""
    from threadpoolctl import threadpool_limits

    frames = np.random.default_rng(0).random((40, 64, 64)).astype(np.float32)
    made = []
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            features = sv.extract_features(frames, np.roll(frames, 1, axis=0))
            made.append((features, sv.kts_change_points(features, np.arange(40) * 15, 600)))
    (features_1, shots_1), (features_2, shots_2) = made
    assert np.array_equal(features_1, features_2) and np.array_equal(shots_1, shots_2)
