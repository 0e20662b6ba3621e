import dataclasses

import matplotlib
import numpy as np
import pytest

from course_lib import evaluation as ev
from course_lib import summary_plots as sp
from course_lib.training import History, LivePlot, train

matplotlib.use("Agg")

SUM_GAN_KEYS = ("reconstruction", "prior", "sparsity", "gan_generator", "discriminator",
                "c_original", "c_summary", "c_random", "mean_score")


def sum_gan_history(epochs=3, videos=4, keys=SUM_GAN_KEYS):
    rng = np.random.default_rng(0)
    history = History()
    history.log("eval", 0, {"f_score": 30.0})
    for step in range(1, epochs * videos + 1):
        history.log("train", step, {k: float(rng.random()) for k in keys})
        if step % videos == 0:
            history.log("eval", step, {"f_score": 40.0 + step})
    return history


def test_sum_gan_panels_group_series_by_unit_with_labelled_axes():
    baselines = {"random": 38.0, "uniform": 41.0, "feature norm": 45.0, "human (LOO)": 60.0}
    fig = sp.sum_gan_panels(sum_gan_history(), 4, sigma=0.3, baselines=baselines)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.axison}
    assert len(panels) == 6
    for ax in panels.values():
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
        assert len(ax.get_lines()) <= 2 * 3 + len(baselines) + 1  # never nine series on one axis
    outputs = panels["discriminator outputs"]
    assert outputs.get_ylim()[0] >= -0.05 and outputs.get_ylim()[1] <= 1.05
    score = next(ax for title, ax in panels.items() if title.startswith("mean score"))
    assert any(np.allclose(line.get_ydata(), 0.3) for line in score.get_lines())
    f_ax = next(ax for title, ax in panels.items() if "F-score" in title)
    labels = f_ax.get_legend_handles_labels()[1]
    assert f_ax.get_ylabel() == "F-score (%)"
    assert all(any(label.startswith(name) for label in labels) for name in baselines)
    assert any(np.allclose(line.get_xdata(), [0, 1, 2, 3]) for line in f_ax.get_lines())


def test_the_score_panel_shows_whether_the_model_still_selects():
    history = sum_gan_history()
    spreads = [0.6, 0.3, 0.05, 0.0]  # epoch 0 (untrained) to epoch 3: the selector collapses
    history.evals["score_spread"] = spreads
    fig = sp.sum_gan_panels(history, 4, sigma=0.3)
    score = next(ax for ax in fig.axes if ax.get_title().startswith("mean score"))
    (line,) = [line for line in score.get_lines() if "spread" in line.get_label()]
    np.testing.assert_array_equal(line.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_array_equal(line.get_ydata(), spreads)
    assert score.get_ylim()[0] <= 0 and score.get_ylim()[1] >= 1  # on the scores' own 0-1 axis


def test_sum_gan_panels_draw_a_run_in_progress_and_other_histories():
    partial = sum_gan_history(epochs=1, videos=4, keys=("reconstruction", "mean_score"))
    fig = sp.sum_gan_panels(partial, 8, sigma=0.1)  # not one full epoch yet
    titles = [ax.get_title() for ax in fig.axes if ax.axison]
    assert len(titles) == 3 and "discriminator outputs" not in titles


def test_live_plot_and_train_draw_with_the_given_figure_function():
    import matplotlib.pyplot as plt

    seen = []

    def figure(history):
        seen.append(history.completed_steps)
        return plt.figure()

    history = sum_gan_history(epochs=1)
    LivePlot("t", plot=figure).update(history, force=True)
    assert seen == [history.completed_steps]
    train(lambda batch: {"loss": float(batch)}, range(3), 3, state={}, live=True, plot=figure)
    assert seen[-1] == 3


def test_versus_baselines_says_which_baselines_a_result_does_not_beat():
    baselines = {"random": 39.04, "uniform": 43.12, "human": 60.0}
    assert sp.versus_baselines("SUM-GAN", 41.0, baselines) == (
        "SUM-GAN (41.0) beats random (39.0); it does not beat uniform (43.1) or human (60.0).")
    assert "ties with uniform (43.1)" in sp.versus_baselines("SUM-GAN", 43.149, baselines)
    assert sp.versus_baselines("x", 70, baselines).endswith("uniform (43.1) and human (60.0).")


def test_versus_baselines_does_not_call_a_difference_within_the_noise_a_win():
    """A mean over seeds a hair above a baseline, with seeds that spread wider, has not beaten it;
    a difference larger than the spread still counts, and an unknown spread (NaN) changes
    nothing."""
    baselines = {"random": 39.04, "uniform": 43.12, "human": 60.0}
    assert sp.versus_baselines("SUM-GAN", 44.0, baselines, spread=2.5) == (
        "SUM-GAN (44.0) beats random (39.0); it is within one standard deviation over seeds "
        "(± 2.5) of uniform (43.1); it does not beat human (60.0).")
    assert "does not beat uniform" in sp.versus_baselines("m", 40.0, baselines, spread=2.5)
    assert "beats random (39.0) and uniform" in sp.versus_baselines("m", 46.0, baselines,
                                                                     spread=2.5)
    assert sp.versus_baselines("m", 44.0, baselines, spread=np.nan) == \
        sp.versus_baselines("m", 44.0, baselines)
    assert "(± 0.020) of" in sp.versus_baselines("τ", 0.01, {"random": 0.0}, fmt="+.3f",
                                                 spread=0.02)


def test_the_knapsack_uses_score_values_not_only_their_ranking():
    """Notebook 03's claims: same ranking, different summary; equal scores pack the most shots,
    and a constant added to every score changes the choice."""
    weights, capacity = [2, 1, 1], 2
    assert ev.knapsack([3, 2, 2], weights, capacity) == [1, 2]
    assert ev.knapsack([5, 2, 2], weights, capacity) == [0]
    lengths, budget = [6, 2, 2, 2], 6
    assert ev.knapsack([0.31, 0.3, 0.3, 0.3], lengths, budget) == [1, 2, 3]  # most shots
    shifted = np.array([0.31, 0.3, 0.3, 0.3]) - 0.299  # same ranking, same differences
    assert ev.knapsack(shifted, lengths, budget) == [0]


@pytest.mark.parametrize("value", [np.nan, 50.0])
def test_result_bars_show_every_baseline(value):
    ax = sp.result_bars({"model": value}, {"random": 40.0, "human": 60.0})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["model", "random", "human"]


def test_result_bars_draw_and_print_a_means_spread_where_given():
    """Notebook 04's means over seeds were drawn without the 6-point spread that made a
    0.1-point lead over a baseline no lead."""
    ax = sp.result_bars({"final epoch": 45.1, "single run": 44.0}, {"random": 45.0},
                        spreads={"final epoch": 6.1, "single run": np.nan})
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["45.1 ± 6.1", "44.0", "45.0"]
    bars = [c for c in ax.containers if getattr(c, "errorbar", None) is not None]
    widths = [seg[1][0] - seg[0][0] for c in bars
              for seg in c.errorbar.lines[2][0].get_segments()]
    assert widths == pytest.approx([12.2])


def test_live_plot_spends_at_most_a_fifth_of_the_time_drawing(monkeypatch):
    """On a clock the test controls (real timings made this test fail whenever the garbage
    collector ran during a draw): drawings that cost 0.05 s, one of 0.4 s among them, while
    training steps of 0.01 s go on for 10 s. Drawing keeps up (a figure every few tenths of a
    second) and takes at most a fifth of the time, plus the draw in progress at the end."""
    import types

    import matplotlib.pyplot as plt

    from course_lib import training

    now = [0.0]
    monkeypatch.setattr(training, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    costs = iter([0.05] * 5 + [0.4] + [0.05] * 1000)

    def slow_figure(history):
        now[0] += next(costs)
        return plt.figure()

    live, draws, history = LivePlot("t", period=0.0, plot=slow_figure), [], sum_gan_history(1)
    while now[0] < 10.0:
        before = live._last
        live.update(history)
        if live._last != before:
            draws.append(live._cost)
        now[0] += 0.01
    assert len(draws) >= 20
    assert sum(draws) <= 0.2 * now[0] + 0.4


def baseline_looks(ax, baselines):
    """Colour and dash pattern of each baseline's line in ``ax``, by baseline name."""
    looks = {}
    for line in ax.get_lines():
        name = line.get_label().rsplit(" (", 1)[0]
        if name in baselines:
            looks[name] = (line.get_color(), line.get_linestyle(), str(line._dash_pattern))
    return looks


def test_each_baseline_looks_the_same_in_every_figure_and_unlike_the_others():
    """Two baselines at nearly the same F-score must stay distinguishable, in every figure."""
    names = ["random", "uniform", "feature norm", "motion", "supervised (uses labels)",
             "human (leave-one-out)"]
    baselines = {name: 40.0 + 0.1 * i for i, name in enumerate(names)}

    panels = sp.sum_gan_panels(sum_gan_history(), 4, baselines=baselines)
    f_ax = next(ax for ax in panels.axes if "F-score" in ax.get_title())
    styles = baseline_looks(f_ax, baselines)
    assert set(styles) == set(names)
    assert len(set(styles.values())) == len(names)  # no two alike
    assert len({color for color, *_ in styles.values()}) == len(names)
    assert len({dashes for *_, dashes in styles.values()}) == len(names)  # in grey print too

    class Run:
        steps_per_epoch = 4
        history = sum_gan_history()

        def epoch_means(self, key):
            return np.ones(3)

    seeds = sp.seeds_plot({0: Run()}, baselines)
    assert baseline_looks(seeds.axes[0], baselines) == styles


def _score_history(record, flat_after=None, untrained_flat=False):
    """Scores [epochs, steps] of ``record`` over 6 epochs: selecting (one shot high) until
    ``flat_after``, then σ everywhere with a spike at the last step; with ``untrained_flat``,
    epoch 0 (untrained) is σ everywhere instead."""
    selecting = np.full(record.n_steps, 0.1)
    selecting[: record.n_steps // 5] = 0.9
    rows = []
    for epoch in range(6):
        if flat_after is not None and epoch > flat_after or untrained_flat and epoch == 0:
            row = np.full(record.n_steps, 0.3)
            row[-1] = 0.31
        else:
            row = selecting
        rows.append(row)
    return np.arange(6), np.array(rows)


def test_score_heatmap_draws_each_epoch_fixed_and_rescaled_with_the_spread(smoke_data):
    from course_lib.diagnostics import FLAT_SPREAD, score_spread

    data, splits = smoke_data
    record = data[splits[0].test_keys[0]]
    epochs, scores = _score_history(record, flat_after=2)
    fig = sp.score_heatmap(record, epochs, scores)
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 2
    fixed, rescaled = (np.asarray(im.get_array()) for im in images)
    np.testing.assert_allclose(fixed, scores)
    assert images[0].get_clim() == (0.0, 1.0)
    np.testing.assert_allclose(rescaled.min(axis=1), 0)
    np.testing.assert_allclose(rescaled.max(axis=1), 1)
    spread_ax = next(ax for ax in fig.axes if ax.get_xlabel() == "score spread")
    drawn = spread_ax.get_lines()[0]
    np.testing.assert_allclose(drawn.get_xdata(), [score_spread(r) for r in scores])
    assert any(np.allclose(line.get_xdata(), FLAT_SPREAD) for line in spread_ax.get_lines())
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("flat_after, untrained_flat, says", [
    (None, False, "still vary"), (2, True, "selected, then stopped"),
    (2, False, "training flattened the spread the untrained selector had"),
    (-1, False, "flat throughout")])
def test_score_history_sentences_follow_the_scores(smoke_data, flat_after, untrained_flat, says):
    """'Selected, then stopped' only where training widened the scores beyond the untrained
    selector's spread: scores that were never wider than untrained were not selected by
    training."""
    data, splits = smoke_data
    record = data[splits[0].test_keys[0]]
    epochs, scores = _score_history(record, flat_after, untrained_flat)
    if flat_after == -1:
        scores = scores * 0 + 0.3
        scores[:, -1] = 0.31
    first, second = sp.score_history_sentences(record.key, epochs, scores)
    assert says in first and first.startswith(f"{record.key}: score spread")
    assert ("last step" in second) == (flat_after is not None)
    assert f"{scores[-1].max():.3f}" in second


def test_a_spread_the_untrained_selector_had_is_not_called_selecting(smoke_data):
    """Untrained scores already above the flat line, widened by training, then flat: training
    did not create the selection, it widened one and lost it."""
    data, splits = smoke_data
    record = data[splits[0].test_keys[0]]
    epochs, scores = _score_history(record, flat_after=2)
    scores[0] = 0.3 + 0.1 * (scores[1] - 0.1) / 0.8  # the same order, a spread of 0.1
    first, _ = sp.score_history_sentences(record.key, epochs, scores)
    assert "widened the spread the untrained selector already had" in first
    assert "the selector selected" not in first


def test_the_sigma_sweep_draws_this_run_and_the_paper_on_the_same_f_span():
    measured = {"final epoch": {0.1: 30.0, 0.3: 41.7}}
    published = {"SumMe": {0.1: 48.2, 0.3: 47.6}}
    fig = sp.sigma_sweep_plot(measured, published, {"random": 39.7})
    ours, theirs = fig.axes[:2]
    assert np.diff(ours.get_ylim())[0] == pytest.approx(np.diff(theirs.get_ylim())[0])
    assert theirs.get_ylim()[0] < 47.6 and theirs.get_ylim()[1] > 48.2
    matplotlib.pyplot.close(fig)


def test_one_run_is_judged_video_by_video_against_each_baseline():
    """A single run beats a baseline only when the 95 % t-interval of its per-video differences
    from it lies above 0 (the course's one rule, as notebook 06's); its untrained row is its own
    epoch 0."""
    from types import SimpleNamespace

    from course_lib.config import summarization_data_config
    from course_lib.data.summarization import make_splits
    from course_lib.data.synthetic_videos import make_synthetic_dataset

    data = make_synthetic_dataset(summarization_data_config("laptop", verbose=False))
    split = make_splits(data.keys(), rng=np.random.default_rng(0))[0]
    keys = list(split.test_keys)
    untrained = ev.uniform_scores(data, keys)
    trained = {k: data[k].gtscore for k in keys}  # the annotators' own mean: far above most
    table = ev.baseline_table(data, split, rank=False, n_random_trials=3, extra={
        "untrained model": ev.random_scores(data, keys, np.random.default_rng(1)),
        "the same scores": trained})
    f = {e: ev.evaluate(data, s, keys) for e, s in ((0, untrained), (1, trained))}
    run = SimpleNamespace(
        scores_by_epoch=lambda k: (np.array([0, 1]), np.stack([untrained[k], trained[k]])),
        selections=lambda: {"final epoch": (1, f[1].mean)})
    (said,) = sp.one_run_verdicts("model", run, data, table, seed=3)
    assert sp.one_run_verdicts("model", run, data, table, seed=3, rules=["best"]) == []
    assert said.startswith(f"model, final epoch ({f[1].mean:.1f})")
    assert f"untrained model (seed 3) ({f[0].mean:.1f}" in said  # its own epoch 0
    assert "ties with the same scores" in said  # identical on every video: no noise, a tie
    groups = dict.fromkeys(("beats", "ties", "within", "does not beat"), "")
    for part in said.split("; it "):
        groups[next(g for g in groups if g in part)] = part
    for name, row in table.items():
        own = f[0].per_video if name == "untrained model" else row.per_video
        named = "untrained model (seed 3) (" if name == "untrained model" else f"{name} ("
        d = [f[1].per_video[k] - own[k] for k in keys]
        group = ("ties" if not any(d) else "within" if abs(np.mean(d)) <= ev.noise_halfwidth(d)
                 else "beats" if np.mean(d) > 0 else "does not beat")
        assert named in groups[group], (name, group, said)
    assert groups["within"]  # five test videos: gtscore itself is within the noise of most


def test_the_mean_over_seeds_is_judged_video_by_video_not_by_the_seeds_spread():
    """Notebook 04: three seeds whose best test epochs agree to ±0.1 "beat" a baseline 0.1
    below them when the seeds' spread is the noise; paired video by video, a gap smaller than
    the noise of the per-video differences is a tie, and the untrained row is the
    mean over the same seeds."""
    from types import SimpleNamespace

    from course_lib.config import summarization_data_config
    from course_lib.data.summarization import make_splits
    from course_lib.data.synthetic_videos import make_synthetic_dataset

    data = make_synthetic_dataset(summarization_data_config("laptop", verbose=False))
    split = make_splits(data.keys(), rng=np.random.default_rng(0))[0]
    keys = list(split.test_keys)
    rng = np.random.default_rng(5)
    untrained = [ev.random_scores(data, keys, rng) for _ in range(2)]
    trained = ev.random_scores(data, keys, rng)  # the same on both seeds: no spread at all
    f = ev.evaluate(data, trained, keys)
    runs = {seed: SimpleNamespace(
        scores_by_epoch=lambda k, u=u: (np.array([0, 1]), np.stack([u[k], trained[k]])),
        selections=lambda: {"final epoch": (1, f.mean)}) for seed, u in enumerate(untrained)}
    offsets = np.resize([3.0, -3.0], len(keys))  # far apart on each video,
    offsets[-1] -= offsets.sum() + 0.1 * len(keys)  # 0.1 below on average
    below = {k: v + o for (k, v), o in zip(f.per_video.items(), offsets, strict=True)}
    table = ev.baseline_table(data, split, rank=False, n_random_trials=3,
                              extra={"untrained model": untrained})
    table["a hair below"] = dataclasses.replace(table["random"], per_video=below,
                                                f_score=float(np.mean(list(below.values()))))
    assert f.mean - table["a hair below"].f_score == pytest.approx(0.1)
    # the seeds' spread (0: they agree exactly) as the noise calls it a win
    assert sp.versus_baselines("model", f.mean, {"a hair below": table["a hair below"].f_score},
                               spread=0.0).startswith(f"model ({f.mean:.1f}) beats a hair below")
    (said,) = sp.seeds_verdicts("model", runs, data, table)
    assert said.startswith(f"model, final epoch, mean over 2 seeds ({f.mean:.1f})")
    assert "a hair below (" in said.split("within the noise")[1]
    assert f"untrained model ({table['untrained model'].f_score:.1f}" in said


def test_one_runs_rank_correlation_is_judged_video_by_video_too():
    from course_lib.config import summarization_data_config
    from course_lib.data.summarization import make_splits
    from course_lib.data.synthetic_videos import make_synthetic_dataset

    data = make_synthetic_dataset(summarization_data_config("laptop", verbose=False))
    split = make_splits(data.keys(), rng=np.random.default_rng(0))[0]
    keys = list(split.test_keys)
    model = {k: data[k].gtscore for k in keys}
    own = ev.random_scores(data, keys, np.random.default_rng(2))
    table = ev.baseline_table(data, split, n_random_trials=3, extra={
        "untrained model": ev.uniform_scores(data, keys), "the same scores": model})
    assert table["random"].kendall_tau == pytest.approx(
        np.mean(list(table["random"].per_video_tau.values())))
    said = sp.one_run_tau_verdict("τ", data, model, table, own, seed=4)
    own_tau = ev.evaluate_rank_correlation(data, own, keys)["kendall_tau"]
    assert f"untrained model (seed 4) ({own_tau:+.3f})" in said  # this seed's, not the table's
    assert "ties with the same scores" in said
    assert said.split("; it ")[0].startswith("τ (") and "beats" in said.split("; it ")[0]


def test_a_figure_of_one_run_draws_that_seeds_own_untrained_model():
    """Beside one seed's F curve the "untrained" line is that seed's epoch 0, not the mean over
    seeds that the table of all seeds carries; the other baselines are unchanged."""
    from types import SimpleNamespace

    run = SimpleNamespace(history=SimpleNamespace(evals={"f_score": [44.5, 41.4]}))
    mean_over_seeds = {"random": 37.5, "untrained SUM-GAN": 39.9, "uniform": 30.9}
    assert sp.one_seed_baselines(mean_over_seeds, run, seed=0) == {
        "random": 37.5, "untrained SUM-GAN (seed 0)": 44.5, "uniform": 30.9}


def test_the_seeds_below_their_own_untrained_model_are_counted_per_rule():
    from types import SimpleNamespace

    def run(untrained, final):
        return SimpleNamespace(history=SimpleNamespace(evals={"f_score": [untrained, final]}),
                               selections=lambda: {"final epoch (label-free)": (1, final)})

    runs = {0: run(45.0, 40.0), 1: run(40.0, 42.0), 2: run(41.0, 41.0)}
    assert sp.below_own_untrained(runs, ["final epoch (label-free)"]) == (
        "Below the seed's own untrained model, by any margin: final epoch on 1 of 3 seeds "
        "(which way each run went, not a test: a single gap may lie within the noise).")


def test_a_best_test_epoch_is_set_beside_the_best_of_as_many_random_scorings():
    """Picking the maximum of noisy epochs by test F lifts F by itself: the best of 10 random
    scorings beats one on average, and the sentence says on which side of it a best epoch lies.
    (The laptop tier's videos: the smoke tier's have too few shots for random scores to vary.)"""
    from types import SimpleNamespace

    from course_lib.comparison import BEST
    from course_lib.data.synthetic_videos import synthetic_benchmark

    data, splits = synthetic_benchmark("laptop")
    keys = list(splits[0].test_keys)
    one = ev.best_of_random(data, keys, 1, np.random.default_rng(0), repeats=30)
    ten = ev.best_of_random(data, keys, 10, np.random.default_rng(0), repeats=30)
    assert ten > one

    def run(best):
        return SimpleNamespace(history=SimpleNamespace(evals={"f_score": [40.0] * 11}),
                               selections=lambda: {BEST: (3, best)})

    high, low = sp.best_epoch_versus_chance("M", run(99.0), data, keys), \
        sp.best_epoch_versus_chance("M", run(0.0), data, keys)
    assert "best of 10 draws" in high and ": above it" in high
    assert ": at or below it, picking by the test labels explains it" in low
