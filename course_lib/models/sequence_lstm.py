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

from collections.abc import Sequence

import torch
from torch import nn


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


def cell_weights(cells: Sequence[torch.Tensor]
                 ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Each cell's weights as the decoder loops use them: [W_ih | W_hh] as one contiguous
    [4H, I + H] matrix, the same transposed (contiguous [I + H, 4H]), and the two biases summed.

    For loops that step the cells one at a time (the SUM-GAN-sl/-AAE decoders): a step
    multiplies one row [input, h before] by the transposed matrix, one product instead of two,
    and its backward multiplies the gates' gradients by the other: at batch 1 these layouts
    read the weights faster than ``nn.LSTMCell``'s (about 1.4x on the course's CPU). The copies,
    once per pass over a video, cost about as much as a few steps.
    """
    weights = []
    for w_ih, w_hh, b_ih, b_hh in zip(*[iter(cells)] * 4, strict=True):
        weight = torch.cat([w_ih, w_hh], dim=1)
        weights.append((weight, weight.t().contiguous(), b_ih + b_hh))
    return weights


def cell_gradients(rows: torch.Tensor, d_gates: torch.Tensor, inputs: int) -> list:
    """A cell's weight gradients (W_ih, W_hh, b_ih, b_hh), each one matrix product over all
    steps, from its rows [T, B, I + H] and its pre-activations' gradients [T, B, 4H]."""
    rows = rows.reshape(-1, rows.shape[-1])
    d_gates = d_gates.reshape(-1, d_gates.shape[-1])
    d_bias = d_gates.sum(dim=0)
    return [d_gates.t() @ rows[:, :inputs], d_gates.t() @ rows[:, inputs:], d_bias, d_bias]


class _LSTMLayer(torch.autograd.Function):
    """One layer in one direction over a time-major sequence x [T, B, I] from state (h0, c0)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, low):
        steps, batch, _ = x.shape
        hidden = w_hh.shape[1]
        ctx.low = low
        if low is not None:  # products in ``low`` precision, everything else in float32
            x, w_ih, w_hh = x.to(low), w_ih.to(low), w_hh.to(low)
        w_hh_t = w_hh.t()
        # The input's share of every gate, for all steps at once: one matrix product.
        if low is None:
            from_inputs = torch.addmm(b_ih + b_hh, x.reshape(steps * batch, -1), w_ih.t())
        else:
            from_inputs = (x.reshape(steps * batch, -1) @ w_ih.t()).float().add_(b_ih + b_hh)
        from_inputs = from_inputs.view(steps, batch, 4 * hidden)
        gates = torch.empty_like(from_inputs)  # activated i, f, g, o for every step
        h = h0.new_empty(steps + 1, batch, hidden)
        c = h0.new_empty(steps + 1, batch, hidden)
        h[0], c[0] = h0, c0
        for t in range(steps):
            if low is None:
                torch.addmm(from_inputs[t], h[t], w_hh_t, out=gates[t])
            else:
                torch.add(from_inputs[t], h[t].to(low) @ w_hh_t, out=gates[t])
            lstm_cell_step(gates[t], c[t], c[t + 1], h[t + 1])
        ctx.save_for_backward(x, w_ih, w_hh, gates, h, c)
        return h[1:].clone(), h[steps].clone(), c[steps].clone()

    @staticmethod
    def backward(ctx, d_outputs, d_h_last, d_c_last):
        x, w_ih, w_hh, gates, h, c = ctx.saved_tensors
        low = ctx.low
        steps, batch, hidden = d_outputs.shape

        def product(a, b):  # a @ b, in the forward pass's precision, returned in float32
            return a @ b if low is None else (a.to(low) @ b.to(low)).float()

        dh = d_h_last.clone()
        dc = d_c_last.clone()
        d_gates = torch.empty_like(gates)  # gradients of the gates' pre-activations
        for t in reversed(range(steps)):
            dh += d_outputs[t]
            dc = lstm_cell_step_backward(gates[t], c[t], c[t + 1], dh, dc, d_gates[t])
            dh = product(d_gates[t], w_hh)
        # Everything that does not feed the recurrence: one matrix product each, over all steps.
        rows = d_gates.view(steps * batch, 4 * hidden)
        d_bias = rows.sum(dim=0)
        rows = rows if low is None else rows.to(low)  # once for the three products
        d_w_ih = product(rows.t(), x.reshape(steps * batch, -1))
        d_w_hh = product(rows.t(), h[:steps].reshape(steps * batch, hidden))
        d_x = product(rows, w_ih).view(x.shape) if ctx.needs_input_grad[0] else None
        return d_x, dh, dc, d_w_ih, d_w_hh, d_bias, d_bias, None


def sequence_lstm(lstm: nn.LSTM, inputs: torch.Tensor,
                  state: tuple[torch.Tensor, torch.Tensor] | None = None):
    """``lstm(inputs, state)``, computed by the course's whole-sequence LSTM (same outputs)."""
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
    x = inputs.transpose(0, 1) if lstm.batch_first else inputs
    low = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
    directions = 2 if lstm.bidirectional else 1
    if state is None:
        zeros = x.new_zeros(lstm.num_layers * directions, x.shape[1], lstm.hidden_size,
                            dtype=lstm.weight_hh_l0.dtype)  # float32 under autocast too
        state = (zeros, zeros)
    h_last, c_last = [], []
    for layer in range(lstm.num_layers):
        outputs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            index = layer * directions + direction
            sequence = x.flip(0) if direction else x
            y, h, c = _LSTMLayer.apply(
                sequence.contiguous(), state[0][index], state[1][index],
                *(getattr(lstm, f"{name}{suffix}") for name in
                  ("weight_ih", "weight_hh", "bias_ih", "bias_hh")), low)
            outputs.append(y.flip(0) if direction else y)
            h_last.append(h)
            c_last.append(c)
        x = torch.cat(outputs, dim=2) if directions == 2 else outputs[0]
    outputs = x.transpose(0, 1) if lstm.batch_first else x
    return outputs, (torch.stack(h_last), torch.stack(c_last))
