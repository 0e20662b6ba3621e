"""The LSTM autoencoder family of Srivastava, Mansimov and Salakhutdinov (ICML 2015).

Taught in notebook 01. An encoder LSTM reads the input frames; its final (h, c) is the video's
representation and the initial state of up to two decoders: one reconstructs the input *in reverse
order*, one predicts the future. Notebook 03 reuses :class:`FrameEncoder` and
:class:`FrameDecoder` as the VAE inside SUM-GAN.

Two ways to run a decoder:

- :meth:`FrameDecoder.forward` is *fused*: one ``nn.LSTM`` call over the whole sequence, which
  works whenever every step's input is known in advance — an unconditioned decoder (its input is
  empty) or a conditional one that is teacher-forced (its input is the ground-truth previous frame).
- :meth:`FrameDecoder.generate` is a Python loop of one-step calls that feeds the decoder its own
  previous output. It is needed at test time by a conditional future predictor (the future is not
  known) and it is how tutorials usually train it; ``benchmarks/bench_fused_decoder.py``
  measures what the fused form saves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.sequence_lstm import matmul_dtype, sequence_lstm

LOSSES = ("bce", "mse")
State = tuple[torch.Tensor, torch.Tensor]

# On a CPU the course runs its LSTMs through models/sequence_lstm.py, whose backward pass forms
# each weight gradient in one matrix product for the whole sequence, rather than through PyTorch's
# default (oneDNN). On the course's 2-core CPU a training step of notebook 01's paper-size model
# (2x2048, batch 16) took 4.2 s instead of 5.8 s, and of a 1x256 one on 64x64 frames (batch 32)
# 0.15 s instead of 0.23 s; benchmarks/bench_fused_decoder.py prints both. For batch-1 SUM-GAN
# oneDNN was faster: models/sum_gan.py sets this flag for its run.
USE_ONEDNN_LSTM = False


def run_lstm(lstm: nn.LSTM, inputs: torch.Tensor, state: State | None = None):
    """``lstm(inputs, state)``, on the course's CPU LSTM unless ``USE_ONEDNN_LSTM`` (or a GPU)."""
    if inputs.device.type != "cpu" or USE_ONEDNN_LSTM:
        return lstm(inputs, state)
    return sequence_lstm(lstm, inputs, state)


def reversed_targets(frames: torch.Tensor) -> torch.Tensor:
    """The reconstruction decoder's target: the input frames [B, T, ...] in reverse time order.

    Reversing makes the first frames the decoder must emit the ones the encoder saw last, so the
    shortest paths through time carry the easiest signal (Srivastava et al., Sec. 2.3).
    """
    return frames.flip(1)


def teacher_forcing_inputs(targets: torch.Tensor) -> torch.Tensor:
    """Inputs of a teacher-forced conditional decoder: zeros, then the true previous frame.

    Step t receives target t-1, so the whole sequence of inputs is known before decoding and one
    fused LSTM call can process it.
    """
    return torch.cat([torch.zeros_like(targets[:, :1]), targets[:, :-1]], dim=1)


def bernoulli_nats_per_frame(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Bernoulli cross-entropy in the paper's units: summed over pixels, averaged over frames.

    ``logits`` and ``targets`` are [B, T, D] with targets in [0, 1]. Working from logits (not from
    sigmoid outputs) keeps the loss finite when the model is confident.
    """
    n_frames = targets.shape[0] * targets.shape[1]
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / n_frames


def bernoulli_entropy_per_frame(targets: torch.Tensor) -> torch.Tensor:
    """The entropy floor of :func:`bernoulli_nats_per_frame`, in the same units.

    Grey-level targets y in [0, 1] are not coin flips that a perfect model could call: even the
    best prediction, p = y, pays the binary entropy H(y) = -y ln y - (1-y) ln(1-y) at every pixel.
    The floor depends on the data (blurrier digits, more grey, a higher floor), so a loss means
    little without it: report the loss *above* the floor.
    """
    n_frames = targets.shape[0] * targets.shape[1]
    return (torch.special.entr(targets) + torch.special.entr(1 - targets)).sum() / n_frames


def entropy_floor(frames: torch.Tensor, n_input: int) -> dict[str, float]:
    """Each decoder's floor on sequences [N, T, H, W], keyed like ``evaluate_autoencoder``."""
    inputs, future = split_sequence(frames, n_input)
    return {"reconstruction_nats": bernoulli_entropy_per_frame(inputs).item(),
            "future_nats": bernoulli_entropy_per_frame(future).item()}


def squared_error_per_frame(frames: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Squared error summed over a frame's pixels, averaged over frames (the MSE papers' unit)."""
    n_frames = targets.shape[0] * targets.shape[1]
    return (frames - targets).pow(2).sum() / n_frames


class FrameEncoder(nn.Module):
    """Reads frames [B, T, D]; its final (h, c) summarises the sequence."""

    def __init__(self, frame_size: int, hidden_size: int, num_layers: int = 1):
        super().__init__()
        self.lstm = nn.LSTM(frame_size, hidden_size, num_layers, batch_first=True)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, State]:
        return run_lstm(self.lstm, frames)


class FrameDecoder(nn.Module):
    """An LSTM started from the encoder's state that emits one frame per step.

    A *conditional* decoder also reads the previous frame; an *unconditioned* one reads nothing
    (PyTorch needs an input, so it gets a constant zero of width 1: 4·hidden inert weights).
    """

    def __init__(self, frame_size: int, hidden_size: int, num_layers: int = 1,
                 conditional: bool = False):
        super().__init__()
        self.conditional = conditional
        self.frame_size = frame_size
        self.lstm = nn.LSTM(frame_size if conditional else 1, hidden_size, num_layers,
                            batch_first=True)
        self.readout = nn.Linear(hidden_size, frame_size)

    def forward(self, state: State, steps: int,
                targets: torch.Tensor | None = None) -> torch.Tensor:
        """Fused decoding of ``steps`` frames; a conditional one is teacher-forced on targets."""
        if self.conditional:
            if targets is None or targets.shape[1] != steps:
                raise ValueError("A conditional decoder is teacher-forced: pass the "
                                 f"{steps} target frames, or call generate() to feed back outputs.")
            inputs = teacher_forcing_inputs(targets)
        else:
            inputs = state[0].new_zeros(state[0].shape[1], steps, 1)
        hidden, _ = run_lstm(self.lstm, inputs, state)
        return self.readout(hidden)

    def generate(self, state: State, steps: int, to_frame=torch.sigmoid) -> torch.Tensor:
        """Decode one step at a time, feeding back ``to_frame`` of the previous output."""
        batch = state[0].shape[1]
        frame = state[0].new_zeros(batch, 1, self.frame_size if self.conditional else 1)
        outputs = []
        for _ in range(steps):
            hidden, state = run_lstm(self.lstm, frame, state)
            out = self.readout(hidden)
            outputs.append(out)
            if self.conditional:
                frame = to_frame(out)
        return torch.cat(outputs, dim=1)


@dataclass
class AutoencoderOutput:
    """Decoder outputs (logits for ``bce``, intensities for ``mse``) and the representation."""

    reconstruction: torch.Tensor | None  # [B, T_in, D], in reversed time order
    future: torch.Tensor | None  # [B, T_future, D]
    representation: State  # the encoder's final (h, c), each [layers, B, hidden]


class LSTMAutoencoder(nn.Module):
    """Reconstruction autoencoder, future predictor, or both (the composite model).

    ``loss="bce"``: sigmoid outputs and Bernoulli cross-entropy (the paper). ``loss="mse"``: linear
    outputs and squared error (as tutorials usually write it).
    """

    def __init__(self, frame_size: int, hidden_size: int, num_layers: int = 1, *,
                 reconstruct: bool = True, predict: bool = True, n_future: int = 10,
                 conditional_reconstruction: bool = False, conditional_future: bool = False,
                 loss: str = "bce"):
        super().__init__()
        if not (reconstruct or predict):
            raise ValueError("An autoencoder needs a decoder: reconstruct and/or predict.")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
        self.loss_name = loss
        self.n_future = n_future
        self.encoder = FrameEncoder(frame_size, hidden_size, num_layers)
        self.reconstructor = (FrameDecoder(frame_size, hidden_size, num_layers,
                                           conditional_reconstruction) if reconstruct else None)
        self.predictor = (FrameDecoder(frame_size, hidden_size, num_layers, conditional_future)
                          if predict else None)

    def to_frames(self, outputs: torch.Tensor) -> torch.Tensor:
        """Decoder outputs as intensities in [0, 1]."""
        return torch.sigmoid(outputs) if self.loss_name == "bce" else outputs.clamp(0, 1)

    def _feedback(self, outputs: torch.Tensor) -> torch.Tensor:
        # What a free-running decoder reads back: tutorials feed back the raw linear output.
        return torch.sigmoid(outputs) if self.loss_name == "bce" else outputs

    def forward(self, inputs: torch.Tensor, future: torch.Tensor | None = None, *,
                free_running: bool = False) -> AutoencoderOutput:
        """Encode ``inputs`` [B, T, D]; decode with teacher forcing, or free-running if asked.

        ``free_running`` makes the future predictor feed on its own output (test time). The
        reconstruction decoder always sees the true frames: they are the input.
        """
        _, state = self.encoder(inputs)
        reconstruction = prediction = None
        if self.reconstructor is not None:
            reconstruction = self.reconstructor(state, inputs.shape[1], reversed_targets(inputs))
        if self.predictor is not None:
            if free_running or not self.predictor.conditional:
                prediction = (self.predictor.generate(state, self.n_future, self._feedback)
                              if self.predictor.conditional
                              else self.predictor(state, self.n_future))
            else:
                if future is None:
                    raise ValueError("A teacher-forced conditional future predictor needs the true "
                                     "future frames; pass future=... or free_running=True.")
                prediction = self.predictor(state, self.n_future, future)
        return AutoencoderOutput(reconstruction, prediction, state)

    def losses(self, out: AutoencoderOutput, inputs: torch.Tensor,
               future: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Per-decoder losses in per-frame units; ``total`` is their sum (what is optimised)."""
        criterion = bernoulli_nats_per_frame if self.loss_name == "bce" else squared_error_per_frame
        losses = {}
        if out.reconstruction is not None:
            losses["reconstruction"] = criterion(out.reconstruction, reversed_targets(inputs))
        if out.future is not None:
            losses["future"] = criterion(out.future, future)
        losses["total"] = sum(losses.values())
        return losses


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def split_sequence(frames: torch.Tensor, n_input: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, T, H, W] frames -> flattened inputs [B, n_input, H*W] and future [B, T-n_input, H*W]."""
    flat = frames.flatten(2)
    return flat[:, :n_input], flat[:, n_input:]



@torch.no_grad()
def prediction_baselines(frames: torch.Tensor, n_input: int) -> dict[str, tuple[float, float]]:
    """What predicting the future without a model scores on sequences [N, T, H, W], in the
    units of :func:`evaluate_autoencoder` (nats/frame, squared error/frame): a sceptic's
    yardsticks for the predictor. The data's mean frame (over every frame of every sequence:
    where it is 0, no frame has ink, so its nats stay finite); the last input frame copied
    forward, which costs infinite nats (its pixels of exactly 0 where the digit moved to), and
    the same half mixed with the mean frame, finite; 0.5 everywhere."""
    inputs, future = split_sequence(frames, n_input)
    mean = frames.flatten(2).mean(dim=(0, 1)).expand_as(future)
    last = inputs[:, -1:].expand_as(future)
    guesses = {"the data's mean frame": mean, "the last input frame, copied": last,
               "the same, half mixed with the mean frame": 0.5 * last + 0.5 * mean,
               "0.5 everywhere": torch.full_like(future, 0.5)}
    n_frames = future.shape[0] * future.shape[1]

    def nats(p: torch.Tensor) -> float:  # -Σ y ln p + (1 - y) ln(1 - p), with 0 · ln 0 = 0
        inside = future * torch.special.xlogy(1.0, p) + (1 - future) * torch.log1p(-p)
        inside = torch.where((future == 0) & (p == 0) | (future == 1) & (p == 1), 0.0, inside)
        return float(-inside.sum() / n_frames)

    return {name: (nats(p), squared_error_per_frame(p, future).item())
            for name, p in guesses.items()}

@torch.no_grad()
def evaluate_autoencoder(model: LSTMAutoencoder, frames: torch.Tensor, n_input: int,
                         batch_size: int = 100) -> dict[str, float]:
    """Held-out losses in the paper's units, the future predicted free-running (as at test time).

    Returns nats/frame (cross-entropy of the intensities, only meaningful for ``bce``) and
    squared error per frame for each decoder, averaged over all sequences of ``frames``.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums: dict[str, float] = {}
    for start in range(0, len(frames), batch_size):
        chunk = frames[start:start + batch_size].to(device)
        inputs, future = split_sequence(chunk, n_input)
        out = model(inputs, future, free_running=True)
        parts = {"reconstruction": (out.reconstruction, reversed_targets(inputs)),
                 "future": (out.future, future)}
        for name, (outputs, targets) in parts.items():
            if outputs is None:
                continue
            weight = len(chunk)
            if model.loss_name == "bce":
                nats = bernoulli_nats_per_frame(outputs, targets).item()
                sums[f"{name}_nats"] = sums.get(f"{name}_nats", 0.0) + nats * weight
            sse = squared_error_per_frame(model.to_frames(outputs), targets).item()
            sums[f"{name}_sse"] = sums.get(f"{name}_sse", 0.0) + sse * weight
    model.train(was_training)
    return {key: value / len(frames) for key, value in sums.items()}


@torch.no_grad()
def future_nats_per_step(model: LSTMAutoencoder, frames: torch.Tensor, n_input: int, *,
                         free_running: bool = True, batch_size: int = 100) -> np.ndarray:
    """The future predictor's held-out nats/frame at each step ahead [T_future], fed its own
    outputs (``free_running``, as at test time) or the true previous frames (as in training:
    the same for a predictor that reads no frames). A conditional predictor whose free-running
    loss climbs with the steps ahead while its teacher-forced one stays flat is compounding its
    own errors: exposure bias, measured on the same held-out sequences."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = None
    for start in range(0, len(frames), batch_size):
        inputs, future = split_sequence(frames[start:start + batch_size].to(device), n_input)
        logits = model(inputs, future, free_running=free_running).future
        per_step = F.binary_cross_entropy_with_logits(logits, future, reduction="none").sum(
            dim=(0, 2))
        total = per_step if total is None else total + per_step
    model.train(was_training)
    return (total / len(frames)).cpu().numpy()

def build_autoencoder(config, **variant) -> LSTMAutoencoder:
    """The model sized by a tier's :class:`~course_lib.config.AutoencoderConfig`.

    ``variant`` picks the family member: ``reconstruct``, ``predict``,
    ``conditional_reconstruction``, ``conditional_future``, ``loss``.
    """
    return LSTMAutoencoder(config.frame_size, config.hidden_size, config.num_layers,
                           n_future=config.n_future, **variant)


def make_optimizer(model: nn.Module, config) -> torch.optim.Optimizer:
    """``config.optimizer`` at ``config.learning_rate``: ``"adam"`` (the course's) or ``"sgd"``.

    ``"sgd"`` is the official code's optimizer: SGD with momentum 0.9 and weight decay 1e-4.
    Its learning rate stays the configuration's: the official code's was 1e-4 (batch 80), which
    it also multiplied by 0.9 every 10,000 steps; that decay is not reproduced here.

    Adam runs as one fused kernel (``fused=True``): on a CPU its update of the 268 M parameters
    of the paper-size model took 0.17 s instead of 1.26 s.
    """
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate, fused=True)
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=0.9,
                               weight_decay=1e-4)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {config.optimizer!r}.")


# Processes that make Moving MNIST batches ahead of a GPU: on an H200 machine one paper-size
# batch took 53 ms on one CPU core and a training step 90 ms with the batch made in between
# (benchmarks/gpu_check.py); four keep the GPU fed with room for a slower CPU. On a CPU the
# training itself uses the cores, and batches are made in between.
GPU_LOADER_WORKERS = 4


def fit_autoencoder(model: LSTMAutoencoder, config, digits, test_frames: torch.Tensor,
                    name: str, *, seed: int = 0, checkpoint: bool = True,
                    live: bool | None = None):
    """Train on fresh Moving MNIST batches (made on the fly, as the official code does).

    Evaluates on the fixed ``test_frames`` [N, T, H, W] every ``config.eval_every`` steps, with
    the future predicted free-running. Returns the :class:`~course_lib.training.History`; the
    run is loaded instead when its checkpoint exists, and an interrupted run (Ctrl-C saves it)
    resumes where it stopped, with the same batches and final weights as an uninterrupted one.
    On a CPU it trains on ``config.cpu_threads`` threads, its products in
    ``config.matmul_dtype``; ``live`` as in
    :func:`course_lib.training.train`. Two fits train at once with
    :func:`course_lib.processes.fit_in_processes`.
    """
    from course_lib.data.moving_mnist import moving_mnist_loader
    from course_lib.processes import fit_threads, intra_op_threads
    from course_lib.training import CHECKPOINT_SECONDS, as_floats, checkpoint_path, train

    device = next(model.parameters()).device
    optimizer = make_optimizer(model, config)
    on_gpu = device.type == "cuda"
    bfloat16 = matmul_dtype(config) is not None and not on_gpu

    def batches(start: int):
        return moving_mnist_loader(digits, config.batch_size, seed=seed, start=start,
                                   stop=config.steps, workers=GPU_LOADER_WORKERS * on_gpu,
                                   pin_memory=on_gpu, n_frames=config.n_input + config.n_future,
                                   n_digits=config.n_digits, canvas=config.canvas)

    def step(frames: torch.Tensor) -> dict[str, float]:
        inputs, future = split_sequence(frames.to(device, non_blocking=True), config.n_input)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            losses = model.losses(model(inputs, future), inputs, future)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        return as_floats(losses)

    variant = {"reconstruct": model.reconstructor is not None,
               "predict": model.predictor is not None, "loss": model.loss_name,
               "conditional_reconstruction": bool(model.reconstructor
                                                  and model.reconstructor.conditional),
               "conditional_future": bool(model.predictor and model.predictor.conditional)}
    settings = {**vars(config), **variant, "seed": seed}
    if on_gpu:  # the threads change a CPU run's numbers only
        settings.pop("cpu_threads", None)
    if not bfloat16:  # float32, or a GPU: keyed as runs were before the setting existed
        del settings["matmul_dtype"]
    path = checkpoint_path(name, settings) if checkpoint else None
    with intra_op_threads(device, fit_threads(config)):
        return train(step, batches, config.steps, state={"model": model, "optimizer": optimizer},
                     evaluate=lambda: evaluate_autoencoder(model, test_frames, config.n_input),
                     eval_every=config.eval_every, checkpoint=path,
                     checkpoint_every=config.eval_every, checkpoint_seconds=CHECKPOINT_SECONDS,
                     title=name, live=live)


@torch.no_grad()
def predict_frames(model: LSTMAutoencoder, frames: torch.Tensor, n_input: int
                   ) -> dict[str, np.ndarray | None]:
    """One sequence [T, H, W] as the model sees it, for display: all in forward time order.

    Returns ``inputs``, ``reconstruction`` (un-reversed), ``prediction`` (free-running) and
    ``future`` (the truth), each [T_part, H, W] in [0, 1] or None for a missing decoder.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    height, width = frames.shape[-2:]
    inputs, future = split_sequence(frames[None].to(device), n_input)
    out = model(inputs, future, free_running=True)
    model.train(was_training)

    def image(x):
        return None if x is None else x[0].reshape(-1, height, width).cpu().numpy()

    def decoded(outputs):
        return None if outputs is None else image(model.to_frames(outputs))

    reconstruction = None if out.reconstruction is None else reversed_targets(out.reconstruction)
    return {"inputs": image(inputs), "reconstruction": decoded(reconstruction),
            "prediction": decoded(out.future), "future": image(future)}


@torch.no_grad()
def representations(model: LSTMAutoencoder, frames: torch.Tensor, n_input: int,
                    batch_size: int = 200) -> np.ndarray:
    """The top layer's final hidden state for each sequence of ``frames``: [N, hidden]."""
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(frames), batch_size):
        inputs, _ = split_sequence(frames[start:start + batch_size].to(device), n_input)
        _, (h, _) = model.encoder(inputs)
        chunks.append(h[-1].cpu().numpy())
    return np.concatenate(chunks)
