"""What only SUM-GAN-AAE has (the attention auto-encoder); the updates and fit function it shares
with SUM-GAN-sl are tested for both in test_sum_gan_sl_training.py."""

import dataclasses

import pytest
import torch

from benchmarks.sum_gan_sl_plain import PlainAttentionDecoder
from course_lib.config import sum_gan_aae_config, sum_gan_sl_config
from course_lib.errors import CourseError
from course_lib.models import sum_gan_aae as aae
from course_lib.models import sum_gan_sl as sl
from tests.summarizer_helpers import (
    AAE,
    FEATURES,
    PARITY,
    faithful_parameters,
    max_relative_difference,
    tiny_config,
    videos,
)

# ---------------------------------------------------------------- the model

def test_paper_size_parameter_count_part_by_part():
    model = aae.SumGanAae(1024, 500, 2)
    assert aae.part_sizes(model) == {
        "linear_compress": 512_500, "sLSTM": 10_017_001, "eLSTM": 4_008_000,
        "dLSTM attention": 500_500, "dLSTM cell 1": 3_004_000, "dLSTM cell 2": 2_004_000,
        "dLSTM out": 250_500, "dLSTM": 5_759_000, "discriminator": 4_008_501,
        "total": 24_305_002}


def test_config_is_sl_with_aae_sigma():
    for tier in ("smoke", "laptop", "paper"):
        config = sum_gan_aae_config(tier, verbose=False)
        sl_config = sum_gan_sl_config(tier, verbose=False)
        assert config.sigma == 0.15 != sl_config.sigma
        assert dataclasses.asdict(config) == {**dataclasses.asdict(sl_config), "sigma": 0.15}


@pytest.mark.parametrize("lengths", [None, [7, 4, 6]])
def test_fused_decoder_equals_a_loop_of_modules_values_and_gradients(lengths):
    decoder = aae.AttentionDecoder(5, 3).double()
    g = torch.Generator().manual_seed(1)
    h, c = (torch.randn(3, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)
            for _ in range(2))
    memory = torch.randn(3, 7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(3, 7, 5, generator=g, dtype=torch.float64)
    lengths = None if lengths is None else torch.tensor(lengths)
    results = []
    for run in (decoder.forward, decoder.loop):
        decoder.zero_grad()
        h.grad = c.grad = memory.grad = None
        emitted, attention = run((h, c), memory, lengths)
        (emitted * weights).sum().backward()
        results.append([emitted, attention, h.grad, c.grad, memory.grad,
                        *(p.grad for p in decoder.parameters())])
    for fused, looped in zip(*results, strict=True):
        torch.testing.assert_close(fused, looped, rtol=1e-12, atol=1e-12)
    assert emitted.shape == (3, 7, 5) and emitted.abs().max() < 1  # top h, not out(top h)


def test_deterministic_and_attention_weights_for_plotting():
    model = aae.build_sum_gan_aae(tiny_config(AAE), seed=0).double()
    video = videos([7])[0]
    x = model.compress(model.prepare(video))
    first, second = model.summarize(x), model.summarize(x)
    torch.testing.assert_close(first.decoded, second.decoded, rtol=0, atol=0)
    weights = model.attention_map(video)
    assert weights.shape == (7, 7)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(7, dtype=torch.float64))
    assert model.latent_terms(first) == {}


def test_an_attention_too_large_for_memory_is_refused_before_allocation():
    needed = aae.ATTENTION_TENSORS * 2 * 100 * 100 * 4  # bytes for 2 videos of 100 steps
    aae.check_attention_memory(2, 100, torch.float32, torch.device("cpu"), limit=needed)
    with pytest.raises(CourseError, match="shorter video .* fewer videos per update"):
        aae.check_attention_memory(2, 100, torch.float32, torch.device("cpu"), limit=needed - 1)
    # 400,000 steps: a 2.6 TB attention, refused at once, before anything is allocated.
    config = tiny_config(AAE)
    model = aae.build_sum_gan_aae(config, seed=0)
    batch = sl.make_batch(model, [torch.zeros(400_000, FEATURES)])
    with pytest.raises(CourseError, match=r"400000 steps needs about \d+"):
        sl.train_step(model, sl.make_optimizers(model, config), batch, config)


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


# ---------------------------------------------------------------- faithful training: the query

class QueryLayersSwapped(PlainAttentionDecoder):
    """Wrong: the query reads layer 1's h before layer 0's."""

    def query(self, states):
        return self.attn(torch.cat([h for h, _ in reversed(states)], dim=1))


class QueryAfterTheStep(PlainAttentionDecoder):
    """Wrong: the query is the state after each step, its context fed to the next step (zeros
    at the first), so no step reads the encoder's final state."""

    def forward(self, enc_out, h, c):
        memory = enc_out.squeeze(1)
        states = [(h[i], c[i]) for i in range(len(self.cells))]
        previous = torch.zeros(1, memory.shape[1], dtype=memory.dtype)
        context = torch.zeros_like(previous)
        emitted = []
        for _ in range(memory.shape[0]):
            layer_input = torch.cat([previous, context], dim=1)
            for i, cell in enumerate(self.cells):
                states[i] = cell(layer_input, states[i])
                layer_input = states[i][0]
            emitted.append(layer_input)
            previous = self.out(layer_input)
            weights = torch.softmax(memory @ self.query(states).t(), dim=0)
            context = (weights * memory).sum(dim=0, keepdim=True)
        emitted.reverse()
        return torch.stack(emitted)


@pytest.mark.parametrize("wrong", [QueryLayersSwapped, QueryAfterTheStep])
def test_parity_test_catches_a_wrong_query(wrong):
    model, plain = faithful_parameters(AAE, tiny_config(AAE, **PARITY), plain_decoder=wrong)
    assert max_relative_difference(model, plain) > 1e-4


# ---------------------------------------------------------------- fast training (masked)

def per_video_losses(model, out, x, lengths, sigma):
    """Reconstruction, sparsity and the discriminator's P(summary) of each video."""
    phi_x, _ = model.discriminate(x, lengths)
    phi_hat, p_hat = model.discriminate(out.decoded, lengths)
    rows = range(len(x))
    lengths = [x.shape[1]] * len(x) if lengths is None else lengths.tolist()
    return torch.stack([torch.stack([
        sl.reconstruction_loss(phi_x[i:i + 1], phi_hat[i:i + 1]),
        sl.sparsity_loss(out.scores[i:i + 1, :lengths[i]], sigma), p_hat[i]]) for i in rows])


def test_a_padded_batch_gives_each_video_its_own_losses_and_attention():
    model = aae.build_sum_gan_aae(tiny_config(AAE), seed=0).double()
    data = videos([5, 9, 3])
    batch = sl.make_batch(model, data)
    x = model.compress(batch.features)
    out = model.summarize(x, batch.lengths)
    losses = per_video_losses(model, out, x, batch.lengths, 0.15)
    for i, video in enumerate(data):
        n = len(video)
        xi = model.compress(video.unsqueeze(0))
        alone = model.summarize(xi)
        torch.testing.assert_close(losses[i], per_video_losses(model, alone, xi, None, 0.15)[0])
        torch.testing.assert_close(out.decoded[i, :n], alone.decoded[0])
        torch.testing.assert_close(out.attention[i, :n, :n], alone.attention[0])
        assert (out.attention[i, :, n:] == 0).all()  # padded encoder steps get no weight
    sparsity = sl.sparsity_loss(out.scores, 0.15, batch.lengths)
    torch.testing.assert_close(sparsity, losses[:, 1].mean())


@pytest.mark.parametrize("tier", ["smoke", "laptop"])
def test_untrained_aae_and_sl_of_one_seed_score_alike(tier):
    """Notebooks 05 and 06 say so: one seed gives SUM-GAN-sl and SUM-GAN-AAE the same
    selector (and compression), so their untrained F-scores are the same number."""
    import numpy as np

    from course_lib.data.synthetic_videos import synthetic_benchmark
    from course_lib.models.summarizer_training import score_videos

    data, splits = synthetic_benchmark("smoke")
    keys = splits[0].test_keys
    for seed in (0, 3):
        a = score_videos(sl.build_sum_gan_sl(sum_gan_sl_config(tier, verbose=False), seed),
                         data, keys)
        b = score_videos(aae.build_sum_gan_aae(sum_gan_aae_config(tier, verbose=False), seed),
                         data, keys)
        assert all(np.array_equal(a[k], b[k]) for k in keys)
