"""Bad input to SUM-GAN-AAE's training (notebook 05): each case a clear error that names the fix,
an interrupt that keeps the last good update and resumes exactly, and an attention too large for
memory refused before it is allocated."""

import dataclasses
import os
import signal

import numpy as np
import pytest
import torch

from course_lib import training
from course_lib.config import sum_gan_aae_config, summarization_data_config
from course_lib.data.summarization import Split, make_splits
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.errors import CheckpointError, CourseError
from course_lib.models import sum_gan_aae as aae
from course_lib.models import sum_gan_sl as sl
from course_lib.models.summarizer_training import run_settings
from course_lib.training import checkpoint_path


@pytest.fixture(scope="module")
def smoke_data():
    data = make_synthetic_dataset(summarization_data_config("smoke", verbose=False))
    return data, make_splits(data.keys(), rng=np.random.default_rng(0))


def fit(data, split, config=None, seed=7, **kwargs):
    config = config or sum_gan_aae_config("smoke", verbose=False)
    return aae.fit_sum_gan_aae(aae.build_sum_gan_aae(config, seed), config, data, split,
                               seed=seed, live=False, **kwargs)


def edited(data, key, features):
    """The dataset with other features for one video."""
    record = dataclasses.replace(data[key], features=features)
    return dataclasses.replace(data, videos={**data.videos, key: record})


@pytest.mark.parametrize(("make_features", "message"), [
    (lambda f: f[:1], r"video_\d+.*1 step\(s\) is too short for SUM-GAN-AAE.*leave it out"),
    (lambda f: f[:, :7], r"video_\d+.*build it with feature_dim=7"),
    (lambda f: np.where(np.arange(len(f))[:, None] == 2, np.nan, f), r"video_\d+.*NaN"),
])
def test_a_bad_training_video_is_named_with_the_fix(smoke_data, make_features, message):
    data, splits = smoke_data
    key = splits[0].train_keys[1]
    bad = edited(data, key, make_features(np.asarray(data[key].features)).astype(np.float32))
    with pytest.raises(CourseError, match=message):
        fit(bad, splits[0], checkpoint=False)


def test_a_split_naming_a_missing_video_says_which_and_what_to_do(smoke_data):
    data, splits = smoke_data
    split = Split(splits[0].train_keys + ("video_99",), splits[0].test_keys)
    with pytest.raises(CourseError, match=r"video_99.*split file.*make_splits"):
        fit(data, split, checkpoint=False)


def test_a_checkpoint_of_another_configuration_is_a_clear_error(smoke_data, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    fit(data, splits[0])
    files = list(tmp_path.glob("05-sum-gan-aae-*.pt"))
    assert len(files) == 1
    wider = dataclasses.replace(sum_gan_aae_config("smoke", verbose=False), hidden_size=5)
    files[0].rename(checkpoint_path("05-sum-gan-aae",
                                    run_settings(wider, data, 7, splits[0].train_keys)))
    with pytest.raises(CheckpointError, match="another configuration"):
        fit(data, splits[0], wider)


def test_an_interrupted_fit_keeps_the_last_update_and_resumes_exactly(smoke_data, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    reference = fit(data, splits[0], checkpoint=False)
    real, calls = sl.train_step, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C during the second epoch's first update
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(sl, "train_step", interrupted)
        with pytest.raises(training.TrainingInterrupted, match="after step 3"):
            fit(data, splits[0])
    resumed = fit(data, splits[0])
    assert resumed.history.train == reference.history.train
    assert resumed.history.evals == reference.history.evals and resumed.history.finished
    for a, b in zip(resumed.model.parameters(), reference.model.parameters(), strict=True):
        assert torch.equal(a, b)
    # AAE logs no prior: the label-free selection sums the terms it has
    assert "prior" not in resumed.history.train
    assert set(resumed.selections()) == {"best test epoch (uses test labels)",
                                         "final epoch (label-free)",
                                         "lowest training loss (label-free)"}


def test_a_video_too_long_for_the_attention_is_refused_before_allocation(monkeypatch):
    # The limit is what the machine has free: pretend it has 1 MiB, then a 300-step video's
    # attention (4 × 300² float32 = 1.4 MB) must be refused with the fix, before training.
    monkeypatch.setattr(aae, "available_memory", lambda device: 2**20)
    config = sum_gan_aae_config("smoke", verbose=False)
    model = aae.build_sum_gan_aae(config, seed=0)
    features = torch.randn(300, config.feature_dim)
    with pytest.raises(CourseError, match=r"300 steps .* shorter video \(or subsample"):
        model.attention_map(features)
    batch = sl.make_batch(model, [features])
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(CourseError, match="fewer videos per update"):
        sl.train_step(model, sl.make_optimizers(model, config), batch, config)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert model.attention_map(features[:200]).shape == (200, 200)  # 0.6 MB: fits
