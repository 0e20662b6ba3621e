"""The synthetic benchmark tells learning from a trick: the relations its annotator model must keep.

Checked on the laptop tier's dataset (25 videos, 15 annotators: large enough for the relations
to mean something), with two folds of 12–13 test videos whose supervised reference is fitted on
the other fold. Margins, not exact numbers; the measured values are in the calibration
(``python -m course_lib.data.synthetic_videos --calibrate``).
"""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import evaluation as ev
from course_lib.config import sum_gan_config, summarization_data_config
from course_lib.data.summarization import Split
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.models.sum_gan import build_sum_gan, score_videos

HEURISTICS = ("random", "uniform", "feature norm", "motion")
HUMAN, SUPERVISED, UNTRAINED = "human (leave-one-out)", "supervised (uses labels)", "untrained"
# Real SumMe annotations, this course's protocol: random 40.5 and uniform 40.6 against human
# leave-one-out 54.3 (max over users), i.e. three quarters of the human F.
SUMME_RATIO = 40.5 / 54.3


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


def test_humans_beat_every_single_cue_heuristic(table):
    for name in HEURISTICS:
        assert table[HUMAN]["f_score"] > table[name]["f_score"] + 8, (name, table)
        assert table[HUMAN]["kendall_tau"] > table[name]["kendall_tau"] + 0.1, (name, table)
        assert table[HUMAN]["spearman_rho"] > table[name]["spearman_rho"] + 0.1, (name, table)


def test_random_and_uniform_sit_where_they_do_on_summe(table):
    for name in ("random", "uniform"):
        ratio = table[name]["f_score"] / table[HUMAN]["f_score"]
        assert abs(ratio - SUMME_RATIO) < 0.12, (name, ratio)
    assert abs(table["random"]["kendall_tau"]) < 0.02 and table["uniform"]["kendall_tau"] == 0
    assert 0.1 < table[HUMAN]["kendall_tau"] < 0.35  # TVSum's humans: 0.177 (Otani et al.)


def test_an_untrained_model_scores_like_random_not_like_humans(table):
    gap = table[HUMAN]["f_score"] - table["random"]["f_score"]
    assert abs(table[UNTRAINED]["f_score"] - table["random"]["f_score"]) < 0.3 * gap, table
    assert abs(table[UNTRAINED]["kendall_tau"]) < 0.08, table


def test_the_features_carry_what_annotators_like(table):
    best = {field: max(table[n][field] for n in HEURISTICS)
            for field in ("f_score", "kendall_tau", "spearman_rho")}
    assert table[SUPERVISED]["f_score"] > best["f_score"] + 4, table
    assert table[SUPERVISED]["kendall_tau"] > best["kendall_tau"] + 0.1, table
    assert table[SUPERVISED]["spearman_rho"] > best["spearman_rho"] + 0.1, table
