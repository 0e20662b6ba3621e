"""The embedded synthetic dataset: layout, determinism, KTS shots, frames and preference model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from course_lib import evaluation as ev
from course_lib.config import summarization_data_config
from course_lib.data import summarization as sm
from course_lib.data import synthetic_videos as sv


@pytest.fixture(scope="module")
def config():
    return replace(summarization_data_config("smoke", verbose=False), n_videos=4)


@pytest.fixture(scope="module")
def data(config):
    return sv.make_synthetic_dataset(config)


def test_layout_matches_the_benchmark_files(data, config, tmp_path):
    assert data.keys() == [f"video_{i}" for i in range(1, 5)] and data.eval_method == "mean"
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
    same = sv.make_video("video_1", config, np.random.default_rng(config.seed))
    np.testing.assert_array_equal(same.features, data["video_1"].features)
    np.testing.assert_array_equal(same.user_summary, data["video_1"].user_summary)
    other = sv.make_video("video_1", config, np.random.default_rng(config.seed + 1))
    assert other.n_frames != same.n_frames or not np.array_equal(other.features, same.features)


def test_kts_shots_find_the_scene_cuts(data):
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
    cps = sv.kts_change_points(features, picks, 450)
    np.testing.assert_array_equal(cps, [[0, 149], [150, 239], [240, 449]])


def test_rendered_frames_reproduce_the_features(data, config):
    r = data["video_2"]
    frames = sv.render_frames(r, 0, r.n_frames)
    assert frames.shape == (r.n_frames, config.canvas, config.canvas)
    previous = frames[np.maximum(r.picks - 1, 0)]
    previous[0] = 0.0
    np.testing.assert_allclose(sv.extract_features(frames[r.picks], previous), r.features,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(sv.render_frames(r, 30, 61, 15), frames[[30, 45, 60]])
    with pytest.raises(ValueError, match="not a synthetic video"):
        sv.render_frames(sm.VideoRecord("v", 10, np.arange(1)))


def test_preference_model_rewards_motion_and_crowds(data):
    for r in data:
        interest = r.extras["scene_interest"]
        params = r.extras["scene_params"]
        still_single = (params[:, 2] == 0) & (params[:, 1] == 1)
        assert np.all(interest[still_single] == 0)
    # An untrained summarizer that reads the features beats random scores.
    laptop = sv.make_synthetic_dataset(replace(summarization_data_config("laptop", verbose=False),
                                               n_videos=8, n_annotators=8))
    keys = laptop.keys()
    rng = np.random.default_rng(0)
    random_f = np.mean([ev.evaluate(laptop, ev.random_scores(laptop, keys, rng)).mean
                        for _ in range(5)])
    feature_f = ev.evaluate(laptop, ev.feature_norm_scores(laptop, keys)).mean
    tau = ev.evaluate_rank_correlation(laptop, ev.feature_norm_scores(laptop, keys))
    assert feature_f > random_f + 3, (feature_f, random_f)
    assert tau["kendall_tau"] > 0.1
