"""SUM-GAN-sl's updates and fit function, by which SUM-GAN-AAE trains too: every test runs for
both models. Faithful updates (parity with a plain reference), clear errors on bad input (each
naming the video and the fix), checkpoints, and an interrupt that keeps the last good update
and resumes exactly. What only one model has is in test_sum_gan_sl.py / test_sum_gan_aae.py."""

import dataclasses

import numpy as np
import pytest
import torch

from benchmarks.sum_gan_sl_plain import copy_parameters, plain_optimizers, plain_train_video
from course_lib import training
from course_lib.data.summarization import Split
from course_lib.errors import CheckpointError, CourseError
from course_lib.models import sum_gan_sl as sl
from course_lib.models.summarizer_training import (
    SumGanRun,
    cpu_settings,
    run_settings,
    score_videos,
)
from tests.summarizer_helpers import (
    FEATURES,
    PARITY,
    VARIANTS,
    faithful_parameters,
    interrupt_call,
    max_relative_difference,
    smoke_fit,
    tiny_config,
    videos,
)

pytestmark = pytest.mark.parametrize("variant", VARIANTS)

SELECTIONS = {"best test epoch (uses test labels)", "final epoch (label-free)",
              "lowest training loss (label-free)"}


def test_bad_input_is_a_clear_error(variant):
    model = variant.method.build(tiny_config(variant), 0)
    with pytest.raises(CourseError, match=f"too short for {variant.method.name}"):
        model.prepare(torch.randn(1, FEATURES))
    with pytest.raises(CourseError, match="feature_dim=7"):
        model.prepare(torch.randn(5, 7))
    bad = torch.randn(5, FEATURES)
    bad[2, 3] = float("nan")
    with pytest.raises(CourseError, match="NaN"):
        model.prepare(bad)


# ---------------------------------------------------------------- faithful training

def test_faithful_trainer_makes_the_reference_updates(variant):
    model, plain = faithful_parameters(variant, tiny_config(variant, **PARITY))
    start = variant.method.build(tiny_config(variant), seed=3).double()
    assert max_relative_difference(start, plain) > 1e-2  # training moved the weights
    assert max_relative_difference(model, plain) < variant.tolerance


@pytest.mark.parametrize("order", ["split", "reversed"])
def test_the_fit_the_notebooks_call_makes_the_reference_updates_epoch_after_epoch(
        variant, order, smoke_data):
    """The notebooks train through the fit function, with its evaluations, checkpoints, seeded
    generator and CPU settings between the updates: two epochs of it (float32, as it trains)
    end where the plain reference ends on the same videos in the split's order, from the same
    weights and noise. Trained in the reverse order, the reference ends elsewhere: the
    comparison can fail."""
    data, splits = smoke_data
    split = Split(splits[0].train_keys[:3], splits[0].test_keys[:1])
    config = dataclasses.replace(tiny_config(variant, **PARITY), epochs=2, cpu_threads=1,
                                 feature_dim=data[split.train_keys[0]].features.shape[1])
    seed = 3
    model = variant.method.build(config, seed)
    plain = variant.plain(config.feature_dim, config.hidden_size)
    copy_parameters(model, plain)
    run = variant.method.fit(model, config, data, split, seed=seed, checkpoint=False, live=False)
    optimizers = plain_optimizers(plain, config.learning_rate, config.discriminator_learning_rate)
    keys = list(split.train_keys)[::-1 if order == "reversed" else 1]
    torch.manual_seed(seed)  # the fit's generator: torch.Generator().manual_seed(seed)
    with cpu_settings(torch.device("cpu"), threads=1):  # flushing denormals, as the fit does
        for _ in range(config.epochs):
            for key in keys:
                plain_train_video(plain, optimizers, torch.from_numpy(data[key].features).float(),
                                  config.sigma, config.grad_clip)
    start = variant.method.build(config, seed)
    assert max_relative_difference(start, plain) > 0.1  # training moved the weights
    apart = max_relative_difference(run.model, plain)
    assert apart < 1e-3 if order == "split" else apart > 1e-2


@pytest.mark.parametrize("change", [dict(clip_scope="stepped"),
                                    dict(compress_optimizer="shared"),
                                    dict(discriminator_fakes="phase2_pass"),
                                    dict(training_order="shuffled")])
def test_each_quirk_option_changes_the_updates(variant, change):
    model, plain = faithful_parameters(variant, tiny_config(variant, **PARITY, **change))
    assert max_relative_difference(model, plain) > 1e-4


def test_stepped_clipping_makes_the_updates_of_the_plain_stepped_clipping(variant):
    """clip_scope="stepped" is what it says: the same updates as the plain implementation
    clipping only the parameters of the optimizer about to step."""
    config = tiny_config(variant, **PARITY, clip_scope="stepped")
    model, plain = faithful_parameters(variant, config, plain_clip_scope="stepped")
    assert max_relative_difference(model, plain) < variant.tolerance


def test_fast_trainer_updates_on_a_padded_batch(variant):
    config = tiny_config(variant, videos_per_update=3)
    model = variant.method.build(config, seed=0).double()
    before = [p.detach().clone() for p in model.parameters()]
    logged = sl.train_step(model, sl.make_optimizers(model, config),
                           sl.make_batch(model, videos([5, 9, 3])), config)
    assert ("prior" in logged) == variant.logs_prior
    assert all(torch.isfinite(torch.tensor(v)) for v in logged.values())
    assert all((a != b).any() for a, b in zip(before, model.parameters(), strict=True))


def test_the_fast_trainer_logs_the_mean_of_each_videos_own_values(variant):
    """Everything a padded batch logs (and the panels plot) is the mean over its videos of what
    each video alone gives: the padded steps, whose scores are not zero (the selector's bias
    gives them about 0.47), count nowhere."""
    config = tiny_config(variant, videos_per_update=3)
    model = variant.method.build(config, seed=0).double()
    seen = {"score": [], "discriminate_both": []}
    real_score, real_both = model.score, model.discriminate_both

    def alone(function, name, *tensors, lengths):
        """``function`` on each video of the batch alone, cut to its length (recorded)."""
        with torch.no_grad():
            seen[name].append([function(*(t[i:i + 1, :n] for t in tensors))
                               for i, n in enumerate(lengths.tolist())])

    def score(x, lengths=None):
        alone(real_score, "score", x, lengths=lengths)
        return real_score(x, lengths)

    def discriminate_both(original, summary, lengths=None, pooling="last"):
        alone(real_both, "discriminate_both", original, summary, lengths=lengths)
        return real_both(original, summary, lengths, pooling)

    model.score, model.discriminate_both = score, discriminate_both
    logged = sl.train_step(model, sl.make_optimizers(model, config),
                           sl.make_batch(model, videos([5, 9, 3])), config)
    means = torch.stack([s.mean() for s in seen["score"][0]])
    phase1, phase2, phase3 = seen["discriminate_both"]
    p_original = torch.stack([p_x for _, (p_x, _) in phase3])
    p_summary = torch.stack([p_hat for _, (_, p_hat) in phase3])
    expected = {
        "mean_score": means.mean(), "sparsity": (means - config.sigma).abs().mean(),
        "reconstruction": torch.stack([(a - b).norm() for (a, b), _ in phase1]).mean(),
        "gan_generator": torch.stack([(p_hat - 1) ** 2 for _, (_, p_hat) in phase2]).mean(),
        "p_original": p_original.mean(), "p_summary": p_summary.mean(),
        "discriminator": ((p_original - 1) ** 2).mean() + (p_summary ** 2).mean()}
    for key, value in expected.items():
        assert logged[key] == pytest.approx(value.item(), rel=1e-9, abs=1e-12), key


# ---------------------------------------------------------------- the fit function

def test_fit_evaluates_every_epoch_and_reloads_from_its_checkpoint(variant, smoke_data, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    first = smoke_fit(variant, data, splits[0])
    assert [f.name.startswith(f"{variant.checkpoint}-smoke-") for f in tmp_path.glob("*.pt")
            ] == [True]
    # 4 training videos, 2 per update: 2 updates per epoch, evaluated before and after each
    assert first.history.eval_steps == [0, 2, 4]
    assert {"reconstruction", "sparsity", "gan_generator", "discriminator", "p_original",
            "p_summary"} <= set(first.history.train)
    assert ("prior" in first.history.train) == variant.logs_prior
    again = smoke_fit(variant, data, splits[0], checkpoint=False)
    assert again.history.train == first.history.train
    loaded = smoke_fit(variant, data, splits[0])
    for a, b in zip(loaded.model.parameters(), first.model.parameters(), strict=True):
        assert torch.equal(a, b)
    # the label-free selection sums the terms the model logs (with or without a prior)
    assert set(first.selections()) == SELECTIONS


def test_bfloat16_products_train_as_float32_does_under_their_own_checkpoint(
        variant, smoke_data, tmp_path, monkeypatch):
    """``matmul_dtype="bfloat16"``: the fast trainer's recurrences multiply in bfloat16, so the
    losses differ from float32's but stay close, and the run keeps its own checkpoint; an
    unknown precision is refused by name."""
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    config = variant.method.config("smoke", verbose=False)
    assert config.videos_per_update > 1 and config.matmul_dtype == "float32"
    exact = smoke_fit(variant, data, splits[0], config)
    low = smoke_fit(variant, data, splits[0], dataclasses.replace(config,
                                                                  matmul_dtype="bfloat16"))
    assert len(list(tmp_path.glob("*.pt"))) == 2
    for term in ("reconstruction", "discriminator"):
        a, b = np.array(low.history.train[term]), np.array(exact.history.train[term])
        assert not np.array_equal(a, b) and np.allclose(a, b, rtol=0.05), term
    with pytest.raises(CourseError, match="matmul_dtype must be 'float32' or 'bfloat16', got "
                                          "'bf16'"):
        smoke_fit(variant, data, splits[0], dataclasses.replace(config, matmul_dtype="bf16"))


def with_features(data, key, features):
    """The dataset with other features for one video."""
    record = dataclasses.replace(data[key], features=features)
    return dataclasses.replace(data, videos={**data.videos, key: record})


@pytest.mark.parametrize("role", ["train", "test"])
@pytest.mark.parametrize(("make", "message"), [
    pytest.param(lambda f: f[:1], r"1 step\(s\) is too short for {model}.*leave it out",
                 id="one step"),
    pytest.param(lambda f: f[:, :7], "build it with feature_dim=7", id="wrong width"),
    pytest.param(lambda f: np.where(np.arange(len(f))[:, None] == 1, np.nan, f).astype(f.dtype),
                 "NaN.*before training", id="NaN"),
])
def test_a_bad_video_is_a_clear_error_naming_it(variant, smoke_data, role, make, message):
    data, splits = smoke_data
    split = splits[0]
    key = (split.train_keys if role == "train" else split.test_keys)[0]
    bad = with_features(data, key, make(np.asarray(data[key].features)))
    with pytest.raises(CourseError, match=rf"\b{key}\b.*" + message.format(
            model=variant.method.name)):
        smoke_fit(variant, bad, split, checkpoint=False)


def test_a_split_naming_a_missing_video_says_which_and_what_to_do(variant, smoke_data):
    data, splits = smoke_data
    split = Split(splits[0].train_keys + ("video_99",), splits[0].test_keys)
    with pytest.raises(CourseError, match=r"video_99.*split file.*make_splits"):
        smoke_fit(variant, data, split, checkpoint=False)


@pytest.mark.parametrize("part", ["train", "both"])
def test_a_split_listing_a_video_twice_is_refused(variant, smoke_data, part):
    """A Split built in code with a repeated training key would train that video twice per
    epoch (the reference does); one in both parts would be evaluated on its training data."""
    data, splits = smoke_data
    train, test = splits[0]
    split = (Split(train + train[:1], test) if part == "train"
             else Split(train, test + train[:1]))
    message = (rf"\['{train[0]}'\] more than once in 'train_keys'.*train twice per epoch"
               if part == "train" else rf"trains on its test videos \['{train[0]}'\]")
    with pytest.raises(CourseError, match=message):
        smoke_fit(variant, data, split, checkpoint=False)


def test_a_checkpoint_of_another_configuration_is_a_clear_error(variant, smoke_data, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    run = smoke_fit(variant, data, splits[0])
    files = list(tmp_path.glob(f"{variant.checkpoint}-*.pt"))
    assert len(files) == 1
    wider = dataclasses.replace(variant.method.config("smoke", verbose=False), hidden_size=5)
    files[0].rename(training.checkpoint_path(
        variant.checkpoint, run_settings(wider, data, 7, splits[0].train_keys)))
    with pytest.raises(CheckpointError, match="another configuration"):
        smoke_fit(variant, data, splits[0], wider)
    assert run.history.finished


def test_an_interrupted_fit_keeps_the_last_update_and_resumes_exactly(variant, smoke_data,
                                                                      tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    reference = smoke_fit(variant, data, splits[0], checkpoint=False)
    with monkeypatch.context() as patch:  # Ctrl-C during the second epoch's first update
        patch.setattr(sl, "train_step", interrupt_call(sl.train_step, 3))
        with pytest.raises(training.TrainingInterrupted, match="after step 3"):
            smoke_fit(variant, data, splits[0])
    resumed = smoke_fit(variant, data, splits[0])
    assert resumed.history.train == reference.history.train
    assert resumed.history.evals == reference.history.evals and resumed.history.finished
    assert resumed.history.eval_arrays == reference.history.eval_arrays
    for a, b in zip(resumed.model.parameters(), reference.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert set(resumed.selections()) == SELECTIONS


def test_a_run_keeps_each_test_videos_scores_at_every_epoch_also_when_loaded(
        variant, smoke_data, tmp_path, monkeypatch):
    """The history holds the scores each evaluation saw: the untrained model's at epoch 0, the
    final model's at the end, and a run loaded from its finished checkpoint has the same; a
    history without them (an older checkpoint) says how to get them."""
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    config = variant.method.config("smoke", verbose=False)
    untrained = variant.method.build(config, 7)
    run = smoke_fit(variant, data, splits[0])
    key = splits[0].test_keys[-1]
    epochs, scores = run.scores_by_epoch(key)
    assert epochs.tolist() == list(range(config.epochs + 1))
    assert scores.shape == (config.epochs + 1, data[key].n_steps)
    for row, model in ((0, untrained), (-1, run.model)):
        np.testing.assert_allclose(scores[row], score_videos(model, data, [key])[key],
                                   rtol=0, atol=1e-6)
    assert not np.allclose(scores[0], scores[-1])  # training moved them
    loaded = smoke_fit(variant, data, splits[0])
    np.testing.assert_array_equal(loaded.scores_by_epoch(key)[1], scores)
    with pytest.raises(CourseError, match="kept those of .*: use a test video"):
        run.scores_by_epoch(splits[0].train_keys[0])
    old = SumGanRun(run.model, dataclasses.replace(run.history, eval_arrays={}), 2, 7)
    with pytest.raises(CourseError, match="written before the course kept them.*Move the "
                                          "checkpoint away"):
        old.scores_by_epoch(key)


def test_selections_of_a_run_interrupted_in_its_first_epoch_say_so(variant, smoke_data):
    """The history a first-epoch interrupt leaves has only the untrained evaluation: selecting
    among trained epochs was a raw numpy error."""
    data, splits = smoke_data
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sl, "train_step", interrupt_call(sl.train_step, 1))
        with pytest.raises(training.TrainingInterrupted) as stopped:
            smoke_fit(variant, data, splits[0], checkpoint=False)
    run = SumGanRun(None, stopped.value.history, 2, 7)
    with pytest.raises(CourseError, match=r"no evaluated epoch of training yet \(1 of 2 updates "
                                          r"of epoch 1 done.*interrupted in its first epoch\. "
                                          "Run the fit again"):
        run.selections()


def test_an_interrupt_in_an_epochs_evaluation_is_evaluated_on_resume(variant, smoke_data,
                                                                     tmp_path, monkeypatch):
    """A KeyboardInterrupt raised inside epoch 1's evaluation leaves that epoch's update saved
    without its F-score; the resumed run must evaluate it, not skip to epoch 2."""
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    reference = smoke_fit(variant, data, splits[0], checkpoint=False)
    def raise_interrupt():
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # in the evaluation after the first epoch
        patch.setattr(sl, "evaluate_model", interrupt_call(sl.evaluate_model, 2,
                                                           raise_interrupt))
        with pytest.raises(training.TrainingInterrupted, match="after step 2"):
            smoke_fit(variant, data, splits[0])
    resumed = smoke_fit(variant, data, splits[0])
    assert resumed.history.eval_steps == reference.history.eval_steps == [0, 2, 4]
    assert resumed.history.evals == reference.history.evals and resumed.history.finished
    assert resumed.selections() == reference.selections()
