"""The synthetic benchmark tells learning from a trick: the relations its annotator model must keep.

Checked on the laptop tier's dataset (25 videos, 15 annotators: large enough for the relations
to mean something), with two folds of 12–13 test videos whose supervised reference is fitted on
the other fold, and on each of the 5 random splits the notebooks use (5 test videos each, where
one lucky split once let a ramp from the start beat humans). Margins, not exact
numbers; the measured values are in the calibration
(``python -m course_lib.calibration``).
"""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import evaluation as ev
from course_lib.config import sum_gan_config, summarization_data_config
from course_lib.data.summarization import Split, make_splits
from course_lib.data.synthetic_videos import make_synthetic_dataset, rarity_scores
from course_lib.models.sum_gan import build_sum_gan, score_videos

HEURISTICS = ev.TRIVIAL_BASELINES  # single cues and position: nothing learnt from content
SINGLE_CUES = tuple(n for n in HEURISTICS if n not in ev.POSITIONAL_BASELINES)
HUMAN, SUPERVISED, UNTRAINED = "human (leave-one-out)", "supervised (uses labels)", "untrained"
CEILING = "rarity (knows the digits)"
# Real SumMe annotations, this course's protocol (README, Evaluation protocol): random 40.2 and
# uniform 40.6 against human leave-one-out 54.3 (max over users), three quarters of the human F.
SUMME_RATIO = 40.2 / 54.3


@pytest.fixture(scope="module")
def table():
    config = summarization_data_config("laptop", verbose=False)
    data = make_synthetic_dataset(config)
    keys = data.keys()
    folds = [Split(tuple(keys[13:]), tuple(keys[:13])), Split(tuple(keys[:13]), tuple(keys[13:]))]
    model = build_sum_gan(sum_gan_config("laptop", verbose=False), seed=0)
    tables = [ev.baseline_table(data, fold, n_random_trials=config.n_random_trials,
                                extra={UNTRAINED: score_videos(model, data, fold.test_keys)})
              for fold in folds]
    return {name: {field: float(np.mean([getattr(t[name], field) for t in tables]))
                   for field in ("f_score", "kendall_tau", "spearman_rho")}
            for name in tables[0]}


@pytest.fixture(scope="module")
def split_tables():
    config = summarization_data_config("laptop", verbose=False)
    data = make_synthetic_dataset(config)
    splits = make_splits(data.keys(), rng=np.random.default_rng(config.seed))
    return [ev.baseline_table(data, s, n_random_trials=config.n_random_trials, seed=config.seed,
                              extra={CEILING: rarity_scores(data, s.test_keys)}) for s in splits]


def test_the_annotators_keep_a_videos_edges_more_often_as_notebook_02_says():
    """Their drift is smoothed with its edges padded by the first and last step, which swing
    further, so their cuts over-keep a video's very start and end: the position notebook 02 and
    the README admit (a relation on the course's draw; a change to the drift changes it)."""
    data = make_synthetic_dataset(summarization_data_config("laptop", verbose=False))

    def kept(part):
        return np.mean([r.user_summary[:, part(max(1, r.n_frames // 50))].mean() for r in data])

    start, middle = kept(lambda e: slice(0, e)), kept(lambda e: slice(e, -e))
    end = kept(lambda e: slice(-e, None))
    assert start > 1.3 * middle and end > middle, (start, middle, end)


def test_the_positional_baselines_are_rows_of_every_table(table):
    assert set(ev.POSITIONAL_BASELINES) <= set(HEURISTICS) <= set(table)


def test_no_trivial_baseline_comes_near_humans_on_any_split(split_tables):
    assert len(split_tables) == 5
    for i, t in enumerate(split_tables):
        best = max(HEURISTICS, key=lambda n: t[n].f_score)
        assert t[HUMAN].f_score > t[best].f_score + 4, (i, best, t[best], t[HUMAN])


def test_humans_beat_every_single_cue_heuristic(table):
    for name in HEURISTICS:
        assert table[HUMAN]["f_score"] > table[name]["f_score"] + 8, (name, table)
        assert table[HUMAN]["kendall_tau"] > table[name]["kendall_tau"] + 0.1, (name, table)
        assert table[HUMAN]["spearman_rho"] > table[name]["spearman_rho"] + 0.1, (name, table)


def test_finding_rarity_beats_every_trick_on_every_split(split_tables):
    """What the annotators' agreement was chosen for: the digits' true rarity, the most a
    summarizer without labels can find, beats every heuristic on each split, so a model that
    finds it can be told from a trick (annotators who disagreed as SumMe's let a stretch win)."""
    for i, t in enumerate(split_tables):
        best = max(HEURISTICS, key=lambda n: t[n].f_score)
        assert t[CEILING].f_score > t[best].f_score + 1, (i, best, t[best], t[CEILING])


def test_random_and_uniform_sit_below_humans_as_on_summe_or_further(table):
    """These annotators agree more than SumMe's (see ``synthetic_videos``): content-free scores
    sit further below humans, but not absurdly far."""
    for name in ("random", "uniform"):
        ratio = table[name]["f_score"] / table[HUMAN]["f_score"]
        assert 0.5 < ratio < SUMME_RATIO + 0.05, (name, ratio)
    assert abs(table["random"]["kendall_tau"]) < 0.02 and table["uniform"]["kendall_tau"] == 0
    # TVSum's humans: 0.177 (Otani et al.); these agree more, but still rank far from alike
    assert 0.1 < table[HUMAN]["kendall_tau"] < 0.45


def test_an_untrained_model_scores_like_random_not_like_humans(table):
    gap = table[HUMAN]["f_score"] - table["random"]["f_score"]
    assert abs(table[UNTRAINED]["f_score"] - table["random"]["f_score"]) < 0.3 * gap, table
    assert abs(table[UNTRAINED]["kendall_tau"]) < 0.08, table


def test_the_features_carry_what_annotators_like(table):
    # Single cues only: on these folds a ramp from the start comes within 3 F points of the ridge
    # reference (43.8 against 46.6), which is not an upper reference in F (a stronger one is
    # future work).
    best = {field: max(table[n][field] for n in SINGLE_CUES)
            for field in ("f_score", "kendall_tau", "spearman_rho")}
    assert table[SUPERVISED]["f_score"] > best["f_score"] + 4, table
    assert table[SUPERVISED]["kendall_tau"] > best["kendall_tau"] + 0.1, table
    assert table[SUPERVISED]["spearman_rho"] > best["spearman_rho"] + 0.1, table


def test_which_stretch_wins_is_the_draw_of_test_videos(table, split_tables):
    """Locality, not position: some content-free stretch beats random by far, but which one
    leads over every video counted once (the two folds) is not the one that leads over the 5
    splits' test sets (see the module docstring of ``synthetic_videos``)."""
    ramps = ev.POSITIONAL_BASELINES
    over_splits = {n: np.mean([t[n].f_score for t in split_tables]) for n in ramps}
    over_all = {n: table[n]["f_score"] for n in ramps}
    lead_all, lead_splits = max(over_all, key=over_all.get), max(over_splits, key=over_splits.get)
    assert lead_all != lead_splits, (over_all, over_splits)
    assert over_all[lead_all] > table["random"]["f_score"] + 5, (over_all, table["random"])


def test_more_videos_of_the_tiers_kind_come_with_splits_of_them():
    from course_lib.data.synthetic_videos import synthetic_benchmark
    from course_lib.errors import DataError

    data, splits = synthetic_benchmark("smoke", n_videos=12)
    assert len(data.keys()) == 12
    assert all(set(s.train_keys) | set(s.test_keys) == set(data.keys()) for s in splits)
    with pytest.raises(DataError, match="at least 5 videos"):
        synthetic_benchmark("smoke", n_videos=3)


@pytest.mark.parametrize("name", ["synthetic@x", "summe", "synthetic@"])
def test_an_unknown_synthetic_dataset_or_draw_is_refused_by_name(name):
    from course_lib.data.synthetic_videos import synthetic_benchmark
    from course_lib.errors import DataError

    with pytest.raises(DataError, match=r"Unknown synthetic dataset .*@N, its draw from seed N"):
        synthetic_benchmark("smoke", dataset=name)
