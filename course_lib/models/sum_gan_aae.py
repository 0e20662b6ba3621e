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
allocated (:func:`check_attention_memory`). The decoder's recurrence runs in one autograd node
whose backward forms each weight gradient, and that of the encoder's outputs, in one matrix
product (as -sl's decoder); ``benchmarks/bench_sum_gan_sl.py --model aae`` measures the trainers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.errors import CourseError
from course_lib.models.lstm_autoencoder import FrameEncoder, count_parameters
from course_lib.models.sequence_lstm import (
    cell_gradients,
    cell_weights,
    lstm_cell_step,
    lstm_cell_step_backward,
)
from course_lib.models.sequences import (
    length_mask,
    longest_first,
    reverse_each,
    run_lstm_masked,
    running_mask,
)
from course_lib.models.sum_gan import Discriminator, Selector
from course_lib.models.sum_gan_sl import SumGanSl, encoder_input, fit_sum_gan_sl
from course_lib.models.summarizer_training import seeded

# What training holds per decoder step and encoder step: the attention weights (kept for the
# backward pass), their gradient, and a copy of each for the backward pass's final products.
ATTENTION_TENSORS = 4


class _AttentionLoop(torch.autograd.Function):
    """The attention decoder's whole recurrence as one autograd node (time-major).

    Forward: the arithmetic of :meth:`AttentionDecoder.loop`. Backward: back through time for
    what the recurrence needs step by step (the gates' and the queries' gradients); each weight
    gradient, and the gradient of the encoder's outputs, is then one matrix product over all
    steps instead of one outer product per step. The cells step as -sl's decoder's do
    (``_FeedbackLoop``: the same weight layout and cell arithmetic). The attention weights
    [T_decoder, B, T_encoder] are its second output (no gradient).
    """

    @staticmethod
    def forward(ctx, running, h0, c0, memory, padded, w_att, b_att, w_out, b_out, *cells):
        layers, batch, hidden = h0.shape
        steps = memory.shape[1]  # the first running[t] videos of the batch are still running
        weights = cell_weights(cells)
        w_att_t, w_out_t = w_att.t().contiguous(), w_out.t().contiguous()
        # rows[i][t] = [layer i's input at step t, its h before step t] (row T: the final h);
        # layer 0's input is [previous output, context], the previous output zeros at first.
        rows = [h0.new_zeros(steps + 1, batch, weight.shape[1]) for weight, _, _ in weights]
        c = h0.new_empty(layers, steps + 1, batch, hidden)
        gates = h0.new_empty(layers, steps, batch, 4 * hidden)
        queries = h0.new_zeros(steps, batch, hidden)
        attention = h0.new_zeros(steps, batch, steps)
        for i in range(layers):
            rows[i][0, :, -hidden:] = h0[i]
        c[:, 0] = c0
        keys = memory.transpose(1, 2).contiguous()  # [B, H, T]: a row vector times a matrix is
        # a fast batched product on a CPU, a matrix times a column vector is not
        for t, n in enumerate(running):
            query = queries[t, :n].copy_(b_att)  # reads layer 0's h, then layer 1's, ...
            for i in range(layers):
                query.addmm_(rows[i][t, :n, -hidden:], w_att_t[i * hidden:(i + 1) * hidden])
            energies = torch.bmm(query.unsqueeze(1), keys[:n]).squeeze(1)
            if padded is not None:
                energies.masked_fill_(padded[:n], float("-inf"))
            torch.softmax(energies, dim=1, out=attention[t, :n])
            rows[0][t, :n, hidden:2 * hidden] = torch.bmm(attention[t, :n].unsqueeze(1),
                                                          memory[:n]).squeeze(1)
            for i, (_, weight_t, bias) in enumerate(weights):
                h_new = rows[i][t + 1, :n, -hidden:]
                torch.addmm(bias, rows[i][t, :n], weight_t, out=gates[i, t, :n])
                lstm_cell_step(gates[i, t, :n], c[i, t, :n], c[i, t + 1, :n], h_new)
                if i + 1 < layers:
                    rows[i + 1][t, :n, :hidden] = h_new
            if t + 1 < steps:
                torch.addmm(b_out, h_new, w_out_t, out=rows[0][t + 1, :n, :hidden])
        ctx.weights, ctx.running = weights, running
        ctx.save_for_backward(queries, attention, c, gates, memory, w_att, w_out, *rows)
        ctx.mark_non_differentiable(attention)
        return rows[-1][1:, :, -hidden:].clone(), attention

    @staticmethod
    def backward(ctx, d_emitted, _):
        queries, attention, c, gates, memory, w_att, w_out, *rows = ctx.saved_tensors
        layers, steps, batch, four_hidden = gates.shape
        hidden = four_hidden // 4
        dh = d_emitted.new_zeros(layers, batch, hidden)
        dc = d_emitted.new_zeros(layers, batch, hidden)
        # zeros where a video has ended
        d_gates = torch.zeros_like(gates)
        d_inputs = d_emitted.new_zeros(steps, batch, 2 * hidden)  # [previous output, context]
        d_queries = torch.zeros_like(queries)
        d_energies = torch.zeros_like(attention)
        keys = memory.transpose(1, 2).contiguous()
        for t in reversed(range(steps)):
            n = ctx.running[t]
            from_above = d_emitted[t, :n]
            if t + 1 < steps:
                from_above = from_above + d_inputs[t + 1, :n, :hidden] @ w_out
            for i in reversed(range(layers)):
                dc[i, :n] = lstm_cell_step_backward(
                    gates[i, t, :n], c[i, t, :n], c[i, t + 1, :n], dh[i, :n] + from_above,
                    dc[i, :n], d_gates[i, t, :n])
                d_row = d_gates[i, t, :n] @ ctx.weights[i][0]
                from_above, dh[i, :n] = d_row[:, :-hidden], d_row[:, -hidden:]
            d_inputs[t, :n] = from_above
            d_weights = torch.bmm(from_above[:, hidden:].unsqueeze(1), keys[:n]).squeeze(1)
            alpha = attention[t, :n]
            torch.mul(alpha, d_weights - (alpha * d_weights).sum(dim=1, keepdim=True),
                      out=d_energies[t, :n])
            d_query = torch.bmm(d_energies[t, :n].unsqueeze(1), memory[:n]).squeeze(1)
            d_queries[t, :n] = d_query
            dh[:, :n] += (d_query @ w_att).view(n, layers, hidden).transpose(0, 1)
        d_memory = (torch.bmm(attention.permute(1, 2, 0), d_inputs[:, :, hidden:].transpose(0, 1))
                    + torch.bmm(d_energies.permute(1, 2, 0), queries.transpose(0, 1)))
        q_rows = d_queries.reshape(steps * batch, hidden)
        d_w_att = torch.cat([q_rows.t() @ rows[i][:steps, :, -hidden:].reshape(-1, hidden)
                             for i in range(layers)], dim=1)
        grads = [g for i in range(layers) for g in cell_gradients(
            rows[i][:steps], d_gates[i], rows[i].shape[-1] - hidden)]
        fed_back = d_inputs[1:, :, :hidden].reshape(-1, hidden)  # out(top h), steps 0 .. T-2
        d_w_out = fed_back.t() @ rows[-1][1:steps, :, -hidden:].reshape(-1, hidden)
        return (None, dh, dc, d_memory, None, d_w_att, q_rows.sum(dim=0), d_w_out,
                fed_back.sum(dim=0), *grads)


class AttentionDecoder(nn.Module):
    """dLSTM of SUM-GAN-AAE: stacked ``LSTMCell``\\ s that attend to the encoder's outputs.

    Started from the encoder's final (h, c) and a zero previous output. At each step the state
    *before* the step (all layers' h, layer 0 first) is the query; the context it reads from the
    encoder's outputs and the previous output ``out(top h)`` are the first cell's input; the
    step emits its top layer's h. :meth:`forward` runs the recurrence as one autograd node,
    :meth:`loop` as a plain loop of the modules (the definition it is tested against).
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
        weights = [w for cell in self.cells
                   for w in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
        padded = padding_mask(memory, lengths)
        emitted, attention = _AttentionLoop.apply(
            running, h0[:, order].contiguous(), c0[:, order].contiguous(),
            memory[order].contiguous(), None if padded is None else padded[order],
            self.attention.weight, self.attention.bias, self.out.weight, self.out.bias,
            *weights)
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
                  generator: torch.Generator | None = None,
                  select: float | None = None) -> AaeOutput:
        """Scores, the decoded sequence and the attention weights (row t: decoder step t, which
        reconstructs step T − 1 − t). Deterministic: ``generator`` is unused (it is there for
        -sl's trainer, whose VAE samples). ``select``: as -sl's (:func:`encoder_input`)."""
        check_attention_memory(x.shape[0], x.shape[1], x.dtype, x.device)
        scores = self.score(x, lengths)
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
    return seeded(lambda: SumGanAae(config.feature_dim, config.hidden_size, config.num_layers),
                  seed)


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
