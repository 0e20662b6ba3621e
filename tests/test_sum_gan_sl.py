"""What only SUM-GAN-sl has; its updates and fit function, shared with SUM-GAN-AAE, are tested
for both in test_sum_gan_sl_training.py."""

import contextlib
import itertools

import pytest
import torch

from course_lib.models import lstm_autoencoder
from course_lib.models import sum_gan_sl as sl
from course_lib.models.sequence_lstm import low_precision_products
from tests.summarizer_helpers import SL, tiny_config, videos

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


def relative_errors(low, exact) -> list[float]:
    """Each low-precision result's distance from the float32 one, relative to its size."""
    return [((a - e).norm() / e.norm()).item() for a, e in zip(low, exact, strict=True)]


@pytest.mark.parametrize("lengths", [None, [6, 11, 9]])
def test_bfloat16_products_keep_the_decoder_within_their_precision(lengths):
    """Under ``low_precision_products`` the decoder's loop multiplies in bfloat16, and its
    outputs and gradients stay float32: close to the float32 results, not equal (the lower
    bound fails if the products were not really run in bfloat16)."""
    torch.manual_seed(0)
    decoder = sl.FeedbackDecoder(48, 2)
    lengths = None if lengths is None else torch.tensor(lengths)
    h, c = (torch.randn(2, 3, 48, requires_grad=True) for _ in range(2))
    weights = torch.randn(3, 11, 48)
    results = []
    for products in (contextlib.nullcontext(), low_precision_products()):
        decoder.zero_grad()
        h.grad = c.grad = None
        with products:
            emitted = decoder((h, c), 11, lengths)
        (emitted * weights).sum().backward()
        results.append([emitted, h.grad, c.grad, *(p.grad for p in decoder.parameters())])
    assert all(t.dtype == torch.float32 for t in results[1])
    assert all(1e-5 < error < 2e-2 for error in relative_errors(results[1], results[0]))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_bfloat16_products_keep_the_course_lstm_on_padded_videos_within_their_precision(
        bidirectional):
    """The course's LSTM stepping each video within its length, in bfloat16 products: close to
    float32, padding still exactly zero."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(40, 32, 2, batch_first=True, bidirectional=bidirectional)
    lengths = torch.tensor([6, 11, 9])
    inputs = torch.randn(3, 11, 40, requires_grad=True)
    results = []
    for products in (contextlib.nullcontext(), low_precision_products()):
        lstm.zero_grad()
        inputs.grad = None
        with products:
            outputs = sl.run_lstm_masked(lstm, inputs, lengths)[0]
        outputs.pow(2).sum().backward()
        results.append([outputs, inputs.grad, *(p.grad for p in lstm.parameters())])
    assert all(1e-5 < error < 2e-2 for error in relative_errors(results[1], results[0]))
    assert (results[1][0][0, 6:] == 0).all() and (results[1][0][0, :6] != 0).all()


# ---------------------------------------------------------------- fast training (masked)

def test_a_padded_batch_gives_each_video_its_own_results():
    model = sl.build_sum_gan_sl(tiny_config(SL), seed=0).double()
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


# ---------------------------------------------------------------- training order and the family

@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_way_to_run_an_lstm_on_padded_videos_gives_the_same_values_and_gradients(
        bidirectional, monkeypatch):
    """The GPU's way (one packed call), oneDNN's segments between the videos' ends and the
    course's LSTM stepping the videos still running (in an order that is not the lengths',
    with ties) are the same computation: outputs, final states and every gradient agree,
    whatever the padding holds."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True,
                         bidirectional=bidirectional).double()
    lengths = torch.tensor([5, 9, 3, 9])
    inputs = torch.randn(4, 9, 3, dtype=torch.float64)
    inputs[0, 5:] = inputs[2, 3:] = 0.47  # padding that is not zero must not count
    weights = torch.linspace(-1, 1, 4 * 9 * 4 * (1 + bidirectional), dtype=torch.float64)
    ways = {"segments": lambda x: sl.run_lstm_masked(lstm, x, lengths, packed=False),
            "course LSTM": lambda x: sl.run_lstm_masked(lstm, x, lengths, packed=False),
            "packed": lambda x: sl.run_lstm_masked(lstm, x, lengths, packed=True)}
    results = {}
    for name, run in ways.items():
        monkeypatch.setattr(lstm_autoencoder, "USE_ONEDNN_LSTM", name == "segments")
        lstm.zero_grad()
        x = inputs.clone().requires_grad_()
        outputs, state = run(x)
        loss = (outputs * weights.view_as(outputs)).sum()
        if state is not None:
            assert not bidirectional
            loss = loss + state[0].sum() * 0.3 + state[1].sum() * 0.7
        loss.backward()
        results[name] = [outputs, *(state or ()), x.grad,
                         *(p.grad for p in lstm.parameters())]
    for name in set(ways) - {"segments"}:
        for got, want in zip(results[name], results["segments"], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for outputs, *_ in results.values():
        assert (outputs[0, 5:] == 0).all() and (outputs[0, :5] != 0).all()


def test_update_batches_orders_and_resumes():
    keys = [f"v{i}" for i in range(7)]
    lengths = dict(zip(keys, [9, 3, 7, 2, 8, 5, 4], strict=True))
    split = tiny_config(SL, videos_per_update=3)
    assert list(itertools.islice(sl.update_batches(keys, split, 0), 4)) == [
        keys[0:3], keys[3:6], keys[6:], keys[0:3]]
    by_length = tiny_config(SL, videos_per_update=3, training_order="by_length")
    epoch = list(itertools.islice(sl.update_batches(keys, by_length, 0, 0, lengths), 3))
    assert sorted(map(sorted, epoch)) == sorted(map(sorted, [["v3", "v1", "v6"],
                                                              ["v5", "v2", "v4"], ["v0"]]))
    for config in (split, by_length, tiny_config(SL, training_order="shuffled")):
        stream = list(itertools.islice(sl.update_batches(keys, config, 5, 0, lengths), 12))
        resumed = list(itertools.islice(sl.update_batches(keys, config, 5, 7, lengths), 5))
        assert resumed == stream[7:]


def test_the_family_interface_builds_and_scores_every_method(smoke_data):
    from course_lib.models.summarizer_training import score_videos
    from course_lib.registry import family

    data, splits = smoke_data
    methods = family()
    assert set(methods) == {"SUM-GAN", "SUM-GAN-sl", "SUM-GAN-AAE"}
    for method in methods.values():
        config = method.config("smoke", verbose=False)
        scores = score_videos(method.build(config, 0), data, splits[0].test_keys)
        assert {k: v.shape for k, v in scores.items()} == {
            k: (data[k].n_steps,) for k in splits[0].test_keys}
