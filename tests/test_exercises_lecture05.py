"""Notebook 05's exercises: wrong answers a student would plausibly write (each must be rejected
with a hint that names it) and right answers in another form (each must pass). The tables are
run by tests/test_exercises.py's tests, with every other lecture's."""

import torch

from course_lib.models import sum_gan_aae as aae


def attention_with(normalise, context=None):
    def attention(query, memory):
        energies = torch.einsum("bth,bh->bt", memory, query)
        weights = normalise(energies)
        return weights, (context or (lambda w, m: torch.einsum("bt,bth->bh", w, m)))(weights,
                                                                                 memory)
    return attention


def masked_with(fill, offset=0, after=False):
    def masked(energies, lengths):
        steps = torch.arange(energies.shape[1]).unsqueeze(0)
        padded = steps >= lengths.unsqueeze(1) + offset
        if after:
            return torch.softmax(energies, dim=-1) * ~padded
        return torch.softmax(torch.where(padded, torch.full_like(energies, fill), energies), -1)
    return masked


def decoder_step(query_from, order="previous, context"):
    def step(h, previous, memory, attention):
        query = attention(query_from(h))
        weights, context = aae.attend(query, memory)
        second = context if "context" in order else query
        parts = [second, previous] if order.startswith("context") else [previous, second]
        return torch.cat(parts, dim=-1), weights
    return step


def side_by_side(h):
    return torch.cat([h[i] for i in range(len(h))], dim=-1)


def attention_detaching(energies_of, context_of):
    """An attention that is right in value but cuts one path from the graph."""
    def attention(query, memory):
        weights = torch.softmax(energies_of(query, memory), dim=1)
        return weights, context_of(weights, memory)
    return attention


def dot(query, memory):
    return torch.einsum("bth,bh->bt", memory, query)


def weighted(weights, memory):
    return torch.einsum("bt,bth->bh", weights, memory)


def masked_in_place(energies, lengths):
    # torch refuses masked_fill_ on a tensor that requires grad; `.data` slips past the refusal
    energies.data.masked_fill_(torch.arange(energies.shape[1]) >= lengths[:, None], -torch.inf)
    return torch.softmax(energies, dim=1)


def normaliser_without_gradient(energies, lengths):
    exp = energies.exp() * (torch.arange(energies.shape[1]) < lengths[:, None])
    return exp / exp.sum(1, keepdim=True).detach()


WRONG = {
    "attend": [
        (attention_with(lambda e: e), "normalise the energies with a softmax"),
        (attention_with(lambda e: torch.softmax(e, dim=0)), "not over the videos"),
        (attention_with(lambda e: torch.softmax(e / e.new_tensor(4.0).sqrt(), dim=-1)),
         "no division by √H"),
        (attention_with(lambda e: torch.exp(e) / torch.exp(e).sum(-1, keepdim=True)),
         "exp overflows"),
        (attention_with(torch.sigmoid), "not from a sigmoid"),
        (attention_with(lambda e: torch.softmax(e, -1), lambda w, m: m.sum(1) / m.shape[1]),
         "unweighted mean"),
        (attention_detaching(lambda q, m: dot(q, m.detach()), weighted),
         "the gradient with respect to `memory`"),
        (attention_detaching(dot, lambda w, m: weighted(w.detach(), m)),
         "the gradient with respect to `query`"),
        (attention_detaching(lambda q, m: dot(q.detach(), m), weighted),
         "no gradient reaches `query`"),
    ],
    "masked_softmax": [
        (masked_with(0.0), "not to 0"),
        (masked_with(float("-inf"), after=True), "*before* the softmax"),
        (masked_with(float("-inf"), offset=1), "not after it"),
        (masked_with(-1e4, offset=-1), "step L − 1 is real"),
        (lambda energies, lengths: energies.softmax(dim=1), "a plain softmax"),
        (masked_in_place, "changes its argument `energies` in place"),
        (normaliser_without_gradient, "the gradient with respect to `energies`"),
    ],
    "decoder_input": [
        (decoder_step(side_by_side, "context, previous"), "[previous output, context]"),
        (decoder_step(lambda h: torch.cat([h[1], h[0]], dim=-1)), "layer 0's h first"),
        (decoder_step(lambda h: h.view(h.shape[1], -1)), "mixes the videos"),
        (decoder_step(side_by_side, "previous, query"), "not the query"),
        (decoder_step(lambda h: side_by_side(h).detach()), "no gradient reaches `h`"),
        (lambda h, previous, memory, attention: decoder_step(side_by_side)(
            h, previous.detach(), memory, attention), "no gradient reaches `previous`"),
    ],
}

RIGHT = {
    "attend": [attention_with(lambda e: torch.softmax(e, dim=-1)),
               lambda query, memory: list(attention_with(lambda e: e.softmax(-1))(query, memory))],
    "masked_softmax": [masked_with(-1e9), masked_with(float("-inf"))],
    "decoder_input": [decoder_step(lambda h: h.permute(1, 0, 2).reshape(h.shape[1], -1)),
                      lambda *args: list(decoder_step(side_by_side)(*args))],
}


def test_the_solutions_are_what_the_decoder_computes():
    # The library's AttentionDecoder.loop is built from these functions, and the fused decoder
    # is tested against the loop; here one step of the loop against the solutions by hand.
    torch.manual_seed(0)
    decoder = aae.AttentionDecoder(4, 2)
    h, c, memory = torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.randn(3, 5, 4)
    lengths = torch.tensor([5, 2, 4])
    _, weights = decoder.loop((h, c), memory, lengths)
    query = decoder.attention(torch.cat([h[0], h[1]], dim=1))
    energies = (memory * query.unsqueeze(1)).sum(-1)
    torch.testing.assert_close(weights[:, 0], aae.masked_softmax(energies, lengths))
    first = weights[:, 0]  # the first decoder step: every video still running
    assert (first[1, 2:] == 0).all() and torch.allclose(first.sum(-1), torch.ones(3))
