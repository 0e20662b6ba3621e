"""Exercises of notebook 03 (SUM-GAN) and their checkers.

Each exercise's ``mistakes`` are the wrong answers its inputs tell apart from the right one;
``tests/test_exercises.py`` writes them again independently and asserts each is rejected.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.exercises.core import Exercise, Mistake, use_if_passed
from course_lib.models.sum_gan import (
    discriminator_loss,
    prior_loss,
    reparameterize,
    sparsity_loss,
)


def _scores_inputs():
    torch.manual_seed(3)
    # Two videos on either side of σ = 0.3; the overall mean below σ, then above it.
    low, high = 0.32 * torch.rand(1, 37), 0.16 + 0.32 * torch.rand(1, 37)
    return {"scores [2 videos, 37 steps] with a mean below σ": (torch.cat([low, high]), 0.3),
            "scores [2 videos, 37 steps] with a mean above σ": (torch.cat([low, high]) + 0.2, 0.3)}


def _gaussian_inputs():
    torch.manual_seed(4)
    return {"[layers 2, batch 3, hidden 5]": (torch.randn(2, 3, 5), torch.randn(2, 3, 5),
                                             torch.randn(2, 3, 5))}


def _prior_inputs():
    return {label: (mu, logvar) for label, (mu, logvar, _) in _gaussian_inputs().items()}


def _kl(mu, logvar):
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar)


def _logit_inputs():
    torch.manual_seed(5)
    logits = [torch.randn(3) * 2 for _ in range(3)]
    logits[0][0], logits[1][1], logits[2][2] = -30.0, 30.0, 20.0  # confident, and wrong
    return {"logits [batch 3], some of magnitude 20-30": tuple(logits)}


def _gan_terms(original, summary, random):
    return F.logsigmoid(original) + F.logsigmoid(-summary) + F.logsigmoid(-random)


def _bce(probability, label):
    return F.binary_cross_entropy(probability, torch.full_like(probability, label))


SPARSITY = Exercise(
    "03", "sparsity_loss", _scores_inputs, sparsity_loss, tensor=True, differentiable=True,
    hint="The mean over all scores (every video, every step), minus sigma, in absolute value: "
         "one number.",
    mistakes=(
        Mistake("take the absolute value: a mean below σ must cost as much as one above it.",
                lambda s, sigma: s.mean() - sigma),
        Mistake("take the absolute value of mean − σ: σ − mean is negative when the mean is "
                "above σ.", lambda s, sigma: sigma - s.mean()),
        Mistake("the paper's loss is |mean − σ|, not its square.",
                lambda s, sigma: (s.mean() - sigma) ** 2),
        Mistake("the mean score, not the sum: divide by the number of scores.",
                lambda s, sigma: (s.sum() - sigma).abs()),
        Mistake("average the scores first, then take |mean − σ| once; not the mean distance of "
                "each score from σ.", lambda s, sigma: (s - sigma).abs().mean()),
        Mistake("average over every video and step first: |mean − σ| per video, then averaged, "
                "differs when videos lie on both sides of σ.",
                lambda s, sigma: (s.mean(dim=1) - sigma).abs().mean()),
        Mistake("average over every video and step first, not per video and then summed.",
                lambda s, sigma: (s.mean(dim=1) - sigma).abs().sum()),
    ))
REPARAMETERIZE = Exercise(
    "03", "reparameterize", _gaussian_inputs, reparameterize, tensor=True, differentiable=True,
    data_args=("noise",),
    hint="mu + noise * exp(0.5 * logvar): the standard deviation is exp(0.5 * logvar).",
    mistakes=(
        Mistake("the standard deviation is exp(0.5 * logvar); exp(logvar) is the variance.",
                lambda mu, logvar, noise: mu + noise * logvar.exp()),
        Mistake("logvar is the log of the variance: the standard deviation is exp(0.5 * logvar).",
                lambda mu, logvar, noise: mu + noise * logvar),
        Mistake("logvar is a log: the standard deviation is exp(0.5 * logvar), not its square "
                "root (NaN where logvar < 0).",
                lambda mu, logvar, noise: mu + noise * logvar.sqrt()),
        Mistake("use the noise that is passed in; do not draw new noise.",
                lambda mu, logvar, noise: mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)),
        Mistake("the noise is scaled by the standard deviation and shifted by mu, not the other "
                "way round.", lambda mu, logvar, noise: noise + mu * torch.exp(0.5 * logvar)),
        Mistake("multiply the standard deviation by the noise.",
                lambda mu, logvar, noise: mu + torch.exp(0.5 * logvar)),
    ))
PRIOR = Exercise(
    "03", "prior_loss", _prior_inputs, prior_loss, rtol=1e-5, atol=1e-5, tensor=True,
    differentiable=True,
    hint="0.5 * (exp(logvar) + mu**2 - 1 - logvar), summed over layers and units (dims 0 and "
         "2), then averaged over the batch (dim 1).",
    mistakes=(
        Mistake("average over the batch (dim 1) instead of summing over it.",
                lambda mu, logvar: _kl(mu, logvar).sum()),
        Mistake("sum over layers and units (dims 0 and 2); average only over the batch.",
                lambda mu, logvar: _kl(mu, logvar).mean()),
        Mistake("the batch is dim 1 of [layers, batch, hidden]: sum over dims 0 and 2, average "
                "over dim 1.", lambda mu, logvar: _kl(mu, logvar).sum(dim=(1, 2)).mean()),
        Mistake("sum over the layers too (dims 0 and 2), not only over the units.",
                lambda mu, logvar: _kl(mu, logvar).sum(dim=2).mean()),
        Mistake("the KL divergence has a factor 0.5.",
                lambda mu, logvar: (2 * _kl(mu, logvar)).sum(dim=(0, 2)).mean()),
        Mistake("the KL divergence has a - 1 inside the sum.",
                lambda mu, logvar: (_kl(mu, logvar) + 0.5).sum(dim=(0, 2)).mean()),
        Mistake("a KL divergence is >= 0: check the sign.",
                lambda mu, logvar: -_kl(mu, logvar).sum(dim=(0, 2)).mean()),
    ))
DISCRIMINATOR = Exercise(
    "03", "discriminator_loss", _logit_inputs, discriminator_loss, rtol=1e-5, atol=1e-6,
    tensor=True, differentiable=True,
    hint="-(log c(x) + log(1 - c(x_hat)) + log(1 - c(x_p))) from logits: log c = logsigmoid(z), "
         "log(1 - c) = logsigmoid(-z); mean over the batch. It must be >= 0.",
    mistakes=(
        Mistake("work from the logits with logsigmoid: sigmoid(z) rounds to exactly 0 or 1 for "
                "large |z|, and the log of the probability is then -inf.",
                lambda a, b, c: -(torch.sigmoid(a).log() + (1 - torch.sigmoid(b)).log()
                                  + (1 - torch.sigmoid(c)).log()).mean()),
        Mistake("work from the logits (logsigmoid or binary_cross_entropy_with_logits): "
                "binary_cross_entropy on sigmoid(z) clips the log at -100 for large |z|.",
                lambda a, b, c: _bce(torch.sigmoid(a), 1) + _bce(torch.sigmoid(b), 0)
                + _bce(torch.sigmoid(c), 0)),
        Mistake("the discriminator's loss is -L_GAN, which is >= 0: check the sign.",
                lambda a, b, c: _gan_terms(a, b, c).mean()),
        Mistake("average over the batch, do not sum.", lambda a, b, c: -_gan_terms(a, b, c).sum()),
        Mistake("add the three terms, do not average them: -(log c(x) + log(1 - c(x_hat)) + "
                "log(1 - c(x_p))).", lambda a, b, c: -_gan_terms(a, b, c).mean() / 3),
        Mistake("both reconstructions are fakes (label 0): log(1 - c(x_hat)) = logsigmoid(-z).",
                lambda a, b, c: -(F.logsigmoid(a) + F.logsigmoid(b)
                                  + F.logsigmoid(-c)).mean()),
        Mistake("the original is real (label 1): log c(x) = logsigmoid(z), not logsigmoid(-z).",
                lambda a, b, c: -(F.logsigmoid(-a) + F.logsigmoid(-b)
                                  + F.logsigmoid(-c)).mean()),
        Mistake("three terms: the reconstruction from random scores, x_p, is a fake too "
                "(+ log(1 - c(x_p))).",
                lambda a, b, c: -(F.logsigmoid(a) + F.logsigmoid(-b)).mean()),
        Mistake("each fake term counts whole: log(1 - c(x_hat)) + log(1 - c(x_p)), not their "
                "mean.", lambda a, b, c: -(F.logsigmoid(a) + (F.logsigmoid(-b)
                                                            + F.logsigmoid(-c)) / 2).mean()),
    ))

EXERCISES = [SPARSITY, REPARAMETERIZE, PRIOR, DISCRIMINATOR]
check_sparsity_loss = SPARSITY.check
check_reparameterize = REPARAMETERIZE.check
check_prior_loss = PRIOR.check
check_discriminator_loss = DISCRIMINATOR.check

# What a notebook uses as `ex.<name>`.
__all__ = [
    "EXERCISES", "check_sparsity_loss", "check_reparameterize", "check_prior_loss",
    "check_discriminator_loss", "use_if_passed",
]
