"""The baseline functions of ``course_lib.evaluation``: each one does what its name says."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from course_lib import evaluation as ev
from course_lib.config import summarization_data_config
from course_lib.data.summarization import Split, SummarizationDataset
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.errors import CourseError


def _with_features(data: SummarizationDataset, make) -> SummarizationDataset:
    videos = {k: replace(r, features=make(r)) for k, r in data.videos.items()}
    return SummarizationDataset(data.name, videos, data.eval_method, data.source)


def test_motion_scores_measure_feature_change():
    data = make_synthetic_dataset(replace(summarization_data_config("smoke", verbose=False),
                                          n_videos=2))
    r = data["video_1"]
    motion = ev.motion_scores(data, ["video_1"])["video_1"]
    assert motion.shape == (r.n_steps,)
    np.testing.assert_allclose(motion[1:], np.linalg.norm(np.diff(r.features, axis=0), axis=1),
                               rtol=1e-6)
    assert motion[0] == motion[1]
    steady = _with_features(data, lambda rec: np.ones_like(rec.features))
    assert not ev.motion_scores(steady, ["video_1"])["video_1"].any()


def test_novelty_scores_put_the_shot_unlike_the_others_first():
    """Shots showing one of two recurring looks, and one shot a look of its own: that shot
    scores highest, the recurring ones lower the more often their look recurs, and every step
    of a shot scores alike."""
    data = make_synthetic_dataset(replace(summarization_data_config("smoke", verbose=False),
                                          n_videos=2))
    record = data["video_1"]
    shot = np.searchsorted(record.change_points[:, 0], record.picks, side="right") - 1
    n_shots = len(record.change_points)
    assert n_shots >= 6  # so that look 0 recurs more often than look 1
    looks = np.eye(3, record.features.shape[1], dtype=np.float32)
    unique = n_shots // 2
    # look 0 on most shots, look 1 on two, look 2 on one
    kind = np.array([2 if s == unique else 1 if s in (0, n_shots - 1) else 0
                     for s in range(n_shots)])
    noise = np.random.default_rng(0).normal(0, 0.01, record.features.shape).astype(np.float32)
    shaped = _with_features(data, lambda rec: looks[kind[shot]] + noise
                            if rec.key == "video_1" else rec.features)
    scores = ev.novelty_scores(shaped, ["video_1"])["video_1"]
    per_shot = np.array([scores[shot == s].mean() for s in range(n_shots)])
    for s in range(n_shots):
        assert np.ptp(scores[shot == s]) == 0
    assert per_shot.argmax() == unique
    assert per_shot[kind == 1].min() > per_shot[kind == 0].max()


def test_supervised_reference_learns_from_the_training_videos_only():
    data = make_synthetic_dataset(replace(summarization_data_config("smoke", verbose=False),
                                          n_videos=4))
    rng = np.random.default_rng(0)
    w = rng.standard_normal(8)
    features = {k: rng.standard_normal((r.n_steps, 8)) for k, r in data.videos.items()}
    videos = {k: replace(r, features=features[k], gtscore=features[k] @ w)
              for k, r in data.videos.items()}
    linear = SummarizationDataset("toy", videos, "max", "test")
    keys = linear.keys()
    got = ev.supervised_reference_scores(linear, keys[:3], keys[3:], alpha=1e-6)[keys[3]]
    np.testing.assert_allclose(got, linear[keys[3]].gtscore, rtol=1e-3, atol=1e-3)
    # Fitted on the training videos: changing a test video's labels changes nothing.
    videos = dict(linear.videos)
    videos[keys[3]] = replace(videos[keys[3]], gtscore=1 - videos[keys[3]].gtscore)
    relabelled = SummarizationDataset("toy", videos, "max", "test")
    np.testing.assert_array_equal(
        ev.supervised_reference_scores(relabelled, keys[:3], keys[3:], alpha=1e-6)[keys[3]], got)


def test_baseline_table_has_every_row_on_the_test_videos():
    data = make_synthetic_dataset(replace(summarization_data_config("smoke", verbose=False),
                                          n_videos=4))
    keys = data.keys()
    split = Split(tuple(keys[:3]), tuple(keys[3:]))
    gt = {k: data[k].gtscore for k in split.test_keys}
    table = ev.baseline_table(data, split, n_random_trials=2, extra={"gtscore": gt})
    assert list(table) == [*ev.TRIVIAL_BASELINES, "gtscore", "supervised (uses labels)",
                           "human (leave-one-out)"]
    assert ev.TRIVIAL_BASELINES[:4] == ("random", "uniform", "feature norm", "motion")
    assert set(ev.POSITIONAL_BASELINES) == set(ev.TRIVIAL_BASELINES[4:])
    assert table["gtscore"].f_score == ev.evaluate(data, gt).mean
    assert table["uniform"].kendall_tau == table["uniform"].spearman_rho == 0.0
    assert table["human (leave-one-out)"].f_score == ev.human_leave_one_out(data[keys[3]], "max")
    # Without the supervised reference, every other row is the same.
    unsupervised = ev.baseline_table(data, split, n_random_trials=2, extra={"gtscore": gt},
                                     supervised=False)
    assert unsupervised == {k: v for k, v in table.items() if k != "supervised (uses labels)"}
    # A list of score sets (e.g. one per seed) is averaged.
    twice = ev.baseline_table(data, split, n_random_trials=2, extra={"gtscore": [gt, gt]})
    assert twice["gtscore"] == table["gtscore"]
    # Without annotator scores (SumMe) there is no rank correlation, F-scores still.
    videos = {k: replace(r, user_scores=None) for k, r in data.videos.items()}
    unranked = ev.baseline_table(SummarizationDataset("toy", videos, "max", "test"), split,
                                 n_random_trials=1)
    assert np.isnan(unranked["motion"].kendall_tau)
    assert unranked["motion"].f_score == table["motion"].f_score


def test_positional_scores_know_only_where_a_step_is():
    data = make_synthetic_dataset(replace(summarization_data_config("smoke", verbose=False),
                                          n_videos=2))
    keys = data.keys()
    start, end, middle = (ev.positional_scores(data, keys, p) for p in ("start", "end", "middle"))
    for k in keys:
        n = data[k].n_steps
        assert start[k].shape == end[k].shape == middle[k].shape == (n,)
        assert np.all(np.diff(start[k]) < 0) and np.all(np.diff(end[k]) > 0)
        assert np.argmax(middle[k]) in ((n - 1) // 2, n // 2)
        np.testing.assert_allclose(middle[k], middle[k][::-1], atol=1e-6)
        for s in (start, end, middle):
            assert 0 < s[k].min() and s[k].max() < 1  # the knapsack can take every shot
    # The video's content plays no part: other features, the same scores.
    noise = _with_features(data, lambda r: np.random.default_rng(0).random(r.features.shape))
    np.testing.assert_array_equal(ev.positional_scores(noise, keys, "start")[keys[0]],
                                  start[keys[0]])
    with pytest.raises(CourseError, match="peak"):
        ev.positional_scores(data, keys, "beginning")


def test_the_supervised_reference_dipping_below_zero_does_not_warn_but_a_model_does(monkeypatch,
                                                                                   smoke_data):
    """Ridge predictions of a [0, 1] target can fall below 0 (never picked, by the protocol): a
    warning telling the student to pass probabilities would be about the course's own row."""
    import warnings

    data, splits = smoke_data
    negative = {k: np.full(data[k].n_steps, -0.1, np.float32) for k in splits[0].test_keys}
    monkeypatch.setattr(ev, "supervised_reference_scores", lambda *args: negative)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ev.ScoreWarning)
        ev.baseline_table(data, splits[0], n_random_trials=1)
    with pytest.warns(ev.ScoreWarning, match="negative mean score"):
        ev.baseline_table(data, splits[0], n_random_trials=1, extra={"a model": negative})
