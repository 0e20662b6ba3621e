"""Exercises of notebook 04 (SUM-GAN-sl) and their checkers.

Each exercise's ``mistakes`` are the wrong answers its inputs tell apart from the right one;
``tests/test_exercises.py`` writes them again independently and asserts each is rejected.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.exercises.core import Exercise, Mistake, use_if_passed
from course_lib.models.sum_gan_sl import least_squares, reverse_each, sparsity_loss


def least_squares_discriminator_loss(p_original: torch.Tensor, p_summary: torch.Tensor
                                     ) -> torch.Tensor:
    """The discriminator's loss of -sl: (P(original) − 1)² + (P(summary) − 0)², each term
    averaged over the batch."""
    return least_squares(p_original, 1.0) + least_squares(p_summary, 0.0)


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, steps] booleans: True at the steps that belong to each video."""
    return torch.arange(steps) < lengths.unsqueeze(1)


def reverse_within_length(emitted: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each video's emitted sequence [B, T, H] in forward order within its own length (step t
    of video i is what it emitted at T_i − 1 − t), zeros past its end."""
    return reverse_each(emitted, lengths) * step_mask(lengths, emitted.shape[1]).unsqueeze(-1)


def _probability_inputs():
    torch.manual_seed(6)
    # Originals mostly judged real, summaries spread out; batch sizes differ, so a loss that
    # sums instead of averaging, or averages the two terms together, is caught.
    return {"P(original) [batch 4], P(summary) [batch 4]": (
        torch.tensor([0.9, 0.6, 0.97, 0.3]), torch.tensor([0.2, 0.75, 0.05, 0.5])),
        "P(original) [batch 3], P(summary) [batch 3]": (
        torch.rand(3), torch.rand(3))}


def _padding_scores(shape):
    """What the selector scores a padded step: the sigmoid of its score layer's bias (the masked
    LSTM outputs zeros there), near 0.5, never 0. Zero padding would let answers that ignore the
    lengths, or take zeros for padding, pass."""
    return torch.sigmoid(-0.12 + 0.05 * torch.randn(shape))


def _padded_scores_inputs():
    torch.manual_seed(7)
    # Videos of 9 and 4 steps (then 3, 9 and 6) padded to 9; their means lie on either side of σ.
    scores = _padding_scores((2, 9))
    scores[0] = 0.1 * torch.rand(9)
    scores[1, :4] = 0.15 + 0.1 * torch.rand(4)
    three = _padding_scores((3, 9))
    three[0, :3], three[1], three[2, :6] = 0.3 * torch.rand(3), 0.1 * torch.rand(9), torch.rand(6)
    return {"scores [2 videos, 9 steps], lengths 9 and 4, padding scored near 0.5": (
        scores, 0.15, torch.tensor([9, 4])),
        "scores [3 videos, 9 steps], lengths 3, 9 and 6, padding scored near 0.5": (
        three, 0.15, torch.tensor([3, 9, 6]))}


def _emitted_inputs():
    torch.manual_seed(8)
    # A decoder run for the longest video (as notebook 04 runs it) goes on emitting past a
    # shorter one's end: the padded steps hold states, not zeros.
    return {"emitted [3 videos, 6 steps, 2 units], lengths 6, 4, 2": (
        torch.randn(3, 6, 2), torch.tensor([6, 4, 2]))}


def _gather_steps(emitted, index, lengths, zeros_past_end=True):
    """Step t of video i taken from ``index[i, t]`` (clamped to the sequence), zeros past its
    end unless ``zeros_past_end`` is false: a slip's answer, for the checker."""
    index = index.clamp(0, emitted.shape[1] - 1).unsqueeze(-1).expand(-1, -1, emitted.shape[2])
    gathered = emitted.gather(1, index)
    if not zeros_past_end:
        return gathered
    return gathered * step_mask(lengths, emitted.shape[1]).unsqueeze(-1)


def _masked_sums(scores, lengths):
    return (scores * step_mask(lengths, scores.shape[1])).sum(dim=1)


def _masked_means(scores, lengths):
    return _masked_sums(scores, lengths) / lengths


LEAST_SQUARES = Exercise(
    "04", "least_squares_discriminator_loss", _probability_inputs,
    least_squares_discriminator_loss, tensor=True, differentiable=True,
    hint="mean((p_original - 1)**2) + mean((p_summary - 0)**2): label 1 for the originals, 0 "
         "for the summaries, the squared error on the probabilities, each term averaged over "
         "the batch.",
    mistakes=(
        Mistake("the labels are 1 for the originals and 0 for the summaries, not the other way "
                "round.", lambda p, q: (p - 0).pow(2).mean() + (q - 1).pow(2).mean()),
        Mistake("-sl replaces the log-loss (binary cross-entropy) by least squares: square the "
                "difference between the probability and the label.",
                lambda p, q: F.binary_cross_entropy(p, torch.ones_like(p))
                + F.binary_cross_entropy(q, torch.zeros_like(q))),
        Mistake("square the difference from the label; its absolute value is not least squares.",
                lambda p, q: (p - 1).abs().mean() + q.abs().mean()),
        Mistake("average each term over the batch, do not sum.",
                lambda p, q: (p - 1).pow(2).sum() + q.pow(2).sum()),
        Mistake("add the two terms (each an MSE against its label), do not average them.",
                lambda p, q: ((p - 1).pow(2).mean() + q.pow(2).mean()) / 2),
        Mistake("the summary's term is (P(summary) - 0)^2: the discriminator must push it down.",
                lambda p, q: (p - 1).pow(2).mean() + (q - 1).pow(2).mean()),
    ))
MASKED_SPARSITY = Exercise(
    "04", "masked_sparsity_loss", _padded_scores_inputs, sparsity_loss, tensor=True,
    differentiable=True,
    hint="For each video the mean of its own scores (the first lengths[i] steps; the padding is "
         "not a score), then |mean - sigma| per video, then the mean over the videos.",
    mistakes=(
        Mistake("the padding is not a score (and not zero: padded steps score near 0.5): "
                "average each video over its own lengths[i] steps, not over all T.",
                lambda s, sigma, n: (s.mean(dim=1) - sigma).abs().mean()),
        Mistake("the padded steps are not zero (they score near 0.5): mask them out before "
                "summing, then divide by lengths[i].",
                lambda s, sigma, n: (s.sum(dim=1) / n - sigma).abs().mean()),
        Mistake("a video of length L has steps 0 … L − 1: keep the steps t < lengths[i], "
                "no more, no fewer.",
                lambda s, sigma, n: (_masked_sums(s, n + 1) / n - sigma).abs().mean()),
        Mistake("a video of length L has steps 0 … L − 1, its last one included: keep the "
                "steps t < lengths[i], no more, no fewer.",
                lambda s, sigma, n: (_masked_sums(s, n - 1) / n - sigma).abs().mean()),
        Mistake("take |mean - sigma| per video, then average over the videos; not the mean of all "
                "the videos' steps pooled together.",
                lambda s, sigma, n: ((s * step_mask(n, s.shape[1])).sum() / n.sum()
                                     - sigma).abs()),
        Mistake("take |mean - sigma| per video, then average; averaging the videos' means first "
                "lets one video below σ cancel one above.",
                lambda s, sigma, n: (_masked_means(s, n).mean() - sigma).abs()),
        Mistake("average the per-video losses over the batch, do not sum them.",
                lambda s, sigma, n: (_masked_means(s, n) - sigma).abs().sum()),
        Mistake("the sparsity loss is |mean - σ|, not its square.",
                lambda s, sigma, n: (_masked_means(s, n) - sigma).pow(2).mean()),
        Mistake("take the absolute value: a video whose mean is below σ must cost too.",
                lambda s, sigma, n: (_masked_means(s, n) - sigma).mean()),
    ))
REVERSE = Exercise(
    "04", "reverse_within_length", _emitted_inputs, reverse_within_length, tensor=True,
    differentiable=True,
    hint="Step t of video i is emitted[i, lengths[i] - 1 - t] for t < lengths[i], zeros "
         "after: reverse each video within its own length (gather or a loop over the videos).",
    mistakes=(
        Mistake("reverse each video within its own length: flipping the whole padded time axis "
                "puts a shorter video's padding first.", lambda e, n: e.flip(1)),
        Mistake("flipping the whole padded axis and then zeroing the padding keeps the wrong "
                "steps: after the flip a shorter video's own steps sit behind its padding, at the "
                "end. Take step t from index lengths[i] - 1 - t.",
                lambda e, n: e.flip(1) * step_mask(n, e.shape[1]).unsqueeze(-1)),
        Mistake("off by one: step t comes from index lengths[i] - 1 - t, not lengths[i] - t.",
                lambda e, n: _gather_steps(e, n.unsqueeze(1) - torch.arange(e.shape[1]), n)),
        Mistake("reverse the time axis (dim 1), not the batch.", lambda e, n: e.flip(0)),
        Mistake("reverse the time axis (dim 1), not the features.", lambda e, n: e.flip(2)),
        Mistake("zero the steps past each video's end: flipping and rolling moves the padded "
                "steps there, and they hold the decoder's leftover states, not zeros.",
                lambda e, n: _gather_steps(e, (n.unsqueeze(1) - 1 - torch.arange(e.shape[1]))
                                           % e.shape[1], n, zeros_past_end=False)),
        Mistake("keep zeros past each video's end: the padding stays padding.",
                lambda e, n: _gather_steps(e, n.unsqueeze(1) - 1 - torch.arange(e.shape[1]), n,
                                           zeros_past_end=False)),
    ))

EXERCISES = [REVERSE, LEAST_SQUARES, MASKED_SPARSITY]  # in the notebook's order
check_least_squares_discriminator_loss = LEAST_SQUARES.check
check_masked_sparsity_loss = MASKED_SPARSITY.check
check_reverse_within_length = REVERSE.check

# What a notebook uses as `ex.<name>`.
__all__ = [
    "EXERCISES", "check_least_squares_discriminator_loss", "check_masked_sparsity_loss",
    "check_reverse_within_length", "least_squares_discriminator_loss", "reverse_within_length",
    "step_mask", "use_if_passed",
]
