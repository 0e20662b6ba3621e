"""Padded batches of videos of different lengths: the masks, the per-video reversal and the
masked LSTM runs that the SUM-GAN-sl and -AAE models (notebooks 04-05) share.

A batch is [B, T, ...] with each video's steps first and zeros after its ``lengths[i]``;
``lengths=None`` means one video, or videos of one length, where nothing needs masking.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models.lstm_autoencoder import run_lstm


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, steps] booleans, True at each video's own steps t < lengths[i] (on lengths' device)."""
    return torch.arange(steps, device=lengths.device) < lengths.unsqueeze(1)


def longest_first(lengths: torch.Tensor | None, batch: int, steps: int
                  ) -> tuple[torch.Tensor, list[int]]:
    """The order that puts a batch's videos longest first, and how many are still running at
    each step: the decoders' loops then step only those, the first rows of the batch, and spend
    no arithmetic on padding."""
    if lengths is None:
        return torch.arange(batch), [batch] * steps
    order = torch.argsort(lengths.cpu(), descending=True, stable=True)
    running = (lengths.cpu().unsqueeze(0) > torch.arange(steps).unsqueeze(1)).sum(dim=1)
    return order.to(lengths.device), running.tolist()


def running_mask(lengths: torch.Tensor | None, step: int, like: torch.Tensor) -> torch.Tensor:
    """1 for the videos still running at ``step``, 0 for those that have ended, [B, 1]."""
    if lengths is None:
        return like.new_ones(1, 1)
    return (lengths.to(like.device) > step).to(like.dtype).unsqueeze(1)


def reverse_each(emitted: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Put each video's emitted sequence [B, T, H] back in forward order, within its own length:
    step t of video i is what it emitted at T_i − 1 − t (padding stays padding)."""
    if lengths is None:
        return emitted.flip(1)
    steps = emitted.shape[1]
    index = (lengths.to(emitted.device).unsqueeze(1) - 1
             - torch.arange(steps, device=emitted.device)).clamp(min=0)
    return emitted.gather(1, index.unsqueeze(-1).expand(-1, -1, emitted.shape[2]))


def run_lstm_masked(lstm: nn.LSTM, inputs: torch.Tensor, lengths: torch.Tensor | None,
                    packed: bool | None = None):
    """``run_lstm`` of a batch-first LSTM on padded videos [B, T, D], each within its own length.

    Outputs past a video's end are zeros, and the final (h, c) of a unidirectional LSTM is each
    video's at its own last step (a bidirectional one's, not needed here, is ``None``; nor are
    the final states where :func:`lstm_outputs_masked` is enough).

    Two exact ways, the same results: ``packed`` (the default on a GPU) hands the LSTM PyTorch's
    packed sequences, one cuDNN call over its flat weights for every layer and direction. On a
    CPU (the default there) the recurrence runs in segments between the videos' ends, each over
    the videos still running, carrying the state: the packed sequences' CPU backward pass is
    slow. On a GPU the segments would cost a kernel launch per segment, and per call a copy of
    the weights into one block (PyTorch's "not part of single contiguous chunk of memory"
    warning); benchmarks/gpu_check.py measures the gain.
    """
    if lengths is None:
        return run_lstm(lstm, inputs)
    if inputs.device.type == "cuda" if packed is None else packed:
        return _packed(lstm, inputs, lengths)
    if lstm.bidirectional:
        return lstm_outputs_masked(lstm, inputs, lengths), None
    zeros = inputs.new_zeros(lstm.num_layers, inputs.shape[0], lstm.hidden_size)
    return _in_segments(lambda x, state: run_lstm(lstm, x, state), inputs, lengths,
                        (zeros, zeros))


def lstm_outputs_masked(lstm: nn.LSTM, inputs: torch.Tensor, lengths: torch.Tensor | None,
                        packed: bool | None = None) -> torch.Tensor:
    """The outputs [B, T, directions × H] of :func:`run_lstm_masked`, without the final states.

    Without them, a CPU needs no segments: each direction of each layer runs once over the
    whole padded batch. A video's steps come before its padding, so what the recurrence computes
    on the padding never reaches them (the reverse direction runs over each video reversed
    within its length, so there too); the outputs past each end are then set to zero. One
    oneDNN call per layer and direction instead of one per segment: the backward pass of each
    call has a large fixed cost on a CPU (benchmarks/bench_sum_gan_sl.py prints its share).
    """
    if lengths is None:
        return run_lstm(lstm, inputs)[0]
    if inputs.device.type == "cuda" if packed is None else packed:
        return _packed(lstm, inputs, lengths)[0]
    mask = length_mask(lengths.to(inputs.device), inputs.shape[1]).unsqueeze(-1).to(inputs.dtype)
    if not lstm.bidirectional:
        return run_lstm(lstm, inputs)[0] * mask
    x = inputs
    for layer in range(lstm.num_layers):
        outputs = []
        for suffix in (f"_l{layer}", f"_l{layer}_reverse"):
            weights = [getattr(lstm, name + suffix)
                       for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            forward = suffix.endswith(f"{layer}")
            sequence = x if forward else reverse_each(x, lengths)
            zeros = x.new_zeros(1, x.shape[0], lstm.hidden_size)
            # torch.lstm is the operation nn.LSTM calls, here on one layer and direction
            out = torch.lstm(sequence, (zeros, zeros), weights, True, 1, 0.0, lstm.training,
                             False, True)[0]
            outputs.append(out if forward else reverse_each(out, lengths))
        x = torch.cat(outputs, dim=2) * mask
    return x


def _packed(lstm: nn.LSTM, inputs: torch.Tensor, lengths: torch.Tensor):
    sequences = nn.utils.rnn.pack_padded_sequence(inputs, lengths.cpu(), batch_first=True,
                                                  enforce_sorted=False)
    outputs, state = lstm(sequences)  # (h, c) come back in the batch's own order
    outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True,
                                                  total_length=inputs.shape[1])
    return outputs, None if lstm.bidirectional else state


def _in_segments(run, inputs: torch.Tensor, lengths: torch.Tensor, state):
    """``run(inputs, (h, c)) -> (outputs, (h, c))``, a recurrence over batch-first inputs, on
    padded videos [B, T, D]: segment by segment between the videos' ends, over the videos
    still running, carrying the state."""
    batch = inputs.shape[0]
    h, c = state
    pieces, start = [], 0
    for end in sorted(set(lengths.tolist())):
        active = torch.nonzero(lengths >= end).squeeze(1)
        out, (h_end, c_end) = run(inputs[active, start:end].contiguous(),
                                  (h[:, active].contiguous(), c[:, active].contiguous()))
        h, c = h.index_copy(1, active, h_end), c.index_copy(1, active, c_end)
        pieces.append(out.new_zeros(batch, *out.shape[1:]).index_copy(0, active, out))
        start = end
    outputs = torch.cat(pieces, dim=1)
    padding = outputs.new_zeros(batch, inputs.shape[1] - start, outputs.shape[2])
    return torch.cat([outputs, padding], dim=1), (h, c)
