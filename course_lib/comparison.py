"""Statistics for comparing summarizers across splits and seeds (notebook 06).

The experiment runner (:mod:`course_lib.experiments`) trains every model on the same
``(split, seed)`` pairs and returns one ``JobResult`` per run. This module turns those results
into numbers a sceptic accepts:

- :func:`summary_table`: F-score mean ± spread over the runs, per model and model-selection rule
  (the best test epoch, which looks at the test labels, beside label-free rules), with rank
  correlation, parameters and seconds per epoch;
- :func:`paired_comparison`: two models on identical ``(split, seed)`` pairs, the mean
  difference with its t-interval (the one decision rule, :data:`RULE`), the bootstrap interval
  and Wilcoxon's signed-rank test beside it, and what each assumes; pairs that share a split are
  not independent, so the same test runs again on one difference per split;
  :func:`versus_baseline` pairs each run with a baseline's F on its own split;
- :func:`pairs_needed` and :func:`detectable_difference`: the power calculation, how many pairs
  a difference of :data:`DIFFERENCE_THAT_MATTERS` needs at the measured spread;
- :func:`sensitivity`: how far the choice of epoch, seed, split and post-processing (shots,
  knapsack, the rule over annotators) moves the F-score of the *same* scores (Otani et al.,
  CVPR 2019, measured here);
- :func:`improvement_report`: a student's change to a model, run through the runner's harness
  under its own name (:func:`course_lib.experiments.run_variant`), compared with the family by
  the same statistics.
- :func:`summarize`, :func:`over_seeds` and :func:`seed_curves`: the runner's report
  (:func:`course_lib.experiments.report`), each model's row and curves as the protocol
  aggregates them: the mean over splits for each seed, then over seeds.

The three small functions the notebook's exercises ask for (:func:`paired_t_statistic`,
:func:`mean_and_spread`, :func:`bootstrap_ci`) are the building blocks of the rest, and each
higher-level function takes them as arguments so that a student's passing version can be used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from course_lib import evaluation as ev
from course_lib.errors import CourseError

Run = tuple[int, int]  # (split, seed)
# The model-selection rules, as a run's ``selections`` names them, and their report columns.
BEST = "best test epoch (uses test labels)"
FINAL = "final epoch (label-free)"
LOWEST_LOSS = "lowest training loss (label-free)"
SELECTION_RULES = {BEST: "F, best test epoch (uses test labels)", FINAL: "F, final epoch",
                   LOWEST_LOSS: "F, lowest training loss"}
ALPHA = 0.05
POWER = 0.8
# F points: the size of the improvements this family's papers claim over each other (AAE over
# -sl: +1.1 on SumMe; -sl over SUM-GAN: +9.1), and the size Otani et al. show post-processing
# alone can move. A comparison that cannot see 3 points cannot rank these models.
DIFFERENCE_THAT_MATTERS = 3.0
# The one decision rule, used by every verdict, figure and report of the course. Why the
# t-interval and not the bootstrap's: with the 10-15 pairs a grid affords, the percentile
# bootstrap interval is too narrow (at 10 normal pairs it covers the true mean about 90 % of the
# time, not 95 %: tests/test_comparison.py measures it), and the power calculation below is
# that of this very test, so "n pairs are needed" and "shown" speak of the same rule.
RULE = (f"the {1 - ALPHA:.0%} t-interval of the mean paired difference excludes 0 "
        f"(a two-sided paired t-test at p < {ALPHA})")


# ---------------------------------------------------------------- the building blocks

def paired_t_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Student's paired t: the mean of ``a - b`` over its standard error, ``sd(d, ddof=1) /
    sqrt(n)``. Pairing removes what both runs of a pair share (the split's test videos, the
    seed's data order), which is why it sees differences an unpaired test misses."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return float(d.mean() / (d.std(ddof=1) / np.sqrt(len(d))))


def mean_and_spread(f: np.ndarray) -> tuple[float, float]:
    """Mean and spread of F-scores laid out ``[split, seed]``, NaN where a run is missing.

    The mean is the protocol's: each split's mean over its seeds, then the mean over splits, so a
    split with a missing run weighs as much as the others. The spread is the sample standard
    deviation (ddof = 1) of all runs present: what one more run would typically differ by.
    """
    f = np.asarray(f, dtype=float)
    per_split = np.array([row[~np.isnan(row)].mean() for row in f if (~np.isnan(row)).any()])
    present = f[~np.isnan(f)]
    return float(per_split.mean()), float(present.std(ddof=1)) if len(present) > 1 else np.nan


def bootstrap_ci(d: np.ndarray, n_resamples: int, seed: int,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``d``: draw ``n_resamples`` samples of
    ``len(d)`` values *with replacement* (``np.random.default_rng(seed).integers(0, n, (
    n_resamples, n))``), take each sample's mean, and return the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of those means."""
    d = np.asarray(d, dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(d), (n_resamples, len(d)))
    means = d[draws].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def t_interval(d: np.ndarray, level: float = 1 - ALPHA) -> tuple[float, float]:
    """The t-interval of the mean of ``d``: mean ± t(n − 1) quantile × sd(d, ddof=1) / sqrt(n).
    It excludes 0 exactly when the two-sided paired t-test gives p < 1 − ``level``."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    half = stats.t.ppf((1 + level) / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
    return float(d.mean() - half), float(d.mean() + half)


# ---------------------------------------------------------------- the power calculation

def t_power(n: int, sd: float, effect: float, alpha: float = ALPHA) -> float:
    """The chance that the two-sided paired t-test on ``n`` pairs whose differences have
    standard deviation ``sd`` finds a true mean difference ``effect`` (p < ``alpha``): the
    noncentral t distribution with n − 1 degrees of freedom and noncentrality
    effect / (sd / sqrt(n))."""
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0 if effect else alpha
    critical = stats.t.ppf(1 - alpha / 2, n - 1)
    shift = abs(effect) / (sd / np.sqrt(n))
    return float(stats.nct.sf(critical, n - 1, shift) + stats.nct.cdf(-critical, n - 1, shift))


def pairs_needed(sd: float, effect: float = DIFFERENCE_THAT_MATTERS, *, alpha: float = ALPHA,
                 power: float = POWER, most: int = 10_000) -> int:
    """The fewest pairs with which :data:`RULE` finds a true difference ``effect`` with
    probability ``power``, when the paired differences have standard deviation ``sd``."""
    if not (sd >= 0 and abs(effect) > 0):
        raise CourseError(f"pairs_needed needs a spread sd >= 0 and a difference other than 0 "
                          f"(got sd = {sd}, effect = {effect}).")
    n = 2
    while t_power(n, sd, effect, alpha) < power:
        n += 1
        if n > most:
            raise CourseError(f"More than {most} pairs would be needed to see {effect} points at "
                              f"a spread of {sd}: no grid can show a difference that small.")
    return n


def detectable_difference(sd: float, n: int, *, alpha: float = ALPHA,
                          power: float = POWER) -> float:
    """The smallest true difference :data:`RULE` finds with probability ``power`` on ``n``
    pairs whose differences have standard deviation ``sd`` (the inverse of
    :func:`pairs_needed`)."""
    if n < 2 or not sd > 0:
        return np.nan
    low, high = 0.0, sd
    while t_power(n, sd, high, alpha) < power:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if t_power(n, sd, middle, alpha) < power else (low, middle)
    return high


# ---------------------------------------------------------------- results as tables of F

def _finished(results: Iterable) -> list:
    return [r for r in results if r.finished]


def selected_f(result, rule: str) -> float:
    """A finished run's test F under ``rule`` (a key of ``JobResult.selections``)."""
    if rule not in result.selections:
        raise CourseError(f"Unknown selection rule {rule!r}: use one of "
                          f"{', '.join(map(repr, result.selections))}.")
    return result.selections[rule][1]


def f_by_run(results: Iterable, rule: str) -> dict[str, dict[Run, float]]:
    """``{model: {(split, seed): F}}`` of the finished runs, F as chosen by ``rule``."""
    table: dict[str, dict[Run, float]] = {}
    for r in _finished(results):
        table.setdefault(r.job.model, {})[(r.job.split, r.job.seed)] = selected_f(r, rule)
    return table


def as_grid(runs: Mapping[Run, float]) -> tuple[np.ndarray, list[int], list[int]]:
    """Runs as an array ``[split, seed]`` (NaN where a run is missing), with its splits and
    seeds."""
    splits = sorted({s for s, _ in runs})
    seeds = sorted({s for _, s in runs})
    f = np.full((len(splits), len(seeds)), np.nan)
    for (split, seed), value in runs.items():
        f[splits.index(split), seeds.index(seed)] = value
    return f, splits, seeds


@dataclass(frozen=True)
class Row:
    """One model under one selection rule, over its finished runs."""

    model: str
    rule: str
    n_runs: int
    n_splits: int
    mean: float
    spread: float
    low: float
    high: float
    kendall_tau: float
    spearman_rho: float
    parameters: int
    seconds_per_epoch: float


def summary_table(results: Iterable, rules: Sequence[str] | None = None, *,
                  spread: Callable = mean_and_spread) -> list[Row]:
    """One :class:`Row` per model and rule (default: every rule the runs have)."""
    results = _finished(results)
    if not results:
        raise CourseError("No finished runs to summarise: run the grid first (run_grid), or "
                          "check the results folder, dataset and tier.")
    rules = list(results[0].selections) if rules is None else list(rules)
    rows = []
    for model in dict.fromkeys(r.job.model for r in results):
        mine = [r for r in results if r.job.model == model]
        ranks = [r.rank_correlation for r in mine if r.rank_correlation]
        tau = float(np.mean([c["kendall_tau"] for c in ranks])) if ranks else np.nan
        rho = float(np.mean([c["spearman_rho"] for c in ranks])) if ranks else np.nan
        seconds = float(np.mean([np.mean(np.asarray(r.seconds_per_epoch)[
            np.asarray(r.epochs) >= 1]) for r in mine]))  # epoch 0 is setup and pre-training
        for rule in rules:
            f, splits, _ = as_grid(f_by_run(mine, rule)[model])
            mean, sd = spread(f)
            rows.append(Row(model, rule, int((~np.isnan(f)).sum()), len(splits), mean, sd,
                            float(np.nanmin(f)), float(np.nanmax(f)), tau, rho,
                            int(mine[0].parameters), seconds))
    return rows


def format_table(rows: Sequence[Row]) -> str:
    """The rows as aligned text, one line per model and rule. τ and ρ are the final epoch's, so
    they stand on its row only (on every row of a model shown without it)."""
    width = max([len("model"), *(len(r.model) for r in rows)])
    lines = [f"{'model':{width}s} {'selection rule':36s} {'F (%) mean ± sd':>16s} "
             f"{'[min, max]':>13s} {'runs':>4s} {'τ':>6s} {'ρ':>6s} {'parameters':>11s} "
             f"{'s/epoch':>8s}"]
    with_final = {r.model for r in rows if r.rule == FINAL}
    for r in rows:
        ranks = (f"{r.kendall_tau:+6.3f} {r.spearman_rho:+6.3f}"
                 if r.rule == FINAL or r.model not in with_final else f"{'':6s} {'':6s}")
        lines.append(f"{r.model:{width}s} {r.rule:36s} {r.mean:8.1f} ± {r.spread:4.1f}  "
                     f"[{r.low:4.1f}, {r.high:4.1f}] {r.n_runs:4d} {ranks} "
                     f"{r.parameters:11,d} {r.seconds_per_epoch:8.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the runner's aggregates

def in_order(names: Iterable[str], order: Iterable[str] = ()) -> list[str]:
    """The distinct ``names``: those in ``order`` first, as there, then the others sorted."""
    names, order = set(names), list(order)
    return [m for m in order if m in names] + sorted(names - set(order))


def over_seeds(results: Sequence, value: Callable[[object], float]
               ) -> tuple[float, float, int]:
    """The protocol's aggregate of finished runs: the mean over splits for each seed, then the
    mean and standard deviation over seeds (NaN with fewer than two) and the number of seeds."""
    per_seed: dict[int, list[float]] = {}
    for r in _finished(results):
        per_seed.setdefault(r.job.seed, []).append(value(r))
    means = [float(np.mean(v)) for v in per_seed.values()]
    if not means:
        return float("nan"), float("nan"), 0
    return (float(np.mean(means)), float(np.std(means, ddof=1)) if len(means) > 1
            else float("nan"), len(means))


def seed_curves(results: Sequence, order: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """Per model (in :func:`in_order` of ``order``), F per epoch for each seed (rows), averaged
    over that seed's finished splits; cut to the epochs every finished run has."""
    curves = {}
    for model in in_order((r.job.model for r in results), order):
        mine = [r for r in results if r.job.model == model and r.finished]
        if not mine:
            continue
        n = min(len(r.f_scores) for r in mine)
        seeds = sorted({r.job.seed for r in mine})
        curves[model] = np.array([np.mean([r.f_scores[:n] for r in mine if r.job.seed == s],
                                          axis=0) for s in seeds])
    return curves


def summarize(results: Sequence) -> dict[str, float]:
    """One model's row of the runner's report from its finished runs: F of the untrained model
    and under each of :data:`SELECTION_RULES` (mean and standard deviation, see
    :func:`over_seeds`), τ and ρ of the final epoch, the median of the runs' mean seconds per
    epoch and the parameter count."""
    row = {"finished": len(results)}
    row["f_untrained_mean"], row["f_untrained_sd"], _ = over_seeds(results,
                                                                   lambda r: r.f_scores[0])
    for rule, key in zip(SELECTION_RULES, ("best", "final", "lowest"), strict=True):
        row[f"f_{key}_mean"], row[f"f_{key}_sd"], row["seeds"] = over_seeds(
            results, lambda r, rule=rule: selected_f(r, rule))
    ranked = [r for r in results if r.rank_correlation]
    for key in ("kendall_tau", "spearman_rho"):
        row[key] = over_seeds(ranked, lambda r, key=key: r.rank_correlation[key])[0]
    for key in ("score_spread", "constant_overlap"):
        logged = [r for r in results if key in r.test_metrics]
        row[key] = over_seeds(logged, lambda r, key=key: r.test_metrics[key][-1])[0]
    row["seconds_per_epoch"] = (float(np.median([np.nanmean(r.seconds_per_epoch[1:])
                                                 for r in results])) if results else np.nan)
    row["parameters"] = results[0].parameters if results else 0
    return row


# ---------------------------------------------------------------- paired comparison

@dataclass(frozen=True)
class Paired:
    """``a`` against ``b`` on the runs both finished: differences ``a - b`` in F points.

    ``interval`` is :data:`RULE`'s (the t-interval at ``level``); ``ci`` (the bootstrap's),
    ``wilcoxon_p`` and ``split_t_p`` are reported beside it and decide nothing."""

    a: str
    b: str
    rule: str
    runs: list[Run]
    differences: np.ndarray
    ci: tuple[float, float]
    level: float
    t_p: float
    wilcoxon_p: float
    wilcoxon_floor: float
    split_differences: np.ndarray
    split_t_p: float
    interval: tuple[float, float] = (np.nan, np.nan)

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def mean(self) -> float:
        return float(self.differences.mean())

    @property
    def sd(self) -> float:
        """The spread of the paired differences (ddof = 1): what the power calculation uses."""
        return float(self.differences.std(ddof=1))

    @property
    def exceeds_noise(self) -> bool:
        """:data:`RULE`: the interval excludes 0."""
        return bool(self.interval[0] > 0 or self.interval[1] < 0)

    @property
    def verdict(self) -> str:
        """Two words for a figure: what :data:`RULE` says."""
        return "beyond the noise" if self.exceeds_noise else "within the noise"

    @property
    def detectable(self) -> float:
        """The smallest true difference these pairs would find 4 times in 5 (``POWER``)."""
        return detectable_difference(self.sd, self.n)

    @property
    def needed(self) -> int:
        """Pairs needed to find :data:`DIFFERENCE_THAT_MATTERS` at this spread."""
        return pairs_needed(max(self.sd, 1e-9))

    def sentence(self) -> str:
        """What the numbers allow one to say, computed from them, by :data:`RULE`."""
        k = len(self.split_differences)
        mean, (low, high), (ci_low, ci_high) = (
            shown(self.mean), map(shown, self.interval), map(shown, self.ci))
        equal = not np.isfinite(self.interval[0])  # no spread: no interval to draw
        interval = ("every difference the same, so no t-interval" if equal else
                    f"{self.level:.0%} t-interval [{low:+.1f}, {high:+.1f}]")
        text = (f"{self.a} − {self.b} ({self.rule}): {mean:+.1f} F points over {self.n} "
                f"paired runs on {k} split{'s' * (k != 1)}, {interval} (paired t-test "
                f"{_p(self.t_p)}); beside it, Wilcoxon {_p(self.wilcoxon_p)} and the bootstrap "
                f"interval [{ci_low:+.1f}, {ci_high:+.1f}]. ")
        winner = self.a if self.mean > 0 else self.b
        if self.exceeds_noise and k == self.n:  # one run per split: the pairs are the splits
            text += (f"{winner} is ahead by more than the noise between splits (the interval "
                     "excludes 0; one run per split, so the pairs differ by split and this test "
                     "is the one across splits).")
        elif self.exceeds_noise:
            text += (f"{winner} is ahead by more than the seed-to-seed noise on "
                     f"{'this split' if k == 1 else 'these splits'} (the interval excludes 0)")
            text += (f"; across splits (one mean difference per split, t-test over {k} splits) "
                     f"{_p(self.split_t_p)}, so "
                     + ("it holds across splits too." if self.split_t_p < ALPHA else
                        "whether it holds on other splits is not shown.")
                     if k > 2 else f"; with {k} split{'s' * (k != 1)} nothing can be said "
                     "about other splits.")
        elif equal:
            text += ("The runs differ by the same amount every time, so they show no noise to "
                     "measure that difference against: nothing is shown. ")
        else:
            text += ("The difference is not larger than the noise of these runs (the interval "
                     "includes 0). ")
            detectable = self.detectable
            if np.isfinite(detectable):
                text += (f"At their spread (sd {self.sd:.1f}), {self.n} pairs find a true "
                         f"difference {POWER:.0%} of the time only from {detectable:.1f} points "
                         f"up; {DIFFERENCE_THAT_MATTERS:g} points would need {self.needed} "
                         "pairs.")
        at_floor = (self.wilcoxon_floor >= ALPHA
                    and self.wilcoxon_p <= self.wilcoxon_floor * (1 + 1e-9))
        if at_floor:  # every difference of one sign: the strongest it can say, no disagreement
            text += (f" With {self.n} pairs Wilcoxon's test cannot give p below "
                     f"{self.wilcoxon_floor:.3f}, and it gives that: every difference has the "
                     "same sign.")
        elif (self.wilcoxon_p < ALPHA) != self.exceeds_noise:
            text += (f" Wilcoxon's test, which does not assume normal differences, "
                     f"{'finds' if self.wilcoxon_p < ALPHA else 'does not find'} a difference: "
                     "read the verdict with care.")
        elif self.wilcoxon_floor >= ALPHA:
            text += (f" With {self.n} pairs Wilcoxon's test cannot give p below "
                     f"{self.wilcoxon_floor:.3f}.")
        bootstrap_excludes = bool(self.ci[0] > 0 or self.ci[1] < 0)
        if bootstrap_excludes and not self.exceeds_noise and not equal:
            text += (f" The bootstrap interval excludes 0 where the t-interval does not: with "
                     f"{self.n} pairs it is too narrow (notebook 06, section 4), so it decides "
                     "nothing.")
        elif self.exceeds_noise and not bootstrap_excludes:
            text += " The bootstrap interval includes 0: read the verdict with care."
        return text.strip()


def shown(value: float, digits: int = 1) -> float:
    """``value`` as printed to ``digits`` decimals, without a negative zero: a difference of
    −0.04 is no difference ("+0.0"), not a loss ("-0.0")."""
    return round(float(value), digits) + 0.0


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def wilcoxon_floor(n: int) -> float:
    """The smallest two-sided p Wilcoxon's exact signed-rank test can give with ``n`` pairs
    (every difference of one sign): ``2 / 2**n``."""
    return min(1.0, 2.0 / 2 ** n)


def paired_comparison(results: Iterable, a: str, b: str, rule: str = FINAL, *,
                      level: float = 0.95, n_resamples: int = 10_000, seed: int = 0,
                      t_statistic: Callable = paired_t_statistic,
                      ci: Callable = bootstrap_ci) -> Paired:
    """``a`` against ``b`` on the ``(split, seed)`` runs both have finished.

    What each number assumes (only the first decides, by :data:`RULE`):

    - the **paired t-test** and its interval (p from ``t_statistic`` on n − 1 degrees of
      freedom): independent pairs whose differences are roughly normal; with few pairs a skewed
      difference misleads it;
    - **Wilcoxon's signed-rank test** (``scipy.stats.wilcoxon``, exact for small n): independent
      pairs, differences symmetric about their median; no normality, but with n pairs its p
      cannot go below ``2 / 2**n``;
    - the **bootstrap interval** (``ci``): the pairs are a fair sample of all pairs; with few
      pairs it is too narrow.

    Runs on the same split share its test videos, so they are not independent: the pair-level
    tests answer "beyond the seed-to-seed noise, on these splits"; ``split_t_p`` (the t-test on
    one mean difference per split) answers "on other splits too", and needs several splits.
    """
    table = f_by_run(results, rule)
    for name in (a, b):
        if name not in table:
            raise CourseError(f"No finished runs of {name!r}; models with results: "
                              f"{', '.join(table) or 'none'}.")
    return _paired(a, b, rule, table[a], table[b], level=level, n_resamples=n_resamples,
                   seed=seed, t_statistic=t_statistic, ci=ci)


def versus_baseline(results: Iterable, model: str, baseline: str,
                    per_split: Mapping[int, float], rule: str = FINAL, **kwargs) -> Paired:
    """``model`` against a baseline's F on each run's own split (``per_split[k]``: e.g. random
    scores on split k's test videos), by the same paired statistics: whether the model beats
    the baseline by more than the noise, not only on average."""
    table = f_by_run(results, rule)
    if model not in table:
        raise CourseError(f"No finished runs of {model!r}; models with results: "
                          f"{', '.join(table) or 'none'}.")
    runs = table[model]
    return _paired(model, baseline, rule, runs, {r: per_split[r[0]] for r in runs}, **kwargs)


def versus_untrained(results: Iterable, model: str, rule: str = FINAL, **kwargs) -> Paired:
    """``model`` against its own untrained self (epoch 0 of the same run: same weights at the
    start, same test videos): whether training moved F by more than the noise."""
    table = f_by_run(results, rule)
    if model not in table:
        raise CourseError(f"No finished runs of {model!r}; models with results: "
                          f"{', '.join(table) or 'none'}.")
    untrained = f_at_epoch(results, 0)[model]
    return _paired(model, f"untrained {model}", rule, table[model], untrained, **kwargs)


def _paired(a: str, b: str, rule: str, table_a: Mapping[Run, float],
            table_b: Mapping[Run, float], *, level: float = 0.95, n_resamples: int = 10_000,
            seed: int = 0, t_statistic: Callable = paired_t_statistic,
            ci: Callable = bootstrap_ci) -> Paired:
    table = {a: table_a, b: table_b}
    runs = sorted(set(table[a]) & set(table[b]))
    if len(runs) < 2:
        raise CourseError(f"{a} and {b} share {len(runs)} finished (split, seed) run(s); a "
                          "paired comparison needs at least 2: run both on the same grid.")
    d = np.array([table[a][r] - table[b][r] for r in runs])
    with np.errstate(divide="ignore", invalid="ignore"):  # equal differences: t is undefined
        t = t_statistic(np.array([table[a][r] for r in runs]),
                        np.array([table[b][r] for r in runs]))
    t_p = _t_p(t, len(d))
    with warnings.catch_warnings():  # zero differences: scipy says it leaves the exact test
        warnings.simplefilter("ignore")
        wilcoxon_p = 1.0 if np.all(d == 0) else float(stats.wilcoxon(d).pvalue)
    splits = sorted({s for s, _ in runs})
    per_split = np.array([d[[i for i, (s, _) in enumerate(runs) if s == split]].mean()
                          for split in splits])
    with np.errstate(divide="ignore", invalid="ignore"):
        split_t_p = (_t_p(paired_t_statistic(per_split, np.zeros_like(per_split)),
                          len(per_split)) if len(per_split) > 1 else np.nan)
    # every difference equal: t is undefined and, as its p of 1 says, nothing is shown
    interval = t_interval(d, level) if d.std() > 0 else (-np.inf, np.inf)
    return Paired(a, b, rule, runs, d, ci(d, n_resamples, seed, level), level, t_p, wilcoxon_p,
                  wilcoxon_floor(len(d)), per_split, split_t_p, interval)


def _t_p(t: float, n: int) -> float:
    """Two-sided p of a t statistic on n − 1 degrees of freedom (1 when every difference is
    equal: nothing varies, nothing is shown)."""
    return float(2 * stats.t.sf(abs(t), n - 1)) if np.isfinite(t) else 1.0


def paired_report_lines(results: Iterable, rule: str = FINAL) -> list[str]:
    """Markdown for the runner's report: :data:`RULE`, then one :meth:`Paired.sentence` for
    each two models (in the order given) that share at least two finished runs; two models
    trained for different numbers of epochs compare at the last epoch both trained."""
    results = _finished(results)
    table = f_by_run(results, rule)
    models = list(table)

    def pair(a: str, b: str) -> Paired:  # models of different lengths: at the shared epoch
        epoch = shared_epoch(results, a, b)
        if rule != FINAL or all(int(np.max(r.epochs)) == epoch for r in results
                                if r.job.model in (a, b)):
            return _paired(a, b, rule, table[a], table[b])
        at = f_at_epoch(results, epoch)
        return _paired(a, b, f"epoch {epoch}, the last both trained", at[a], at[b])

    found = [pair(a, b) for i, b in enumerate(models)
             for a in models[i + 1:] if len(set(table[a]) & set(table[b])) >= 2]
    if not found:
        return []
    return ([f"Paired comparisons on identical (split, seed) runs ({rule}). A difference counts "
             f"when {RULE}; Wilcoxon's p and the bootstrap interval are beside it.", ""]
            + [f"- {c.sentence()}" for c in found] + [""])


# ---------------------------------------------------------------- sensitivity (Otani et al.)

def uniform_shots(record) -> np.ndarray:
    """Equal segments as inclusive ``[start, end]`` frames, a segmentation that knows nothing
    about the content: as many as the record's KTS shots, or more where that many would each be
    longer than the summary budget (then no shot fits, and F is 0 whatever the scores)."""
    n_frames = int(record.change_points[-1, 1]) + 1
    budget = max(ev.summary_budget(record.change_points), 1)
    n_shots = max(len(record.change_points), -(-n_frames // budget) + 1)
    bounds = np.linspace(0, n_frames, n_shots + 1).round().astype(np.int64)
    return np.stack([bounds[:-1], bounds[1:] - 1], axis=1)


def step_shots(record) -> np.ndarray:
    """One segment per subsampled step (``[picks[i], picks[i+1] - 1]``): the knapsack then
    fills the budget with the highest-scored steps, no shots at all."""
    n_frames = int(record.change_points[-1, 1]) + 1
    starts = np.asarray(record.picks, dtype=np.int64)
    starts = starts[starts < n_frames]
    return np.stack([starts, np.append(starts[1:], n_frames) - 1], axis=1)


def with_shots(dataset, segment: Callable):
    """A copy of ``dataset`` whose shots are ``segment(record)``: the same scores and user
    summaries, another post-processing."""
    videos = {k: replace(r, change_points=segment(r)) for k, r in dataset.videos.items()}
    return type(dataset)(dataset.name, videos, dataset.eval_method, dataset.source)


def post_processings(dataset) -> dict[str, tuple[object, str]]:
    """The post-processings compared: ``{name: (dataset, rule over annotators)}``; the first
    is the protocol."""
    other = "mean" if dataset.eval_method == "max" else "max"
    return {f"KTS shots, knapsack, {dataset.eval_method} over users (the protocol)":
            (dataset, dataset.eval_method),
            f"KTS shots, knapsack, {other} over users": (dataset, other),
            "equal-length shots, knapsack": (with_shots(dataset, uniform_shots),
                                             dataset.eval_method),
            "no shots: top-scored steps": (with_shots(dataset, step_shots), dataset.eval_method)}


@dataclass(frozen=True)
class Sensitivity:
    """How many F points each choice moves one model's numbers (final epoch unless named).

    ``epoch``: mean over runs of best minus final test F (what picking the epoch on the test
    labels adds); ``epoch_sd``: mean over runs of the sd of F over the trained epochs;
    ``seed``: mean over splits of the sd over seeds; ``split``: mean over seeds of the sd over
    splits; ``post``: per post-processing, the mean over runs of (F there − F by the protocol).
    """

    model: str
    epoch: float
    epoch_sd: float
    seed: float
    split: float
    post: dict[str, float]


def sensitivity(results: Iterable, dataset, splits: Sequence, *,
                processings: Mapping[str, tuple[object, str]] | None = None
                ) -> list[Sensitivity]:
    """One :class:`Sensitivity` per model, from its finished runs' saved per-epoch scores.

    ``splits`` are the dataset's splits the runs were trained on (``splits[k]`` for split k).
    """
    processings = post_processings(dataset) if processings is None else processings
    protocol = next(iter(processings))
    out = []
    results = _finished(results)
    for model in dict.fromkeys(r.job.model for r in results):
        mine = [r for r in results if r.job.model == model]
        trained = [np.asarray(r.f_scores)[np.asarray(r.epochs) >= 1] for r in mine]
        final = {(r.job.split, r.job.seed): f[-1] for r, f in zip(mine, trained, strict=True)}
        f, _, _ = as_grid(final)
        post: dict[str, list[float]] = {name: [] for name in processings if name != protocol}
        for r in mine:
            keys = list(splits[r.job.split].test_keys)
            scores = r.test_scores(int(np.asarray(r.epochs)[-1]))
            by = {name: ev.evaluate(data, scores, keys, metric=metric).mean
                  for name, (data, metric) in processings.items()}
            for name in post:
                post[name].append(by[name] - by[protocol])
        out.append(Sensitivity(
            model, float(np.mean([t.max() - t[-1] for t in trained])),
            float(np.mean([t.std() for t in trained])), _mean_sd(f, axis=1),
            _mean_sd(f, axis=0), {name: float(np.mean(v)) for name, v in post.items()}))
    return out


def _mean_sd(f: np.ndarray, axis: int) -> float:
    """Mean over the other axis of the sample sd along ``axis`` (rows or columns with at least
    two runs); NaN when there is no such row: one seed or one split says nothing."""
    sds = [np.std(v[~np.isnan(v)], ddof=1) for v in np.moveaxis(f, axis, -1)
           if (~np.isnan(v)).sum() > 1]
    return float(np.mean(sds)) if sds else np.nan


def baseline_post_processing(dataset, splits: Sequence, split_ids: Sequence[int], *,
                             n_random_trials: int = 10, seed: int = 0,
                             processings: Mapping[str, tuple[object, str]] | None = None
                             ) -> dict[str, dict[str, float]]:
    """Random and uniform scores' F under each post-processing, mean over ``split_ids``: the
    share of a number that the post-processing alone earns."""
    processings = post_processings(dataset) if processings is None else processings
    table: dict[str, dict[str, float]] = {"random": {}, "uniform": {}}
    for name, (data, metric) in processings.items():
        rng = np.random.default_rng(seed)
        for baseline in table:
            values = []
            for k in split_ids:
                keys = list(splits[k].test_keys)
                sets = ([ev.random_scores(dataset, keys, rng) for _ in range(n_random_trials)]
                        if baseline == "random" else [ev.uniform_scores(dataset, keys)])
                values.append(np.mean([e.mean for e in ev.evaluate_epochs(
                    data, sets, keys, metric=metric)]))
            table[baseline][name] = float(np.mean(values))
    return table


def what_moves_f(sensitivity_rows: Sequence[Sensitivity],
                 post_baselines: Mapping[str, Mapping[str, float]],
                 final_means: Mapping[str, float],
                 comparisons: Sequence[Paired]) -> tuple[dict[str, float], float, list[str]]:
    """Sets each choice's effect on F beside the largest paired difference between two models.

    Returns ``(moves, model_gap, lines)``: how many F points the epoch, the seed, the split and
    the post-processing move F on average (the post-processing net of what the same change does
    to random scores: what lowers every summary alike does not count), the largest |mean paired
    difference|, and the lines to print: the table, the models' order under each
    post-processing, and one sentence per choice. The seed's effect needs two seeds of a split:
    with one it is "n/a" and left out of the sentences.
    """
    posts = list(sensitivity_rows[0].post)
    # The post-processings' names are long: numbered columns, named under the table, keep it
    # narrow enough not to wrap in a notebook.
    lines = [f"{'model':18s} {'epoch':>6s} {'seed':>6s} {'split':>6s}  "
             + "  ".join(f"{f'({i})':>6s}" for i in range(1, len(posts) + 1))]
    for r in sensitivity_rows:
        seed = "n/a" if np.isnan(r.seed) else f"{r.seed:.1f}"
        lines.append(f"{r.model:18s} {r.epoch:6.1f} {seed:>6s} {r.split:6.1f}  "
                     + "  ".join(f"{r.post[p]:+6.1f}" for p in posts))
    lines += [f"({i}) {p}" for i, p in enumerate(posts, 1)]
    model_gap = max(abs(c.mean) for c in comparisons)
    on_random = post_baselines["random"]
    protocol = next(iter(on_random))
    shift = {p: on_random[p] - on_random[protocol] for p in posts}

    def measured(values: list[float]) -> float:  # NaN where no row could measure it
        values = [v for v in values if not np.isnan(v)]
        return float(np.mean(values)) if values else float("nan")

    moves = {"the epoch": float(np.mean([r.epoch for r in sensitivity_rows])),
             "the seed": measured([r.seed for r in sensitivity_rows]),
             "the split": measured([r.split for r in sensitivity_rows]),
             "the post-processing": float(np.mean([max(abs(v - shift[p])
                                                       for p, v in r.post.items())
                                                   for r in sensitivity_rows]))}
    order = sorted(final_means, key=lambda m: -final_means[m])
    lines += ["", f"the protocol ranks the models {' > '.join(order)} (final epoch, mean F)"]
    for p in posts:
        under = {r.model: final_means[r.model] + r.post[p] for r in sensitivity_rows}
        ranked = sorted(under, key=lambda m: -under[m])
        lines.append(f"{p}: {' > '.join(ranked)}"
                     + ("  (the same order)" if ranked == order else "  (another order)"))
    lines.append("")
    # each figure is the mean over models of what the row measures for one model
    how = {"the epoch": "best test epoch − final",
           "the seed": "sd over seeds",
           "the split": "sd over splits, unpaired: with each split's difficulty, which all "
                        "models share",
           "the post-processing": "the largest change, net of random scores' own"}
    for what, value in moves.items():
        if not np.isnan(value):
            side = ("more than" if round(value, 1) > round(model_gap, 1) else "less than"
                    if round(value, 1) < round(model_gap, 1) else "as much as")
            # net of random scores' shift: what it moves is how far a model leads random
            whose = "a model's lead over random scores" if what == "the post-processing" else "F"
            lines.append(f"{what:20s} moves {whose} by {value:4.1f} points ({how[what]}; mean "
                         f"over models): {side} the largest paired difference between two "
                         f"models ({model_gap:.1f}).")
    return moves, model_gap, lines


def shared_epoch(results: Iterable, a: str, b: str) -> int:
    """The last epoch that every finished run of ``a`` and of ``b`` trained: where two models
    trained for different numbers of epochs (the laptop tier's faithful trainer trains a quarter
    of the fast one's) are compared."""
    ends = [int(np.max(r.epochs)) for r in _finished(results) if r.job.model in (a, b)]
    if not ends:
        raise CourseError(f"No finished runs of {a!r} or {b!r}.")
    return min(ends)


def f_at_epoch(results: Iterable, epoch: int) -> dict[str, dict[Run, float]]:
    """Model → {(split, seed): test F after ``epoch``} for the finished runs that reached it."""
    table: dict[str, dict[Run, float]] = {}
    for r in _finished(results):
        at = np.flatnonzero(np.asarray(r.epochs) == epoch)
        if len(at):
            table.setdefault(r.job.model, {})[(r.job.split, r.job.seed)] = float(
                r.f_scores[at[0]])
    return table


def speed_cost(results: Iterable, fast: str, faithful: str, **kwargs
               ) -> tuple[Paired | None, str]:
    """What the fast trainer costs or gains against the faithful one, on the runs both
    finished: both trainers' seconds per trained epoch on those runs, and the paired comparison
    of their F at the last epoch both trained (:func:`shared_epoch`; ``kwargs`` go to the
    paired statistics); with a single shared run, its two F-scores beside the fast trainer's
    spread between runs, and ``None`` for the comparison."""
    results = _finished(results)
    for name in (fast, faithful):
        if not any(r.job.model == name for r in results):
            raise CourseError(f"No finished runs of {name!r}; models with results: "
                              f"{', '.join(sorted({r.job.model for r in results})) or 'none'}.")
    epoch = shared_epoch(results, fast, faithful)
    table = f_at_epoch(results, epoch)
    runs = sorted(set(table[fast]) & set(table[faithful]))
    if not runs:
        raise CourseError(f"{fast} and {faithful} share no finished (split, seed) run: run both "
                          "on the same grid.")

    def seconds(model: str) -> float:
        return float(np.mean([np.mean(np.asarray(r.seconds_per_epoch)[np.asarray(r.epochs) >= 1])
                              for r in results if r.job.model == model
                              and (r.job.split, r.job.seed) in runs]))

    quick, slow = seconds(fast), seconds(faithful)
    final = all(int(np.max(r.epochs)) == epoch for r in results if r.job.model in (fast, faithful))
    when = "final-epoch F" if final else f"F after epoch {epoch}, the last epoch both trained,"
    text = (f"On the {len(runs)} run{'s' * (len(runs) > 1)} both trained, {fast} took "
            f"{quick:.1f} s per epoch and {faithful} {slow:.1f} s ({slow / quick:.1f}× as long; "
            f"this machine, while the grid ran). ")
    if len(runs) > 1:
        rule = FINAL if final else f"epoch {epoch}, the last both trained"
        paired = _paired(fast, faithful, rule, table[fast], table[faithful], **kwargs)
        return paired, text + paired.sentence()
    (split, seed), = runs
    mine, theirs = table[fast][(split, seed)], table[faithful][(split, seed)]
    own = np.array(list(table[fast].values()))
    spread = (f"{fast}'s {when} moves by sd = {own.std(ddof=1):.1f} points "
              f"between its {len(own)} runs" if len(own) > 1
              else "no second run says how much it moves")
    return None, text + (
        f"{when[0].upper() + when[1:]} on split {split}, seed {seed}: {fast} {mine:.1f}, "
        f"{faithful} {theirs:.1f} ({mine - theirs:+.1f}). One pair cannot tell the trainers "
        f"apart from the noise: {spread}.")


# ---------------------------------------------------------------- your improvement

def improvement_report(results: Iterable, variant: str, against: Sequence[str],
                       rules: Sequence[str] = (FINAL, BEST), **kwargs) -> list[Paired]:
    """``variant`` against each model of ``against`` that has results, under each rule: the
    same paired statistics as the family's own comparisons (``kwargs`` go to
    :func:`paired_comparison`)."""
    results = list(results)
    present = {r.job.model for r in _finished(results)}
    return [paired_comparison(results, variant, model, rule, **kwargs)
            for rule in rules for model in against if model in present and model != variant]
