"""What can be learned without labels (``course_lib.experiments.rarity``): finished runs judged
again by annotators of another taste, the label-free ceiling, and what the features show."""

import types
from pathlib import Path

import numpy as np
import pytest

from course_lib import comparison as cmp
from course_lib import evaluation as ev
from course_lib import experiments as ex
from course_lib.data.synthetic_videos import (
    rarity_scores,
    scene_of_step,
    synthetic_benchmark,
    what_features_show,
)
from course_lib.errors import CourseError
from course_lib.experiments.rarity import (
    CEILING,
    CEILING_UNTIED,
    NOVELTY,
    RECURRENCE,
    RECURRENCE_UNTIED,
    TIE_NOISE,
    baselines_by_split,
    draw_lines,
    rarity_figure,
    rarity_sweep,
    rescored,
    room_on_draws,
    sweep_lines,
    sweep_sentences,
    ties_broken,
)
from course_lib.experiments_cli import main

MODEL = "sum-gan-sl-fast"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    return out, [ex.run_job(ex.Job(MODEL, "synthetic", "smoke", 0, seed), out, progress=False)
                 for seed in (0, 1)]


def test_another_rarity_weight_changes_the_labels_only():
    (data, splits), (other, other_splits) = (synthetic_benchmark("smoke"),
                                             synthetic_benchmark("smoke", 1.0))
    assert [s.test_keys for s in splits] == [s.test_keys for s in other_splits]
    for key in data.keys():
        np.testing.assert_array_equal(data[key].features, other[key].features)
        np.testing.assert_array_equal(data[key].change_points, other[key].change_points)
    assert any(not np.array_equal(data[k].user_summary, other[k].user_summary)
               for k in data.keys())
    same, _ = synthetic_benchmark("smoke", 0.3)  # the data's own weight: the same labels
    assert all(np.array_equal(data[k].user_summary, same[k].user_summary) for k in data.keys())


def test_rarity_scores_are_one_over_the_scenes_showing_the_digit():
    data, _ = synthetic_benchmark("smoke")
    for key in data.keys():
        record = data[key]
        classes = record.extras["scene_params"][:, 0].astype(int)
        scene = scene_of_step(record)
        expected = [1 / np.sum(classes == classes[s]) for s in scene]
        np.testing.assert_allclose(rarity_scores(data, [key])[key], expected, rtol=1e-6)


def test_the_features_show_speed_far_more_than_the_digit():
    """The lecture's claim: a scene's nearest scene shares its speed far more often than
    chance, its digit hardly more, so the rarity of a digit is nearly invisible without
    labels."""
    data, _ = synthetic_benchmark("laptop")
    shown = what_features_show(data)
    (digit, digit_chance), (speed, speed_chance) = shown["digit"], shown["speed"]
    assert speed - speed_chance > 0.2
    assert digit - digit_chance < (speed - speed_chance) / 2


def test_a_formula_for_novelty_finds_little_of_the_rarity_these_features_hide():
    """The lecture's claim: scoring what is unlike the rest of the video, without labels or
    training, gains at most a few points over the best heuristic for annotators who value rarity
    alone, far below the ceiling: what the features show is speed, not the digit."""
    data, splits = synthetic_benchmark("laptop", 1.0)
    tables = [ev.baseline_table(data, split, rank=False, n_random_trials=3, extra={
        NOVELTY: ev.novelty_scores(data, split.test_keys),
        CEILING: rarity_scores(data, split.test_keys)}) for split in splits]
    mean = {name: np.mean([t[name].f_score for t in tables]) for name in tables[0]}
    best = max(mean[n] for n in ev.TRIVIAL_BASELINES)  # the sweep's best heuristic
    assert mean[NOVELTY] < best + 2, mean
    assert mean[NOVELTY] < mean[CEILING] - 15, mean


def shots_record(groups, steps, dim=64, seed=0):
    """A made-up video of shots, shot i showing group ``groups[i]`` for ``steps[i]`` steps
    (steps near that group's centre), in the benchmark's layout of frames, picks and shots."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:max(groups) + 1]
    features = np.concatenate([centres[g] + 0.05 * rng.normal(size=(n, dim))
                               for g, n in zip(groups, steps, strict=True)])
    starts = 15 * np.cumsum([0, *steps[:-1]])
    ends = 15 * np.cumsum(steps) - 1
    return types.SimpleNamespace(features=features.astype(np.float32),
                                 picks=15 * np.arange(len(features)),
                                 change_points=np.stack([starts, ends], 1))


def test_recurrence_counts_the_separate_times_a_video_shows_what_a_shot_shows():
    """1 / times: shots of a group shown three separate times score 1/3, twice 1/2, once 1;
    consecutive shots of one group are one time (KTS cuts a long scene into several shots,
    which novelty counts one by one). Each group fills 12 steps, so that centring the features
    on the video's mean leaves the groups equally far apart."""
    groups = [0, 1, 0, 2, 1, 0, 3, 3, 3]
    steps = [4, 6, 4, 12, 6, 4, 4, 4, 4]
    record = shots_record(groups, steps)
    shot = np.repeat(np.arange(len(groups)), steps)
    scores = ev.shot_recurrence(record)
    expected = np.array([1 / 3, 1 / 2, 1 / 3, 1, 1 / 2, 1 / 3, 1, 1, 1])
    np.testing.assert_allclose(scores, expected[shot], rtol=1e-6)
    novelty = ev.shot_novelty(record)
    assert novelty[shot == 6][0] < novelty[shot == 3][0]  # a scene cut in three looks common


def test_features_that_show_the_digit_make_its_rarity_countable():
    """synthetic-digits: the same videos and annotators' cuts as synthetic, features that show
    the digit. A scene's nearest other scene then shares its digit far more often, and counting
    scenes (recurrence) beats every heuristic for annotators who value rarity alone, where on
    the course's features it does not: the README's claim, on the laptop tier's 5 splits."""
    gain = {}
    for dataset in ("synthetic", "synthetic-digits"):
        data, splits = synthetic_benchmark("laptop", 1.0, dataset)
        digit, chance = what_features_show(data)["digit"]
        gain[dataset, "digit shown"] = digit - chance
        tables = [ev.baseline_table(data, split, rank=False, n_random_trials=3, extra={
            RECURRENCE: ev.recurrence_scores(data, split.test_keys)}) for split in splits]
        mean = {name: np.mean([t[name].f_score for t in tables]) for name in tables[0]}
        gain[dataset, "recurrence"] = mean[RECURRENCE] - max(mean[n]
                                                             for n in ev.TRIVIAL_BASELINES)
        if dataset == "synthetic":
            plain = data
    assert gain["synthetic-digits", "digit shown"] > 0.4 > gain["synthetic", "digit shown"]
    assert gain["synthetic-digits", "recurrence"] > 5 > 0 > gain["synthetic", "recurrence"]
    assert data.name == "synthetic-digits" and plain.name == "synthetic"
    for key in data.keys():
        np.testing.assert_array_equal(data[key].user_summary, plain[key].user_summary)
        assert not np.array_equal(data[key].features, plain[key].features)


def test_breaking_ties_orders_equal_scores_and_keeps_every_other_order():
    scores = {"v": np.array([0.5, 1.0, 1.0, 0.5, 1 / 3, 1.0], np.float32)}
    draws = ties_broken(scores)
    assert len({tuple(d["v"].tolist()) for d in draws}) == len(draws) > 1  # each its own draw
    for draw in draws:
        s = draw["v"]
        assert np.abs(s - scores["v"]).max() <= TIE_NOISE
        assert (s[[1, 2, 5]].min() > s[[0, 3]].max()) and s[[0, 3]].min() > s[4]
    first = {int(np.argmax(d["v"])) for d in draws}  # each of the three 1.0s comes first
    assert first == {1, 2, 5}


def test_breaking_ties_favours_neither_one_shot_nor_the_shots_its_score_adds_up_to():
    """One shot scored 1 against ten scored 1/10, either choice filling the budget: the knapsack
    values them alike, and broken ties take each in some draws (noise that only added took the
    ten in every draw)."""
    scores = {"v": np.array([1.0, *[0.1] * 10], np.float32)}
    chosen = {tuple(ev.knapsack(draw["v"].astype(np.float64), [10, *[1] * 10], 10))
              for draw in ties_broken(scores)}
    assert chosen == {(0,), tuple(range(1, 11))}


def test_the_recurrence_formula_keeps_its_lead_with_its_ties_broken():
    """The README's claim, on the laptop tier's 5 splits of synthetic-digits where annotators
    value rarity only: the formula's exact scores beat every heuristic by more than 10 points;
    with their ties broken at random they score lower and keep more than half of that lead."""
    data, splits = synthetic_benchmark("laptop", 1.0, "synthetic-digits")
    mean = {name: np.mean(list(f.values())) for name, f in
            baselines_by_split(data, splits, range(len(splits))).items()}
    best = max(mean[name] for name in ev.TRIVIAL_BASELINES)
    assert mean[RECURRENCE] - best > 10
    assert (mean[RECURRENCE] - best) / 2 < mean[RECURRENCE_UNTIED] - best < mean[RECURRENCE] - best


def test_what_the_formulas_exact_ties_gain_is_the_rarer_shot():
    """The README's explanation: raised to the power 1.01 (the same ranking, but one shot scored
    1 now outweighs three scored 1/3, which the knapsack valued alike), the formula's scores
    with their ties broken at random score about as much as its exact scores, and more than its
    plain scores with their ties broken."""
    data, splits = synthetic_benchmark("laptop", 1.0, "synthetic-digits")
    scores = ev.recurrence_scores(data, data.keys())

    def mean_f(draws):
        return np.mean([np.mean([ev.evaluate(data, d, split.test_keys).mean for split in splits])
                        for d in draws])

    exact, untied = mean_f([scores]), mean_f(ties_broken(scores))
    rarer_first = mean_f(ties_broken({k: v.astype(np.float64) ** 1.01
                                      for k, v in scores.items()}))
    assert rarer_first > untied + 3 and abs(rarer_first - exact) < 2


def test_the_ceiling_is_far_above_random_only_where_annotators_value_rarity():
    """The rarity of the digits (what a label-free learner could at best find) scores far above
    random for annotators who value rarity only, and gains little at the data's own weight."""
    gain = {}
    for weight in (0.3, 1.0):
        data, splits = synthetic_benchmark("laptop", weight)
        keys = splits[0].test_keys
        rng = np.random.default_rng(0)
        random = np.mean([ev.evaluate(data, ev.random_scores(data, keys, rng), keys).mean
                          for _ in range(10)])
        gain[weight] = ev.evaluate(data, rarity_scores(data, keys), keys).mean - random
    assert gain[1.0] > 10 and gain[1.0] > gain[0.3] + 5


def test_rescoring_at_the_datas_own_weight_reproduces_the_logged_run(runs):
    _, results = runs
    data, _ = synthetic_benchmark("smoke")
    for result in results:
        again = rescored(result, data)
        np.testing.assert_allclose(again.f_scores, result.f_scores)
        assert again.selections.keys() == result.selections.keys()
        for rule, (epoch, f) in result.selections.items():
            assert again.selections[rule][0] == epoch
            assert again.selections[rule][1] == pytest.approx(f)
        some = rescored(result, data, [0, int(result.epochs[-1])])
        assert np.isnan(some.f_scores[1:-1]).all() and cmp.BEST not in some.selections
        assert some.f_scores[-1] == pytest.approx(result.f_scores[-1])


def test_rescoring_with_other_annotators_changes_f_and_keeps_the_label_free_epochs(runs):
    _, results = runs
    other, _ = synthetic_benchmark("smoke", 1.0)
    changed = [rescored(r, other) for r in results]
    assert any(not np.allclose(a.f_scores, r.f_scores)
               for a, r in zip(changed, results, strict=True))
    for a, r in zip(changed, results, strict=True):
        assert a.selections[cmp.FINAL][0] == r.selections[cmp.FINAL][0]
        assert a.selections[cmp.BEST][1] == pytest.approx(np.max(a.f_scores[1:]))


def test_the_sweep_pairs_each_run_with_its_untrained_self_random_and_the_best_heuristic(runs):
    _, results = runs
    sweep = rarity_sweep(results, "smoke", (0.3, 1.0), n_resamples=200)
    assert [(r.weight, r.model) for r in sweep.rows] == [(0.3, MODEL), (1.0, MODEL)]
    own = sweep.rows[0]
    assert own.f == pytest.approx(np.mean([r.f_scores[-1] for r in results]))
    untrained = own.versus["untrained"]
    np.testing.assert_allclose(untrained.differences,
                               [r.f_scores[-1] - r.f_scores[0] for r in results])
    for weight in (0.3, 1.0):
        assert sweep.best_heuristic[weight] in ev.TRIVIAL_BASELINES
        best = sweep.baselines[weight][sweep.best_heuristic[weight]]
        assert all(sweep.baselines[weight][n] <= best for n in ev.TRIVIAL_BASELINES)
        assert CEILING in sweep.baselines[weight] and NOVELTY in sweep.baselines[weight]
    text = "\n".join(sweep_lines(sweep))
    assert "rarity weight 0.3" in text and "rarity weight 1" in text and MODEL in text
    assert "* above 0 and - below 0 by the decision rule" in text
    for row in sweep.rows:  # each comparison marked by its own verdict
        line = next(x for x in text.splitlines() if x.strip().startswith(row.model)
                    and f"{row.f:5.1f}" in x)
        p = row.versus["untrained"]
        mark = "*" if p.exceeds_noise and p.mean > 0 else "-" if p.exceeds_noise else " "
        assert f"{cmp.shown(p.interval[1]):+5.1f}]{mark}" in line


def test_the_sentences_say_what_each_paired_comparison_found_and_the_figure_draws_all(runs):
    _, results = runs
    sweep = rarity_sweep(results, "smoke", (0.0, 1.0), n_resamples=200)
    sentences = sweep_sentences(sweep)
    assert len(sentences) == 2
    for sentence, weight in zip(sentences, (0.0, 1.0), strict=True):
        (row,) = [r for r in sweep.rows if r.weight == weight]
        said = sentence.split(f"{row.model} ({row.f:.1f}): ")[1]
        for name, p in row.versus.items():
            name = "its untrained self" if name == "untrained" else name
            side = ("within the noise of" if not p.exceeds_noise
                    else "above" if p.mean > 0 else "below")
            clause = next(c for c in said.rstrip(".").split("; ") if name in c)
            assert clause.startswith(side), (clause, side)
        mean, low, _ = sweep.room[weight]  # one split: no interval
        assert np.isnan(low) and f"{mean:+.1f} (one split: no interval) over it" in sentence
        expected = ("value appeal only" if weight == 0 else "room that a summarizer"
                    if mean > 0 else "even knowing rarity does not beat that heuristic")
        assert expected in sentence
        assert "no summarizer without labels can beat" not in sentence  # a heuristic or an
        # untrained model can beat the ceiling by where it concentrates its summary
        found = (cmp.shown(sweep.baselines[weight][NOVELTY])  # as printed: the printed
                 - cmp.shown(sweep.baselines[weight][sweep.best_heuristic[weight]]))  # gap
        assert (f"look like it) scores {sweep.baselines[weight][NOVELTY]:.1f}, "
                f"{abs(found):.1f} points {'above' if found > 0 else 'below'}") in sentence
    lines = rarity_figure(sweep).axes[0].get_lines()
    assert len(lines) == 1 + 8  # the model; humans, ceiling, the two formulas, the ceiling
    # and recurrence with their ties broken, random, the best heuristic
    np.testing.assert_allclose(lines[0].get_ydata(), [r.f for r in sweep.rows])
    assert lines[0].get_color() == ex.model_color(MODEL)  # as in every figure of the runner


def test_each_model_keeps_one_colour_across_figures():
    known = [ex.model_color(m) for m in ex.MODELS]
    assert known == [f"C{i}" for i in range(len(known))]
    variant = ex.model_color(f"{MODEL}+dpp")
    assert variant not in known and variant == ex.model_color(f"{MODEL}+dpp")


def test_the_rarity_command_prints_the_sweep_and_refuses_bad_weights(runs, capsys):
    out, _ = runs
    assert main(["rarity", "--out", str(out), "--weights", "0,1"]) == 0
    printed = capsys.readouterr().out
    assert "rarity weight 0:" in printed and "rarity weight 1:" in printed
    for bad, said in (("2", "must lie in [0, 1]"), ("a,b", "--weights a,b")):
        assert main(["rarity", "--out", str(out), "--weights", bad]) == 1
        assert said in capsys.readouterr().err
    assert main(["rarity", "--out", str(out / "nothing"), "--tier", "smoke"]) == 1
    assert "results folder" in (err := capsys.readouterr().err) and "does not exist" in err
    (out / "empty").mkdir()
    assert main(["rarity", "--out", str(out / "empty"), "--tier", "smoke"]) == 1
    assert "No finished runs" in capsys.readouterr().err
    assert main(["rarity", "--out", str(out), "--weights", "0.3"]) == 0
    assert f"Runs of synthetic at the smoke tier in {out}." in capsys.readouterr().out


def test_the_sweep_judges_runs_on_the_data_they_were_trained_on(runs, tmp_path, capsys):
    """A run on synthetic-digits is judged on synthetic-digits' shots and baselines, never mixed
    with the course's synthetic runs; the sweep needs synthetic annotators."""
    out, results = runs
    job = ex.Job(MODEL, "synthetic-digits", "smoke", 0, 0)
    digits = ex.run_job(job, out, progress=False)
    assert digits.finished and digits.folder.parts[-4] == "synthetic-digits"
    every = ex.load_results(out)
    plain = rarity_sweep(every, "smoke", (1.0,), n_resamples=50)
    shown = rarity_sweep(every, "smoke", (1.0,), dataset="synthetic-digits", n_resamples=50)
    assert [r.model for r in shown.rows] == [MODEL] and shown.rows[0].versus == {}  # one run
    assert plain.rows[0].versus  # the two synthetic runs only: paired
    assert shown.baselines[1.0][RECURRENCE] != plain.baselines[1.0][RECURRENCE]
    with pytest.raises(CourseError, match="synthetic annotators"):
        rarity_sweep(every, "smoke", (1.0,), dataset="summe")
    assert main(["rarity", "--out", str(out), "--weights", "1", "--dataset",
                 "synthetic-digits"]) == 0
    printed = capsys.readouterr().out
    assert "one run: no paired comparison" in printed
    table = printed.split("Kendall τ of each model's final test scores")[1].splitlines()
    assert table[2].split()[0] == MODEL and len(table[2].split()) == 5  # what its scores follow


def test_the_sweeps_columns_stay_aligned_beside_a_long_model_name():
    """"sum-gan-aae-fast+recurrence+spread" ran past the model column and pushed its F under the
    τ of the other rows."""
    from course_lib.experiments.rarity import HUMAN, Sweep, SweepRow

    base = {CEILING: 50.0, CEILING_UNTIED: 48.0, NOVELTY: 40.0, RECURRENCE: 45.0,
            RECURRENCE_UNTIED: 41.0, HUMAN: 60.0, "random": 35.0,
            "motion": 41.0}
    models = ("sum-gan-aae-fast+recurrence+spread", "sum-gan-aae-fast")
    values = ("46.4", "37.9")
    sweep = Sweep({1.0: base}, {1.0: "motion"}, [SweepRow(1.0, m, float(f), 38.0, 0.1, {})
                                                 for m, f in zip(models, values, strict=True)],
                  {1.0: (7.0, 1.0, 13.0)})
    header, *rows = sweep_lines(sweep)[2:5]
    ends = {line.index(v) + len(v) for line, v in zip(rows, values, strict=True)}
    assert ends == {header.index(" F ") + 2}


def test_the_room_is_the_untied_ceiling_over_the_best_heuristic_paired_by_split(tmp_path):
    """Runs on two splits: the room is the t-interval of the per-split margins, and the
    sentence says whether it exceeds the splits' noise."""
    results = [ex.run_job(ex.Job(MODEL, "synthetic", "smoke", split, 0), tmp_path,
                          progress=False) for split in (0, 1)]
    sweep = rarity_sweep(results, "smoke", (1.0,), n_resamples=50)
    data, splits = synthetic_benchmark("smoke", 1.0)
    by_split = baselines_by_split(data, splits, [0, 1])
    margins = [by_split[CEILING_UNTIED][k] - by_split[sweep.best_heuristic[1.0]][k]
               for k in (0, 1)]
    mean, low, high = sweep.room[1.0]
    assert mean == pytest.approx(np.mean(margins))
    assert (low, high) == pytest.approx(cmp.t_interval(np.array(margins)))
    assert sweep_lines(sweep)[1] == (f"  {CEILING_UNTIED} − {sweep.best_heuristic[1.0]}: "
                                     f"{mean:+.1f} [{low:+.1f}, {high:+.1f}] paired by split "
                                     "(95 % t-interval)")


def test_the_room_on_each_draw_pairs_that_draws_ceiling_and_best_heuristic_by_split():
    """Draw 0 is the course's data; another draw is other videos, each judged on its 5 splits;
    a draw named twice is measured once."""
    rooms = room_on_draws("smoke", [0, 1, 1], [1.0])
    assert [r.seed for r in rooms] == [0, 1]
    for room in rooms:
        data, splits = synthetic_benchmark("smoke", 1.0, seed=room.seed)
        by_split = baselines_by_split(data, splits, range(5))
        means = {n: np.mean(list(by_split[n].values())) for n in ev.TRIVIAL_BASELINES}
        assert room.heuristics == pytest.approx(means)
        assert room.heuristic == max(means, key=means.get)
        margins = np.array([by_split[CEILING_UNTIED][k] - by_split[room.heuristic][k]
                            for k in range(5)])
        assert room.room[0] == pytest.approx(margins.mean())
        assert room.room[1:] == pytest.approx(cmp.t_interval(margins))
    course = synthetic_benchmark("smoke", 1.0)[0]
    first = course.keys()[0]
    assert np.array_equal(synthetic_benchmark("smoke", 1.0, seed=0)[0][first].features,
                          course[first].features)
    assert not np.array_equal(synthetic_benchmark("smoke", 1.0, seed=1)[0][first].features,
                              course[first].features)
    summary, leads = draw_lines(rooms)[-2:]
    above = sum(r.room[1] > 0 for r in rooms)
    assert summary.startswith(f"rarity weight 1, 2 draw(s): the room is above the splits' noise "
                              f"on {above}, below it on ")
    lead = np.mean([r.heuristics["ramp up to end"] - r.heuristics["random"] for r in rooms])
    assert f"ramp up to end {cmp.shown(lead):+.1f} [" in leads


def test_the_rarity_command_measures_the_room_on_other_draws_without_runs(capsys):
    assert main(["rarity", "--draws", "0", "--weights", "1", "--tier", "smoke"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("draw 0, rarity weight 1: ")
    for args, said in ((["rarity"], "give --out"), (["rarity", "--draws", "3-1"], "counts down"),
                       (["rarity", "--draws", "0", "--weights", "2"], "must lie in [0, 1]")):
        assert main(args) == 1
        assert said in capsys.readouterr().err


def test_the_room_at_the_datas_weight_belongs_to_the_courses_draw():
    """The README's claims, on twelve draws of the laptop data: at the data's weight the room
    exceeds the splits' noise on the course's draw and one other (10), on draw 4 the best
    heuristic beats even knowing rarity beyond it, no heuristic leads random beyond the noise
    of the draws, yet a draw's best one leads it by several points; at weight 1 the room is
    positive on every draw, beyond the noise on fewer than half."""
    rooms = room_on_draws("laptop", range(12), [0.3, 1.0])
    at = {w: [r for r in rooms if r.weight == w] for w in (0.3, 1.0)}
    assert {r.seed for r in at[0.3] if r.room[1] > 0} == {0, 10}
    assert at[0.3][4].room[2] < 0
    for name in ev.TRIVIAL_BASELINES[1:]:
        lead = np.array([r.heuristics[name] - r.heuristics["random"] for r in at[0.3]])
        assert cmp.t_interval(lead)[0] < 0
    assert np.mean([r.heuristics[r.heuristic] - r.heuristics["random"] for r in at[0.3]]) > 3
    assert all(r.room[0] > 0 for r in at[1.0])
    assert sum(r.room[1] > 0 for r in at[1.0]) < 6


@pytest.mark.parametrize(("room", "said"), [
    ((3.5, -0.2, 7.2), "within the noise of the splits: even a summarizer that found rarity "
                       "perfectly might not beat"),
    ((3.5, 2.0, 5.0), "room that a summarizer which found rarity could show"),
    ((-1.0, -3.0, 1.0), "even knowing rarity does not beat that heuristic")])
def test_the_sentence_says_whether_finding_rarity_would_beat_the_best_heuristic(room, said):
    from course_lib.experiments.rarity import HUMAN, Sweep

    base = {CEILING: 49.3, CEILING_UNTIED: 44.4, NOVELTY: 41.0, RECURRENCE: 30.0,
            RECURRENCE_UNTIED: 35.8, HUMAN: 55.8, "random": 37.5, "ramp up to end": 40.9}
    (sentence,) = sweep_sentences(Sweep({0.3: base}, {0.3: "ramp up to end"}, [], {0.3: room}))
    assert said in sentence
    assert f"{room[0]:+.1f} [{room[1]:+.1f}, {room[2]:+.1f}] paired by split" in sentence


def test_a_room_of_nothing_is_printed_without_a_negative_zero():
    from course_lib.experiments.rarity import DrawRoom

    room = DrawRoom(2, 1.0, 55.5, {"motion": 55.5, "random": 45.8}, "motion", (0.0, -1e-9, 1e-9))
    assert draw_lines([room])[0].endswith("room +0.0 [+0.0, +0.0] paired by split (95 % "
                                          "t-interval)")


@pytest.mark.parametrize("followed", ["appeal", "rarity"])
def test_what_scores_follow_finds_scores_that_are_exactly_one_thing(followed):
    """Runs (laptop tier, splits 0 and 1) whose final test scores are each step's appeal (or
    rarity) rank like it at τ = 1, and like each other thing less."""
    from course_lib.data.synthetic_videos import ANNOTATORS, scene_of_step
    from course_lib.experiments.rarity import FOLLOWED, what_scores_follow

    data, splits = synthetic_benchmark("laptop")

    def exactly(key):
        digit = data[key].extras["scene_params"][:, 0].astype(int)[scene_of_step(data[key])]
        return (np.asarray(ANNOTATORS.appeal)[digit] if followed == "appeal"
                else rarity_scores(data, [key])[key])

    class Scored(ex.JobResult):
        def test_scores(self, epoch):
            assert epoch == 20  # the final epoch's
            return {k: exactly(k) for k in splits[self.job.split].test_keys}

    runs = [Scored(ex.Job(MODEL, "synthetic", "laptop", k, 0), Path("."), True, 0,
                   np.arange(21), np.zeros(21), np.zeros(21)) for k in (0, 1)]
    follows = what_scores_follow(runs, "laptop")[MODEL]
    assert list(follows) == list(FOLLOWED)
    assert follows[followed] == pytest.approx(1.0)
    assert all(tau < 0.9 for name, tau in follows.items() if name != followed), follows
