import dataclasses
import itertools

import numpy as np
import pytest
import torch

from benchmarks.sum_gan_sl_plain import (
    PlainSumGanSl,
    copy_parameters,
    plain_optimizers,
    plain_train_video,
)
from course_lib.config import sum_gan_sl_config, summarization_data_config
from course_lib.data.summarization import Split, make_splits
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.errors import CourseError
from course_lib.models import sum_gan_sl as sl

FEATURES, HIDDEN = 12, 6


def tiny_config(**changes):
    return dataclasses.replace(sum_gan_sl_config("paper", verbose=False), feature_dim=FEATURES,
                               hidden_size=HIDDEN, **changes)


def videos(lengths, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, FEATURES, generator=g, dtype=dtype) for n in lengths]


# ---------------------------------------------------------------- the model

def test_paper_size_parameter_count_part_by_part():
    model = sl.SumGanSl(1024, 500, 2)
    assert sl.part_sizes(model) == {
        "linear_compress": 512_500, "sLSTM": 10_017_001, "eLSTM (+ mu, variance)": 4_509_000,
        "dLSTM": 4_258_500, "discriminator": 4_008_501, "total": 23_305_502}


@pytest.mark.parametrize("lengths", [None, [4, 7]])
def test_fused_decoder_equals_a_loop_of_cells_values_and_gradients(lengths):
    decoder = sl.FeedbackDecoder(5, 3).double()
    lengths = None if lengths is None else torch.tensor(lengths)
    g = torch.Generator().manual_seed(1)
    h = torch.randn(3, 2, 5, generator=g, dtype=torch.float64, requires_grad=True)
    c = torch.randn(3, 2, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 7, 5, generator=g, dtype=torch.float64)
    results = []
    for run in (decoder.forward, decoder.loop):
        decoder.zero_grad()
        h.grad = c.grad = None
        emitted = run((h, c), 7, lengths)
        (emitted * weights).sum().backward()
        results.append([emitted, h.grad, c.grad, *(p.grad for p in decoder.parameters())])
    for fused, looped in zip(*results, strict=True):
        torch.testing.assert_close(fused, looped, rtol=1e-12, atol=1e-12)
    assert emitted.shape == (2, 7, 5) and emitted.abs().max() < 1  # top h, not out(top h)
    if lengths is not None:  # past a video's end: zeros, not computed
        assert (emitted[0, 4:] == 0).all() and (emitted[0, :4] != 0).all()


def test_bad_input_is_a_clear_error():
    model = sl.SumGanSl(FEATURES, HIDDEN)
    with pytest.raises(CourseError, match="too short"):
        model.prepare(torch.randn(1, FEATURES))
    with pytest.raises(CourseError, match="feature_dim=7"):
        model.prepare(torch.randn(5, 7))
    bad = torch.randn(5, FEATURES)
    bad[2, 3] = float("nan")
    with pytest.raises(CourseError, match="NaN"):
        model.prepare(bad)


# ---------------------------------------------------------------- faithful training

def faithful_parameters(config, lengths, seed=0, plain_clip_scope="all"):
    """Train the course's model and the plain reference from the same weights and noise."""
    model = sl.build_sum_gan_sl(config, seed=3).double()
    plain = PlainSumGanSl(FEATURES, HIDDEN).double()
    copy_parameters(model, plain)
    data = videos(lengths)
    optimizers = sl.make_optimizers(model, config)
    batches = sl.update_batches([str(i) for i in range(len(data))], config, seed)
    torch.manual_seed(seed)
    for _ in data:
        keys = next(batches)
        sl.train_step(model, optimizers, sl.make_batch(model, [data[int(keys[0])]]), config)
    reference = plain_optimizers(plain, config.learning_rate, config.discriminator_learning_rate)
    torch.manual_seed(seed)
    for video in data:
        plain_train_video(plain, reference, video, config.sigma, config.grad_clip,
                          plain_clip_scope)
    return model, plain


@torch.no_grad()
def max_relative_difference(model, plain):
    return max(float((a - b).abs().max() / b.abs().max())
               for a, b in zip(model.parameters(), plain.parameters(), strict=True))


# Clipping at 0.05 is active at this size, so its scope matters (a large rate makes the updates
# large enough that every option changes the result).
PARITY = dict(grad_clip=0.05, learning_rate=1e-2, discriminator_learning_rate=1e-3)
LENGTHS = [5, 9, 3, 7, 4, 6]


def test_faithful_trainer_makes_the_reference_updates():
    model, plain = faithful_parameters(tiny_config(**PARITY), LENGTHS)
    start = sl.build_sum_gan_sl(tiny_config(), seed=3).double()
    assert max_relative_difference(start, plain) > 1e-2  # training moved the weights
    assert max_relative_difference(model, plain) < 1e-6


@pytest.mark.parametrize("change", [dict(clip_scope="stepped"),
                                    dict(compress_optimizer="shared"),
                                    dict(discriminator_fakes="phase2_pass"),
                                    dict(training_order="shuffled")])
def test_each_quirk_option_changes_the_updates(change):
    model, plain = faithful_parameters(tiny_config(**PARITY, **change), LENGTHS)
    assert max_relative_difference(model, plain) > 1e-4


def test_stepped_clipping_forms_only_the_stepped_gradients_and_makes_the_same_updates():
    """With clip_scope="stepped" a phase freezes what it does not step (no gradient formed);
    the plain implementation forms every gradient and clips the stepped ones."""
    config = tiny_config(**PARITY, clip_scope="stepped")
    model, plain = faithful_parameters(config, LENGTHS, plain_clip_scope="stepped")
    assert max_relative_difference(model, plain) < 1e-6
    assert all(p.requires_grad for p in model.parameters())  # unfrozen after each phase


# ---------------------------------------------------------------- fast training (masked)

def test_a_padded_batch_gives_each_video_its_own_results():
    model = sl.build_sum_gan_sl(tiny_config(), seed=0).double()
    data = videos([5, 9, 3])
    batch = sl.make_batch(model, data)
    assert batch.lengths.tolist() == [5, 9, 3]
    x = model.compress(batch.features)
    scores = model.score(x, batch.lengths)
    _, (h, c) = sl.run_lstm_masked(model.encoder.lstm, x * scores.unsqueeze(-1), batch.lengths)
    emitted = model.decoder((h, c), x.shape[1], batch.lengths)
    decoded = sl.reverse_each(emitted, batch.lengths)
    phi, p = model.discriminate(decoded, batch.lengths)
    sparsity = sl.sparsity_loss(scores, 0.1, batch.lengths)
    alone_sparsity = []
    for i, video in enumerate(data):
        xi = model.compress(video.unsqueeze(0))
        si = model.score(xi)
        _, (hi, ci) = model.encoder(xi * si.unsqueeze(-1))
        di = model.decoder((hi, ci), len(video)).flip(1)
        phi_i, p_i = model.discriminate(di)
        n = len(video)
        torch.testing.assert_close(scores[i, :n], si[0])
        torch.testing.assert_close(h[:, i], hi[:, 0])
        torch.testing.assert_close(c[:, i], ci[:, 0])
        torch.testing.assert_close(decoded[i, :n], di[0])
        torch.testing.assert_close(phi[i], phi_i[0])
        torch.testing.assert_close(p[i], p_i[0])
        alone_sparsity.append(sl.sparsity_loss(si, 0.1))
    torch.testing.assert_close(sparsity, torch.stack(alone_sparsity).mean())


# ---------------------------------------------------------------- the fit function

@pytest.fixture(scope="module")
def smoke_data():
    data = make_synthetic_dataset(summarization_data_config("smoke"))
    return data, make_splits(data.keys(), rng=np.random.default_rng(0))


def smoke_fit(data, split, seed=7, **kwargs):
    config = sum_gan_sl_config("smoke", verbose=False)
    return sl.fit_sum_gan_sl(sl.build_sum_gan_sl(config, seed), config, data, split, seed=seed,
                             live=False, **kwargs)


def test_fit_evaluates_every_epoch_and_reloads_from_its_checkpoint(smoke_data, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    first = smoke_fit(data, splits[0])
    # 4 training videos, 2 per update: 2 updates per epoch, evaluated before and after each
    assert first.history.eval_steps == [0, 2, 4]
    assert {"reconstruction", "prior", "sparsity", "gan_generator", "discriminator",
            "p_original", "p_summary"} <= set(first.history.train)
    again = smoke_fit(data, splits[0], checkpoint=False)
    assert again.history.train == first.history.train
    loaded = smoke_fit(data, splits[0], seed=7)
    for a, b in zip(loaded.model.parameters(), first.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert set(first.selections()) == {"best test epoch (uses test labels)",
                                       "final epoch (label-free)",
                                       "lowest training loss (label-free)"}


def test_fit_rejects_a_split_naming_a_missing_video(smoke_data):
    data, splits = smoke_data
    split = Split(splits[0].train_keys + ("video_99",), splits[0].test_keys)
    with pytest.raises(CourseError, match="video_99.*split file"):
        smoke_fit(data, split, checkpoint=False)


def test_a_checkpoint_of_another_configuration_is_a_clear_error(smoke_data, tmp_path,
                                                                monkeypatch):
    from course_lib.errors import CheckpointError
    from course_lib.models.summarizer_training import run_settings
    from course_lib.training import checkpoint_path

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    run = smoke_fit(data, splits[0])
    files = list(tmp_path.glob("04-sum-gan-sl-*.pt"))
    assert len(files) == 1
    wider = dataclasses.replace(sum_gan_sl_config("smoke", verbose=False), hidden_size=5)
    settings = run_settings(wider, data, 7, splits[0].train_keys)
    files[0].rename(checkpoint_path("04-sum-gan-sl", settings))
    with pytest.raises(CheckpointError, match="another configuration"):
        sl.fit_sum_gan_sl(sl.build_sum_gan_sl(wider, 7), wider, data, splits[0], seed=7,
                          live=False)
    assert run.history.finished


def test_update_batches_orders_and_resumes():
    keys = [f"v{i}" for i in range(7)]
    lengths = dict(zip(keys, [9, 3, 7, 2, 8, 5, 4], strict=True))
    split = tiny_config(videos_per_update=3)
    assert list(itertools.islice(sl.update_batches(keys, split, 0), 4)) == [
        keys[0:3], keys[3:6], keys[6:], keys[0:3]]
    by_length = tiny_config(videos_per_update=3, training_order="by_length")
    epoch = list(itertools.islice(sl.update_batches(keys, by_length, 0, 0, lengths), 3))
    assert sorted(map(sorted, epoch)) == sorted(map(sorted, [["v3", "v1", "v6"],
                                                              ["v5", "v2", "v4"], ["v0"]]))
    for config in (split, by_length, tiny_config(training_order="shuffled")):
        stream = list(itertools.islice(sl.update_batches(keys, config, 5, 0, lengths), 12))
        resumed = list(itertools.islice(sl.update_batches(keys, config, 5, 7, lengths), 5))
        assert resumed == stream[7:]


def test_an_interrupted_fit_resumes_where_it_stopped(smoke_data, tmp_path, monkeypatch):
    import os
    import signal

    from course_lib import training

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    reference = smoke_fit(data, splits[0], checkpoint=False)
    real, calls = sl.train_step, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C during the second epoch's first update
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(sl, "train_step", interrupted)
        with pytest.raises(training.TrainingInterrupted):
            smoke_fit(data, splits[0])
    resumed = smoke_fit(data, splits[0])
    assert resumed.history.train == reference.history.train
    assert resumed.history.evals == reference.history.evals and resumed.history.finished
    for a, b in zip(resumed.model.parameters(), reference.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_the_family_interface_builds_and_scores_every_method(smoke_data):
    from course_lib.models.summarizer_training import family, score_videos

    data, splits = smoke_data
    methods = family()
    assert set(methods) == {"SUM-GAN", "SUM-GAN-sl", "SUM-GAN-AAE"}
    for method in methods.values():
        config = method.config("smoke", verbose=False)
        scores = score_videos(method.build(config, 0), data, splits[0].test_keys)
        assert {k: v.shape for k, v in scores.items()} == {
            k: (data[k].n_steps,) for k in splits[0].test_keys}
