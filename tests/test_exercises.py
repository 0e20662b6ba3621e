import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_exercises_lecture05 import RIGHT as RIGHT_05
from test_exercises_lecture05 import WRONG as WRONG_05
from test_exercises_lecture06 import RIGHT as RIGHT_06
from test_exercises_lecture06 import WRONG as WRONG_06
from test_exercises_lecture07 import RIGHT as RIGHT_07
from test_exercises_lecture07 import WRONG as WRONG_07

from course_lib import evaluation as ev
from course_lib.exercises import generate, use_if_passed
from course_lib.exercises.core import Exercise
from course_lib.exercises.references import lecture_modules

ALL_EXERCISES = {ex.name: ex for module in lecture_modules() for ex in module.EXERCISES}
EXERCISE_IDS = [f"{e.lecture}-{e.name}" for e in ALL_EXERCISES.values()]


# ------------------------------------------------------------------ wrong answers, per exercise
# Written here as a student would, independently of the checkers' own list of mistakes: each
# must be rejected, and the verdict must contain the fragment that names the mistake.

def bounce_strict(position, velocity):
    position = position + velocity
    hit = (position < 0) | (position > 1)
    return np.clip(position, 0, 1), np.where(hit, -velocity, velocity)


def bounce_no_clamp(position, velocity):
    position = position + velocity
    velocity = velocity.copy()
    velocity[(position <= 0) | (position >= 1)] *= -1
    return position, velocity


def bounce_mirror(position, velocity):
    position = position + velocity
    hit = (position <= 0) | (position >= 1)
    position = np.abs(position)
    position = np.where(position > 1, 2 - position, position)
    return position, np.where(hit, -velocity, velocity)


def bounce_walls_before_step(position, velocity):
    hit = (position <= 0) | (position >= 1)
    return np.clip(position + velocity, 0, 1), np.where(hit, -velocity, velocity)


def bounce_flip_both(position, velocity):
    position = position + velocity
    hit = np.any((position <= 0) | (position >= 1), axis=-1)[..., None]
    return np.clip(position, 0, 1), np.where(hit, -velocity, velocity)


def bounce_swapped(position, velocity):
    position = position + velocity
    hit = (position <= 0) | (position >= 1)
    return np.where(hit, -velocity, velocity), np.clip(position, 0, 1)


def nats(z, t, divide):
    return F.binary_cross_entropy_with_logits(z, t, reduction="sum") / divide(z)


def clamped_nats(z, t, eps=1e-6):
    """The cross-entropy on probabilities clamped "to be safe", as students write it."""
    p = z.sigmoid().clamp(eps, 1 - eps)
    return -(t * p.log() + (1 - t) * (1 - p).log()).sum() / (z.shape[0] * z.shape[1])


def upsample_float64(scores, picks, n_frames):
    frames = np.zeros(n_frames)
    for score, start, end in zip(scores, picks, [*picks[1:], n_frames], strict=True):
        frames[start:end] = score
    return frames


def upsample_stops_at_last_pick(scores, picks, n_frames):
    frames = np.zeros(n_frames, dtype=np.float32)
    for i in range(len(picks) - 1):
        frames[picks[i]:picks[i + 1]] = scores[i]
    return frames


def upsample_shifted(scores, picks, n_frames):
    frames = np.zeros(n_frames, dtype=np.float32)
    for score, start in zip(scores, picks, strict=True):
        frames[start + 1:] = score
    return frames


def upsample_searchsorted_left(scores, picks, n_frames):
    """The pick each frame falls after, found with the wrong side of searchsorted."""
    return scores[np.searchsorted(picks, np.arange(n_frames)) - 1].astype(np.float32)


def knapsack_table(values, weights, capacity, dtype=float, ties=False, one_based=False):
    """A keep-table knapsack as students write it, with switches for the usual slips."""
    n = len(values)
    table = np.zeros((n + 1, capacity + 1), dtype=dtype)
    keep = np.zeros((n + 1, capacity + 1), dtype=bool)
    for i in range(1, n + 1):
        for w in range(capacity + 1):
            table[i, w] = table[i - 1, w]
            if weights[i - 1] <= w:
                candidate = dtype(values[i - 1]) + table[i - 1, w - weights[i - 1]]
                if candidate > table[i - 1, w] or (ties and candidate >= table[i - 1, w]):
                    table[i, w], keep[i, w] = candidate, True
    chosen, w = [], capacity
    for i in range(n, 0, -1):
        if keep[i, w]:
            chosen.append(i if one_based else i - 1)
            w -= weights[i - 1]
    return sorted(chosen)


def knapsack_one_column_short(values, weights, capacity):
    """The table's budgets written as range(capacity): its last column is capacity - 1."""
    return knapsack_table(values, weights, capacity - 1)


def knapsack_greedy(values, weights, capacity):
    chosen, used = [], 0
    for i in np.argsort(-np.asarray(values), kind="stable"):
        if used + weights[i] <= capacity:
            chosen.append(int(i))
            used += weights[i]
    return sorted(chosen)


def f_student(summary, users, *, nan_guard=True, percent=100, two=2, pad=True, reduce=None):
    n = max(len(summary), users.shape[1]) if pad else min(len(summary), users.shape[1])
    s = np.pad(summary, (0, max(0, n - len(summary))))[:n]
    g = np.pad(users, ((0, 0), (0, max(0, n - users.shape[1]))))[:, :n]
    overlap = np.sum(s & g, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p, r = overlap / s.sum(), overlap / g.sum(axis=1)
        f = two * p * r / (p + r) * percent
    f = np.nan_to_num(f) if nan_guard else f
    return reduce(f) if reduce else f


def reparameterize_with(std):
    return lambda mu, logvar, noise: mu + noise * std(logvar)


def kl(mu, logvar):
    return -0.5 * (1 + logvar - mu ** 2 - torch.exp(logvar))


def disc(original, summary, random, reduce=torch.mean):
    return -reduce(F.logsigmoid(original) + F.logsigmoid(-summary) + F.logsigmoid(-random))


def bce_prob(probability, label):
    return F.binary_cross_entropy(probability, torch.full_like(probability, float(label)))


def per_video_means(scores, lengths, divide_by_lengths=True):
    sums = torch.stack([scores[i, :int(n)].sum() for i, n in enumerate(lengths)])
    return sums / (lengths if divide_by_lengths else scores.shape[1])


def reverse_loop(emitted, lengths, shift=1):
    out = torch.zeros_like(emitted)
    for i, n in enumerate(lengths.tolist()):
        for t in range(n):
            out[i, t] = emitted[i, min(n - shift - t, emitted.shape[1] - 1)]
    return out


def steps_of(scores, lengths, shift=0):
    """[B, T] booleans: True at the steps t < lengths[i] + shift (shift 1 is `<=`)."""
    return torch.arange(scores.shape[1]) < lengths[:, None] + shift


def sparsity_of(means, sigma):
    return (means - sigma).abs().mean()


def zero_padding_in_place(scores, sigma, lengths):
    with torch.no_grad():  # torch refuses it on a tensor that requires grad; no_grad lets it be
        scores[~steps_of(scores, lengths)] = 0
    return sparsity_of(scores.sum(1) / lengths, sigma)


def flip_and_roll(emitted, lengths):
    # Each video flipped, then rolled so that its own steps come first: right only if the padding
    # was zero, since the rolled padding ends up past the video's end.
    return torch.stack([e.flip(0).roll(int(n) - len(e), 0)
                        for e, n in zip(emitted, lengths, strict=True)])


def lengths_from_nonzero_steps(emitted, lengths):
    return reverse_loop(emitted, (emitted.abs().sum(-1) != 0).sum(1))


def zeroed_in_place_then_flip_and_roll(emitted, lengths):
    with torch.no_grad():
        emitted.mul_(steps_of(emitted[..., 0], lengths)[..., None])
    return flip_and_roll(emitted, lengths)


WRONG = {
    "bounce_step": [
        (bounce_strict, "<= and >="),
        (bounce_no_clamp, "clamp the position"),
        (bounce_mirror, "does not mirror"),
        (bounce_walls_before_step, "flip the velocity component"),
        (bounce_flip_both, "not both"),
        (bounce_swapped, "(position, velocity) in that order"),
        (lambda p, v: p + v, "expected a tuple (position, velocity)"),
    ],
    "reversed_targets": [
        (lambda f: f, "not reversed at all"),
        (lambda f: torch.flip(f, dims=[0]), "reverses the batch"),
        (lambda f: f.flip(2), "reverses the pixels"),
        (lambda f: f.flip((0, 1, 2)), "not every axis"),
        (lambda f: f.permute(1, 0, 2).flip(0), "the axes are in another order"),
        (lambda f: np.flip(f.numpy(), 1).copy(), "expected a torch tensor"),
        (lambda f: f[:, ::-1], "reverse it with `x.flip(dims)`"),  # NumPy's idiom
    ],
    "teacher_forcing_inputs": [
        (lambda t: t, "must be shifted"),
        (lambda t: torch.cat([t[:, 1:], 0 * t[:, :1]], 1), "the other way"),
        (lambda t: t.roll(1, 1), "wraps around"),
        (lambda t: torch.cat([0 * t[:1], t[:-1]]), "not along the batch"),
        (lambda t: t[:, :-1], "prepend a zero frame"),
    ],
    "bernoulli_nats_per_frame": [
        (lambda z, t: F.binary_cross_entropy_with_logits(z, t), "mean over pixels too"),
        (lambda z, t: nats(z, t, lambda z: 1), "divide the sum by the number of frames"),
        (lambda z, t: nats(z, t, lambda z: len(z)), "not by the batch size alone"),
        (lambda z, t: nats(z, t, lambda z: z.shape[1]), "not by the number of time steps"),
        (lambda z, t: F.binary_cross_entropy(z.sigmoid(), t, reduction="sum") / 8,
         "work from the logits"),
        (lambda z, t: -(t * z.sigmoid().log() + (1 - t) * (1 - z.sigmoid()).log()).sum() / 8,
         "work from the logits"),
        (clamped_nats, "clamping sigmoid(z)"),
        (lambda z, t: nats(t, z, lambda z: 8), "the first one is the logits"),
        (lambda z, t: -nats(z, t, lambda z: 8), "a cross-entropy is positive"),
        (lambda z, t: nats(z, t, lambda z: 8).item(), "expected a torch tensor"),
        (lambda z, t: nats(z, t, lambda z: 8) / np.log(2), "gives bits"),
        (lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction="mean") * 64 * 64,
         "4096"),
    ],
    "upsample_scores": [
        (upsample_float64, "return float32"),
        (upsample_stops_at_last_pick, "holds until n_frames"),
        (upsample_shifted, "not one frame later"),
        (lambda s, p, n: np.interp(np.arange(n), p, s).astype(np.float32), "do not interpolate"),
        (lambda s, p, n: np.repeat(s, 15)[:n], "not even the benchmark's 15"),
        (lambda s, p, n: np.repeat(s, p[1] - p[0])[:n], "not evenly spaced"),
        (upsample_searchsorted_left, "side='left'"),
    ],
    "knapsack": [
        (lambda v, w, c: knapsack_table(v, w, c)[::-1], "increasing order"),
        (lambda v, w, c: knapsack_table(v, w, c, one_based=True), "0-based"),
        (lambda v, w, c: np.isin(np.arange(len(v)), knapsack_table(v, w, c)), "not a 0/1 mask"),
        (lambda v, w, c: knapsack_table(v, w, c, ties=True), "on a tie the shot is not taken"),
        (lambda v, w, c: knapsack_table(v, w, c, dtype=np.float32), "float32"),
        (lambda v, w, c: knapsack_table(v, w, c, dtype=int), "integer table"),
        (knapsack_one_column_short, "capacity + 1"),
        (knapsack_greedy, "highest scores first is not optimal"),
        (lambda v, w, c: [float(i) for i in knapsack_table(v, w, c)], "integer values"),
    ],
    "f_scores": [
        (lambda s, u: f_student(s, u, nan_guard=False), "is NaN"),
        (lambda s, u: f_student(s, u, percent=1), "multiply by 100"),
        (lambda s, u: f_student(s, u, two=1), "factor 2 is missing"),
        (lambda s, u: f_student(s, u, pad=False), "pad the shorter summary"),
        (lambda s, u: f_student(s, u, reduce=np.mean), "not their mean"),
        (lambda s, u: f_student(s, u, reduce=np.max), "not their maximum"),
        # no padding at all: NumPy's broadcast error, then the hint that says what to do
        (lambda s, u: 200 * (s * u).sum(1) / (s.sum() + u.sum(1)), "Pad the shorter"),
    ],
    "sparsity_loss": [
        (lambda s, sigma: torch.mean(s) - sigma, "take the absolute value"),
        (lambda s, sigma: sigma - torch.mean(s), "take the absolute value"),
        (lambda s, sigma: (torch.mean(s) - sigma).pow(2), "not its square"),
        (lambda s, sigma: torch.abs(s.sum() - sigma), "not the sum"),
        (lambda s, sigma: torch.mean(torch.abs(s - sigma)), "take |mean − σ| once"),
        (lambda s, sigma: torch.abs(s.mean(-1) - sigma).mean(), "per video"),
        (lambda s, sigma: torch.abs(s.mean(-1) - sigma).sum(), "per video and then summed"),
        (lambda s, sigma: abs(s.mean().item() - sigma), "expected a torch tensor"),
        (lambda s, sigma: torch.tensor(abs(s.mean().item() - sigma)), "carries no gradient"),
    ],
    "reparameterize": [
        (reparameterize_with(torch.exp), "exp(logvar) is the variance"),
        (reparameterize_with(lambda logvar: logvar), "log of the variance"),
        (reparameterize_with(torch.sqrt), "not its square root"),
        (lambda mu, logvar, noise: mu + torch.randn(mu.shape) * (0.5 * logvar).exp(),
         "use the noise that is passed in"),
        (lambda mu, logvar, noise: noise + mu * (0.5 * logvar).exp(), "not the other way round"),
        (lambda mu, logvar, noise: mu + (0.5 * logvar).exp(), "multiply the standard deviation"),
        (reparameterize_with(lambda logvar: (0.5 * logvar.detach()).exp()),
         "no gradient reaches `logvar`"),
    ],
    "prior_loss": [
        (lambda mu, logvar: kl(mu, logvar).sum(), "instead of summing over it"),
        (lambda mu, logvar: kl(mu, logvar).mean(), "average only over the batch"),
        (lambda mu, logvar: kl(mu, logvar).sum((1, 2)).mean(), "the batch is dim 1"),
        (lambda mu, logvar: kl(mu, logvar).sum(-1).mean(), "sum over the layers too"),
        (lambda mu, logvar: (2 * kl(mu, logvar)).sum((0, 2)).mean(), "factor 0.5"),
        (lambda mu, logvar: (0.5 * (mu ** 2 + logvar.exp() - logvar)).sum((0, 2)).mean(),
         "- 1 inside the sum"),
        (lambda mu, logvar: -kl(mu, logvar).sum((0, 2)).mean(), "check the sign"),
        (lambda mu, logvar: kl(mu.detach(), logvar).sum((0, 2)).mean(), "no gradient reaches `mu`"),
    ],
    "discriminator_loss": [
        (lambda a, b, c: -(a.sigmoid().log() + (1 - b.sigmoid()).log()
                           + (1 - c.sigmoid()).log()).mean(), "work from the logits"),
        (lambda a, b, c: bce_prob(a.sigmoid(), 1) + bce_prob(b.sigmoid(), 0)
         + bce_prob(c.sigmoid(), 0), "work from the logits"),
        (lambda a, b, c: -disc(a, b, c), "check the sign"),
        (lambda a, b, c: disc(a, b, c, reduce=torch.sum), "do not sum"),
        (lambda a, b, c: disc(a, b, c) / 3, "do not average them"),
        (lambda a, b, c: disc(a, -b, c), "both reconstructions are fakes"),
        (lambda a, b, c: disc(-a, b, c), "the original is real"),
        (lambda a, b, c: disc(a, b, c.detach()), "no gradient reaches `logit_random`"),
        (lambda a, b, c: -(F.logsigmoid(a) + F.logsigmoid(-b)).mean(), "a fake too"),
        (lambda a, b, c: (F.binary_cross_entropy_with_logits(a, torch.ones_like(a))
                          + 0.5 * (F.binary_cross_entropy_with_logits(b, torch.zeros_like(b))
                                   + F.binary_cross_entropy_with_logits(c, torch.zeros_like(c)))),
         "counts whole"),
    ],
    # lecture 04
    "least_squares_discriminator_loss": [
        (lambda p, q: F.mse_loss(p, torch.zeros_like(p)) + F.mse_loss(q, torch.ones_like(q)),
         "not the other way round"),
        (lambda p, q: bce_prob(p, 1) + bce_prob(q, 0), "replaces the log-loss"),
        (lambda p, q: F.mse_loss(p, torch.ones_like(p), reduction="sum")
         + F.mse_loss(q, torch.zeros_like(q), reduction="sum"), "do not sum"),
        (lambda p, q: torch.cat([(p - 1) ** 2, q ** 2]).mean(), "do not average them"),
        (lambda p, q: F.l1_loss(p, torch.ones_like(p)) + F.l1_loss(q, torch.zeros_like(q)),
         "not least squares"),
        (lambda p, q: ((p.detach() - 1) ** 2).mean() + (q ** 2).mean(),
         "no gradient reaches `p_original`"),
        (lambda p, q: F.mse_loss(p, torch.ones_like(p)) + (q.data ** 2).mean(),
         "no gradient reaches `p_summary`"),
        (lambda p, q: torch.tensor(((p - 1) ** 2).mean().item() + (q ** 2).mean().item(),
                                   requires_grad=True), "no gradient reaches `p_original`"),
        (lambda p, q: p.sub_(1).pow(2).mean() + q.pow(2).mean(), "work on a copy"),
    ],
    "masked_sparsity_loss": [
        (lambda s, sigma, n: torch.abs(s.mean(1) - sigma).mean(), "padding is not a score"),
        (lambda s, sigma, n: torch.abs(per_video_means(s, n, False) - sigma).mean(),
         "padding is not a score"),
        (lambda s, sigma, n: torch.abs(per_video_means(s, n).mean() - sigma),
         "averaging the videos' means first"),
        (lambda s, sigma, n: (per_video_means(s, n) - sigma).abs().sum(), "do not sum"),
        (lambda s, sigma, n: ((per_video_means(s, n) - sigma) ** 2).mean(), "not its square"),
        (lambda s, sigma, n: sparsity_of(s.sum(1) / n, sigma), "padded steps are not zero"),
        (lambda s, sigma, n: sparsity_of(s.sum(1) / (s != 0).sum(1), sigma),
         "padding is not a score"),
        (lambda s, sigma, n: sparsity_of((s * steps_of(s, n, shift=1)).sum(1) / n, sigma),
         "no more, no fewer"),
        (lambda s, sigma, n: sparsity_of((s * steps_of(s, n, shift=-1)).sum(1) / n, sigma),
         "its last one included"),
        (lambda s, sigma, n: sparsity_of(torch.tensor(
            [s[i, :k].mean().item() for i, k in enumerate(n)], requires_grad=True), sigma),
         "no gradient reaches `scores`"),
        (zero_padding_in_place, "changes its argument `scores` in place"),
        (lambda s, sigma, n: sparsity_of(s.masked_fill_(~steps_of(s, n), 0).sum(1) / n, sigma),
         "work on a copy"),
    ],
    "reverse_within_length": [
        (lambda e, n: torch.flip(e, dims=[1]), "puts a shorter video's padding first"),
        (lambda e, n: reverse_loop(e, n, shift=0), "off by one"),
        (lambda e, n: e.flip(1) * (torch.arange(e.shape[1]) < n[:, None])[..., None],
         "then zeroing the padding"),
        (lambda e, n: torch.flip(e, dims=[2]), "not the features"),
        (flip_and_roll, "zero the steps past each video's end"),
        (lengths_from_nonzero_steps, "reverse each video within its own length"),
        (zeroed_in_place_then_flip_and_roll, "changes its argument `emitted` in place"),
        (lambda e, n: torch.from_numpy(reverse_loop(e, n).detach().numpy()),
         "carries no gradient"),
        (lambda e, n: reverse_loop(e.detach(), n), "carries no gradient"),
    ],
}
# Lectures 05, 06 and 07 keep their tables, and tests of their own, in their own files.
WRONG |= WRONG_05 | WRONG_06 | WRONG_07
WRONG_CASES = [(name, i) for name, wrong in WRONG.items() for i in range(len(wrong))]

def bounce_right(p, v):
    return (np.minimum(np.maximum(p + v, 0), 1), v * np.where((p + v <= 0) | (p + v >= 1), -1, 1))


# Right answers written differently from the library, and a multi-value result in each form the
# notebook's code unpacks (tuple, list, array): a checker must accept every one.
RIGHT = {
    "bounce_step": [bounce_right, lambda p, v: list(bounce_right(p, v)),
                    lambda p, v: np.stack(bounce_right(p, v))],
    "knapsack": [lambda v, w, c: tuple(knapsack_table(v, w, c))],
    "f_scores": [lambda s, u: list(f_student(s, u))],
    "sparsity_loss": [lambda s, sigma: torch.abs(s.sum() / s.numel() - sigma).reshape(1)],
    "discriminator_loss": [lambda a, b, c: F.binary_cross_entropy_with_logits(
        torch.stack([a, b, c]),
        torch.stack([torch.ones_like(a), torch.zeros_like(b), torch.zeros_like(c)]),
        reduction="none").sum(0).mean()],
    "least_squares_discriminator_loss": [lambda p, q: F.mse_loss(p, torch.ones_like(p))
                                         + F.mse_loss(q, torch.zeros_like(q))],
    "masked_sparsity_loss": [
        lambda s, sigma, n: torch.stack(
            [(s[i, :int(k)].mean() - sigma).abs() for i, k in enumerate(n)]).mean(),
        lambda s, sigma, n: sparsity_of(s.masked_fill(~steps_of(s, n), 0).sum(1) / n, sigma),
        lambda s, sigma, n: sparsity_of(torch.where(steps_of(s, n), s, 0.0).sum(1) / n, sigma),
    ],
    "reverse_within_length": [
        reverse_loop,
        lambda e, n: torch.stack([torch.cat([e[i, :k].flip(0), torch.zeros_like(e[i, k:])])
                                  for i, k in enumerate(n.tolist())]),
    ],
}
RIGHT |= RIGHT_05 | RIGHT_06 | RIGHT_07


def test_every_exercise_lists_its_wrong_answers():
    assert set(WRONG) == set(ALL_EXERCISES)
    assert all(sum(e.lecture == m.__name__[-2:] for e in ALL_EXERCISES.values()) >= 3
               for m in lecture_modules())
    assert all(len(wrong) >= 3 for wrong in WRONG.values())


@pytest.mark.parametrize(("name", "index"), WRONG_CASES, ids=[f"{n}-{i}" for n, i in WRONG_CASES])
def test_wrong_answer_is_rejected_with_a_useful_hint(name, index):
    # Fails if the checker's inputs stop separating this answer, or its hint stops naming it.
    wrong, fragment = WRONG[name][index]
    result = ALL_EXERCISES[name].check(wrong)
    assert not result.passed, result
    assert fragment in result.message, result


RIGHT_CASES = [(name, i) for name, right in RIGHT.items() for i in range(len(right))]


@pytest.mark.parametrize(("name", "index"), RIGHT_CASES, ids=[f"{n}-{i}" for n, i in RIGHT_CASES])
def test_right_answers_in_another_form_pass(name, index):
    result = ALL_EXERCISES[name].check(RIGHT[name][index])
    assert result.passed, result


@pytest.mark.parametrize("exercise", ALL_EXERCISES.values(), ids=EXERCISE_IDS)
def test_each_known_mistake_is_told_apart_and_named(exercise):
    for mistake in exercise.mistakes:
        result = exercise.check(mistake.wrong)
        assert not result.passed and mistake.hint in result.message, (mistake.hint, result)


@pytest.mark.parametrize("exercise", ALL_EXERCISES.values(), ids=EXERCISE_IDS)
def test_stored_references_match_the_library(exercise):
    # Fails when a solution or an input changed without `python -m course_lib.exercises.references`.
    got, expected = exercise.compute(exercise.solution), exercise.expected()
    assert len(got) == len(expected) == len(exercise.labels())
    for outs, wants in zip(got, expected, strict=True):
        for g, e in zip(outs, wants, strict=True):
            g = g.detach().numpy() if isinstance(g, torch.Tensor) else np.asarray(g)
            assert g.dtype == e.dtype
            np.testing.assert_allclose(g, e, rtol=exercise.rtol, atol=exercise.atol)
    if exercise.differentiable:
        got_grads = exercise.gradients(exercise._calls(exercise.solution))
        for got, wanted in zip(got_grads, exercise.expected_gradients(), strict=True):
            assert got.keys() == wanted.keys()
            for name, grad in got.items():
                np.testing.assert_allclose(grad, wanted[name], rtol=exercise.rtol,
                                           atol=exercise.atol, err_msg=name)
    result = exercise.check(exercise.solution)
    assert result.passed and result.message.startswith("matches the reference"), result


DIFFERENTIABLE = [e for e in ALL_EXERCISES.values() if e.differentiable]


@pytest.mark.parametrize("exercise", DIFFERENTIABLE, ids=[e.name for e in DIFFERENTIABLE])
def test_the_solution_with_one_input_cut_from_the_graph_is_refused_and_named(exercise):
    # The hole of checking only that the result requires grad: with one of several inputs
    # detached it still does. Each differentiable tensor argument in turn, in every exercise.
    names = exercise.arg_names()
    first_case = next(iter(exercise.inputs().values()))
    cut_any = False
    for k, arg in enumerate(first_case):
        if not (isinstance(arg, torch.Tensor) and arg.requires_grad):
            continue

        def cut(*args, k=k):
            return exercise.solution(*args[:k], args[k].detach(), *args[k + 1:])

        result = exercise.check(cut)
        assert not result.passed, (names[k], result)
        assert (f"no gradient reaches `{names[k]}`" in result.message
                or "carries no gradient" in result.message), (names[k], result)
        cut_any = True
    assert cut_any


def _takes_arrays(exercise: Exercise) -> bool:
    return any(isinstance(a, torch.Tensor | np.ndarray)
               for a in next(iter(exercise.inputs().values())))


# An exercise whose inputs are all numbers (07's sample_indices) has nothing to change in place.
MUTABLE = [e for e in ALL_EXERCISES.values() if _takes_arrays(e)]


@pytest.mark.parametrize("exercise", MUTABLE, ids=[f"{e.lecture}-{e.name}" for e in MUTABLE])
def test_the_solution_changing_an_input_in_place_is_refused_and_named(exercise):
    # Right values, but the caller's array changed: each case has its own copy, so only the
    # mutation is reported, never a wrong value on the next case.
    names = exercise.arg_names()
    first_case = next(iter(exercise.inputs().values()))
    k = next(i for i, a in enumerate(first_case) if isinstance(a, torch.Tensor | np.ndarray))

    def mutating(*args):
        result = exercise.solution(*args)
        x = args[k]
        with torch.no_grad():
            x[...] = ~x if x.dtype in (bool, torch.bool) else x + 1
        return result

    result = exercise.check(mutating)
    assert not result.passed
    assert result.message.startswith(f"changes its argument `{names[k]}` in place"), result
    assert "Its result is wrong too" not in result.message, result


@pytest.mark.parametrize("exercise", ALL_EXERCISES.values(), ids=EXERCISE_IDS)
def test_checkers_report_stubs_and_crashes_without_raising(exercise):
    def stub(*args):
        raise NotImplementedError("Exercise 1: implement it.")

    def crash(*args):
        return 1 / 0

    assert "not implemented yet" in exercise.check(stub).message
    assert "ZeroDivisionError" in exercise.check(crash).message
    assert "returned None (is a `return` missing?)" in exercise.check(lambda *a: None).message


def test_nan_is_reported_as_nan_not_as_a_small_error():
    result = ALL_EXERCISES["f_scores"].check(lambda s, u: f_student(s, u, nan_guard=False))
    assert "1 value(s) are nan where a finite number is expected" in result.message
    assert "index (3,)" in result.message and "largest error" not in result.message


def test_a_difference_without_a_known_mistake_names_the_first_element_and_tolerance():
    result = ALL_EXERCISES["f_scores"].check(lambda s, u: f_student(s, u) + [0, 0, 1e-3, 1])
    assert not result.passed
    assert "2 of 4 values differ; first at index (2,)" in result.message
    assert "rtol=1e-05, atol=1e-06" in result.message
    assert result.message.endswith(ALL_EXERCISES["f_scores"].hint)


def test_checking_leaves_the_notebooks_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    ALL_EXERCISES["reparameterize"].check(WRONG["reparameterize"][3][0])
    assert torch.equal(torch.rand(3), expected)


def test_use_if_passed_uses_a_passing_function_and_says_so(capsys):
    exercise = ALL_EXERCISES["knapsack"]
    mine = RIGHT["knapsack"][0]
    assert use_if_passed(exercise.check(mine), ev.knapsack) is mine
    assert "Using your `knapsack`" in capsys.readouterr().out
    assert use_if_passed(exercise.check(knapsack_greedy), ev.knapsack) is ev.knapsack
    assert "Using the library's `knapsack`" in capsys.readouterr().out


def test_moving_mnist_moves_digits_with_the_step_it_is_given():
    # Notebook 01 animates with the student's bounce_step: the generator must really use it.
    from course_lib.data.mnist import embedded_digits
    from course_lib.data.moving_mnist import generate_moving_mnist

    def still(position, velocity):
        return position, velocity

    frozen = generate_moving_mnist(embedded_digits(), 2, n_frames=4, rng=np.random.default_rng(0),
                                   step=still)
    moving = generate_moving_mnist(embedded_digits(), 2, n_frames=4, rng=np.random.default_rng(0))
    assert (frozen.positions == frozen.positions[:, :1]).all()
    assert not (moving.positions == moving.positions[:, :1]).all()


def test_exercise_without_stored_reference_says_how_to_write_it():
    exercise = Exercise("01", "no_such_exercise", lambda: {"": (1,)}, lambda x: x, hint="")
    with pytest.raises(KeyError, match="course_lib.exercises.references"):
        exercise.expected()


def test_strip_solutions_keeps_indentation_and_flags_top_level_stubs():
    source = ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n"
              "    ### END SOLUTION\n\nprint(f)")
    stripped, top_level = generate.strip_solutions(source)
    stub = generate.stub(generate.GENERIC_TASK, "    ")
    assert stripped == f"def f(x):\n    y = 1\n{stub}\nprint(f)"
    assert not top_level
    _, top_level = generate.strip_solutions("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    assert top_level
    for broken in ("### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                   "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"):
        with pytest.raises(ValueError):
            generate.strip_solutions(broken)


def test_stub_says_which_exercise_and_what_to_implement():
    tasks = generate.exercise_tasks("03")
    source = ("def sparsity_loss(scores, sigma):\n"
              "    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION")
    stripped, _ = generate.strip_solutions(source, tasks)
    namespace = {}
    exec(stripped, namespace)
    with pytest.raises(NotImplementedError) as raised:
        namespace["sparsity_loss"](None, None)
    assert str(raised.value) == tasks["sparsity_loss"]
    assert str(raised.value).startswith("Exercise 1: implement sparsity_loss. The mean over all")
    assert max(len(line) for line in stripped.splitlines()) <= 100


def test_student_copy_has_stubs_no_solutions_no_outputs():
    notebook = {"metadata": {"widgets": {}}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "id": "a", "metadata": {}, "execution_count": 3,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}],
         "source": ["### BEGIN SOLUTION\n", "secret = 42\n", "### END SOLUTION"]},
    ]}
    student = generate.student_copy(notebook, "01_x.ipynb")
    code = student["cells"][1]
    assert "secret" not in "".join(code["source"]) and code["outputs"] == []
    assert code["execution_count"] is None and code["metadata"]["tags"] == ["raises-exception"]
    assert student["cells"][0]["cell_type"] == "markdown" and "widgets" not in student["metadata"]
    assert notebook["cells"][0]["outputs"]  # the lecture notebook itself is untouched


def test_committed_student_copies_are_current():
    assert generate.main(["--check"]) == 0, "run `python -m course_lib.exercises.generate`"
    lectures = generate.lecture_notebooks()
    assert lectures, "no lecture notebooks found"
    for path in lectures:
        student = json.loads((generate.STUDENT_DIR / path.name).read_text(encoding="utf-8"))
        text = "".join("".join(c["source"]) for c in student["cells"])
        assert generate.BEGIN not in text and generate.END not in text
        assert (generate.BEGIN in path.read_text(encoding="utf-8")) == (
            "raise NotImplementedError(" in text)


def test_student_copies_stubs_name_their_exercise_and_check_as_not_implemented():
    seen = set()
    for path in generate.lecture_notebooks():
        student = json.loads((generate.STUDENT_DIR / path.name).read_text(encoding="utf-8"))
        for cell in student["cells"]:
            source = "".join(cell["source"])
            match = re.match(r"def (\w+)\(", source)
            if cell["cell_type"] != "code" or not match or match[1] not in ALL_EXERCISES:
                continue
            namespace = {"np": np, "torch": torch}
            exec(source, namespace)
            exercise = ALL_EXERCISES[match[1]]
            result = exercise.check(namespace[match[1]])
            assert not result.passed and "not implemented yet" in result.message
            with pytest.raises(NotImplementedError, match=f"implement {exercise.name}"):
                namespace[match[1]](*next(iter(exercise.inputs().values())))
            seen.add(match[1])
    assert seen == set(ALL_EXERCISES)


def test_an_error_is_reported_at_the_students_line_not_inside_torch(tmp_path):
    source = tmp_path / "student.py"
    source.write_text("import torch\n\ndef loss(scores, sigma):\n"
                      "    mean = scores.mean()\n    return torch.cat([mean, mean])\n")
    namespace = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    result = ALL_EXERCISES["sparsity_loss"].check(namespace["loss"])
    assert "raised RuntimeError" in result.message
    assert "(line 5: `return torch.cat([mean, mean])`)" in result.message
    one_argument = ALL_EXERCISES["sparsity_loss"].check(lambda scores: scores.mean()).message
    assert "raised TypeError" in one_argument and "positional argument" in one_argument


FLOAT64_ABLE = [e for e in DIFFERENTIABLE if e.dtype is None and not any(
    isinstance(a, torch.nn.Module) for a in next(iter(e.inputs().values())))]


@pytest.mark.parametrize("exercise", FLOAT64_ABLE, ids=[e.name for e in FLOAT64_ABLE])
def test_a_right_answer_computed_in_float64_passes(exercise):
    """A student's right answer that computes in double precision: the checker's fixed random
    weights for the gradient were drawn in the answer's precision, other numbers than the
    reference's, and it was told its gradient was cut from the graph."""
    def in_float64(*args):
        return exercise.solution(*[a.double() if isinstance(a, torch.Tensor)
                                   and a.is_floating_point() else a for a in args])

    result = exercise.check(in_float64)
    assert result.passed, result
