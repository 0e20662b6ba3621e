import dataclasses
import functools
import json
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch

from course_lib import processes as pr
from course_lib.config import sum_gan_config, summarization_data_config
from course_lib.data.summarization import Split
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.errors import CourseError
from course_lib.models import lstm_autoencoder as ae
from course_lib.models import sum_gan as sg
from course_lib.models import sum_gan_sl
from course_lib.models import summarizer_training as st
from tests.summarizer_helpers import AAE, SL, saving_every_epoch

TINY = dict(compress_to=None, selector_hidden=6, selector_layers=1, vae_hidden=7, vae_layers=2,
            discriminator_hidden=5, discriminator_layers=1)


def tiny_config(**changes):
    return dataclasses.replace(sum_gan_config("smoke"), feature_dim=12,
                               **{**TINY, **changes})


def tiny_model(seed=0, **changes):
    return sg.build_sum_gan(tiny_config(**changes), seed)


def lstm_params(inputs, hidden, layers, directions=1):
    """nn.LSTM: per layer and direction 4 gates × (W_ih, W_hh, b_ih, b_hh)."""
    total, width = 0, inputs
    for _ in range(layers):
        total += directions * 4 * hidden * (width + hidden + 2)
        width = directions * hidden
    return total


def expected_sizes(cfg):
    d = cfg.input_size
    compress = cfg.feature_dim * cfg.compress_to + cfg.compress_to if cfg.compress_to else 0
    selector = lstm_params(d, cfg.selector_hidden, cfg.selector_layers, 2) + (
        2 * cfg.selector_hidden + 1)
    h = cfg.vae_hidden
    encoder = lstm_params(d, h, cfg.vae_layers) + 2 * (h * h + h)
    decoder = lstm_params(1, h, cfg.vae_layers) + h * d + d  # width-1 zero input, readout
    discriminator = lstm_params(d, cfg.discriminator_hidden, cfg.discriminator_layers) + (
        cfg.discriminator_hidden + 1)
    return {"compress": compress, "sLSTM": selector, "eLSTM (+ mu, logvar)": encoder,
            "dLSTM": decoder, "cLSTM": discriminator,
            "total": compress + selector + encoder + decoder + discriminator}


@pytest.mark.parametrize("tier", ["smoke", "laptop", "paper"])
def test_parameter_counts_per_tier(tier):
    cfg = sum_gan_config(tier)
    with torch.device("meta"):
        model = sg.build_sum_gan(cfg)
    assert sg.part_sizes(model) == expected_sizes(cfg)


def test_paper_tier_sizes_and_count():
    cfg = sum_gan_config("paper")
    assert (cfg.feature_dim, cfg.selector_hidden, cfg.selector_layers, cfg.vae_hidden,
            cfg.vae_layers, cfg.discriminator_hidden, cfg.discriminator_layers, cfg.sigma) == (
        1024, 1024, 2, 2048, 2, 1024, 2, 0.3)
    with torch.device("meta"):
        model = sg.build_sum_gan(cfg)
    assert model.selector.lstm.bidirectional and model.compress.__class__ is torch.nn.Identity
    # Worked out by hand (4 gates x H x (inputs + H + 2 biases) per layer and direction):
    # sLSTM 16,793,600 + 25,182,208 + 2,049 (score head) = 41,977,857;
    # eLSTM 25,182,208 + 33,570,816 + 2 x 4,196,352 (mu, logvar) = 67,145,728;
    # dLSTM 16,801,792 (width-1 input) + 33,570,816 + 2,098,176 (readout) = 52,470,784;
    # cLSTM 8,396,800 + 8,396,800 + 1,025 (classifier) = 16,794,625.
    assert sg.part_sizes(model) == {"compress": 0, "sLSTM": 41_977_857,
                                    "eLSTM (+ mu, logvar)": 67_145_728, "dLSTM": 52_470_784,
                                    "cLSTM": 16_794_625, "total": 178_388_994}
    with torch.device("meta"):
        compressed = sg.build_sum_gan(dataclasses.replace(cfg, compress_to=500))
    assert sg.part_sizes(compressed)["compress"] == 512_500  # SUM-GAN-sl's linear_compress


def test_the_vae_is_notebook_01s_encoder_and_decoder():
    model = tiny_model()
    assert isinstance(model.vae.encoder, ae.FrameEncoder)
    assert isinstance(model.vae.decoder, ae.FrameDecoder) and not model.vae.decoder.conditional
    assert isinstance(model.discriminator.lstm, ae.FrameEncoder)


def test_shapes():
    model = tiny_model()
    out = model(torch.randn(9, 12))
    assert out.scores.shape == (1, 9) and ((out.scores > 0) & (out.scores < 1)).all()
    assert out.inputs.shape == out.summary.reconstruction.shape == (1, 9, 12)
    assert out.negative.reconstruction.shape == (1, 9, 12)
    assert out.summary.mu.shape == out.summary.logvar.shape == (2, 1, 7)
    phi, logit = model.discriminator(out.inputs)
    assert phi.shape == (1, 5) and logit.shape == (1,)
    batched = model(torch.randn(3, 4, 12), negative=None)
    assert batched.scores.shape == (3, 4) and batched.negative is None


def test_decoder_output_is_put_back_in_forward_order():
    model = tiny_model()
    state = (torch.randn(2, 1, 7), torch.randn(2, 1, 7))
    emitted = model.vae.decoder(state, 6)  # last step first
    torch.testing.assert_close(model.vae.decode(state, 6), emitted.flip(1))


def test_latent_samples_h_and_passes_c_through():
    model = tiny_model()
    weighted = torch.randn(1, 5, 12)
    mu, logvar, c = model.vae.encode(weighted)
    noise = torch.randn_like(mu)
    got = model.vae(weighted, noise).reconstruction
    h = mu + noise * torch.exp(0.5 * logvar)
    torch.testing.assert_close(got, model.vae.decode((h, c), 5))
    torch.testing.assert_close(model.vae(weighted).reconstruction, model.vae.decode((mu, c), 5))


def test_losses_signs_and_zeros():
    scores = torch.full((1, 10), 0.3)
    assert sg.sparsity_loss(scores, 0.3).item() == pytest.approx(0.0, abs=1e-7)
    assert sg.sparsity_loss(scores, 0.1).item() == pytest.approx(0.2)
    assert sg.sparsity_loss(scores, 0.5).item() == pytest.approx(0.2)
    zeros = torch.zeros(2, 3, 4)
    assert sg.prior_loss(zeros, zeros).item() == 0.0
    mu, logvar = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert sg.prior_loss(mu, logvar).item() > 0
    # KL against torch.distributions, summed over layers and units, mean over the batch
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, torch.exp(0.5 * logvar)),
        torch.distributions.Normal(0.0, 1.0)).sum(dim=(0, 2)).mean()
    torch.testing.assert_close(sg.prior_loss(mu, logvar), kl)
    phi = torch.randn(1, 5)
    assert sg.reconstruction_loss(phi, phi).item() == 0.0
    assert sg.reconstruction_loss(phi, phi + 1).item() == pytest.approx(5.0)
    logits = [torch.randn(4) for _ in range(3)]
    d = sg.discriminator_loss(*logits)
    assert d.item() > 0 and d.item() == pytest.approx(-sg.gan_objective(*logits).item())
    assert sg.discriminator_loss(torch.tensor([30.0]), torch.tensor([-30.0]),
                                 torch.tensor([-30.0])).item() < 1e-10
    bce = sum(torch.nn.functional.binary_cross_entropy_with_logits(z, torch.full_like(z, t))
              for z, t in zip(logits, (1.0, 0.0, 0.0), strict=True))
    torch.testing.assert_close(d, bce)
    assert sg.generator_gan_loss(*logits[1:], kind="minimax").item() < 0
    assert sg.generator_gan_loss(*logits[1:], kind="non_saturating").item() > 0
    assert sg.generator_gan_loss(torch.tensor([30.0]), torch.tensor([30.0]),
                                 kind="non_saturating").item() < 1e-10
    with pytest.raises(ValueError, match="generator_loss"):
        sg.generator_gan_loss(*logits[1:], kind="wasserstein")


def modules_reached(model, loss):
    """Names of the model's submodules whose parameters get a non-zero gradient from ``loss``."""
    names = {"compress": model.compress, "selector": model.selector,
             "encoder": model.vae.encoder, "mu": model.vae.mu, "logvar": model.vae.logvar,
             "decoder": model.vae.decoder, "cLSTM": model.discriminator.lstm,
             "classifier": model.discriminator.classifier}
    reached = set()
    for name, module in names.items():
        params = list(module.parameters())
        if not params:
            continue
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        if any(g is not None and g.abs().sum() > 0 for g in grads):
            reached.add(name)
    return reached


def test_each_loss_reaches_exactly_the_modules_it_should():
    model = tiny_model(compress_to=4)
    losses, _ = sg.forward_losses(model, torch.randn(8, 12), tiny_config(compress_to=4),
                                  torch.Generator().manual_seed(0))
    vae_encoder = {"compress", "selector", "encoder", "mu", "logvar"}
    assert modules_reached(model, losses["sparsity"]) == {"compress", "selector"}
    assert modules_reached(model, losses["prior"]) == vae_encoder
    assert modules_reached(model, losses["reconstruction"]) == vae_encoder | {"decoder", "cLSTM"}
    assert modules_reached(model, losses["gan_generator"]) == vae_encoder | {
        "decoder", "cLSTM", "classifier"}
    # x̂ and x̂_p are detached for the discriminator: its loss reaches only cLSTM, the classifier
    # and the compression of the original.
    assert modules_reached(model, losses["discriminator"]) == {"compress", "cLSTM", "classifier"}


def test_parameter_groups_follow_algorithm_1():
    model = tiny_model(compress_to=4)
    groups = {k: {id(p) for p in v} for k, v in model.parameter_groups().items()}
    ids = {name: {id(p) for p in module.parameters()} for name, module in {
        "compress": model.compress, "selector": model.selector, "encoder": model.vae.encoder,
        "heads": [*model.vae.mu.parameters(), *model.vae.logvar.parameters()],
        "decoder": model.vae.decoder, "discriminator": model.discriminator}.items()
        if not isinstance(module, list)}
    ids["heads"] = {id(p) for p in [*model.vae.mu.parameters(), *model.vae.logvar.parameters()]}
    assert groups["summarizer"] == ids["compress"] | ids["selector"] | ids["encoder"] | ids[
        "heads"]
    assert groups["decoder"] == ids["compress"] | ids["decoder"]
    assert groups["discriminator"] == ids["compress"] | ids["discriminator"]
    everything = {id(p) for p in model.parameters()}
    assert groups["summarizer"] | groups["decoder"] | groups["discriminator"] == everything


@pytest.mark.parametrize("phase", sg.PHASES)
def test_each_update_steps_only_its_own_optimizer(phase):
    cfg = tiny_config(learning_rate=1e-2, discriminator_learning_rate=1e-2)
    model = sg.build_sum_gan(cfg, 0)
    optimizers = sg.make_optimizers(model, cfg)
    for name, optimizer in optimizers.items():
        if name != phase:  # a step of these would still move their parameters: freeze them
            for group in optimizer.param_groups:
                group["lr"] = 0.0
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    sg.train_step(model, optimizers, torch.randn(10, 12), cfg, torch.Generator().manual_seed(1))
    own = {id(p) for p in model.parameter_groups()[phase]}
    for name, param in model.named_parameters():
        if name == "vae.decoder.lstm.weight_ih_l0":
            continue  # multiplies the decoder's constant zero input: always a zero gradient
        changed = not torch.equal(before[name], param)
        assert changed == (id(param) in own), (phase, name)
        assert param.grad is None  # every update zeroes its own gradients after stepping


def test_train_step_gives_each_update_the_gradient_of_its_own_objective():
    cfg = tiny_config()
    model = sg.build_sum_gan(cfg, 0)
    features = torch.randn(7, 12)
    losses, _ = sg.forward_losses(model, features, cfg, torch.Generator().manual_seed(3))
    objectives = sg.phase_objectives(losses)
    expected = {phase: torch.autograd.grad(objectives[phase], model.parameter_groups()[phase],
                                           retain_graph=True, allow_unused=True)
                for phase in sg.PHASES}
    torch.testing.assert_close(objectives["summarizer"], losses["reconstruction"]
                               + losses["prior"] + losses["sparsity"])
    torch.testing.assert_close(objectives["decoder"], losses["reconstruction"]
                               + losses["gan_generator"])
    torch.testing.assert_close(objectives["discriminator"], losses["discriminator"])

    seen = {}

    class Recorder(torch.optim.SGD):
        def __init__(self, params, phase):
            super().__init__(params, lr=0.0)
            self.phase = phase

        def step(self, closure=None):
            seen[self.phase] = [None if p.grad is None else p.grad.clone()
                                for g in self.param_groups for p in g["params"]]

    optimizers = {phase: Recorder(model.parameter_groups()[phase], phase) for phase in sg.PHASES}
    cfg = dataclasses.replace(cfg, grad_clip=0.0)
    sg.train_step(model, optimizers, features, cfg, torch.Generator().manual_seed(3))
    for phase in sg.PHASES:
        for got, want in zip(seen[phase], expected[phase], strict=True):
            assert (got is None) == (want is None)
            if want is not None:
                torch.testing.assert_close(got, want)


def test_mean_score_converges_towards_sigma():
    cfg = tiny_config(sigma=0.1, learning_rate=1e-2, discriminator_learning_rate=1e-3)
    model = sg.build_sum_gan(cfg, 0)
    optimizers = sg.make_optimizers(model, cfg)
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    videos = [torch.rand(20, 12) for _ in range(3)]
    start = model(videos[0], negative=None).scores.mean().item()
    means = [sg.train_step(model, optimizers, videos[i % 3], cfg, generator)["mean_score"]
             for i in range(60)]
    assert abs(start - 0.1) > 0.25
    assert abs(np.mean(means[-10:]) - 0.1) < 0.05, means[-10:]


def test_errors_on_wrong_width_empty_video_and_bad_options():
    model = tiny_model()
    with pytest.raises(ValueError, match="width 10 .* 12-d features"):
        model(torch.randn(5, 10))
    with pytest.raises(ValueError, match="empty video"):
        model(torch.randn(0, 12))
    with pytest.raises(ValueError, match=r"\[T, 12\]"):
        model(torch.randn(12))
    with pytest.raises(ValueError, match="negative"):
        model(torch.randn(5, 12), negative="zeros")


def test_unweighted_negative_encodes_the_raw_features():
    model = tiny_model()
    x = torch.randn(1, 6, 12)
    out = model(x, negative="unweighted", sample=False)
    torch.testing.assert_close(out.negative.reconstruction, model.vae(x).reconstruction)


def test_fit_is_deterministic_and_reloads_from_its_checkpoint(smoke_data, tmp_path,
                                                              monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    cfg = dataclasses.replace(sum_gan_config("smoke"), epochs=2)
    runs = [sg.fit_sum_gan(sg.build_sum_gan(cfg, 7), cfg, data, splits[0], seed=7,
                           checkpoint=checkpoint, live=False) for checkpoint in (True, False)]
    first, second = runs
    assert first.history.train == second.history.train
    assert first.history.evals == second.history.evals
    assert first.history.eval_steps == [0, 4, 8]  # before training, then after each epoch
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    loaded = sg.fit_sum_gan(sg.build_sum_gan(cfg, 0), cfg, data, splits[0], seed=7,
                            live=False)
    assert loaded.pretrain is None and loaded.history.evals == first.history.evals
    for a, b in zip(loaded.model.parameters(), first.model.parameters(), strict=True):
        assert torch.equal(a, b)
    other = sg.fit_sum_gan(sg.build_sum_gan(cfg, 8), cfg, data, splits[0], seed=8,
                           checkpoint=False, live=False)
    assert other.history.train != first.history.train
    scores = sg.score_videos(first.model, data, splits[0].test_keys)
    assert {k: v.shape for k, v in scores.items()} == {
        k: (data[k].n_steps,) for k in splits[0].test_keys}


def test_model_selection_rules():
    from course_lib.training import History

    history = History()
    for step in range(1, 7):  # 3 epochs of 2 videos
        history.log("train", step, {"reconstruction": [5, 5, 1, 1, 3, 3][step - 1],
                                    "prior": 0.0, "sparsity": 0.0})
    for step, f in zip([0, 2, 4, 6], [70.0, 40.0, 50.0, 45.0], strict=True):
        history.log("eval", step, {"f_score": f})
    run = sg.SumGanRun(model=None, history=history, steps_per_epoch=2, seed=0)
    picks = run.selections()
    assert picks["best test epoch (uses test labels)"] == (2, 50.0)  # epoch 0 is not a choice
    assert picks["final epoch (label-free)"] == (3, 45.0)
    assert picks["lowest training loss (label-free)"] == (2, 50.0)


def test_cpu_settings_are_restored():
    threads, kernel = torch.get_num_threads(), ae.USE_ONEDNN_LSTM
    tiny = torch.tensor([1e-39])  # below float32's smallest normal number
    with st.cpu_settings(torch.device("cpu")):
        assert torch.get_num_threads() == st.CPU_THREADS
        assert ae.USE_ONEDNN_LSTM == st.CPU_LSTM_ONEDNN
        assert (tiny * 1.0).item() == 0.0  # flushed: a CPU is many times slower on it
    assert torch.get_num_threads() == threads and ae.USE_ONEDNN_LSTM == kernel
    assert (tiny * 1.0).item() > 0.0


def test_cpu_settings_for_bfloat16_products_run_the_courses_lstm_and_restore():
    """oneDNN's LSTM gains nothing from bfloat16, so with ``products`` the recurrences run on
    the course's LSTM, multiplying in that precision, until the block ends."""
    from course_lib.models.sequence_lstm import product_dtype

    kernel = ae.USE_ONEDNN_LSTM
    with st.cpu_settings(torch.device("cpu"), products=torch.bfloat16):
        assert not ae.USE_ONEDNN_LSTM and product_dtype() == torch.bfloat16
    assert ae.USE_ONEDNN_LSTM == kernel and product_dtype() is None


def family_fits(data, split, wrap=None, **changes):
    """A SUM-GAN-sl fit and a SUM-GAN-AAE fit at the smoke tier (with ``changes``), new models,
    as partials (of ``wrap(fit, ...)`` when given)."""
    configs = [(v, seed, dataclasses.replace(v.method.config("smoke", verbose=False), **changes))
               for v, seed in ((SL, 0), (AAE, 1))]
    return [functools.partial(*([wrap] if wrap else []), v.method.fit, v.method.build(c, seed), c,
                              data, split, seed=seed)
            for v, seed, c in configs]


def assert_made_here(runs, fits):
    """``runs`` have the histories and weights, bit for bit, of ``fits`` made in this process."""
    for run, fit in zip(runs, fits, strict=True):
        made_here = functools.partial(fit, checkpoint=False, live=False)()
        assert run.history.train == made_here.history.train
        for a, b in zip(run.model.parameters(), made_here.model.parameters(), strict=True):
            assert torch.equal(a, b)


def test_fits_in_processes_are_the_fits_made_here(smoke_data, tmp_path, monkeypatch, capsys):
    """Two models trained at once in worker processes, then loaded here: the same weights and
    training histories, bit for bit, as the same fits made in this process; what is printed
    says they were done in workers, not that a finished run was found and loaded."""
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    runs = pr.fit_in_processes(family_fits(data, splits[0]), processes=2)
    assert len(list(tmp_path.glob("*.pt"))) == 2  # each trained once, in a worker
    printed = capsys.readouterr().out
    assert "move that file away" not in printed
    low, high = (f"{s:.0f}" for s in sorted(run.history.seconds for run in runs))  # equal: one
    assert (f"2 fits done in worker processes ({low if low == high else f'{low}-{high}'} s of "
            "training each), read back here from the checkpoints they saved.") in printed
    assert_made_here(runs, family_fits(data, splits[0]))


def test_ctrl_c_stops_fits_in_processes_and_the_same_call_resumes_them(smoke_data, tmp_path,
                                                                       monkeypatch):
    """Ctrl-C while the workers train: each saves and stops; the same call again resumes them
    and ends with the runs of fits that were never interrupted."""
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data

    def progress():
        return [json.loads(p.read_text()) for p in tmp_path.glob("*.progress.json")]

    def ctrl_c_once_both_train():  # or after a minute: the assertion below then says so
        deadline = time.monotonic() + 60
        while len([p for p in progress() if not p["finished"]]) < 2 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    # Ctrl-C raises KeyboardInterrupt, as in a Jupyter kernel, whatever handler earlier tests
    # left in this process (twice in CI this stop the signal raised nothing there).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=ctrl_c_once_both_train, daemon=True)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            pr.fit_in_processes(family_fits(data, splits[0], saving_every_epoch, epochs=10),
                                processes=2)
        watcher.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [p["finished"] for p in progress()] == [False, False]  # stopped, not left to finish
    runs = pr.fit_in_processes(family_fits(data, splits[0], epochs=10), processes=2)
    assert_made_here(runs, family_fits(data, splits[0], epochs=10))


def test_fits_in_processes_name_a_worker_s_error(smoke_data, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    data, splits = smoke_data
    bad = Split(splits[0].train_keys + ("video_99",), splits[0].test_keys)
    with pytest.raises(CourseError, match=r"video_99.*split file"):
        pr.fit_in_processes(family_fits(data, bad), processes=2)


def test_fits_without_a_checkpoint_run_here():
    """Nothing to load them from: they run in this process (a lambda cannot reach a worker)."""
    fits = [functools.partial(lambda i, checkpoint, live: i, i, checkpoint=False)
            for i in range(3)]
    assert pr.fit_in_processes(fits, processes=2) == [0, 1, 2]


def test_cpu_settings_inside_cpu_settings_leave_the_outer_ones_in_force():
    """A measurement made during a fit (the collapse probe) must not turn the fit's flushing
    off, or the rest of the run computes on other numbers."""
    tiny, cpu = torch.tensor([1e-39]), torch.device("cpu")
    with st.cpu_settings(cpu):
        with st.cpu_settings(cpu):
            pass
        assert (tiny * 1.0).item() == 0.0 and torch.get_num_threads() == st.CPU_THREADS
    assert (tiny * 1.0).item() > 0.0


def test_a_measurement_runs_under_the_cpu_settings_of_a_fit():
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = st.with_cpu_settings(lambda model: (torch.get_num_threads(), ae.USE_ONEDNN_LSTM,
                                                   (torch.tensor([1e-39]) * 1.0).item()))
        assert seen(torch.nn.Linear(1, 1)) == (st.CPU_THREADS, st.CPU_LSTM_ONEDNN, 0.0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


def test_flushing_reaches_every_intra_op_thread(monkeypatch):
    """torch.set_flush_denormal sets the calling thread's state only, so on two threads half of
    a large product of denormals would stay unflushed (many times slower). Inside the settings
    every thread flushes, even threads made before, also where another OpenMP runtime is
    loaded first (scikit-learn's own copy, which the course's probes import); after them none
    does (PyTorch's default)."""
    import course_lib.probing  # noqa: F401 (scikit-learn loads its own OpenMP runtime)

    monkeypatch.setattr(st, "available_cores", lambda: 2)
    tiny, saved = torch.full((1_000_000,), 1e-39), torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert torch.count_nonzero(tiny * 1.0) == tiny.numel()  # the threads exist now
        with st.cpu_settings(torch.device("cpu"), 2):
            assert torch.get_num_threads() == 2
            assert torch.count_nonzero(tiny * 1.0) == 0
        assert torch.count_nonzero(tiny * 1.0) == tiny.numel()
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("path, runtime", [
    ("/venv/torch/lib/libgomp.so.1", True), ("/venv/torch.libs/libgomp-a34b3233.so.1", True),
    ("/opt/conda/lib/libgomp.so.1.0.0", True), ("/usr/lib/libomp.so.5", True),
    ("/opt/intel/lib/libiomp5.so", True), ("/usr/lib/libgompx.so", False),
    ("/usr/lib/libgomp.so.1 (deleted)", False), ("/usr/lib/libomp.so.5.txt", False)])
def test_the_openmp_runtime_is_found_under_the_names_it_ships_as(path, runtime):
    from course_lib import runtime as rt

    assert bool(rt._OPENMP_RUNTIME.search(path)) is runtime


def test_where_flushing_cannot_reach_other_threads_a_fit_runs_on_one(monkeypatch):
    """Unless nothing is to be flushed."""
    monkeypatch.setattr(st, "available_cores", lambda: 2)
    monkeypatch.setattr(st, "flush_denormals", lambda on: torch.set_flush_denormal(on) and False)
    with st.cpu_settings(torch.device("cpu"), 2):
        assert torch.get_num_threads() == 1
    monkeypatch.setattr(st, "CPU_FLUSH_DENORMAL", False)
    with st.cpu_settings(torch.device("cpu"), 2):
        assert torch.get_num_threads() == 2


def test_a_fit_trains_on_its_configurations_threads(smoke_data, monkeypatch):
    """The thread count is the configuration's (it fixes the run's numbers, so the checkpoint's
    key carries it), at most the cores the process may run on; the caller's count is restored."""
    from course_lib.models.summarizer_training import run_settings
    from course_lib.training import checkpoint_path

    data, splits = smoke_data
    # small: a two-thread fit beside the other test worker waits on its threads
    split = Split(splits[0].train_keys[:2], splits[0].test_keys[:1])
    seen = []
    trainer = sum_gan_sl.trainer()
    steps = dataclasses.replace(trainer, train_step=lambda *args: seen.append(
        torch.get_num_threads()) or trainer.train_step(*args))
    saved = torch.get_num_threads()
    for threads, cores in ((2, 4), (1, 4), (2, 1)):
        monkeypatch.setattr(st, "available_cores", lambda cores=cores: cores)
        config = dataclasses.replace(SL.method.config("smoke", verbose=False),
                                     cpu_threads=threads, epochs=1)
        seen.clear()
        st.fit(SL.method.build(config, 0), config, data, split, "threads", steps,
               checkpoint=False, live=False)
        assert seen and set(seen) == {min(threads, cores)}
        assert torch.get_num_threads() == saved
    keys = [checkpoint_path("04", run_settings(dataclasses.replace(config, cpu_threads=t), data,
                                               0, split.train_keys)) for t in (1, 2)]
    assert keys[0] != keys[1]


@pytest.mark.parametrize("threads", [0, -1, 1.0, "2", True, None])
def test_a_thread_count_that_is_not_a_whole_number_above_0_is_refused(threads):
    config = dataclasses.replace(SL.method.config("smoke", verbose=False), cpu_threads=threads)
    with pytest.raises(CourseError, match=rf"cpu_threads must be a whole number >= 1.*{threads!r}"):
        pr.fit_threads(config)


def test_a_configuration_without_a_thread_count_trains_on_the_default():
    assert pr.fit_threads(object()) == pr.CPU_THREADS


def test_two_thread_fits_on_two_cores_run_one_after_another(smoke_data, tmp_path, monkeypatch):
    """Two two-thread fits in two processes on two cores would wait on each other's threads:
    by default they run here, one after the other; one-thread fits go to two processes."""
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(pr.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    pools = []
    monkeypatch.setattr(pr, "ProcessPoolExecutor",
                        lambda processes, **kwargs: pools.append(processes) or 1 / 0)
    data, splits = smoke_data
    split = Split(splits[0].train_keys[:2], splits[0].test_keys[:1])
    runs = pr.fit_in_processes(family_fits(data, split, cpu_threads=2, epochs=1))
    assert pools == [] and len(runs) == 2
    with pytest.raises(ZeroDivisionError):
        pr.fit_in_processes(family_fits(data, split))
    assert pools == [2]


@pytest.mark.parametrize("omp, cores, expected", [
    (None, {0, 1, 2, 3}, 2), (None, {0}, 1), ("1", {0, 1}, 1), ("3", {0, 1, 2, 3}, 2),
    (" ", {0, 1}, 2), ("0", {0, 1}, 2)])
def test_a_process_uses_the_cores_it_may_run_on(monkeypatch, omp, cores, expected):
    """Fewer where it may run on fewer, or is asked for one thread (the runner's jobs:
    OMP_NUM_THREADS=1)."""
    monkeypatch.setattr(pr.os, "sched_getaffinity", lambda pid: cores, raising=False)
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert pr.cores_to_use(2) == expected


def test_a_run_on_other_data_gets_another_checkpoint():
    """A finished run is keyed by a fingerprint of its data, not only by the data's name."""
    from course_lib.models.summarizer_training import run_settings
    from course_lib.training import checkpoint_path

    data = make_synthetic_dataset(summarization_data_config("smoke", verbose=False))
    cfg = sum_gan_config("smoke", verbose=False)
    keys = data.keys()[:3]
    before = checkpoint_path("03-sum-gan", run_settings(cfg, data, 0, keys))
    data.videos[keys[0]].features[0, 0] += 1.0  # the same name and source, other data
    assert checkpoint_path("03-sum-gan", run_settings(cfg, data, 0, keys)) != before


def test_a_field_added_later_keeps_the_saved_checkpoints_while_it_keeps_its_neutral_value():
    """The count option's field left at False gives the key the model had before the field
    existed; set, another one."""
    import dataclasses

    from course_lib.config import NEUTRAL_LATER_FIELDS, improvement, sum_gan_sl_config
    from course_lib.models.summarizer_training import run_settings
    from course_lib.training import checkpoint_path

    data = make_synthetic_dataset(summarization_data_config("smoke", verbose=False))
    config, keys = sum_gan_sl_config("smoke", verbose=False), data.keys()[:3]
    settings = run_settings(config, data, 0, keys)
    before_the_field = {k: v for k, v in {**dataclasses.asdict(config), **settings}.items()
                        if k not in NEUTRAL_LATER_FIELDS}
    assert checkpoint_path("04", settings) == checkpoint_path("04", before_the_field)
    for changed in (dataclasses.replace(config, **improvement("count")),
                    dataclasses.replace(config, matmul_dtype="bfloat16")):
        assert checkpoint_path("04", run_settings(changed, data, 0, keys)) != checkpoint_path(
            "04", settings)
