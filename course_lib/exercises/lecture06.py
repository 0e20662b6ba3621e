"""Exercises of notebook 06 (comparing the SUM-GAN family) and their checkers.

Each exercise's ``mistakes`` are the wrong answers its inputs tell apart from the right one;
``tests/test_exercises_lecture06.py`` writes them again independently and asserts each is
rejected.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from course_lib.comparison import bootstrap_ci, mean_and_spread, paired_t_statistic
from course_lib.exercises.core import Exercise, Mistake, use_if_passed


def _pairs_inputs():
    rng = np.random.default_rng(6)
    # Six runs on three splits: the split moves both models by up to 12 points, the model by ~2.
    shared = np.repeat([38.0, 50.0, 44.0], 2) + rng.normal(0, 1, 6)
    a, b = shared + 2 + rng.normal(0, 1, 6), shared + rng.normal(0, 1, 6)
    return {"6 paired runs, a ahead": (a, b), "6 paired runs, b ahead": (b - 1, a)}


def _grid_inputs():
    rng = np.random.default_rng(7)
    f = 40 + np.arange(4)[:, None] * 3.0 + rng.normal(0, 2, (4, 3))
    missing = f.copy()
    missing[0, 1:] = np.nan  # split 0 has one seed only, splits 2 and 3 two
    missing[2, 0] = missing[3, 2] = np.nan  # and the seeds' columns hold 3, 3 and 2 runs
    return {"[4 splits, 3 seeds], complete": (f,),
            "[4 splits, 3 seeds], 4 runs missing": (missing,)}


def _bootstrap_inputs():
    rng = np.random.default_rng(8)
    return {"7 differences, 2000 resamples, 95 %": (rng.normal(1, 2, 7), 2000, 0, 0.95),
            "12 differences, 500 resamples, 90 %": (rng.normal(-1, 1, 12), 500, 3, 0.90)}


def _t(d, n, sd):
    return d.mean() / (sd / np.sqrt(n))


def _per_split(f):
    return np.array([np.nanmean(row) for row in f])


def _resample_means(d, n_resamples, seed, draw):
    return d[draw(np.random.default_rng(seed), len(d), n_resamples)].mean(axis=1)


def _with_replacement(rng, n, n_resamples):
    return rng.integers(0, n, (n_resamples, n))


PAIRED_T = Exercise(
    "06", "paired_t_statistic", _pairs_inputs, paired_t_statistic, dtype="kind",
    hint="d = a - b (one difference per pair); t = mean(d) / (sd(d, ddof=1) / sqrt(n)).",
    mistakes=(
        Mistake("pair the runs: the t of the differences a - b, not an unpaired t of the two "
                "samples (the split's effect, shared by a pair, then swamps the difference).",
                lambda a, b: stats.ttest_ind(a, b).statistic),
        Mistake("the sample standard deviation: ddof=1 (n - 1 in the denominator).",
                lambda a, b: _t(a - b, len(a), np.std(a - b))),
        Mistake("the standard error is sd / sqrt(n): divide the sd by sqrt(n).",
                lambda a, b: (a - b).mean() / (a - b).std(ddof=1)),
        Mistake("the sign: d = a - b, so a ahead gives t > 0.",
                lambda a, b: _t(b - a, len(a), np.std(b - a, ddof=1))),
        Mistake("the standard deviation of the differences d = a - b, not of a alone.",
                lambda a, b: _t(a - b, len(a), np.std(a, ddof=1))),
    ))
MEAN_AND_SPREAD = Exercise(
    "06", "mean_and_spread", _grid_inputs, mean_and_spread, outputs=("mean", "spread"),
    hint="mean: each split's (row's) mean over its present seeds, then the mean of those; "
         "spread: the sample sd (ddof=1) of all present runs. NaN marks a missing run.",
    mistakes=(
        Mistake("skip missing runs: NaN marks a run that did not finish (np.nanmean, or drop "
                "them).", lambda f: (float(np.mean(f)), float(np.std(f, ddof=1)))),
        Mistake("each split weighs equally: average each split's seeds first, then the splits "
                "(a flat mean over runs favours the splits with more runs).",
                lambda f: (float(np.nanmean(f)), float(np.nanstd(f, ddof=1)))),
        Mistake("the sample standard deviation: ddof=1.",
                lambda f: (float(_per_split(f).mean()), float(np.nanstd(f)))),
        Mistake("a split is a row: average each split's seeds (axis=1), not each seed's splits "
                "(axis=0).", lambda f: (float(np.nanmean(np.nanmean(f, axis=0))),
                                        float(np.nanstd(f, ddof=1)))),
        Mistake("the spread of all runs, not of the per-split means.",
                lambda f: (float(_per_split(f).mean()), float(_per_split(f).std(ddof=1)))),
        Mistake("the spread of all runs, not the mean over splits of the sd over seeds.",
                lambda f: (float(_per_split(f).mean()),
                           float(np.mean([np.nanstd(row, ddof=1) for row in f
                                          if np.count_nonzero(~np.isnan(row)) > 1])))),
    ))
BOOTSTRAP = Exercise(
    "06", "bootstrap_ci", _bootstrap_inputs, bootstrap_ci, outputs=("low", "high"),
    hint="rng = np.random.default_rng(seed); idx = rng.integers(0, n, (n_resamples, n)); "
         "means = d[idx].mean(axis=1); return the (1 - level)/2 and (1 + level)/2 quantiles.",
    mistakes=(
        Mistake("resample with replacement: a permutation of d has the same mean every time.",
                lambda d, n, seed, level: tuple(np.quantile(_resample_means(
                    d, n, seed, lambda rng, k, m: np.array([rng.permutation(k)
                                                           for _ in range(m)])),
                    [(1 - level) / 2, (1 + level) / 2]))),
        Mistake("a two-sided interval leaves (1 - level)/2 in each tail: the quantiles "
                "(1 - level)/2 and (1 + level)/2, not 1 - level and level.",
                lambda d, n, seed, level: tuple(np.quantile(_resample_means(
                    d, n, seed, _with_replacement), [1 - level, level]))),
        Mistake("the percentile interval: quantiles of the resampled means, not mean ± 1.96 sd.",
                lambda d, n, seed, level: (
                    _resample_means(d, n, seed, _with_replacement).mean()
                    - 1.96 * _resample_means(d, n, seed, _with_replacement).std(),
                    _resample_means(d, n, seed, _with_replacement).mean()
                    + 1.96 * _resample_means(d, n, seed, _with_replacement).std())),
        Mistake("each resample's mean, not its median.",
                lambda d, n, seed, level: tuple(np.quantile(np.median(d[_with_replacement(
                    np.random.default_rng(seed), len(d), n)], axis=1),
                    [(1 - level) / 2, (1 + level) / 2]))),
        Mistake("draw all indices in one call of shape (n_resamples, n), one row per resample: "
                "(n, n_resamples) uses the random numbers in another order.",
                lambda d, n, seed, level: tuple(np.quantile(d[np.random.default_rng(
                    seed).integers(0, len(d), (len(d), n))].mean(axis=0),
                    [(1 - level) / 2, (1 + level) / 2]))),
    ))

EXERCISES = [MEAN_AND_SPREAD, PAIRED_T, BOOTSTRAP]  # in the notebook's order
check_paired_t_statistic = PAIRED_T.check
check_mean_and_spread = MEAN_AND_SPREAD.check
check_bootstrap_ci = BOOTSTRAP.check

# What a notebook uses as `ex.<name>`.
__all__ = ["EXERCISES", "check_paired_t_statistic", "check_mean_and_spread", "check_bootstrap_ci",
           "use_if_passed"]
