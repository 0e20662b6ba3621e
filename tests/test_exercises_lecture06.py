"""Notebook 06's exercises: plausible wrong answers, written here independently of the checkers'
own list, must each be rejected with a hint that names the mistake. The tables are run by
tests/test_exercises.py's tests, with every other lecture's."""

import numpy as np
from scipy import stats

from course_lib.exercises import lecture06

EXERCISES = {ex.name: ex for ex in lecture06.EXERCISES}


def t_of(d, ddof=1, root=True):
    return np.mean(d) / (np.std(d, ddof=ddof) / (np.sqrt(len(d)) if root else 1))


def flat(f):
    present = f[~np.isnan(f)]
    return present.mean(), present.std(ddof=1)


def split_means(f):
    return np.array([row[~np.isnan(row)].mean() for row in f])


def interval(means, level):
    return tuple(np.percentile(means, [50 * (1 - level), 50 * (1 + level)]))


def boot(d, n, seed, level, *, shape=None, stat=np.mean, replace=True, q=None):
    rng = np.random.default_rng(seed)
    if replace:
        idx = rng.integers(0, len(d), shape or (n, len(d)))
        idx = idx if shape is None else idx.T
    else:
        idx = np.stack([rng.permutation(len(d)) for _ in range(n)])
    means = stat(d[idx], axis=1)
    return q(means, level) if q else interval(means, level)


def t_in_place(a, b):
    a -= b  # a is the caller's array: now it holds the differences
    return t_of(a)


def sorted_in_place(f):
    f.sort(axis=1)  # NaN sorts last: each split's present runs first
    return split_means(f).mean(), f[~np.isnan(f)].std(ddof=1)


def boot_sorted_in_place(d, n, seed, level):
    d.sort()
    return boot(d, n, seed, level)


WRONG = {
    "paired_t_statistic": [
        (lambda a, b: stats.ttest_ind(a, b, equal_var=False).statistic, "pair the runs"),
        (lambda a, b: stats.ttest_ind(a, b).statistic, "pair the runs"),
        (lambda a, b: t_of(a - b, ddof=0), "ddof=1"),
        (lambda a, b: t_of(a - b, root=False), "sqrt(n)"),
        (lambda a, b: t_of(b - a), "the sign"),
        (lambda a, b: np.mean(a - b) / (np.std(a, ddof=1) / np.sqrt(len(a))), "not of a alone"),
        (t_in_place, "changes its argument `a` in place"),
    ],
    "mean_and_spread": [
        (lambda f: (f.mean(), f.std(ddof=1)), "skip missing runs"),
        (flat, "each split weighs equally"),
        (lambda f: (split_means(f).mean(), np.nanstd(f)), "ddof=1"),
        (lambda f: (split_means(f).mean(), split_means(f).std(ddof=1)),
         "not of the per-split means"),
        (lambda f: (split_means(f).mean(),
                    np.mean([row[~np.isnan(row)].std(ddof=1) for row in f
                             if (~np.isnan(row)).sum() > 1])), "not the mean over splits"),
        (sorted_in_place, "changes its argument `f` in place"),
        (lambda f: np.array(flat(f)), "each split weighs equally"),
        # the seeds' means first: the wrong axis
        (lambda f: (np.mean([col[~np.isnan(col)].mean() for col in f.T]),
                    f[~np.isnan(f)].std(ddof=1)), "average each split's seeds (axis=1)"),
    ],
    "bootstrap_ci": [
        (lambda d, n, seed, level: boot(d, n, seed, level, replace=False), "with replacement"),
        (lambda d, n, seed, level: tuple(np.quantile(
            boot(d, n, seed, level, q=lambda m, lv: m), [1 - level, level])), "in each tail"),
        (lambda d, n, seed, level: boot(
            d, n, seed, level, q=lambda m, lv: (m.mean() - 1.96 * m.std(),
                                                m.mean() + 1.96 * m.std())),
         "not mean ± 1.96 sd"),
        (lambda d, n, seed, level: boot(d, n, seed, level, stat=np.median), "not its median"),
        (lambda d, n, seed, level: boot(d, n, seed, level, shape=(len(d), n)),
         "one row per resample"),
        (boot_sorted_in_place, "changes its argument `d` in place"),
        (lambda d, n, seed, level: np.array(boot(d, n, seed, level, stat=np.median)),
         "not its median"),
    ],
}

# Right answers written differently from the library: a checker must accept them.
def mean_and_spread_right(f):
    return np.mean([np.nanmean(r) for r in f]), np.std(f[np.isfinite(f)], ddof=1)


RIGHT = {
    "paired_t_statistic": [lambda a, b: stats.ttest_rel(a, b).statistic],
    "mean_and_spread": [mean_and_spread_right, lambda f: list(mean_and_spread_right(f)),
                        lambda f: np.array(mean_and_spread_right(f))],
    "bootstrap_ci": [lambda d, n, seed, level: boot(d, n, seed, level),
                     lambda d, n, seed, level: list(boot(d, n, seed, level)),
                     lambda d, n, seed, level: boot(d, n, seed, level, q=lambda m, lv: np.quantile(
                         m, [(1 - lv) / 2, (1 + lv) / 2]))],
}


def test_a_bootstrap_drawn_with_choice_is_the_same_draw():
    # rng.choice(d, (n_resamples, n)) draws the same indices as rng.integers: both must pass.
    def by_choice(d, n, seed, level):
        means = np.random.default_rng(seed).choice(d, (n, len(d))).mean(axis=1)
        return interval(means, level)

    assert EXERCISES["bootstrap_ci"].check(by_choice).passed
