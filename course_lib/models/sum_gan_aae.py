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
decoder step reads every encoder step, so a video of T steps costs O(T²) time and memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.errors import CourseError
from course_lib.models.lstm_autoencoder import FrameEncoder, count_parameters
from course_lib.models.sum_gan import Discriminator, Selector
from course_lib.models.sum_gan_sl import SumGanSl, fit_sum_gan_sl, reverse_each, run_lstm_masked

# The attention's memory per decoder step and encoder step: energies, weights and, in the
# backward pass, their gradient.
ATTENTION_TENSORS = 3


class AttentionDecoder(nn.Module):
    """dLSTM of SUM-GAN-AAE: stacked ``LSTMCell``\\ s that attend to the encoder's outputs.

    Started from the encoder's final (h, c) and a zero previous output. At each step the state
    *before* the step (all layers' h, layer 0 first) is the query; the context it reads from the
    encoder's outputs and the previous output ``out(top h)`` are the first cell's input; the
    step emits its top layer's h.
    """

    def __init__(self, hidden_size: int, num_layers: int = 2):
        super().__init__()
        self.attention = nn.Linear(num_layers * hidden_size, hidden_size)
        self.cells = nn.ModuleList([nn.LSTMCell(2 * hidden_size if i == 0 else hidden_size,
                                                hidden_size) for i in range(num_layers)])
        self.out = nn.Linear(hidden_size, hidden_size)

    def forward(self, state: tuple[torch.Tensor, torch.Tensor], memory: torch.Tensor,
                lengths: torch.Tensor | None = None, return_attention: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Emitted top-layer h [B, T, H] in the order emitted (the reverse of the video) from
        the encoder's state ([layers, B, H] each) and outputs ``memory`` [B, T, H]; with
        ``return_attention``, also each step's attention weights [B, T_decoder, T_encoder].
        ``lengths`` masks each video's padded encoder steps out of the softmax."""
        h, c = state
        batch, steps, _ = memory.shape
        padded = None if lengths is None else (
            torch.arange(steps, device=memory.device) >= lengths.to(memory.device).unsqueeze(1))
        states = [(h[i], c[i]) for i in range(len(self.cells))]
        previous = memory.new_zeros(batch, memory.shape[2])
        emitted, weights = [], []
        for t in range(steps):
            query = self.attention(torch.cat([s[0] for s in states], dim=1))
            energies = torch.bmm(memory, query.unsqueeze(2)).squeeze(2)
            if padded is not None:
                energies = energies.masked_fill(padded, float("-inf"))
            alpha = torch.softmax(energies, dim=1)
            context = torch.bmm(alpha.unsqueeze(1), memory).squeeze(1)
            layer_input = torch.cat([previous, context], dim=1)
            for i, cell in enumerate(self.cells):
                states[i] = cell(layer_input, states[i])
                layer_input = states[i][0]
            emitted.append(layer_input)
            if return_attention:
                weights.append(alpha)
            if t + 1 < steps:
                previous = self.out(layer_input)
        return (torch.stack(emitted, dim=1),
                torch.stack(weights, dim=1) if return_attention else None)


def available_memory(device: torch.device) -> int | None:
    """Bytes free on ``device`` (``None`` where the system does not say)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
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
    attention: torch.Tensor | None = None  # [B, T_decoder, T_encoder], on request


class SumGanAae(SumGanSl):
    """Compression, summarizer (sLSTM → eLSTM → attention dLSTM) and discriminator.

    The -sl model with the attention auto-encoder in place of the VAE: it reuses -sl's checks
    (:meth:`prepare`), selector and discriminator methods, and builds its own parts (so it does
    not run -sl's constructor, which would build the VAE's).
    """

    title = "SUM-GAN-AAE"

    def __init__(self, feature_dim: int = 1024, hidden_size: int = 500, num_layers: int = 2):
        nn.Module.__init__(self)
        self.feature_dim = feature_dim
        self.compress = nn.Linear(feature_dim, hidden_size)
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

    def latent_terms(self, out: AaeOutput) -> dict[str, torch.Tensor]:
        """No prior: the code is not sampled."""
        return {}

    def summarize(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                  generator: torch.Generator | None = None, return_attention: bool = False
                  ) -> AaeOutput:
        """Scores, the decoded sequence and, on request, the attention weights (row t: decoder
        step t, which reconstructs step T − 1 − t). Deterministic: ``generator`` is unused (it
        is there for -sl's trainer, whose VAE samples)."""
        check_attention_memory(x.shape[0], x.shape[1], x.dtype, x.device)
        scores = self.score(x, lengths)
        memory, state = run_lstm_masked(self.encoder.lstm, x * scores.unsqueeze(-1), lengths)
        emitted, attention = self.decoder(state, memory, lengths, return_attention)
        return AaeOutput(scores, reverse_each(emitted, lengths), attention)

    @torch.no_grad()
    def attention_map(self, features: torch.Tensor) -> torch.Tensor:
        """The attention weights of one video [T, D] as a [T_decoder, T_encoder] matrix (row t:
        decoder step t, which reconstructs step T − 1 − t), for plotting."""
        x = self.compress(self.prepare(features))
        return self.summarize(x, return_attention=True).attention[0]


def build_sum_gan_aae(config, seed: int | None = None) -> SumGanAae:
    """The model sized by a :class:`~course_lib.config.SumGanAaeConfig`, initialised from
    ``seed`` (without touching the global random state) when one is given."""
    def build():
        return SumGanAae(config.feature_dim, config.hidden_size, config.num_layers)

    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def part_sizes(model: SumGanAae) -> dict[str, int]:
    """Parameters per part, as in the paper (24,305,002 in all at the paper's sizes)."""
    decoder = model.decoder
    return {"linear_compress": count_parameters(model.compress),
            "sLSTM": count_parameters(model.selector),
            "eLSTM": count_parameters(model.encoder),
            "dLSTM attention": count_parameters(decoder.attention),
            **{f"dLSTM cell {i + 1}": count_parameters(cell)
               for i, cell in enumerate(decoder.cells)},
            "dLSTM out": count_parameters(decoder.out),
            "dLSTM": count_parameters(decoder),
            "discriminator": count_parameters(model.discriminator),
            "total": count_parameters(model)}


def fit_sum_gan_aae(model: SumGanAae, config, dataset, split, name: str = "05-sum-gan-aae",
                    **options):
    """Train by SUM-GAN-sl's updates (:func:`~course_lib.models.sum_gan_sl.fit_sum_gan_sl`,
    the same options and checkpoints): the faithful trainer with ``videos_per_update=1``, the
    fast one with more."""
    return fit_sum_gan_sl(model, config, dataset, split, name, **options)
