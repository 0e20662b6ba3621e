"""SUM-GAN-AAE: SUM-GAN-sl with an attention auto-encoder (Apostolidis et al., MMM 2020).

Taught in notebook 05, built on notebook 04's SUM-GAN-sl (:mod:`course_lib.models.sum_gan_sl`).
Everything but the auto-encoder is -sl's: the compression, the selector, the discriminator, the
losses, the three phases per video and their options (:class:`~course_lib.config.SumGanAaeConfig`
is -sl's configuration with AAE's σ = 0.15), the faithful and the fast trainer. What changes:

- **no VAE**: the encoder's outputs at every step and its final state go to the decoder as they
  are: no μ / variance heads, no sampling, so no prior term in phase 1 (the model is
  deterministic);
- **attention**: before each decoder step, its state (both layers' h, layer 0 first) becomes a
  query ``Linear(layers·hidden → hidden)``; the energies are plain dot products of the query with
  every encoder output, softmax-ed over all steps; the context (their weighted sum) joins the
  previous output as the first cell's input (:class:`AttentionDecoder`).

At the reference's sizes (hidden 500, two layers) the model has 24,305,002 parameters. Each
decoder step reads every encoder step, so a video of T steps costs O(T²) time and memory; a video
(or batch) whose attention would not fit in the memory available is refused before it is
allocated (:func:`check_attention_memory`). The decoder's recurrence runs in -sl's decoder's
autograd node with attention added (:mod:`course_lib.models.decoder_loop`), whose backward forms
each weight gradient, and that of the encoder's outputs, in one matrix product;
``benchmarks/bench_sum_gan_sl.py --model aae`` measures the trainers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.errors import CourseError
from course_lib.models.decoder_loop import run_decoder_loop
from course_lib.models.lstm_autoencoder import FrameEncoder
from course_lib.models.sequence_lstm import longest_first
from course_lib.models.sequences import (
    length_mask,
    reverse_each,
    run_lstm_masked,
    running_mask,
)
from course_lib.models.sum_gan import Discriminator, Selector
from course_lib.models.sum_gan_sl import (
    SumGanSl,
    compression_layer,
    encoder_input,
    fit_sum_gan_sl,
)
from course_lib.models.summarizer_training import part_sizes, seeded  # noqa: F401 (notebook 05)

# What training holds per decoder step and encoder step: the attention weights (kept for the
# backward pass), their gradient, and a copy of each for the backward pass's final products.
ATTENTION_TENSORS = 4


class AttentionDecoder(nn.Module):
    """dLSTM of SUM-GAN-AAE: stacked ``LSTMCell``\\ s that attend to the encoder's outputs.

    Started from the encoder's final (h, c) and a zero previous output. At each step the state
    *before* the step (all layers' h, layer 0 first) is the query; the context it reads from the
    encoder's outputs and the previous output ``out(top h)`` are the first cell's input; the
    step emits its top layer's h. :meth:`forward` runs the recurrence as one autograd node
    (:class:`~course_lib.models.decoder_loop.DecoderLoop`, -sl's with attention), :meth:`loop`
    as a plain loop of the modules (the definition it is tested against).
    """

    def __init__(self, hidden_size: int, num_layers: int = 2):
        super().__init__()
        self.attention = nn.Linear(num_layers * hidden_size, hidden_size)
        self.cells = nn.ModuleList([nn.LSTMCell(2 * hidden_size if i == 0 else hidden_size,
                                                hidden_size) for i in range(num_layers)])
        self.out = nn.Linear(hidden_size, hidden_size)

    def forward(self, state: tuple[torch.Tensor, torch.Tensor], memory: torch.Tensor,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Emitted top-layer h [B, T, H] in the order emitted (the reverse of the video), and
        each step's attention weights [B, T_decoder, T_encoder], from the encoder's state
        ([layers, B, H] each) and outputs ``memory`` [B, T, H]; ``lengths`` masks each video's
        padded encoder steps out of the softmax, and its decoder steps past its length are
        zeros (not computed)."""
        h0, c0 = state
        order, running = longest_first(lengths, memory.shape[0], memory.shape[1])
        padded = padding_mask(memory, lengths)
        emitted, attention = run_decoder_loop(
            self.cells, self.out, h0[:, order].contiguous(), c0[:, order].contiguous(), running,
            memory[order].contiguous(), None if padded is None else padded[order],
            self.attention)
        restore = torch.argsort(order)
        return emitted[:, restore].transpose(0, 1), attention[:, restore].transpose(0, 1)

    def loop(self, state: tuple[torch.Tensor, torch.Tensor], memory: torch.Tensor,
             lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The same, as a plain Python loop of the modules (what :meth:`forward` must equal)."""
        h, c = state
        states = [(h[i], c[i]) for i in range(len(self.cells))]
        previous = memory.new_zeros(memory.shape[0], memory.shape[2])
        emitted, weights = [], []
        for t in range(memory.shape[1]):
            layer_input, alpha = decoder_input(torch.stack([s[0] for s in states]), previous,
                                               memory, self.attention, lengths)
            for i, cell in enumerate(self.cells):
                states[i] = cell(layer_input, states[i])
                layer_input = states[i][0]
            running = running_mask(lengths, t, layer_input)
            emitted.append(layer_input * running)
            weights.append(alpha * running)
            previous = self.out(layer_input)
        return torch.stack(emitted, dim=1), torch.stack(weights, dim=1)


def padding_mask(memory: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
    """True at each video's padded steps of ``memory`` [B, T, ...] (``None``: no padding)."""
    if lengths is None:
        return None
    return ~length_mask(lengths.to(memory.device), memory.shape[1])


def masked_softmax(energies: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the steps of ``energies`` [B, T], each video's padded steps (at and after
    its length) set to −∞ first, so that they get weight 0 and the real steps share all of it."""
    padded = padding_mask(energies, lengths)
    if padded is not None:
        energies = energies.masked_fill(padded, float("-inf"))
    return torch.softmax(energies, dim=1)


def attend(query: torch.Tensor, memory: torch.Tensor, lengths: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Dot-product attention of a query [B, H] over the encoder's outputs ``memory`` [B, T, H]:
    energies ⟨memory_i, query⟩ (not scaled), their (masked) softmax α [B, T], and the context
    Σ_i α_i memory_i [B, H]."""
    weights = masked_softmax(torch.bmm(memory, query.unsqueeze(2)).squeeze(2), lengths)
    return weights, torch.bmm(weights.unsqueeze(1), memory).squeeze(1)


def decoder_input(h: torch.Tensor, previous: torch.Tensor, memory: torch.Tensor,
                  attention: nn.Linear, lengths: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """What a decoder step's first cell reads, and the step's attention weights [B, T]: the
    query is ``attention`` of the state's h [layers, B, H] side by side (layer 0 first), and the
    input is [previous output, context] [B, 2H]."""
    weights, context = attend(attention(torch.cat(list(h), dim=1)), memory, lengths)
    return torch.cat([previous, context], dim=1), weights


def available_memory(device: torch.device) -> int | None:
    """Bytes that a tensor on ``device`` could still take (``None`` where the system does not
    say): on a GPU the free memory plus what PyTorch has reserved but not used; on Linux the
    kernel's estimate of available memory (free and reclaimable), elsewhere the free pages."""
    if device.type == "cuda":
        return (torch.cuda.mem_get_info(device)[0] + torch.cuda.memory_reserved(device)
                - torch.cuda.memory_allocated(device))
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_attention_memory(batch: int, steps: int, dtype: torch.dtype, device: torch.device,
                           limit: int | None = None) -> None:
    """Refuse, before allocating it, an attention that would not fit in memory (``limit``
    bytes, by default what the device has free): it holds B·T² weights several times over."""
    needed = ATTENTION_TENSORS * batch * steps * steps * torch.finfo(dtype).bits // 8
    limit = available_memory(device) if limit is None else limit
    if limit is not None and needed > limit:
        raise CourseError(
            f"the attention over {batch} video(s) of {steps} steps needs about "
            f"{needed / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB free on {device}: "
            f"use a shorter video (or subsample its steps), or fewer videos per update.")


@dataclass
class AaeOutput:
    scores: torch.Tensor  # [B, T]
    decoded: torch.Tensor  # [B, T, hidden], in forward time order
    attention: torch.Tensor  # [B, T_decoder, T_encoder], weights of the encoder's steps


class SumGanAae(SumGanSl):
    """Compression, summarizer (sLSTM → eLSTM → attention dLSTM) and discriminator.

    The -sl model with the attention auto-encoder in place of the VAE: it reuses -sl's checks
    (:meth:`prepare`), selector and discriminator methods, and builds its own parts (so it does
    not run -sl's constructor, which would build the VAE's).
    """

    title = "SUM-GAN-AAE"

    def __init__(self, feature_dim: int = 1024, hidden_size: int = 500, num_layers: int = 2,
                 recurrence_input: bool = False):
        nn.Module.__init__(self)
        self.feature_dim, self.recurrence_input = feature_dim, recurrence_input
        self.compress = compression_layer(feature_dim, hidden_size, recurrence_input)
        self.selector = Selector(hidden_size, hidden_size, num_layers)
        self.encoder = FrameEncoder(hidden_size, hidden_size, num_layers)
        self.decoder = AttentionDecoder(hidden_size, num_layers)
        self.discriminator = Discriminator(hidden_size, hidden_size, num_layers)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """What each phase's optimizer steps, without the compression layer (in all three); the
        attention belongs to the decoder."""
        return {"summarizer": [*self.selector.parameters(), *self.encoder.parameters()],
                "decoder": list(self.decoder.parameters()),
                "discriminator": list(self.discriminator.parameters())}

    def parts(self) -> dict[str, list[nn.Module]]:
        """The parts of the paper's table (24,305,002 parameters in all at its sizes)."""
        decoder = self.decoder
        return {"linear_compress": [self.compress], "sLSTM": [self.selector],
                "eLSTM": [self.encoder], "dLSTM attention": [decoder.attention],
                **{f"dLSTM cell {i + 1}": [cell] for i, cell in enumerate(decoder.cells)},
                "dLSTM out": [decoder.out], "dLSTM": [decoder],
                "discriminator": [self.discriminator]}

    def latent_terms(self, out: AaeOutput) -> dict[str, torch.Tensor]:
        """No prior: the code is not sampled."""
        return {}

    def summarize(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                  generator: torch.Generator | None = None,
                  select: float | None = None, scores: torch.Tensor | None = None
                  ) -> AaeOutput:
        """Scores, the decoded sequence and the attention weights (row t: decoder step t, which
        reconstructs step T − 1 − t). Deterministic: ``generator`` is unused (it is there for
        -sl's trainer, whose VAE samples). ``select`` and ``scores``: as -sl's
        (:meth:`SumGanSl.summarize`)."""
        check_attention_memory(x.shape[0], x.shape[1], x.dtype, x.device)
        scores = self.score(x, lengths) if scores is None else scores
        memory, state = run_lstm_masked(self.encoder.lstm,
                                        encoder_input(x, scores, lengths, select), lengths)
        emitted, attention = self.decoder(state, memory, lengths)
        return AaeOutput(scores, reverse_each(emitted, lengths), attention)

    @torch.no_grad()
    def attention_map(self, features: torch.Tensor) -> torch.Tensor:
        """The attention weights of one video [T, D] as a [T_decoder, T_encoder] matrix (row t:
        decoder step t, which reconstructs step T − 1 − t), for plotting."""
        x = self.compress(self.prepare(features))
        return self.summarize(x).attention[0]


def build_sum_gan_aae(config, seed: int | None = None) -> SumGanAae:
    """The model sized by a :class:`~course_lib.config.SumGanAaeConfig`, initialised from
    ``seed`` (without touching the global random state) when one is given."""
    return seeded(lambda: SumGanAae(config.feature_dim, config.hidden_size, config.num_layers,
                                    config.recurrence_input), seed)


def fit_sum_gan_aae(model: SumGanAae, config, dataset, split, name: str = "05-sum-gan-aae",
                    **options):
    """Train by SUM-GAN-sl's updates (:func:`~course_lib.models.sum_gan_sl.fit_sum_gan_sl`,
    the same options and checkpoints): the faithful trainer with ``videos_per_update=1``, the
    fast one with more."""
    return fit_sum_gan_sl(model, config, dataset, split, name, **options)
