"""Exercises of notebook 02 (video-summarization data and evaluation) and their checkers.

Stored values: ``references/02.npz``, written by ``python -m course_lib.exercises.references``.
"""

from __future__ import annotations

import numpy as np

from course_lib import evaluation as ev
from course_lib.exercises.core import Exercise


def _upsample_inputs():
    rng = np.random.default_rng(2)
    picks = np.arange(0, 100, 15)
    return rng.random(len(picks)).astype(np.float32), picks, 100


def _knapsack_inputs():
    # Planted ties: shots 1+2 tie shot 0 and shot 3; a zero-valued shot that would fit.
    values = np.array([0.5, 0.25, 0.25, 0.5, 0.0, 0.9, 0.3])
    weights = np.array([4, 2, 2, 4, 1, 7, 3])
    return values, weights, 10


def _f_score_inputs():
    rng = np.random.default_rng(3)
    summary = np.zeros(90, dtype=bool)
    summary[20:45] = True
    users = rng.random((4, 100)) < 0.25
    users[3] = False
    users[3, 60:80] = True  # a user with no overlap at all
    return summary, users


def _knapsack_solution(values, weights, capacity):
    return np.asarray(ev.knapsack_dp(values, weights, capacity), dtype=np.int64)


UPSAMPLE = Exercise("02", "upsample_scores", _upsample_inputs, ev.upsample_scores, hint=(
    "Frames picks[i] .. picks[i+1]-1 get scores[i]; the last step holds until n_frames. "
    "Return float32 [n_frames]."))
KNAPSACK = Exercise("02", "knapsack", _knapsack_inputs, _knapsack_solution, rtol=0, atol=0, hint=(
    "Return the chosen shot indices in increasing order. Trace back from w = capacity and take "
    "item i-1 only if K[i][w] != K[i-1][w]: on ties the later shot is left out."))
F_SCORE = Exercise("02", "f_scores", _f_score_inputs, ev.f_scores, hint=(
    "Pad the shorter of summary and user summary with zeros; F = 2PR/(P+R)·100 per user, "
    "0 when there is no overlap."))

EXERCISES = [UPSAMPLE, KNAPSACK, F_SCORE]
check_upsample = UPSAMPLE.check
check_knapsack = KNAPSACK.check
check_f_scores = F_SCORE.check
