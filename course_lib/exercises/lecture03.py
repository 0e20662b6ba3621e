"""Exercises of notebook 03 (SUM-GAN) and their checkers."""

from __future__ import annotations

import torch

from course_lib.exercises.core import Exercise
from course_lib.models.sum_gan import (
    discriminator_loss,
    prior_loss,
    reparameterize,
    sparsity_loss,
)


def _scores_inputs():
    torch.manual_seed(3)
    return torch.rand(1, 37), 0.3


def _gaussian_inputs():
    torch.manual_seed(4)
    return torch.randn(2, 1, 6), torch.randn(2, 1, 6), torch.randn(2, 1, 6)


def _prior_inputs():
    mu, logvar, _ = _gaussian_inputs()
    return mu, logvar


def _logit_inputs():
    torch.manual_seed(5)
    return torch.randn(3) * 2, torch.randn(3) * 2, torch.randn(3) * 2


SPARSITY = Exercise("03", "sparsity_loss", _scores_inputs, sparsity_loss, hint=(
    "The mean over all scores, minus sigma, in absolute value: one number."))
REPARAMETERIZE = Exercise("03", "reparameterize", _gaussian_inputs, reparameterize, hint=(
    "The standard deviation is exp(0.5 * logvar), not exp(logvar) and not logvar itself."))
PRIOR = Exercise("03", "prior_loss", _prior_inputs, prior_loss, rtol=1e-5, atol=1e-5, hint=(
    "0.5 * (exp(logvar) + mu**2 - 1 - logvar), summed over layers and units (dims 0 and 2), "
    "then averaged over the batch (dim 1)."))
DISCRIMINATOR = Exercise("03", "discriminator_loss", _logit_inputs, discriminator_loss,
                         rtol=1e-5, atol=1e-6, hint=(
                             "-(log c(x) + log(1 - c(x_hat)) + log(1 - c(x_p))) from logits: "
                             "log c = logsigmoid(z), log(1 - c) = logsigmoid(-z); mean over "
                             "the batch. It must be >= 0."))

EXERCISES = [SPARSITY, REPARAMETERIZE, PRIOR, DISCRIMINATOR]
check_sparsity_loss = SPARSITY.check
check_reparameterize = REPARAMETERIZE.check
check_prior_loss = PRIOR.check
check_discriminator_loss = DISCRIMINATOR.check
