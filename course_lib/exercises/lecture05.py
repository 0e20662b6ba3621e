"""Exercises of notebook 05 (SUM-GAN-AAE) and their checkers.

Each exercise's ``mistakes`` are the wrong answers its inputs tell apart from the right one;
``tests/test_exercises_lecture05.py`` writes them again independently and asserts each is
rejected.
"""

from __future__ import annotations

import torch

from course_lib.exercises.core import Exercise, Mistake, use_if_passed
from course_lib.models.sum_gan_aae import attend, decoder_input, masked_softmax


def _attend_inputs():
    torch.manual_seed(11)
    # 3 videos of 7 steps: the softmax axis (steps) and the batch axis differ in size; in the
    # second case the energies reach several hundred, where exp overflows float32.
    query, memory = torch.randn(3, 4), torch.randn(3, 7, 4)
    return {"query [3, 4], memory [3 videos, 7 steps, 4]": (query, memory),
            "energies of several hundred": (8 * query, 8 * memory)}


def _energies(query, memory):
    return torch.bmm(memory, query.unsqueeze(2)).squeeze(2)


def _context(weights, memory):
    return torch.bmm(weights.unsqueeze(1), memory).squeeze(1)


def _with(weights_of):
    """An attention whose weights come from ``weights_of(energies)``."""
    def attention(query, memory):
        weights = weights_of(_energies(query, memory))
        return weights, _context(weights, memory)
    return attention


def _masked_inputs():
    torch.manual_seed(12)
    return {"energies [4 videos, 6 steps], lengths 6, 3, 1, 5":
            (3 * torch.randn(4, 6), torch.tensor([6, 3, 1, 5]))}


def _padded(energies, lengths, offset=0):
    return torch.arange(energies.shape[1]) >= (lengths + offset).unsqueeze(1)


def _decoder_inputs():
    torch.manual_seed(13)
    attention = torch.nn.Linear(2 * 4, 4)
    return {"h [2 layers, 3 videos, 4], previous [3, 4], memory [3, 5 steps, 4]":
            (torch.randn(2, 3, 4), torch.randn(3, 4), torch.randn(3, 5, 4), attention)}


def _input_from(query_of, order=lambda previous, context, query: (previous, context)):
    def step(h, previous, memory, attention):
        query = attention(query_of(h))
        weights, context = attend(query, memory)
        return torch.cat(order(previous, context, query), dim=1), weights
    return step


ATTEND = Exercise(
    "05", "attend", _attend_inputs, attend, outputs=("weights", "context"), tensor=True,
    differentiable=True, rtol=1e-5, atol=1e-6,
    hint="energies e_i = <memory_i, query> for every step i ([B, T]), weights = their softmax "
         "over the steps (dim 1), context = sum_i weights_i * memory_i ([B, H]); return "
         "(weights, context).",
    mistakes=(
        Mistake("normalise the energies with a softmax over the steps: the weights must be "
                "positive and sum to 1.", _with(lambda e: e)),
        Mistake("the softmax runs over the steps (dim 1), not over the videos of the batch.",
                _with(lambda e: torch.softmax(e, dim=0))),
        Mistake("SUM-GAN-AAE's energies are plain dot products: no division by √H (that is the "
                "Transformer's scaled attention).",
                _with(lambda e: torch.softmax(e / 2.0, dim=1))),
        Mistake("exp overflows for energies of a few hundred (inf / inf = NaN): subtract each "
                "row's maximum before exp, or use torch.softmax, which does.",
                _with(lambda e: e.exp() / e.exp().sum(dim=1, keepdim=True))),
        Mistake("the weights come from a softmax over the steps (they sum to 1), not from a "
                "sigmoid of each energy.", _with(torch.sigmoid)),
        Mistake("the context weights each encoder step by its α_i; an unweighted mean ignores "
                "the attention.",
                lambda q, m: (torch.softmax(_energies(q, m), dim=1), m.mean(dim=1))),
    ))
MASKED_SOFTMAX = Exercise(
    "05", "masked_softmax", _masked_inputs, masked_softmax, tensor=True, differentiable=True,
    hint="set the energies of steps t >= length of each video to -inf (masked_fill), then "
         "softmax over the steps (dim 1): padded steps get weight 0, each row sums to 1.",
    mistakes=(
        Mistake("set the padded energies to −∞ (or a very negative number), not to 0: exp(0) = "
                "1 still gives the padded steps weight.",
                lambda e, n: torch.softmax(e.masked_fill(_padded(e, n), 0.0), dim=1)),
        Mistake("mask the energies *before* the softmax: zeroing the weights afterwards leaves "
                "rows that do not sum to 1.",
                lambda e, n: torch.softmax(e, dim=1).masked_fill(_padded(e, n), 0.0)),
        Mistake("a video of length L has steps 0 … L − 1: mask from step L on (t >= L), "
                "not after it.",
                lambda e, n: torch.softmax(e.masked_fill(_padded(e, n, 1), float("-inf")), 1)),
        Mistake("a video of length L has steps 0 … L − 1: step L − 1 is real, mask from step L "
                "on.",
                lambda e, n: torch.softmax(e.masked_fill(_padded(e, n, -1), -1e9), dim=1)),
        Mistake("mask the padded steps: a plain softmax gives the padding weight.",
                lambda e, n: torch.softmax(e, dim=1)),
    ))
DECODER_INPUT = Exercise(
    "05", "decoder_input", _decoder_inputs, decoder_input, outputs=("cell_input", "weights"),
    tensor=True, differentiable=True, rtol=1e-5, atol=1e-6,
    hint="The query is the attention layer applied to the decoder's state, every layer's h "
         "joined along the features (layer 0 first); attend to the memory with it; the cell "
         "reads the previous output followed by the context. Return (that input, the weights).",
    mistakes=(
        Mistake("the cell reads [previous output, context], in that order.",
                _input_from(lambda h: torch.cat(list(h), dim=1),
                            lambda previous, context, query: (context, previous))),
        Mistake("the query reads layer 0's h first, then layer 1's.",
                _input_from(lambda h: torch.cat(list(h.flip(0)), dim=1))),
        Mistake("h is [layers, batch, hidden]: h.reshape(batch, -1) mixes the videos of the "
                "batch; put each video's layers side by side (torch.cat(list(h), dim=1)).",
                _input_from(lambda h: h.reshape(h.shape[1], -1))),
        Mistake("the second half of the input is the context (the weighted sum of the "
                "encoder's outputs), not the query.",
                _input_from(lambda h: torch.cat(list(h), dim=1),
                            lambda previous, context, query: (previous, query))),
    ))

EXERCISES = [ATTEND, MASKED_SOFTMAX, DECODER_INPUT]
check_attend = ATTEND.check
check_masked_softmax = MASKED_SOFTMAX.check
check_decoder_input = DECODER_INPUT.check

# What a notebook uses as `ex.<name>`.
__all__ = ["EXERCISES", "check_attend", "check_masked_softmax", "check_decoder_input",
           "use_if_passed"]
