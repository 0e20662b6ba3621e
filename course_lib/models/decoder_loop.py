"""The recurrence of SUM-GAN-sl's and SUM-GAN-AAE's decoders (notebooks 04-05) as one autograd
node: stacked ``LSTMCell``\\ s that start from a given (h, c), emit their top layer's h and feed
``out(top h)`` back as the next step's input; AAE's also reads an attention context.

Why one node: autograd, for a loop of cells, forms every weight gradient once per step (an outer
product each). Here the backward pass runs back through time for what the recurrence needs step
by step (the gates' gradients and, with attention, the queries'), then forms each weight
gradient, and that of the attended memory, with one matrix product over all steps (the idea of
models/sequence_lstm.py, whose cell arithmetic the steps use). The decoders' ``loop`` methods,
plain loops of the modules, are the definitions these results are tested against.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models.sequence_lstm import (
    add_product,
    cell_gradients,
    cell_weights,
    lstm_cell_step,
    lstm_cell_step_backward,
    product,
    product_dtype,
    running_rows,
)


class DecoderLoop(torch.autograd.Function):
    """The whole recurrence, time-major, for any number of layers; with ``memory`` [B, T, H]
    (``None``: no attention), before each step the state (layer 0's h first) becomes a query
    ``w_att · h + b_att`` whose dot products with the memory, softmax-ed over its steps
    (``padded`` ones masked out), weigh the context that joins the fed-back output as layer 0's
    input. Returns the emitted top-layer h [T, B, H], and with ``memory`` the attention weights
    [T_decoder, B, T_encoder] (no gradient). ``running[t]``: how many videos, the first rows of
    the batch, still run at step t (the others are not computed). The cells' and the output
    layer's products run in :func:`~course_lib.models.sequence_lstm.product_dtype`'s precision,
    the attention's in float32."""

    @staticmethod
    def forward(ctx, running, h0, c0, memory, padded, w_att, b_att, w_out, b_out, *cells):
        layers, batch, hidden = h0.shape
        steps = len(running)
        low = product_dtype()
        weights = cell_weights(cells, low)
        w_out_t = w_out.t().contiguous().to(low or w_out.dtype)
        # rows[i][t] = [layer i's input at step t, its h before step t] (row T: the final h);
        # layer 0's input is the previous output (zeros at first), then any context.
        rows = [h0.new_zeros(steps + 1, batch, weight.shape[1]) for weight, _, _ in weights]
        c = h0.new_empty(layers, steps + 1, batch, hidden)
        gates = h0.new_empty(layers, steps, batch, 4 * hidden)
        for i in range(layers):
            rows[i][0, :, -hidden:] = h0[i]
        c[:, 0] = c0
        if memory is not None:
            w_att_t = w_att.t().contiguous()
            queries = h0.new_zeros(steps, batch, hidden)
            attention = h0.new_zeros(steps, batch, steps)
            keys = memory.transpose(1, 2).contiguous()  # [B, H, T]: a row vector times a matrix
            # is a fast batched product on a CPU, a matrix times a column vector is not
        for t, n in enumerate(running):
            if memory is not None:  # the query reads layer 0's h, then layer 1's, ...
                query = queries[t, :n].copy_(b_att)
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
                add_product(bias, rows[i][t, :n], weight_t, low, out=gates[i, t, :n])
                lstm_cell_step(gates[i, t, :n], c[i, t, :n], c[i, t + 1, :n], h_new)
                if i + 1 < layers:
                    rows[i + 1][t, :n, :hidden] = h_new
            if t + 1 < steps:
                add_product(b_out, h_new, w_out_t, low, out=rows[0][t + 1, :n, :hidden])
        ctx.weights, ctx.running, ctx.low = weights, running, low
        attended = () if memory is None else (queries, attention, memory, w_att)
        ctx.save_for_backward(c, gates, w_out, *rows, *attended)
        emitted = rows[-1][1:, :, -hidden:].clone()
        if memory is None:
            return emitted
        ctx.mark_non_differentiable(attention)
        return emitted, attention

    @staticmethod
    def backward(ctx, d_emitted, *_):
        c, gates, w_out, *saved = ctx.saved_tensors
        low = ctx.low
        w_out = w_out.to(low or w_out.dtype)
        layers, steps, batch, four_hidden = gates.shape
        hidden = four_hidden // 4
        rows, attended = saved[:layers], saved[layers:]
        dh = d_emitted.new_zeros(layers, batch, hidden)
        dc = d_emitted.new_zeros(layers, batch, hidden)
        d_gates = torch.zeros_like(gates)  # zeros where a video has ended
        # the gradient of layer 0's input: [previous output, any context]
        d_inputs = d_emitted.new_zeros(steps, batch, rows[0].shape[-1] - hidden)
        if attended:
            queries, attention, memory, w_att = attended
            d_queries = torch.zeros_like(queries)
            d_energies = torch.zeros_like(attention)
            keys = memory.transpose(1, 2).contiguous()
        for t in reversed(range(steps)):
            n = ctx.running[t]
            from_above = d_emitted[t, :n]
            if t + 1 < steps:
                from_above = from_above + product(d_inputs[t + 1, :n, :hidden], w_out, low)
            for i in reversed(range(layers)):
                dc[i, :n] = lstm_cell_step_backward(
                    gates[i, t, :n], c[i, t, :n], c[i, t + 1, :n], dh[i, :n] + from_above,
                    dc[i, :n], d_gates[i, t, :n])
                d_row = product(d_gates[i, t, :n], ctx.weights[i][0], low)
                from_above, dh[i, :n] = d_row[:, :-hidden], d_row[:, -hidden:]
            d_inputs[t, :n] = from_above
            if attended:  # back through the context, the softmax and the query to the state
                d_weights = torch.bmm(from_above[:, hidden:].unsqueeze(1), keys[:n]).squeeze(1)
                alpha = attention[t, :n]
                torch.mul(alpha, d_weights - (alpha * d_weights).sum(dim=1, keepdim=True),
                          out=d_energies[t, :n])
                d_query = torch.bmm(d_energies[t, :n].unsqueeze(1), memory[:n]).squeeze(1)
                d_queries[t, :n] = d_query
                dh[:, :n] += (d_query @ w_att).view(n, layers, hidden).transpose(0, 1)
        grads = [g for i in range(layers) for g in cell_gradients(
            rows[i][:steps], d_gates[i], rows[i].shape[-1] - hidden, low,
            # in float32 over every row, as the results recorded so far were computed
            None if low is None else running_rows(ctx.running, batch))]
        fed_back = d_inputs[1:, :, :hidden].reshape(-1, hidden)  # out(top h), steps 0 .. T-2
        d_w_out = product(fed_back.t(), rows[-1][1:steps, :, -hidden:].reshape(-1, hidden), low)
        d_memory = d_w_att = d_b_att = None
        if attended:
            d_memory = (torch.bmm(attention.permute(1, 2, 0),
                                  d_inputs[:, :, hidden:].transpose(0, 1))
                        + torch.bmm(d_energies.permute(1, 2, 0), queries.transpose(0, 1)))
            q_rows = d_queries.reshape(steps * batch, hidden)
            d_w_att = torch.cat([q_rows.t() @ rows[i][:steps, :, -hidden:].reshape(-1, hidden)
                                 for i in range(layers)], dim=1)
            d_b_att = q_rows.sum(dim=0)
        return (None, dh, dc, d_memory, None, d_w_att, d_b_att, d_w_out, fed_back.sum(dim=0),
                *grads)


def run_decoder_loop(cells: nn.ModuleList, out: nn.Linear, h0: torch.Tensor, c0: torch.Tensor,
                     running: list[int], memory: torch.Tensor | None = None,
                     padded: torch.Tensor | None = None, attention: nn.Linear | None = None):
    """:class:`DecoderLoop` of these modules' weights (``attention``: the query's layer)."""
    weights = [w for cell in cells
               for w in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    w_att, b_att = (None, None) if attention is None else (attention.weight, attention.bias)
    return DecoderLoop.apply(running, h0, c0, memory, padded, w_att, b_att, out.weight,
                             out.bias, *weights)
