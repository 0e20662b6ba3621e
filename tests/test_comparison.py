"""The comparison statistics on synthetic results shaped like the runner's ``JobResult``s."""

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

from course_lib import comparison as cmp
from course_lib import config
from course_lib import evaluation as ev
from course_lib import experiments as xp
from course_lib.data import summarization as sm
from course_lib.errors import CourseError
from course_lib.experiments import Job
from course_lib.summary_plots import sensitivity_plot


@dataclass
class Result:
    job: Job
    f_scores: np.ndarray
    finished: bool = True
    parameters: int = 1000
    rank_correlation: dict | None = None
    scores: dict | None = None
    test_metrics: dict = field(default_factory=dict)
    code: str = ""

    @property
    def epochs(self):
        return np.arange(len(self.f_scores))

    @property
    def seconds_per_epoch(self):
        return np.array([9.0] + [1.0] * (len(self.f_scores) - 1))  # epoch 0: setup

    @property
    def selections(self):
        trained = self.f_scores[1:]
        best = 1 + int(np.argmax(trained))
        return {cmp.BEST: (best, float(trained.max())),
                cmp.FINAL: (len(trained), float(trained[-1])),
                cmp.LOWEST_LOSS: (1, float(trained[0]))}

    def test_scores(self, epoch):
        return self.scores


def grid_results(model, offset, *, splits=5, seeds=3, noise=1.0, seed=0, split_effect=None):
    """Runs whose final F = 40 + offset + a split effect shared by every model + noise."""
    rng = np.random.default_rng(seed)
    split_effect = np.arange(splits) * 3.0 if split_effect is None else split_effect
    results = []
    for split in range(splits):
        for s in range(seeds):
            final = 40 + offset + split_effect[split] + noise * rng.standard_normal()
            f = np.array([30.0, final - 2, final + 1, final])
            results.append(Result(Job(model, "synthetic", "smoke", split, s), f))
    return results


# ---------------------------------------------------------------- the building blocks

def test_paired_t_statistic_matches_scipy_and_ignores_what_pairs_share():
    rng = np.random.default_rng(1)
    shared = 10 * rng.standard_normal(8)
    a, b = shared + 1 + 0.3 * rng.standard_normal(8), shared + 0.3 * rng.standard_normal(8)
    from scipy import stats
    assert cmp.paired_t_statistic(a, b) == pytest.approx(stats.ttest_rel(a, b).statistic)
    # the large shared part hides the difference from an unpaired test, not from the paired one
    assert abs(cmp.paired_t_statistic(a, b)) > 3 > abs(stats.ttest_ind(a, b).statistic)


def test_mean_and_spread_weighs_splits_equally_when_a_run_is_missing():
    f = np.array([[40.0, 42.0, np.nan], [50.0, 50.0, 50.0]])
    mean, spread = cmp.mean_and_spread(f)
    assert mean == pytest.approx((41 + 50) / 2)
    assert spread == pytest.approx(np.std([40, 42, 50, 50, 50], ddof=1))


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_data():
    rng = np.random.default_rng(2)
    few, many = rng.normal(1, 1, 5), rng.normal(1, 1, 200)
    lo, hi = cmp.bootstrap_ci(few, 2000, 0)
    assert lo < few.mean() < hi
    lo2, hi2 = cmp.bootstrap_ci(many, 2000, 0)
    assert hi2 - lo2 < hi - lo
    assert cmp.bootstrap_ci(few, 2000, 0) == (lo, hi)  # seeded: reproducible


# ---------------------------------------------------------------- paired comparison

def test_paired_comparison_finds_a_planted_difference_and_not_a_zero_one():
    base = grid_results("a", 0)
    better = grid_results("b", 3, seed=1)
    same = grid_results("c", 0, seed=2)
    planted = cmp.paired_comparison(base + better, "b", "a")
    assert planted.n == 15 and planted.mean == pytest.approx(3, abs=1)
    assert planted.exceeds_noise and planted.interval[0] > 0
    assert "ahead by more than the seed-to-seed noise" in planted.sentence()
    one_seed = cmp.paired_comparison(grid_results("a", 0, seeds=1)
                                     + grid_results("b", 5, seeds=1, seed=1), "b", "a")
    assert one_seed.exceeds_noise and len(one_seed.split_differences) == one_seed.n == 5
    assert "ahead by more than the noise between splits" in one_seed.sentence()
    assert "seed-to-seed" not in one_seed.sentence()  # one seed per split measures none
    null = cmp.paired_comparison(base + same, "c", "a")
    assert not null.exceeds_noise and null.interval[0] < 0 < null.interval[1]
    assert "not larger than the noise" in null.sentence()
    assert f"{null.needed} pairs" in null.sentence()  # what it would take, from its own spread


def test_runs_that_differ_by_the_same_amount_every_time_show_nothing_and_say_why():
    """Identical runs (as at the smoke tier) have no spread: no interval to print."""
    same = cmp.paired_comparison(grid_results("a", 0, noise=0) + grid_results("b", 0, noise=0),
                                 "b", "a")
    assert not same.exceeds_noise and "inf" not in same.sentence()
    assert "every difference the same, so no t-interval" in same.sentence()
    assert "nothing is shown" in same.sentence()


def test_pairing_removes_the_split_effect_that_hides_a_difference_between_means():
    effect = np.array([0.0, 20.0, -15.0, 8.0, 30.0])
    a = grid_results("a", 0, split_effect=effect, noise=0.5)
    b = grid_results("b", 1.5, split_effect=effect, noise=0.5, seed=3)
    paired = cmp.paired_comparison(a + b, "b", "a")
    assert paired.exceeds_noise
    rows = {r.model: r for r in cmp.summary_table(a + b, [cmp.FINAL])}
    assert rows["a"].spread > 5 * abs(paired.mean)  # the unpaired spread dwarfs the difference


def test_few_pairs_say_that_no_test_can_show_much():
    a = grid_results("a", 0, splits=2, seeds=2)
    b = grid_results("b", 5, splits=2, seeds=2, seed=1)
    paired = cmp.paired_comparison(a + b, "b", "a")
    assert paired.wilcoxon_floor == pytest.approx(0.125)
    assert "cannot give p below 0.125, and it gives that" in paired.sentence()
    # all of one sign but within the noise: Wilcoxon's smallest p is no disagreement to flag
    assert "read the verdict with care" not in paired.sentence()


def test_a_bootstrap_interval_that_excludes_0_beside_a_t_interval_that_does_not_is_explained():
    """Five pairs, four well above 0 and one far below: the percentile bootstrap excludes 0, the
    t-interval (the rule) does not; the sentence says why the bootstrap decides nothing."""
    a = grid_results("a", 0, splits=5, seeds=1)
    c = [Result(Job("c", "synthetic", "smoke", r.job.split, r.job.seed), r.f_scores + d)
         for r, d in zip(a, [3.0, 3.5, 4.0, 4.5, -2.0], strict=True)]
    paired = cmp.paired_comparison(a + c, "c", "a")
    assert paired.interval[0] < 0 < paired.interval[1] and paired.ci[0] > 0, paired
    assert "too narrow (notebook 06, section 4), so it decides nothing" in paired.sentence()
    same_sign = cmp.paired_comparison(a + grid_results("b", 5, splits=5, seeds=1, seed=1), "b", "a")
    assert same_sign.exceeds_noise and "too narrow" not in same_sign.sentence()


def test_paired_comparison_uses_only_shared_runs_and_says_when_there_are_too_few():
    a = grid_results("a", 0)
    b = [r for r in grid_results("b", 2, seed=1) if r.job.seed == 0]
    assert cmp.paired_comparison(a + b, "b", "a").runs == [(s, 0) for s in range(5)]
    with pytest.raises(CourseError, match="share 1 finished"):
        cmp.paired_comparison(a + b[:1], "b", "a")
    with pytest.raises(CourseError, match="No finished runs of 'nope'"):
        cmp.paired_comparison(a, "nope", "a")


def test_a_students_statistic_is_used_when_given():
    a, b = grid_results("a", 0), grid_results("b", 3, seed=1)
    paired = cmp.paired_comparison(a + b, "b", "a", t_statistic=lambda x, y: 0.0)
    assert paired.t_p == pytest.approx(1.0)
    assert "paired t-test p = 1.000" in paired.sentence()


# ---------------------------------------------------------------- tables

def test_summary_table_rows_per_model_and_rule_skip_unfinished_runs():
    results = grid_results("a", 0) + grid_results("b", 5, seed=1)
    results[0].finished = False
    results[1].rank_correlation = {"kendall_tau": 0.1, "spearman_rho": 0.2}
    rows = cmp.summary_table(results)
    assert [(r.model, r.rule) for r in rows][:3] == [("a", cmp.BEST), ("a", cmp.FINAL),
                                                     ("a", cmp.LOWEST_LOSS)]
    by = {(r.model, r.rule): r for r in rows}
    assert by["a", cmp.FINAL].n_runs == 14 and by["b", cmp.FINAL].n_runs == 15
    assert by["a", cmp.BEST].mean > by["a", cmp.FINAL].mean  # best test epoch is optimistic
    assert by["a", cmp.FINAL].kendall_tau == pytest.approx(0.1)
    assert by["a", cmp.FINAL].seconds_per_epoch == 1.0  # not epoch 0's setup
    assert np.isnan(by["b", cmp.FINAL].kendall_tau)
    assert "± " in cmp.format_table(rows)
    with pytest.raises(CourseError, match="Unknown selection rule"):
        cmp.summary_table(results, ["best"])
    with pytest.raises(CourseError, match="No finished runs"):
        cmp.summary_table([])


def test_the_final_epochs_rank_correlation_stands_on_its_row_only():
    results = grid_results("a", 0)
    for r in results:
        r.rank_correlation = {"kendall_tau": 0.123, "spearman_rho": 0.456}
    table = cmp.format_table(cmp.summary_table(results)).splitlines()[1:]
    assert ["+0.123" in line for line in table] == [r == cmp.FINAL for r in cmp.SELECTION_RULES]
    best_only = cmp.format_table(cmp.summary_table(results, [cmp.BEST]))
    assert "+0.123" in best_only  # a model shown without its final row keeps τ


def test_the_reports_baseline_sentence_asks_whether_a_gap_holds_across_splits():
    """Seeds of a split share its baseline F, so 15 runs on 5 splits can beat a baseline
    beyond the noise between seeds while the 5 splits disagree: the sentence says which gaps
    hold across splits too."""
    from course_lib.experiments.report import paired_sentence

    results = grid_results("m", 0, noise=0.1, split_effect=np.zeros(5))
    steady = {k: 38.0 for k in range(5)}  # 2 points below the model on every split
    mixed = {k: 39.0 if k < 4 else 41.0 for k in range(5)}  # 1 below on 4 splits, 1 above on 1
    said = paired_sentence(results, "m", {"steady": steady, "mixed": mixed})
    beaten = said.split("beats")[1].split(";")[0]
    assert "steady" in beaten and "mixed" in beaten
    assert "across the 5 splits" in said
    assert said.endswith("the gap holds for steady, its untrained model.")
    two_splits = [r for r in results if r.job.split < 2]
    said = paired_sentence(two_splits, "m", {"steady": steady})
    assert "with 2 splits nothing can be said about other splits" in said


# ---------------------------------------------------------------- sensitivity

@pytest.fixture(scope="module")
def data():
    from course_lib.data.synthetic_videos import make_synthetic_dataset

    dataset = make_synthetic_dataset(config.summarization_data_config("smoke", verbose=False))
    return dataset, sm.make_splits(dataset.keys(), n_splits=2, rng=np.random.default_rng(0))


def test_segmentations_tile_the_video(data):
    dataset, _ = data
    for record in dataset:
        for shots in (cmp.uniform_shots(record), cmp.step_shots(record)):
            assert shots[0, 0] == 0 and shots[-1, 1] == record.change_points[-1, 1]
            assert np.all(shots[1:, 0] == shots[:-1, 1] + 1)
        assert len(cmp.uniform_shots(record)) >= len(record.change_points)
        assert np.diff(cmp.uniform_shots(record)).max() < ev.summary_budget(record.change_points)


def test_sensitivity_separates_seed_and_split_noise_and_measures_post_processing(data):
    dataset, splits = data
    keys = dataset.keys()
    gt = {k: dataset[k].gtscore for k in keys}
    # split effect 10 points, seed noise small: the split term must dominate
    results = grid_results("a", 0, splits=2, seeds=3, noise=0.5,
                           split_effect=np.array([0.0, 10.0]))
    for r in results:
        r.scores = gt
    (row,) = cmp.sensitivity(results, dataset, splits)
    assert row.split > 5 > row.seed > 0
    assert row.epoch == pytest.approx(1.0)  # final + 1 is the best trained epoch
    processings = cmp.post_processings(dataset)
    protocol = next(iter(processings))
    assert set(row.post) == set(processings) - {protocol}
    for name, (variant, metric) in processings.items():
        if name == protocol:
            continue
        expected = np.mean([ev.evaluate(variant, gt, s.test_keys, metric=metric).mean
                            - ev.evaluate(dataset, gt, s.test_keys).mean for s in splits])
        assert row.post[name] == pytest.approx(expected)
    assert any(abs(v) > 0.1 for v in row.post.values())  # post-processing moves the numbers


def test_baseline_post_processing_mean_over_users_is_below_max(data):
    dataset, splits = data
    table = cmp.baseline_post_processing(dataset, splits, [0, 1], n_random_trials=2)
    names = list(cmp.post_processings(dataset))
    assert dataset.eval_method == "max"
    assert table["random"][names[1]] < table["random"][names[0]]
    assert set(table["uniform"]) == set(names)


# ---------------------------------------------------------------- the improvement harness

def test_run_variant_trains_the_base_model_with_only_the_change_under_its_own_name(tmp_path):
    import json

    from course_lib import experiments as xp

    (run,) = xp.run_variant("sl-sigma-0.4", "sum-gan-sl", "synthetic", "smoke", [0], [0],
                             tmp_path, overrides={"sigma": 0.4}, progress=False)
    stored = json.loads((run.folder / "config.json").read_text())
    base = xp.MODELS["sum-gan-sl"].config("smoke")
    assert run.finished and run.job.model == "sl-sigma-0.4"
    notebook_defaults = ("split", "seeds")  # a job records its own split and seed instead
    assert stored["config"] == {**{k: v for k, v in json.loads(json.dumps(base.__dict__)).items()
                                   if k not in notebook_defaults}, "sigma": 0.4}
    assert stored["config"]["videos_per_update"] == 1  # the faithful trainer, as its base
    assert stored["overrides"]["sigma"] == 0.4
    (again,) = xp.run_variant("sl-sigma-0.4", "sum-gan-sl", "synthetic", "smoke", [0], [0],
                               tmp_path, overrides={"sigma": 0.4}, progress=False)
    assert np.array_equal(again.f_scores, run.f_scores)  # loaded, not trained again
    with pytest.raises(CourseError, match="name of its own"):
        xp.run_variant("sum-gan", "sum-gan-sl", "synthetic", "smoke", [0], [0], tmp_path)
    for overrides, said in (({}, "no overrides, build or fit"),
                            ({"sigma": base.sigma}, "are sum-gan-sl's own values")):
        with pytest.raises(CourseError, match=f"changes nothing of sum-gan-sl: .*{said}"):
            xp.run_variant("sl-copy", "sum-gan-sl", "synthetic", "smoke", [0], [0], tmp_path,
                           overrides=overrides)


def test_a_configuration_variant_runs_in_parallel_processes_with_the_same_results(tmp_path):
    here = xp.run_variant("fast-sigma-0.4", "sum-gan-sl-fast", "synthetic", "smoke", [0], [0],
                           tmp_path / "here", overrides={"sigma": 0.4}, progress=False)
    there = xp.run_variant("fast-sigma-0.4", "sum-gan-sl-fast", "synthetic", "smoke", [0, 1],
                            [0], tmp_path / "there", overrides={"sigma": 0.4}, jobs=2)
    assert [r.job.split for r in there] == [0, 1] and all(r.finished for r in there)
    np.testing.assert_allclose(there[0].f_scores, here[0].f_scores, rtol=1e-6)
    assert (tmp_path / "there" / "logs").is_dir()


def test_improvement_report_compares_the_variant_with_each_model_present():
    results = grid_results("mine", 2) + grid_results("a", 0, seed=1) + grid_results("b", 0,
                                                                                    seed=2)
    report = cmp.improvement_report(results, "mine", ["a", "b", "absent"])
    assert [(c.b, c.rule) for c in report] == [("a", cmp.FINAL), ("b", cmp.FINAL),
                                               ("a", cmp.BEST), ("b", cmp.BEST)]
    assert all(c.a == "mine" and c.mean > 0 for c in report)


def test_comparison_figures_draw_every_model_and_label_published_numbers():
    import matplotlib

    matplotlib.use("Agg")
    from course_lib import summary_plots as sp

    results = grid_results("a", 0) + grid_results("b", 3, seed=1)
    ax = sp.paired_plot([cmp.paired_comparison(results, "b", "a")])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b − a\n(beyond the noise)"]
    assert len(ax.get_legend().get_texts()) == 5 + 2  # five splits, interval in or out
    rows = [cmp.Sensitivity("a", 1.0, 0.5, 0.7, 3.0, {"other": -2.0})]
    fig = sp.sensitivity_plot(rows, {"random": {"protocol": 40.0, "other": 37.0}})
    right = fig.axes[1]
    assert [t.get_text() for t in right.get_yticklabels()] == ["a", "random scores"]
    assert [p.get_width() for p in right.patches] == [-2.0, -3.0]
    ax = sp.published_bars({"a": (40.0, 2.0)}, {"a": 47.8})
    assert "published (their protocol)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_versus_baseline_pairs_each_run_with_the_baseline_on_its_own_split():
    effect = np.array([0.0, 20.0, -15.0, 8.0, 30.0])
    model = grid_results("m", 2, split_effect=effect, noise=0.5)
    random = {k: 40 + effect[k] for k in range(5)}  # the baseline moves with the split too
    paired = cmp.versus_baseline(model, "m", "random", random)
    assert paired.mean == pytest.approx(2, abs=0.5) and paired.exceeds_noise
    assert paired.b == "random" and paired.n == 15
    flat = cmp.versus_baseline(model, "m", "random", {k: 42.0 for k in range(5)})
    assert not flat.exceeds_noise  # without the pairing, the split effect hides it


# ---------------------------------------------------------------- the one decision rule

def test_verdict_sentence_and_interval_agree_on_every_draw():
    """One rule: the verdict, the t-test's p, the interval the figure draws and the words all
    say the same, for clear differences, noise and everything between."""
    import matplotlib

    matplotlib.use("Agg")
    from course_lib import summary_plots as sp

    agree = {True: 0, False: 0}
    for seed in range(40):
        a = grid_results("a", 0, seed=100 + seed, noise=2.0)
        b = grid_results("b", seed % 5 * 0.6, seed=200 + seed, noise=2.0)
        c = cmp.paired_comparison(a + b, "b", "a")
        excludes = c.interval[0] > 0 or c.interval[1] < 0
        assert c.exceeds_noise == excludes == (c.t_p < cmp.ALPHA)
        assert ("ahead by more than" in c.sentence()) == c.exceeds_noise
        assert ("not larger than the noise" in c.sentence()) != c.exceeds_noise
        ax = sp.paired_plot([c])
        marker = [line for line in ax.get_lines() if line.get_marker() == "D"][0]
        assert (marker.get_markerfacecolor() != "white") == c.exceeds_noise
        assert c.verdict in ax.get_yticklabels()[0].get_text()
        matplotlib.pyplot.close(ax.figure)
        agree[c.exceeds_noise] += 1
    assert agree[True] and agree[False]  # both verdicts were exercised


def test_the_rules_interval_is_the_t_interval_and_wider_than_the_bootstrap_with_few_pairs():
    from scipy import stats

    d = np.random.default_rng(5).normal(1, 2, 10)
    low, high = cmp.t_interval(d)
    ci = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high))
    boot = cmp.bootstrap_ci(d, 4000, 0)
    assert high - low > boot[1] - boot[0]


def test_bootstrap_interval_covers_less_than_claimed_with_ten_pairs_the_t_interval_does_not():
    """Why the rule uses the t-interval: at 10 normal pairs the percentile bootstrap's 95 %
    interval misses the true mean clearly more often than 5 % of the time."""
    rng = np.random.default_rng(11)
    trials, covered_t, covered_boot = 400, 0, 0
    for i in range(trials):
        d = rng.normal(2.0, 4.0, 10)
        lo, hi = cmp.t_interval(d)
        covered_t += lo < 2.0 < hi
        lo, hi = cmp.bootstrap_ci(d, 1000, i)
        covered_boot += lo < 2.0 < hi
    assert covered_t / trials > 0.92 and covered_boot / trials < 0.93
    assert covered_boot < covered_t


# ---------------------------------------------------------------- the power calculation

def test_pairs_needed_shrinks_as_the_effect_grows_and_grows_with_the_spread():
    needed = [cmp.pairs_needed(4.5, effect) for effect in (1.5, 2, 3, 5, 8)]
    assert needed == sorted(needed, reverse=True) and needed[0] > needed[-1]
    assert cmp.pairs_needed(6.0, 3) > cmp.pairs_needed(3.0, 3)
    # the inverse: the smallest difference n pairs detect needs n pairs
    for n in (6, 10, 20):
        assert cmp.pairs_needed(4.5, cmp.detectable_difference(4.5, n) * 1.0001) == n
    detectable = [cmp.detectable_difference(4.5, n) for n in (4, 10, 30)]
    assert detectable == sorted(detectable, reverse=True)


def test_power_is_what_the_t_test_finds_in_simulation():
    from scipy import stats

    rng = np.random.default_rng(3)
    n, sd, effect = 10, 4.0, 3.0
    found = np.mean([stats.ttest_1samp(rng.normal(effect, sd, n), 0).pvalue < cmp.ALPHA
                     for _ in range(3000)])
    assert cmp.t_power(n, sd, effect) == pytest.approx(found, abs=0.03)
    assert cmp.t_power(n, sd, 0.0) == pytest.approx(cmp.ALPHA, abs=1e-9)
    with pytest.raises(CourseError, match="difference other than 0"):
        cmp.pairs_needed(4.0, 0.0)


def test_the_runners_report_states_the_rule_and_one_sentence_per_pair_of_models():
    results = grid_results("a", 0) + grid_results("b", 4, seed=1) + grid_results("c", 0, seed=2)
    lines = cmp.paired_report_lines(results)
    assert cmp.RULE in lines[0]
    sentences = [line for line in lines if line.startswith("- ")]
    assert len(sentences) == 3 and sentences[0].startswith("- b − a")
    by = {(c.a, c.b): c for c in (cmp.paired_comparison(results, x, y)
                                  for x, y in (("b", "a"), ("c", "a"), ("c", "b")))}
    assert [s[2:] for s in sentences] == [c.sentence() for c in by.values()]
    assert cmp.paired_report_lines(grid_results("a", 0)) == []  # one model: nothing to pair


def test_speed_cost_pairs_the_trainers_on_their_shared_runs_and_times_those_runs():
    fast = grid_results("fast", 0, splits=5, seeds=2)
    slow = [r for r in grid_results("slow", 4, seed=1, splits=5, seeds=2) if r.job.split == 2]
    paired, text = cmp.speed_cost(fast + slow, "fast", "slow")
    assert paired.runs == [(2, 0), (2, 1)] and paired.n == 2
    assert text.startswith("On the 2 runs both trained, fast took 1.0 s per epoch and slow 1.0 s")
    assert paired.sentence() in text
    one = [r for r in slow if r.job.seed == 0]
    paired, text = cmp.speed_cost(fast + one, "fast", "slow")
    assert paired is None and "One pair cannot tell the trainers apart" in text
    assert "between its 10 runs" in text
    elsewhere = grid_results("slow", 0, splits=1, seeds=1)
    elsewhere[0].job = elsewhere[0].job.__class__("slow", "synthetic", "smoke", 0, 9)
    with pytest.raises(CourseError, match="share no finished"):
        cmp.speed_cost(fast + elsewhere, "fast", "slow")


def test_a_faithful_trainer_of_fewer_epochs_is_compared_at_its_last_epoch():
    fast = grid_results("fast", 0, splits=5, seeds=2)  # epochs 0-3
    slow = [Result(r.job.__class__("slow", "synthetic", "smoke", r.job.split, r.job.seed),
                   r.f_scores[:2] - 5.0) for r in fast if r.job.split == 2]  # epochs 0-1
    assert cmp.shared_epoch(fast + slow, "fast", "slow") == 1
    paired, text = cmp.speed_cost(fast + slow, "fast", "slow")
    assert paired.mean == pytest.approx(5.0) and "epoch 1, the last both trained" in paired.rule
    paired, text = cmp.speed_cost(fast + slow[:1], "fast", "slow")
    assert "F after epoch 1, the last epoch both trained, on split 2, seed 0" in text
    assert "(+5.0)" in text
    lines = cmp.paired_report_lines(fast + slow)
    assert any("slow − fast (epoch 1, the last both trained)" in line
               for line in lines)


def test_what_moves_f_nets_out_a_shift_that_moves_random_scores_alike():
    rows = [cmp.Sensitivity("a", 2.0, 1.0, 1.5, 4.0, {"protocol-like": -5.0}),
            cmp.Sensitivity("b", 4.0, 1.0, 2.5, 6.0, {"protocol-like": -5.0})]
    base = {"random": {"protocol": 40.0, "protocol-like": 35.0}}
    comparisons = [cmp.paired_comparison(grid_results("a", 0) + grid_results("b", 1, seed=1),
                                         "b", "a")]
    moves, gap, lines = cmp.what_moves_f(rows, base, {"a": 40.0, "b": 41.0}, comparisons)
    assert moves["the post-processing"] == pytest.approx(0.0)  # everything moved by -5 alike
    assert moves["the split"] == pytest.approx(5.0) and gap == pytest.approx(abs(
        comparisons[0].mean))
    assert "protocol-like: b > a  (the same order)" in lines
    assert any(line.startswith("the split") and "more than" in line for line in lines)
    assert any(line.startswith("the post-processing  moves a model's lead over random scores "
                               "by  0.0 points") for line in lines)  # net: says what it moved


def test_with_one_seed_per_split_the_seed_effect_is_not_measured_nor_said():
    """One seed per split (the laptop tier's grid): the seed column reads n/a, no sentence
    speaks of the seed, and the figure's legend says it was not measured."""
    rows = [cmp.Sensitivity("a", 2.0, 1.0, np.nan, 4.0, {"equal-length shots, knapsack": 1.0}),
            cmp.Sensitivity("b", 4.0, 1.0, np.nan, 6.0, {"equal-length shots, knapsack": 2.0})]
    base = {"random": {"protocol": 40.0, "equal-length shots, knapsack": 39.0}}
    comparisons = [cmp.paired_comparison(grid_results("a", 0) + grid_results("b", 1, seed=1),
                                         "b", "a")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice"
        moves, _, lines = cmp.what_moves_f(rows, base, {"a": 40.0, "b": 41.0}, comparisons)
    assert np.isnan(moves["the seed"]) and not any(line.startswith("the seed") for line in lines)
    assert "(1) equal-length shots, knapsack" in lines  # the whole name, not cut
    assert max(len(line) for line in lines[:3]) < 100  # the table does not wrap
    assert lines[1].split()[2] == "n/a"
    legend = [t.get_text() for t in sensitivity_plot(rows).axes[0].get_legend().get_texts()]
    assert "seed: not measured (one seed per split)" in legend


def test_the_runners_comparison_md_carries_the_paired_verdicts(tmp_path):
    from course_lib.experiments.report import _write_report

    results = grid_results("a", 0) + grid_results("b", 4, seed=1)
    _write_report(tmp_path, "synthetic", "smoke", ["a", "b"], results, [], {}, "",
                     list(range(5)), [0, 1, 2], tmp_path)
    table = (tmp_path / "comparison.md").read_text()
    assert cmp.RULE in table
    assert f"- {cmp.paired_comparison(results, 'b', 'a').sentence()}" in table


def test_a_difference_that_rounds_to_zero_is_printed_without_a_minus():
    assert f"{cmp.shown(-0.04):+.1f}" == "+0.0" and f"{cmp.shown(-0.06):+.1f}" == "-0.1"
