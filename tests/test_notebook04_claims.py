"""What notebook 04's text says, as relations: the training loop it writes out is the fit
function's (same F-score per epoch), the sparsity loss pulls the mean score towards σ at the
laptop tier's settings, and the animation shows one frame per recorded epoch."""

import dataclasses

import numpy as np
import pytest
import torch

from course_lib import evaluation as ev
from course_lib import summary_plots as sp
from course_lib.config import sum_gan_sl_config, summarization_data_config
from course_lib.data.summarization import make_splits
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.models import sum_gan_sl as sl
from course_lib.models import summarizer_training as st


@pytest.fixture(scope="module")
def smoke():
    data = make_synthetic_dataset(summarization_data_config("smoke", verbose=False))
    return data, make_splits(data.keys(), rng=np.random.default_rng(0))[0]


def written_out_loop(cfg, data, split, seed):
    """Section 6's loop: the library's pieces, epoch by epoch, F-score after each."""
    model = sl.build_sum_gan_sl(cfg, seed)
    optimizers = sl.make_optimizers(model, cfg)
    generator = torch.Generator().manual_seed(seed)
    videos = {k: torch.from_numpy(data[k].features) for k in split.train_keys}
    batches = sl.update_batches(list(split.train_keys), cfg, seed, 0,
                                {k: len(v) for k, v in videos.items()})
    f = [ev.evaluate(data, st.score_videos(model, data, split.test_keys)).mean]
    with st.cpu_settings(torch.device("cpu")):
        for _ in range(cfg.epochs):
            for _ in range(sl.updates_per_epoch(len(videos), cfg)):
                batch = sl.make_batch(model, [videos[k] for k in next(batches)])
                sl.train_step(model, optimizers, batch, cfg, generator)
            f.append(ev.evaluate(data, st.score_videos(model, data, split.test_keys)).mean)
    return f, model


def test_the_written_out_loop_is_the_fit_function(smoke):
    data, split = smoke
    cfg = dataclasses.replace(sum_gan_sl_config("smoke", verbose=False), epochs=3)
    run = sl.fit_sum_gan_sl(sl.build_sum_gan_sl(cfg, 1), cfg, data, split, seed=1,
                            checkpoint=False, live=False)
    f, model = written_out_loop(cfg, data, split, 1)
    np.testing.assert_allclose(f, run.history.evals["f_score"], atol=0.05)
    for a, b in zip(model.parameters(), run.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_the_sparsity_loss_pulls_the_mean_score_to_sigma_at_laptop_settings():
    # The laptop tier's rates, σ and batch size on a small model and random videos.
    laptop = sum_gan_sl_config("laptop", verbose=False)
    cfg = dataclasses.replace(laptop, feature_dim=12, hidden_size=8)
    model = sl.build_sum_gan_sl(cfg, 0)
    optimizers = sl.make_optimizers(model, cfg)
    generator = torch.Generator().manual_seed(0)
    g = torch.Generator().manual_seed(0)
    videos = [torch.rand(n, 12, generator=g) for n in (8, 10, 12, 14, 16)]
    batch = sl.make_batch(model, videos[:cfg.videos_per_update])
    with st.cpu_settings(torch.device("cpu")):  # as the fit functions train
        means = [sl.train_step(model, optimizers, batch, cfg, generator)["mean_score"]
                 for _ in range(200)]
    assert abs(means[0] - cfg.sigma) > 0.2
    assert abs(np.mean(means[-10:]) - cfg.sigma) < abs(means[0] - cfg.sigma) / 2, means[-10:]


def test_selection_animation_has_one_frame_per_epoch(smoke, monkeypatch):
    data, split = smoke
    record = data[split.test_keys[0]]
    frames = [{"epoch": e, "scores": np.linspace(0, 1, record.n_steps) ** (e + 1),
               "f_score": 10.0 * e, "original": np.random.default_rng(e).normal(
                   size=(record.n_steps, 30)), "reconstructed": np.zeros((record.n_steps, 8))}
              for e in range(3)]
    snaps = []
    from celluloid import Camera
    real = Camera.snap
    monkeypatch.setattr(Camera, "snap", lambda self: (snaps.append(1), real(self))[1])
    html = sp.selection_animation(record, frames)
    assert len(snaps) == 3 and html.data.count("data:image/png;base64") == 3


def test_the_laptop_tier_departs_from_the_reference_as_the_notebook_says():
    laptop, paper = (sum_gan_sl_config(t, verbose=False) for t in ("laptop", "paper"))
    assert laptop.hidden_size < paper.hidden_size and laptop.epochs < paper.epochs
    assert laptop.videos_per_update == 5 and paper.videos_per_update == 1
    assert laptop.learning_rate == pytest.approx(5 * paper.learning_rate)
    assert laptop.discriminator_learning_rate == pytest.approx(
        5 * paper.discriminator_learning_rate)
    quirks = ("clip_scope", "compress_optimizer", "discriminator_fakes", "sigma", "num_layers")
    assert all(getattr(laptop, q) == getattr(paper, q) for q in quirks)
