"""Padded batches of videos of different lengths: the masks, the per-video reversal and the
masked LSTM runs that the SUM-GAN-sl and -AAE models (notebooks 04-05) share.

A batch is [B, T, ...] with each video's steps first and zeros after its ``lengths[i]``;
``lengths=None`` means one video, or videos of one length, where nothing needs masking.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models import lstm_autoencoder
from course_lib.models.lstm_autoencoder import run_lstm
from course_lib.models.sequence_lstm import reverse_each, sequence_lstm


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, steps] booleans, True at each video's own steps t < lengths[i] (on lengths' device)."""
    return torch.arange(steps, device=lengths.device) < lengths.unsqueeze(1)


def running_mask(lengths: torch.Tensor | None, step: int, like: torch.Tensor) -> torch.Tensor:
    """1 for the videos still running at ``step``, 0 for those that have ended, [B, 1]."""
    if lengths is None:
        return like.new_ones(1, 1)
    return (lengths.to(like.device) > step).to(like.dtype).unsqueeze(1)


def window_bounds(length: int, window: int, offset: int = 0) -> list[tuple[int, int]]:
    """[start, end) of the consecutive windows a video of ``length`` steps is cut into: the first
    ``window − offset`` steps, then ``window`` at a time. A first or last piece shorter than half
    a window joins its neighbour, so no window is a step or two long."""
    cuts = list(range(window - offset, length, window))
    if cuts and cuts[0] < (window + 1) // 2:
        cuts.pop(0)
    if cuts and length - cuts[-1] < (window + 1) // 2:
        cuts.pop()
    bounds = [0, *cuts, length]
    return list(zip(bounds, bounds[1:], strict=False))


def cut_into_windows(batch: torch.Tensor, lengths: torch.Tensor | None, window: int,
                     offset: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Each video of a padded batch [B, T, ...] cut into its :func:`window_bounds`, video by
    video, as a padded batch of windows [N, longest window, ...] and their lengths (``None`` when
    all have one length). Differentiable: each window is a slice of its video."""
    sizes = [batch.shape[1]] * batch.shape[0] if lengths is None else lengths.tolist()
    pieces = [batch[i, a:b] for i, n in enumerate(sizes) for a, b in window_bounds(n, window,
                                                                                 offset)]
    found = torch.tensor([len(p) for p in pieces])
    windows = nn.utils.rnn.pad_sequence(pieces, batch_first=True)
    return windows, None if bool((found == found[0]).all()) else found.to(batch.device)


def run_lstm_masked(lstm: nn.LSTM, inputs: torch.Tensor, lengths: torch.Tensor | None,
                    packed: bool | None = None):
    """``run_lstm`` of a batch-first LSTM on padded videos [B, T, D], each within its own length.

    Outputs past a video's end are zeros, and the final (h, c) of a unidirectional LSTM is each
    video's at its own last step (a bidirectional one's, not needed here, is ``None``).

    Three exact ways, the same results up to float rounding: ``packed`` (the default on a
    GPU) hands the LSTM PyTorch's packed sequences, one cuDNN call over its flat weights for
    every layer and direction. On a CPU (the default there), with oneDNN's LSTM
    (``USE_ONEDNN_LSTM``, as the fits set it), the recurrence runs in segments between the
    videos' ends, each over the videos still running, carrying the state: the packed
    sequences' CPU backward pass is slow, and one call over the whole padded batch (exact too,
    for the outputs: the padding never reaches a video's own steps) computes every padded
    step; at the paper's size on one thread, SUM-GAN-sl's update batches took 1.3-1.4x longer
    forward and backward that way. The course's own LSTM takes the lengths in one call per
    layer and direction, stepping only the videos still running
    (:func:`~course_lib.models.sequence_lstm.sequence_lstm`). On a GPU the segments would cost
    a kernel launch per segment, and per call a copy of the weights into one block (PyTorch's
    "not part of single contiguous chunk of memory" warning); benchmarks/gpu_check.py measures
    the gain.
    """
    if lengths is None:
        return run_lstm(lstm, inputs)
    if inputs.device.type == "cuda" if packed is None else packed:
        return _packed(lstm, inputs, lengths)
    if not lstm_autoencoder.USE_ONEDNN_LSTM:
        outputs, state = sequence_lstm(lstm, inputs, lengths=lengths)
        return outputs, None if lstm.bidirectional else state
    if lstm.bidirectional:
        return _bidirectional_in_segments(lstm, inputs, lengths), None
    zeros = inputs.new_zeros(lstm.num_layers, inputs.shape[0], lstm.hidden_size)
    return _in_segments(lambda x, state: lstm(x, state), inputs, lengths, (zeros, zeros))


def _bidirectional_in_segments(lstm: nn.LSTM, inputs: torch.Tensor, lengths: torch.Tensor
                               ) -> torch.Tensor:
    """A bidirectional LSTM's outputs on padded videos, each direction of each layer in
    segments between the videos' ends: the reverse one over each video reversed within its
    length, whose steps then also come before its padding."""
    mask = length_mask(lengths.to(inputs.device), inputs.shape[1]).unsqueeze(-1).to(inputs.dtype)
    zeros = inputs.new_zeros(1, inputs.shape[0], lstm.hidden_size)
    x = inputs
    for layer in range(lstm.num_layers):
        outputs = []
        for suffix in (f"_l{layer}", f"_l{layer}_reverse"):
            weights = [getattr(lstm, name + suffix)
                       for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

            def one_direction(sequence, state, weights=weights):
                # torch.lstm is the operation nn.LSTM calls, here on one layer and direction
                out, h, c = torch.lstm(sequence, state, weights, True, 1, 0.0, lstm.training,
                                       False, True)
                return out, (h, c)

            forward = suffix.endswith(f"{layer}")
            sequence = x if forward else reverse_each(x, lengths)
            out = _in_segments(one_direction, sequence, lengths, (zeros, zeros))[0]
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
    still running, carrying the state.

    The videos run longest first, so those still running are always the first rows: each
    segment takes a slice of one piece of the time axis (whose backward pass fills only that
    piece, not the whole batch once per segment) and the state only ever shrinks."""
    batch, steps = inputs.shape[:2]
    order = torch.argsort(lengths.cpu(), descending=True, stable=True)
    ordered = lengths.cpu()[order].tolist()
    in_order = not bool((order != torch.arange(batch)).any())
    if not in_order:
        inputs = inputs[order.to(inputs.device)]
        state = tuple(s[:, order.to(s.device)] for s in state)
    h, c = state
    ends = sorted(set(ordered))
    sizes = [b - a for a, b in zip([0, *ends], [*ends, steps], strict=True)]
    pieces, finals, start = [], [], 0
    for end, piece in zip(ends, inputs.split(sizes, dim=1)[:-1], strict=True):  # then padding
        running = sum(n >= end for n in ordered)
        out, (h, c) = run(piece[:running].contiguous(),
                          (h[:, :running].contiguous(), c[:, :running].contiguous()))
        pieces.append(nn.functional.pad(out, (0, 0, 0, 0, 0, batch - running)))
        still = sum(n > end for n in ordered)
        finals.append((h[:, still:], c[:, still:]))  # the videos that end here
        start = end
    outputs = torch.cat(pieces, dim=1)
    outputs = nn.functional.pad(outputs, (0, 0, 0, steps - start))
    h = torch.cat([f[0] for f in reversed(finals)], dim=1)
    c = torch.cat([f[1] for f in reversed(finals)], dim=1)
    if not in_order:
        inverse = torch.argsort(order)
        outputs, h, c = (outputs[inverse.to(outputs.device)], h[:, inverse.to(h.device)],
                         c[:, inverse.to(c.device)])
    return outputs, (h, c)
