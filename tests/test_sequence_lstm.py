"""The course's CPU LSTM must compute exactly what nn.LSTM computes, forwards and backwards."""

import pytest
import torch

from course_lib.models import lstm_autoencoder as ae
from course_lib.models.sequence_lstm import sequence_lstm


def outputs_and_gradients(run, lstm, inputs, state, seed=1):
    """Everything a training step sees: outputs, final state, and the gradient of each input."""
    leaves = [inputs, *(state or ()), *lstm.parameters()]
    for leaf in leaves:
        leaf.grad = None
    outputs, (h, c) = run(lstm, inputs, state)
    generator = torch.Generator().manual_seed(seed)
    weights = [torch.randn(t.shape, generator=generator) for t in (outputs, h, c)]
    sum((t * w).sum() for t, w in zip((outputs, h, c), weights, strict=True)).backward()
    return [outputs.detach(), h.detach(), c.detach()] + [leaf.grad.clone() for leaf in leaves]


@pytest.mark.parametrize("layers, bidirectional, batch_first, with_state", [
    (1, False, True, False), (2, False, True, True), (2, True, True, False),
    (2, False, False, True),
])
def test_outputs_and_every_gradient_equal_nn_lstm(layers, bidirectional, batch_first, with_state):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 5, layers, batch_first=batch_first, bidirectional=bidirectional)
    inputs = torch.randn((3, 7, 6) if batch_first else (7, 3, 6), requires_grad=True)
    shape = (layers * (2 if bidirectional else 1), 3, 5)
    state = ((torch.randn(shape, requires_grad=True), torch.randn(shape, requires_grad=True))
             if with_state else None)
    expected = outputs_and_gradients(lambda m, x, s: m(x, s), lstm, inputs, state)
    actual = outputs_and_gradients(sequence_lstm, lstm, inputs, state)
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)


def test_only_the_last_state_used():
    """Encoders use only (h, c): the gradient must still flow back through every step."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(4, 3, 2, batch_first=True)
    inputs = torch.randn(2, 6, 4)
    grads = {}
    for name, run in (("nn.LSTM", lambda m, x: m(x)), ("course", sequence_lstm)):
        lstm.zero_grad()
        _, (h, c) = run(lstm, inputs)
        (h.sum() + 2 * c.sum()).backward()
        grads[name] = [p.grad.clone() for p in lstm.parameters()]
    for a, e in zip(grads["course"], grads["nn.LSTM"], strict=True):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-6)


def test_unsupported_lstms_are_refused_with_the_alternative():
    with pytest.raises(ValueError, match="call the nn.LSTM itself"):
        sequence_lstm(torch.nn.LSTM(4, 3, proj_size=2), torch.randn(5, 2, 4))
    with pytest.raises(ValueError, match="without dropout"):
        sequence_lstm(torch.nn.LSTM(4, 3, 2, dropout=0.5), torch.randn(5, 2, 4))


def test_bad_shapes_get_nn_lstms_messages():
    lstm = torch.nn.LSTM(4, 3, batch_first=True)
    with pytest.raises(RuntimeError, match="must be equal to input_size. Expected 4, got 6"):
        sequence_lstm(lstm, torch.randn(2, 5, 6))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 3\)"):
        sequence_lstm(lstm, torch.randn(2, 5, 4), (torch.zeros(1, 3, 3), torch.zeros(1, 3, 3)))
    with pytest.raises(ValueError, match="add a batch dimension"):
        sequence_lstm(lstm, torch.randn(5, 4))


def autograd_nodes(tensor):
    """Names of every operation in the graph that produced ``tensor``."""
    names, todo = set(), [tensor.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and type(node).__name__ not in names:
            names.add(type(node).__name__)
            todo.extend(next_node for next_node, _ in node.next_functions)
    return names


def test_course_modules_use_it_on_a_cpu_unless_onednn_is_chosen():
    encoder = ae.FrameEncoder(6, 4, 2)
    frames = torch.rand(2, 5, 6)
    outputs, _ = encoder(frames)
    assert "_LSTMLayerBackward" in autograd_nodes(outputs)
    ae.USE_ONEDNN_LSTM = True
    try:
        default, _ = encoder(frames)
    finally:
        ae.USE_ONEDNN_LSTM = False
    assert "_LSTMLayerBackward" not in autograd_nodes(default)
    torch.testing.assert_close(outputs, default, rtol=1e-5, atol=1e-6)


def test_bfloat16_products_stay_within_their_precision_of_float32():
    """Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` the layer multiplies in bfloat16 and
    keeps its state, outputs and gradients in float32: close to the float32 results, not equal."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(40, 32, 2, batch_first=True, bidirectional=True)
    inputs = torch.randn(4, 9, 40, requires_grad=True)
    state = tuple(torch.randn(4, 4, 32, requires_grad=True) for _ in range(2))
    exact = outputs_and_gradients(sequence_lstm, lstm, inputs, state)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = outputs_and_gradients(sequence_lstm, lstm, inputs, state)
    for a, e in zip(low, exact, strict=True):
        assert a.dtype == torch.float32
        error = ((a - e).norm() / e.norm()).item()
        assert 1e-5 < error < 2e-2  # bfloat16 keeps 8 bits: about 0.4 % per rounding
