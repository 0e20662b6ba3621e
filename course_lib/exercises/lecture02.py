"""Exercises of notebook 02 (video-summarization data and evaluation) and their checkers.

Stored values: ``references/02.npz``, written by ``python -m course_lib.exercises.references``.
Each exercise's ``mistakes`` are the wrong answers its inputs tell apart from the right one;
``tests/test_exercises.py`` writes them again independently and asserts each is rejected.
"""

from __future__ import annotations

import numpy as np

from course_lib import evaluation as ev
from course_lib.exercises.core import Exercise, Mistake, use_if_passed


def _upsample_inputs():
    rng = np.random.default_rng(2)
    # Uneven steps, and a last step (86 .. 100) longer than some others: no fixed stride fits.
    picks = np.array([0, 12, 27, 41, 58, 70, 86])
    return {"uneven picks": (rng.random(len(picks)).astype(np.float32), picks, 101)}


def _hold(scores, picks, n_frames, *, dtype=np.float32, last=True, shift=0):
    """Zero-order hold built from parts, to write its plausible mistakes."""
    frames = np.zeros(n_frames, dtype=dtype)
    ends = list(picks[1:]) + ([n_frames] if last else [picks[-1]])
    for score, start, end in zip(scores, picks, ends, strict=True):
        frames[start + shift:end + shift] = score
    return frames


def _knapsack_inputs():
    return {
        # Planted ties: shots 1+2 tie shot 0 and shot 3; a zero-valued shot that would fit.
        "tied shots and a zero-valued shot": (np.array([0.5, 0.25, 0.25, 0.5, 0.0, 0.9, 0.3]),
                                              np.array([4, 2, 2, 4, 1, 7, 3]), 10),
        # 0.1 + 0.2 beats 0.3 in float64 (0.30000000000000004) but ties it in float32.
        "a near-tie that float32 rounds to a tie": (np.array([0.3, 0.1, 0.2]),
                                                    np.array([2, 1, 1]), 2),
    }


def _knapsack_solution(values, weights, capacity):
    return np.asarray(ev.knapsack_dp(values, weights, capacity), dtype=np.int64)


def _knapsack_keep_table(values, weights, capacity, *, dtype=np.float64, take_ties=False):
    """The dynamic program with a 'keep' table, built from parts to write its mistakes."""
    n = len(values)
    table = np.zeros((n + 1, capacity + 1), dtype=dtype)
    keep = np.zeros((n + 1, capacity + 1), dtype=bool)
    for i in range(1, n + 1):
        value, weight = dtype(values[i - 1]), int(weights[i - 1])
        for w in range(capacity + 1):
            table[i, w] = table[i - 1, w]
            if weight <= w:
                taken = value + table[i - 1, w - weight]
                if taken > table[i - 1, w] or (take_ties and taken == table[i - 1, w]):
                    table[i, w], keep[i, w] = taken, True
    chosen, w = [], capacity
    for i in range(n, 0, -1):
        if keep[i, w]:
            chosen.append(i - 1)
            w -= int(weights[i - 1])
    return chosen[::-1]


def _greedy(values, weights, capacity, key):
    chosen, used = [], 0
    for i in sorted(range(len(values)), key=key):
        if used + weights[i] <= capacity:
            chosen.append(i)
            used += weights[i]
    return sorted(chosen)


def _f_score_inputs():
    rng = np.random.default_rng(3)
    summary = np.zeros(90, dtype=bool)
    summary[20:45] = True
    users = rng.random((4, 100)) < 0.25
    users[3] = False
    users[3, 60:80] = True  # a user with no overlap at all
    return {"4 users, 10 frames longer than the summary, one with no overlap": (summary, users)}


def _f_parts(summary, users, *, factor=2.0, scale=100.0, pad=True, guard=True):
    """F-scores built from parts, to write their plausible mistakes."""
    length = max(len(summary), users.shape[1]) if pad else min(len(summary), users.shape[1])
    s = np.zeros(length, dtype=bool)
    g = np.zeros((len(users), length), dtype=bool)
    s[:min(length, len(summary))] = summary[:length]
    g[:, :min(length, users.shape[1])] = users[:, :length]
    overlap = (s & g).sum(axis=1)
    precision, recall = overlap / s.sum(), overlap / g.sum(axis=1)
    with np.errstate(invalid="ignore"):
        f = factor * precision * recall * scale / (precision + recall)
    return np.where(overlap > 0, f, 0.0) if guard else f


UNEVEN_PICKS = ("the picks are not evenly spaced: use picks[i+1] - picks[i], not a fixed "
                "stride (not even the benchmark's 15).")
UPSAMPLE = Exercise(
    "02", "upsample_scores", _upsample_inputs, ev.upsample_scores, dtype="exact",
    hint="Frames picks[i] .. picks[i+1]-1 get scores[i]; the last step holds until n_frames. "
         "Return float32 [n_frames].",
    mistakes=(
        Mistake("return float32 frame scores (np.zeros(n, dtype=np.float32)): the shot means are "
                "float32 in the protocol, and float64 ones can flip knapsack ties.",
                lambda s, p, n: _hold(s, p, n, dtype=np.float64)),
        Mistake("the last step's score holds until n_frames, not just until the last pick.",
                lambda s, p, n: _hold(s, p, n, last=False)),
        Mistake("frames picks[i] .. picks[i+1]-1 get scores[i]: the hold starts at the pick "
                "itself, not one frame later.", lambda s, p, n: _hold(s, p, n, shift=1)),
        Mistake("hold each score (a step function); do not interpolate between picks.",
                lambda s, p, n: np.interp(np.arange(n), p, s).astype(np.float32)),
        Mistake(UNEVEN_PICKS, lambda s, p, n: np.repeat(s, p[1] - p[0])[:n]),
        Mistake(UNEVEN_PICKS, lambda s, p, n: np.repeat(s, 15)[:n]),  # "every 15th frame"
        Mistake("each frame takes the score of the last pick at or before it, not the nearest "
                "pick.", lambda s, p, n: s[np.abs(np.arange(n)[:, None] - p).argmin(axis=1)]),
        Mistake("a frame that is itself a pick takes that pick's score: np.searchsorted(picks, "
                "frames, side='right') - 1. With side='left' it takes the pick before, and frame "
                "0 the last score (index -1).",
                lambda s, p, n: s[np.searchsorted(p, np.arange(n), side="left") - 1]),
    ))
KNAPSACK = Exercise(
    "02", "knapsack", _knapsack_inputs, _knapsack_solution, dtype="kind", rtol=0, atol=0,
    hint="Return the chosen shot indices (a list or array of ints) in increasing order. Trace "
         "back from w = capacity and take item i-1 only if K[i][w] != K[i-1][w]: on ties the "
         "later shot is left out.",
    mistakes=(
        Mistake("return the indices in increasing order (reverse the traceback).",
                lambda v, w, c: ev.knapsack_dp(v, w, c)[::-1]),
        Mistake("return 0-based indices: row i of the table is item i-1.",
                lambda v, w, c: [i + 1 for i in ev.knapsack_dp(v, w, c)]),
        Mistake("return the chosen indices, not a 0/1 mask over the shots.",
                lambda v, w, c: np.isin(np.arange(len(v)), ev.knapsack_dp(v, w, c))),
        Mistake("on a tie the shot is not taken (take it only if K[i][w] != K[i-1][w], i.e. "
                "compare with >, not >=): the later shot is left out and a zero-valued shot is "
                "never taken.", lambda v, w, c: _knapsack_keep_table(v, w, c, take_ties=True)),
        Mistake("keep the table in float64 (Python floats): in float32 0.1 + 0.2 ties 0.3 and "
                "the choice flips.",
                lambda v, w, c: _knapsack_keep_table(v, w, c, dtype=np.float32)),
        Mistake("the table needs a column for every budget 0 .. capacity, capacity + 1 of "
                "them (range(capacity + 1)); one fewer solves for a budget one frame smaller.",
                lambda v, w, c: _knapsack_keep_table(v, w, c - 1)),
        Mistake("the table must hold floats: an integer table truncates every score to 0.",
                lambda v, w, c: _knapsack_keep_table(v, w, c, dtype=np.int64)),
        Mistake("taking the highest scores first is not optimal: fill the dynamic-programming "
                "table.", lambda v, w, c: _greedy(v, w, c, key=lambda i: -v[i])),
        Mistake("taking the best score per frame first is not optimal: fill the "
                "dynamic-programming table.",
                lambda v, w, c: _greedy(v, w, c, key=lambda i: -v[i] / w[i])),
    ))
F_SCORE = Exercise(
    "02", "f_scores", _f_score_inputs, ev.f_scores,
    hint="Pad the shorter of summary and user summary with zeros; F = 2PR/(P+R)·100 per user, "
         "0 when there is no overlap.",
    mistakes=(
        Mistake("a user with no overlap has P = R = 0, and 0/0 is NaN: return F = 0 there.",
                lambda s, u: _f_parts(s, u, guard=False)),
        Mistake("F is in percent: multiply by 100.", lambda s, u: _f_parts(s, u, scale=1.0)),
        Mistake("F = 2PR/(P+R): the factor 2 is missing.",
                lambda s, u: _f_parts(s, u, factor=1.0)),
        Mistake("pad the shorter summary with zeros: cutting the longer one drops user frames "
                "from |G|.", lambda s, u: _f_parts(s, u, pad=False)),
        Mistake("return one F-score per user (an array), not their mean.",
                lambda s, u: _f_parts(s, u).mean()),
        Mistake("return one F-score per user (an array), not their maximum.",
                lambda s, u: _f_parts(s, u).max()),
    ))

EXERCISES = [UPSAMPLE, KNAPSACK, F_SCORE]
check_upsample = UPSAMPLE.check
check_knapsack = KNAPSACK.check
check_f_scores = F_SCORE.check

# What a notebook uses as `ex.<name>`.
__all__ = ["EXERCISES", "check_upsample", "check_knapsack", "check_f_scores", "use_if_passed"]
