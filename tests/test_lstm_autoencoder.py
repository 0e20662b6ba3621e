import dataclasses
import math

import numpy as np
import pytest
import torch

from course_lib.config import autoencoder_config, cpu_matmul_dtype
from course_lib.data.mnist import embedded_digits
from course_lib.data.moving_mnist import moving_mnist_test_set
from course_lib.errors import CourseError
from course_lib.models import lstm_autoencoder as ae
from course_lib.training import checkpoint_path


def test_paper_size_parameter_count_matches_the_reference():
    # README, Configuration tiers: the paper tier's 2x2048 composite model has 268.5 M parameters.
    with torch.device("meta"):
        model = ae.LSTMAutoencoder(4096, 2048, 2, conditional_reconstruction=True,
                                   conditional_future=True)
    assert ae.count_parameters(model) == 268_541_952
    lstm = 4 * 2048 * (4096 + 2048) + 8 * 2048 + 4 * 2048 * (2048 + 2048) + 8 * 2048
    assert ae.count_parameters(model.encoder) == lstm


def test_fused_teacher_forcing_equals_a_loop_fed_with_the_truth():
    torch.manual_seed(0)
    decoder = ae.FrameDecoder(12, 8, 2, conditional=True)
    state = (torch.randn(2, 3, 8), torch.randn(2, 3, 8))
    targets = torch.rand(3, 5, 12)
    fused = decoder(state, 5, targets)
    frame, outputs, h = torch.zeros(3, 1, 12), [], state
    for t in range(5):
        hidden, h = decoder.lstm(frame, h)
        outputs.append(decoder.readout(hidden))
        frame = targets[:, t:t + 1]
    torch.testing.assert_close(fused, torch.cat(outputs, 1))


def test_unconditioned_decoder_fused_equals_step_loop():
    torch.manual_seed(0)
    decoder = ae.FrameDecoder(12, 8, 1, conditional=False)
    state = (torch.randn(1, 2, 8), torch.randn(1, 2, 8))
    torch.testing.assert_close(decoder(state, 4), decoder.generate(state, 4))


def test_conditional_future_is_free_running_only_when_asked():
    torch.manual_seed(0)
    model = ae.LSTMAutoencoder(16, 8, 1, n_future=3, conditional_future=True)
    inputs, future = torch.rand(2, 4, 16), torch.rand(2, 3, 16)
    forced = model(inputs, future).future
    free = model(inputs, future, free_running=True).future
    assert forced.shape == free.shape == (2, 3, 16)
    torch.testing.assert_close(forced[:, 0], free[:, 0])  # step 0 sees zeros either way
    assert not torch.allclose(forced[:, 1:], free[:, 1:])
    with pytest.raises(ValueError, match="future"):
        model(inputs)


def test_reconstruction_loss_targets_the_reversed_input():
    model = ae.LSTMAutoencoder(4, 3, predict=False, loss="mse")
    inputs = torch.rand(2, 5, 4)
    out = ae.AutoencoderOutput(reconstruction=inputs.flip(1), future=None, representation=None)
    assert model.losses(out, inputs, None)["reconstruction"].item() == 0.0
    out = ae.AutoencoderOutput(reconstruction=inputs, future=None, representation=None)
    assert model.losses(out, inputs, None)["reconstruction"].item() > 0.0


def test_nats_per_frame_units():
    logits = torch.zeros(2, 3, 4096)
    targets = torch.rand(2, 3, 4096).round()
    assert ae.bernoulli_nats_per_frame(logits, targets).item() == pytest.approx(4096 * math.log(2))
    manual = -(targets * torch.log(torch.sigmoid(logits + 1))
               + (1 - targets) * torch.log(1 - torch.sigmoid(logits + 1))).sum() / 6
    torch.testing.assert_close(ae.bernoulli_nats_per_frame(logits + 1, targets), manual)
    frames = torch.full((2, 3, 10), 0.5)
    assert ae.squared_error_per_frame(frames, torch.zeros(2, 3, 10)).item() == pytest.approx(2.5)


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="decoder"):
        ae.LSTMAutoencoder(4, 3, reconstruct=False, predict=False)
    with pytest.raises(ValueError, match="loss"):
        ae.LSTMAutoencoder(4, 3, loss="l1")
    decoder = ae.FrameDecoder(4, 3, conditional=True)
    with pytest.raises(ValueError, match="teacher-forced"):
        decoder((torch.zeros(1, 1, 3), torch.zeros(1, 1, 3)), 2)


def _tiny_run(seed, steps, matmul_dtype="float32", checkpoint=False):
    config = dataclasses.replace(autoencoder_config("smoke"), canvas=32, hidden_size=32,
                                 steps=steps, eval_every=steps, n_test_sequences=8,
                                 learning_rate=3e-3, matmul_dtype=matmul_dtype)
    torch.manual_seed(seed)
    model = ae.build_autoencoder(config)
    digits = embedded_digits()
    test = torch.from_numpy(moving_mnist_test_set(digits, 8, canvas=32).frames)
    history = ae.fit_autoencoder(model, config, digits, test, "tiny", seed=seed,
                                 checkpoint=checkpoint)
    return model, history


def test_training_learns_and_is_deterministic():
    _, first = _tiny_run(seed=3, steps=25)
    _, second = _tiny_run(seed=3, steps=25)
    losses = first.train["total"]
    assert sum(losses[-5:]) / 5 < 0.6 * losses[0]
    assert first.train == second.train
    assert first.finished and first.eval_steps == [25]
    assert first.last("future_nats") < 1024 * math.log(2)  # better than predicting 0.5


def test_bfloat16_products_learn_as_float32_does_under_their_own_checkpoint(tmp_path,
                                                                            monkeypatch):
    """``matmul_dtype="bfloat16"`` trains the same model on the same batches with bfloat16
    products: another run (its own checkpoint), about as good. A float32 run keeps the key it had
    before the setting existed, so the checkpoints saved then still load."""
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    _, exact = _tiny_run(seed=3, steps=25, checkpoint=True)
    _, low = _tiny_run(seed=3, steps=25, matmul_dtype="bfloat16", checkpoint=True)
    assert low.train["total"] != exact.train["total"]
    assert sum(low.train["total"][-5:]) / 5 < 0.6 * low.train["total"][0]
    assert low.last("future_nats") == pytest.approx(exact.last("future_nats"), rel=0.05)
    config = dataclasses.replace(autoencoder_config("smoke"), canvas=32, hidden_size=32,
                                 steps=25, eval_every=25, n_test_sequences=8, learning_rate=3e-3)
    earlier = {k: v for k, v in vars(config).items() if k != "matmul_dtype"}
    variant = {"reconstruct": True, "predict": True, "loss": "bce",
               "conditional_reconstruction": False, "conditional_future": False, "seed": 3}
    saved = sorted(path.name for path in tmp_path.glob("tiny-*.pt"))
    assert len(saved) == 2
    assert checkpoint_path("tiny", {**earlier, **variant}).name in saved


def test_an_unknown_matmul_dtype_is_refused_with_the_values_it_can_take():
    config = dataclasses.replace(autoencoder_config("smoke"), matmul_dtype="bf16")
    model = ae.build_autoencoder(config)
    with pytest.raises(CourseError, match="'float32' or 'bfloat16', got 'bf16'"):
        ae.fit_autoencoder(model, config, embedded_digits(), torch.zeros(2, 20, 64, 64), "bad",
                           checkpoint=False)


def test_bfloat16_is_chosen_where_the_cpu_multiplies_it_in_hardware(tmp_path):
    for flags, chosen in [("fpu avx2 avx512f", "float32"), ("avx512f avx512_bf16", "bfloat16"),
                          ("avx2 amx_bf16 amx_tile", "bfloat16"), ("", "float32")]:
        (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        assert cpu_matmul_dtype(tmp_path / "cpuinfo") == chosen
    assert cpu_matmul_dtype(tmp_path / "absent") == "float32"  # not Linux


def test_prediction_and_representation_shapes():
    model, _ = _tiny_run(seed=0, steps=1)
    frames = torch.rand(3, 20, 32, 32)
    shown = ae.predict_frames(model, frames[0], 10)
    assert shown["inputs"].shape == shown["reconstruction"].shape == (10, 32, 32)
    assert shown["prediction"].shape == shown["future"].shape == (10, 32, 32)
    assert 0 <= shown["prediction"].min() and shown["prediction"].max() <= 1
    # The ground truth is shown as it is, not passed through the decoders' sigmoid.
    np.testing.assert_array_equal(shown["inputs"], frames[0, :10].numpy())
    np.testing.assert_array_equal(shown["future"], frames[0, 10:].numpy())
    assert ae.representations(model, frames, 10, batch_size=2).shape == (3, 32)


def test_the_future_loss_per_step_ahead_averages_to_the_held_out_loss():
    """Each step ahead's nats/frame, averaged over the steps, is evaluate_autoencoder's future
    loss, free-running or teacher-forced; teacher forcing changes only a conditional predictor."""
    torch.manual_seed(0)
    frames = torch.rand(5, 6, 4, 4).round()
    config = dataclasses.replace(autoencoder_config("smoke"), canvas=4, n_future=3,
                                 hidden_size=8)
    for conditional in (False, True):
        model = ae.build_autoencoder(config, conditional_future=conditional)
        free = ae.future_nats_per_step(model, frames, 3, batch_size=2)
        forced = ae.future_nats_per_step(model, frames, 3, free_running=False)
        assert free.shape == (3,)
        assert free.mean() == pytest.approx(ae.evaluate_autoencoder(model, frames, 3)
                                            ["future_nats"], rel=1e-5)
        assert np.allclose(free, forced) != conditional


def test_the_prediction_baselines_score_what_a_guess_without_a_model_scores():
    """Notebook 01's yardsticks for the predictor. A digit that stays put: copying the last
    input frame forward is perfect (the floor, no squared error). One that moves: the copy's
    0s where the digit arrives cost infinite nats, its half-mixture with the mean frame a finite
    amount above the floor; 0.5 everywhere costs ln 2 per pixel."""
    still = torch.zeros(2, 6, 4, 4)
    still[:, :, 1, 1], still[:, :, 2, 2] = 1.0, 0.25  # a grey pixel too
    found = ae.prediction_baselines(still, 3)
    floor = ae.entropy_floor(still, 3)["future_nats"]
    assert found["the last input frame, copied"] == pytest.approx((floor, 0.0))
    assert found["0.5 everywhere"][0] == pytest.approx(16 * math.log(2))
    moving = torch.zeros(2, 6, 4, 4)
    for t in range(6):
        moving[:, t, t % 4, 0] = 1.0
    found = ae.prediction_baselines(moving, 3)
    assert found["the last input frame, copied"][0] == math.inf
    mixed = found["the same, half mixed with the mean frame"][0]
    assert ae.entropy_floor(moving, 3)["future_nats"] < mixed < found["0.5 everywhere"][0]
    assert all(math.isfinite(nats) for name, (nats, _) in found.items()
               if name != "the last input frame, copied")


def test_entropy_floor_is_the_loss_of_predicting_the_targets_themselves():
    # Hand-computed: pixels 0 and 1 cost nothing, 0.5 costs ln 2, 0.25 costs H(0.25).
    targets = torch.tensor([[[0.0, 1.0, 0.5, 0.25]]])
    h_quarter = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    floor = ae.bernoulli_entropy_per_frame(targets).item()
    assert floor == pytest.approx(math.log(2) + h_quarter)
    frames = torch.rand(3, 5, 7, 7)  # grey levels [N, T, H, W]
    inputs, future = ae.split_sequence(frames, 2)
    itself = torch.nn.functional.binary_cross_entropy(future, future, reduction="sum") / (3 * 3)
    floors = ae.entropy_floor(frames, 2)
    assert floors["future_nats"] == pytest.approx(itself.item(), rel=1e-5)
    assert floors["reconstruction_nats"] == pytest.approx(
        ae.bernoulli_entropy_per_frame(inputs).item())
    logits = torch.randn_like(future)  # no prediction gets below the floor
    assert ae.bernoulli_nats_per_frame(logits, future).item() > floors["future_nats"]
    assert ae.bernoulli_entropy_per_frame(frames.round().flatten(2)).item() == 0.0


def test_optimizer_settings():
    config = autoencoder_config("smoke")
    model = ae.LSTMAutoencoder(4, 3)
    adam = ae.make_optimizer(model, config)
    assert type(adam) is torch.optim.Adam
    assert adam.defaults["lr"] == config.learning_rate and adam.defaults["weight_decay"] == 0
    sgd = ae.make_optimizer(model, dataclasses.replace(config, optimizer="sgd",
                                                       learning_rate=1e-4))
    assert type(sgd) is torch.optim.SGD  # the official code's momentum and weight decay
    assert (sgd.defaults["lr"], sgd.defaults["momentum"], sgd.defaults["weight_decay"]) == (
        1e-4, 0.9, 1e-4)
    with pytest.raises(ValueError, match="optimizer"):
        ae.make_optimizer(model, dataclasses.replace(config, optimizer="rmsprop"))
