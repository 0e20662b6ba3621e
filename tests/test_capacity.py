"""What the selector can learn when told (``course_lib.experiments.capacity``): the family's
selector and a per-step ridge fitted directly to a target, judged by what their test scores
follow."""

import numpy as np
import pytest
from scipy.stats import kendalltau

from course_lib.data.synthetic_videos import rarity_scores, synthetic_benchmark
from course_lib.errors import CourseError
from course_lib.experiments import capacity, rarity


@pytest.fixture(scope="module")
def laptop():
    return synthetic_benchmark("laptop", dataset="synthetic-digits")


def test_an_unknown_target_is_named_with_the_choices(laptop):
    data, _ = laptop
    with pytest.raises(CourseError, match="rarity \\(uses labels\\), recurrence formula"):
        capacity.target_values(data, next(iter(data.keys())), "appeal")


def test_the_ridge_learns_what_each_step_shows_alone(laptop, monkeypatch):
    """A target that is a fixed function of each step's features (a random projection of them)
    is what a per-step learner can fit: τ near 1 on the training videos."""
    data, splits = laptop
    keys = list(splits[0].train_keys)
    direction = np.random.default_rng(0).standard_normal(data[keys[0]].features.shape[1])
    monkeypatch.setattr(capacity, "target_values", lambda d, k, t: d[k].features @ direction)
    predict = capacity.fit_ridge(data, keys, capacity.TARGETS[1])
    taus = [kendalltau(predict(data[k].features), data[k].features @ direction).statistic
            for k in keys]
    assert np.mean(taus) > 0.9, taus
    # its intercept is the target's mean, not shrunk with the weights
    predicted = np.concatenate([predict(data[k].features) for k in keys])
    wanted = np.concatenate([data[k].features @ direction for k in keys])
    assert predicted.mean() == pytest.approx(wanted.mean(), rel=1e-4, abs=1e-4)


def test_the_selector_fits_what_it_is_told_on_its_training_videos():
    """Told the recurrence formula (smoke tier), the selector's τ with it on its training videos
    rises from its first epoch to its last: the fit does fit."""
    data, splits = synthetic_benchmark("smoke", dataset="synthetic-digits")
    keys = list(splits[0].train_keys)
    target = capacity.TARGETS[1]
    taus = {epoch: np.mean([kendalltau(predict(data[k].features),
                                       capacity.target_values(data, k, target)).statistic
                            for k in keys])
            for epoch, predict in capacity.fit_selector(data, keys, target, "smoke", 0, (1, 60))}
    assert taus[60] > taus[1] + 0.2 and taus[60] > 0.5, taus


def test_each_epoch_mark_predicts_as_the_model_was_then():
    """What the fit yields at an epoch keeps predicting as the model was at that epoch, even
    when the fit has gone on (collected in a list, as a user might)."""
    data, splits = synthetic_benchmark("smoke", dataset="synthetic-digits")
    keys = list(splits[0].train_keys)
    marks = list(capacity.fit_selector(data, keys, capacity.TARGETS[0], "smoke", 0, (1, 5)))
    features = data[keys[0]].features
    assert not np.allclose(marks[0][1](features), marks[1][1](features))


@pytest.mark.parametrize("arguments, named", [
    (dict(splits=[]), "distinct splits"), (dict(splits=[0, 0]), "distinct splits"),
    (dict(splits=[9]), "distinct splits"), (dict(splits=[-1]), "distinct splits"),
    (dict(splits=[0], epochs=()), "epochs"), (dict(splits=[0], epochs=(0,)), "epochs"),
    (dict(splits=[0], weights=()), "rarity weights"),
    (dict(splits=[0], weights=(1.5,)), "rarity weights")])
def test_bad_splits_epochs_or_weights_are_named(arguments, named):
    with pytest.raises(CourseError, match=named):
        capacity.told_study("smoke", "synthetic-digits", **arguments)


def test_the_table_averages_each_learner_over_the_splits():
    follows = dict.fromkeys(rarity.FOLLOWED, 0.0)
    rows = [capacity.Told("selector", capacity.TARGETS[0], 10, k, fit, follows | {"rarity": tau},
                          {0.3: f, 1.0: f + 10})
            for k, fit, tau, f in ((0, 0.2, 0.1, 40.0), (1, 0.4, 0.3, 50.0))]
    baselines = {w: {name: 1.0 for name in ("random", *rarity.ev.TRIVIAL_BASELINES,
                                             rarity.RECURRENCE, rarity.CEILING,
                                             rarity.RECURRENCE_UNTIED, rarity.CEILING_UNTIED)}
                 for w in (0.3, 1.0)}
    lines = capacity.told_lines(rows, baselines)
    assert "(mean over 2 split(s))" in lines[0]
    row = lines[2].split()
    assert lines[2].startswith("  selector (10 epochs), rarity (uses labels)")
    assert row[-7:] == ["+0.300", "+0.000", "+0.000", "+0.000", "+0.200", "45.0", "55.0"]


def test_a_learner_that_outputs_the_rarity_is_judged_so(laptop):
    """Judged on split 0, a predictor whose scores are each step's true rarity ranks like the
    rarity at τ = 1, fits the rarity target at τ = 1, and scores the ceiling's F at every
    weight."""
    data, splits = laptop
    by_weight = {w: synthetic_benchmark("laptop", w, "synthetic-digits")[0] for w in (0.3, 1.0)}
    truth = {data[k].features.tobytes(): rarity_scores(data, [k])[k] for k in data.keys()}
    told = capacity.judge("oracle", capacity.TARGETS[0], 0, 0, splits[0],
                          lambda features: truth[features.tobytes()], by_weight,
                          rarity.digit_prior(data, splits[0].train_keys))
    assert told.follows["rarity"] == pytest.approx(1.0)
    assert told.fit_tau == pytest.approx(1.0)
    for w, d in by_weight.items():
        ceiling = rarity.baselines_by_split(d, splits, [0])[rarity.CEILING][0]
        assert told.f[w] == pytest.approx(ceiling)


def test_the_study_prints_every_learner_and_target_beside_the_baselines():
    rows, baselines = capacity.told_study("smoke", "synthetic-digits", [0], epochs=(1, 2))
    assert {(r.learner, r.target, r.epochs) for r in rows} == {
        (learner, target, epochs) for target in capacity.TARGETS
        for learner, epochs in (("per-step ridge", 0), ("selector", 1), ("selector", 2),
                                ("selector reading the count", 1),
                                ("selector reading the count", 2))}
    lines = capacity.told_lines(rows, baselines)
    assert sum("per-step ridge" in line for line in lines) == 2
    assert sum(line.startswith("  selector (2 epochs)") for line in lines) == 2
    assert sum(line.startswith("  selector reading the count (2 epochs)") for line in lines) == 2
    assert len({len(line) for line in lines[2:-len(baselines)]}) == 1  # the columns line up
    assert [line.split(":")[0] for line in lines[-2:]] == [
        "  baselines at rarity weight 0.3", "  baselines at rarity weight 1"]


def test_the_script_prints_the_study_for_the_dataset_asked_for(capsys):
    import selector_capacity  # benchmarks/ is on pytest's path (pyproject.toml)

    selector_capacity.main(["--tier", "smoke", "--dataset", "synthetic", "--splits", "0",
                            "--epochs", "1"])
    out = capsys.readouterr().out
    assert out.startswith("synthetic, smoke tier, seed 0\n")
    assert "selector (1 epoch), rarity (uses labels)" in out
    assert "baselines at rarity weight 1:" in out


def test_told_the_answer_the_selector_carries_a_digit_prior_not_a_count():
    """The README's claim, on split 0 after 10 epochs (laptop tier, features that show the
    digit): told the true rarity or the recurrence formula, the selector's test scores rank more
    like the digits' prior over the training videos than like the formula on the test video,
    and under annotators who value rarity only it stays far under the ceiling."""
    rows, baselines = capacity.told_study("laptop", "synthetic-digits", [0], epochs=(10,),
                                          weights=(1.0,))
    told = [r for r in rows if r.learner == "selector"]
    assert len(told) == 2
    for row in told:
        assert row.follows["digit prior of training"] > row.follows["recurrence in the video"] + 0.1
        assert row.f[1.0] < baselines[1.0][rarity.CEILING] - 10


@pytest.mark.parametrize("arguments, named", [
    (["--splits", "7"], "distinct splits"), (["--videos", "3"], "at least 5 videos"),
    (["--epochs", "x"], "whole numbers")])
def test_the_script_names_a_bad_argument_without_a_traceback(arguments, named, capsys):
    import selector_capacity

    with pytest.raises(SystemExit) as stopped:
        selector_capacity.main(["--tier", "smoke", *arguments])
    assert stopped.value.code == 2
    assert named in capsys.readouterr().err
