"""The course's CPU LSTM: ``nn.LSTM``'s arithmetic, with a backward pass built for whole sequences.

Why it exists: PyTorch's CPU LSTM records one matrix product per time step, so its backward pass
computes the gradient of every weight matrix once per step (a rank-B update of a 4H × H matrix)
and adds the T pieces up. For notebook 01's paper-size model (2×2048 on 4096-d frames, batch 16)
that is most of a training step. Here the backward pass runs back through time for the gate
gradients alone, then forms each weight gradient, and the input gradient, with one matrix
product over all T·B rows. The parameters are the ``nn.LSTM``'s own; the results equal its
results up to float rounding (``tests/test_sequence_lstm.py``), and
``benchmarks/bench_fused_decoder.py`` measures the time saved.

Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` the matrix products run in bfloat16 and
the rest (the cell's state and arithmetic, every output and gradient) stays float32: notebook
01's laptop tier trains so where the CPU multiplies bfloat16 in hardware
(``course_lib.config.cpu_matmul_dtype``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from course_lib.errors import CourseError

# The precisions a configuration's ``matmul_dtype`` may name (:func:`matmul_dtype`).
MATMUL_DTYPES = {"float32": None, "bfloat16": torch.bfloat16}
_PRODUCT_DTYPE = [None]  # set by low_precision_products


def matmul_dtype(config) -> torch.dtype | None:
    """The precision of a CPU fit's matrix products that ``config.matmul_dtype`` names
    (``None``: float32; a configuration without the field trains in float32), or a clear
    error for a name it does not know."""
    name = getattr(config, "matmul_dtype", "float32")
    if name not in MATMUL_DTYPES:
        raise CourseError(f"matmul_dtype must be 'float32' or 'bfloat16', got {name!r}: set it "
                          "with dataclasses.replace(cfg, matmul_dtype='float32').")
    return MATMUL_DTYPES[name]


@contextmanager
def low_precision_products(dtype: torch.dtype = torch.bfloat16) -> Iterator[None]:
    """Inside the block the course's recurrences (this module's LSTM and the SUM-GAN-sl/-AAE
    decoders' loops) multiply in ``dtype`` and keep everything else in float32: the part of
    autocast that they need, without the rest of a model's layers (whose outputs autocast
    would turn into ``dtype``: the scores among them)."""
    saved, _PRODUCT_DTYPE[0] = _PRODUCT_DTYPE[0], dtype
    try:
        yield
    finally:
        _PRODUCT_DTYPE[0] = saved


def product_dtype() -> torch.dtype | None:
    """The precision of the recurrences' matrix products now: autocast's on a CPU, else
    :func:`low_precision_products`'s, else ``None`` (float32)."""
    if torch.is_autocast_enabled("cpu"):
        return torch.get_autocast_dtype("cpu")
    return _PRODUCT_DTYPE[0]


def product(a: torch.Tensor, b: torch.Tensor, low: torch.dtype | None) -> torch.Tensor:
    """``a @ b`` in float32, multiplied in ``low`` precision when one is given."""
    return a @ b if low is None else (a.to(low) @ b.to(low)).float()


def add_product(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor, low: torch.dtype | None,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """``bias + a @ b`` in float32 (into ``out``), multiplied in ``low`` precision when one is
    given (``b`` already in it: weights are converted once per pass, not per step)."""
    if low is None:
        return torch.addmm(bias, a, b, out=out)
    return torch.add(bias, a.to(low) @ b, out=out)


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


def reverse_each(emitted: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Put each video's emitted sequence [B, T, H] back in forward order, within its own length:
    step t of video i is what it emitted at T_i − 1 − t (past T_i: its step 0 again, which a
    caller masks or never reads)."""
    if lengths is None:
        return emitted.flip(1)
    steps = emitted.shape[1]
    index = (lengths.to(emitted.device).unsqueeze(1) - 1
             - torch.arange(steps, device=emitted.device)).clamp(min=0)
    return emitted.gather(1, index.unsqueeze(-1).expand(-1, -1, emitted.shape[2]))


def lstm_cell_step(gate: torch.Tensor, c_before: torch.Tensor, c_after: torch.Tensor,
                   h_after: torch.Tensor) -> None:
    """An LSTM cell's step from its pre-activations ``gate`` [B, 4H] (i, f, g, o; activated in
    place and kept for the backward pass): writes the new c and h. The one copy of this
    arithmetic: the layer below and the SUM-GAN-sl/-AAE decoders' loops step with it."""
    hidden = c_before.shape[1]
    gate[:, :2 * hidden].sigmoid_()
    gate[:, 2 * hidden:3 * hidden].tanh_()
    gate[:, 3 * hidden:].sigmoid_()
    i, f, g, o = gate.chunk(4, dim=1)
    torch.addcmul(f * c_before, i, g, out=c_after)
    torch.mul(o, c_after.tanh(), out=h_after)


def lstm_cell_step_backward(gate, c_before, c_after, d_h, d_c, d_gate) -> torch.Tensor:
    """The step's gradient, from those of the new h and c and the activated ``gate``: writes
    d(pre-activations) into ``d_gate`` and returns d(c before)."""
    i, f, g, o = gate.chunk(4, dim=1)
    tanh_c = c_after.tanh()
    d_c = d_c + d_h * o * (1 - tanh_c * tanh_c)
    di, df, dg, do = d_gate.chunk(4, dim=1)
    torch.mul(d_c * g, i * (1 - i), out=di)
    torch.mul(d_c * c_before, f * (1 - f), out=df)
    torch.mul(d_c * i, 1 - g * g, out=dg)
    torch.mul(d_h * tanh_c, o * (1 - o), out=do)
    return d_c * f


def cell_weights(cells: Sequence[torch.Tensor], low: torch.dtype | None = None
                 ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Each cell's weights as the decoder loops use them: [W_ih | W_hh] as one contiguous
    [4H, I + H] matrix, the same transposed (contiguous [I + H, 4H]), and the two biases summed.

    For loops that step the cells one at a time (the SUM-GAN-sl/-AAE decoders): a step
    multiplies one row [input, h before] by the transposed matrix, one product instead of two,
    and its backward multiplies the gates' gradients by the other: at batch 1 these layouts
    read the weights faster than ``nn.LSTMCell``'s (about 1.4x on the course's CPU). The copies,
    once per pass over a video, cost about as much as a few steps. ``low``: both matrices in
    that precision, for products in it (the bias stays float32).
    """
    weights = []
    for w_ih, w_hh, b_ih, b_hh in zip(*[iter(cells)] * 4, strict=True):
        weight = torch.cat([w_ih, w_hh], dim=1).to(low or w_ih.dtype)
        weights.append((weight, weight.t().contiguous(), b_ih + b_hh))
    return weights


def running_rows(running: Sequence[int], batch: int) -> torch.Tensor | None:
    """The rows of a time-major [T, B, ...] batch, flattened to [T·B, ...], at which a video
    still runs (``running[t]``: the first rows of step t), in order: the layout of PyTorch's
    packed sequences. ``None`` when every row runs. The products over all steps take only
    these rows: on the fast trainer's batches of 10 videos of 64-649 steps, 57-85 % of them."""
    if sum(running) == len(running) * batch:
        return None
    return (torch.arange(batch) < torch.tensor(running).unsqueeze(1)).view(-1).nonzero()[:, 0]


def cell_gradients(rows: torch.Tensor, d_gates: torch.Tensor, inputs: int,
                   low: torch.dtype | None = None, packed: torch.Tensor | None = None) -> list:
    """A cell's weight gradients (W_ih, W_hh, b_ih, b_hh), each one matrix product over all
    steps (in ``low`` precision when given), from its rows [T, B, I + H] and its
    pre-activations' gradients [T, B, 4H], over the ``packed`` rows (:func:`running_rows`)
    when given."""
    rows = rows.reshape(-1, rows.shape[-1])
    d_gates = d_gates.reshape(-1, d_gates.shape[-1])
    if packed is not None:
        rows, d_gates = rows[packed.to(rows.device)], d_gates[packed.to(rows.device)]
    d_bias = d_gates.sum(dim=0)
    if low is not None:  # converted once for both products
        rows, d_gates = rows.to(low), d_gates.to(low)
    return [product(d_gates.t(), rows[:, :inputs], low),
            product(d_gates.t(), rows[:, inputs:], low), d_bias, d_bias]


class _LSTMLayer(torch.autograd.Function):
    """One layer in one direction over a time-major sequence x [T, B, I] from state (h0, c0).

    ``running[t]`` (``None``: all): how many videos, the first rows of the batch, still run at
    step t. The others are not computed: their state is carried unchanged (so the final h, c
    are each video's at its own last step) and their outputs are zeros. The gates are kept
    packed (:func:`running_rows`: step t's at ``starts[t]:starts[t + 1]``)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, low, running):
        steps, batch, _ = x.shape
        hidden = w_hh.shape[1]
        running = [batch] * steps if running is None else running
        packed = running_rows(running, batch)
        starts = list(itertools.accumulate(running, initial=0))
        ctx.low, ctx.running, ctx.packed, ctx.starts = low, running, packed, starts
        if low is not None:  # products in ``low`` precision, everything else in float32
            x, w_ih, w_hh = x.to(low), w_ih.to(low), w_hh.to(low)
        w_hh_t = w_hh.t()
        # The input's share of every gate, for all steps at once: one matrix product.
        rows = x.reshape(steps * batch, -1)
        from_inputs = add_product(b_ih + b_hh, rows if packed is None else rows[packed],
                                  w_ih.t(), low)
        gates = torch.empty_like(from_inputs)  # activated i, f, g, o for every step
        h = h0.new_empty(steps + 1, batch, hidden)
        c = h0.new_empty(steps + 1, batch, hidden)
        h[0], c[0] = h0, c0
        for t, n in enumerate(running):
            now = slice(starts[t], starts[t + 1])
            add_product(from_inputs[now], h[t, :n], w_hh_t, low, out=gates[now])
            lstm_cell_step(gates[now], c[t, :n], c[t + 1, :n], h[t + 1, :n])
            if n < batch:  # the videos that have ended keep their last state
                h[t + 1, n:], c[t + 1, n:] = h[t, n:], c[t, n:]
        ctx.save_for_backward(x, w_ih, w_hh, gates, h, c)
        outputs = h[1:].clone()
        if packed is not None:
            ended = torch.arange(batch) >= torch.tensor(running).unsqueeze(1)  # [T, B]
            outputs[ended.to(outputs.device)] = 0
        return outputs, h[steps].clone(), c[steps].clone()

    @staticmethod
    def backward(ctx, d_outputs, d_h_last, d_c_last):
        x, w_ih, w_hh, gates, h, c = ctx.saved_tensors
        low, packed, starts = ctx.low, ctx.packed, ctx.starts
        steps, batch, hidden = d_outputs.shape
        dh = d_h_last.clone()
        dc = d_c_last.clone()
        d_gates = torch.empty_like(gates)  # gradients of the gates' pre-activations, packed
        for t in reversed(range(steps)):
            n, now = ctx.running[t], slice(starts[t], starts[t + 1])
            dh[:n] += d_outputs[t, :n]  # an ended video's output is a constant 0
            dc[:n] = lstm_cell_step_backward(gates[now], c[t, :n], c[t + 1, :n], dh[:n],
                                             dc[:n], d_gates[now])
            dh[:n] = product(d_gates[now], w_hh, low)
        # Everything that does not feed the recurrence: one matrix product each, over all steps.
        d_bias = d_gates.sum(dim=0)
        rows = d_gates if low is None else d_gates.to(low)  # once for the three products
        inputs = x.reshape(steps * batch, -1)
        states = h[:steps].reshape(steps * batch, hidden)
        if packed is not None:
            inputs, states = inputs[packed], states[packed]
        d_w_ih = product(rows.t(), inputs, low)
        d_w_hh = product(rows.t(), states, low)
        d_x = None
        if ctx.needs_input_grad[0]:
            d_x = product(rows, w_ih, low)
            if packed is not None:  # zeros where no video runs
                d_x = d_x.new_zeros(steps * batch, d_x.shape[1]).index_copy_(0, packed, d_x)
            d_x = d_x.view(x.shape)
        return d_x, dh, dc, d_w_ih, d_w_hh, d_bias, d_bias, None, None


def sequence_lstm(lstm: nn.LSTM, inputs: torch.Tensor,
                  state: tuple[torch.Tensor, torch.Tensor] | None = None,
                  lengths: torch.Tensor | None = None):
    """``lstm(inputs, state)``, computed by the course's whole-sequence LSTM (same outputs).

    ``lengths`` [B]: the batch is padded videos, each run within its own length, as PyTorch's
    packed sequences run them (outputs past its end are zeros, the final h and c are its own
    last step's, a reverse direction reads it from its own last step), in one call per layer
    and direction that computes no padded step."""
    if lstm.proj_size or not lstm.bias or (lstm.dropout and lstm.training):
        raise ValueError("sequence_lstm supports LSTMs with biases, without projections and "
                         "without dropout between layers; call the nn.LSTM itself for others.")
    if inputs.dim() != 3:
        raise ValueError(f"sequence_lstm needs a batch of sequences (3 dimensions), got shape "
                         f"{tuple(inputs.shape)}; add a batch dimension with inputs.unsqueeze(0).")
    # nn.LSTM's own checks and messages for the input width and the state's shape.
    if state is None:
        lstm.check_input(inputs, None)
    else:
        lstm.check_forward_args(inputs, state, None)
    x = inputs if lstm.batch_first else inputs.transpose(0, 1)  # batch-first from here on
    low = product_dtype()
    directions = 2 if lstm.bidirectional else 1
    if state is None:
        zeros = x.new_zeros(lstm.num_layers * directions, x.shape[0], lstm.hidden_size,
                            dtype=lstm.weight_hh_l0.dtype)  # float32 under autocast too
        state = (zeros, zeros)
    running = order = None
    if lengths is not None:  # longest first, so the videos still running are the first rows
        order, running = longest_first(lengths, x.shape[0], x.shape[1])
        order = order.to(x.device)
        lengths = lengths.to(x.device)[order]
        x, state = x[order], tuple(s[:, order] for s in state)
    h_last, c_last = [], []
    for layer in range(lstm.num_layers):
        outputs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            index = layer * directions + direction
            sequence = reverse_each(x, lengths) if direction else x
            y, h, c = _LSTMLayer.apply(
                sequence.transpose(0, 1).contiguous(), state[0][index], state[1][index],
                *(getattr(lstm, f"{name}{suffix}") for name in
                  ("weight_ih", "weight_hh", "bias_ih", "bias_hh")), low, running)
            y = y.transpose(0, 1)
            outputs.append(reverse_each(y, lengths) if direction else y)
            h_last.append(h)
            c_last.append(c)
        x = torch.cat(outputs, dim=2) if directions == 2 else outputs[0]
        if directions == 2 and lengths is not None:  # reversal puts a first step in padding
            x = x * (torch.arange(x.shape[1], device=x.device) < lengths.unsqueeze(1)
                     ).unsqueeze(-1).to(x)
    h_last, c_last = torch.stack(h_last), torch.stack(c_last)
    if order is not None:
        inverse = torch.argsort(order)
        x, h_last, c_last = x[inverse], h_last[:, inverse], c_last[:, inverse]
    outputs = x if lstm.batch_first else x.transpose(0, 1)
    return outputs, (h_last, c_last)
