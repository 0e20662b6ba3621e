"""What the tests of SUM-GAN-sl and SUM-GAN-AAE share: AAE trains by -sl's updates and fit
function, so the tests of those run for both models (``@pytest.mark.parametrize("variant",
VARIANTS)``), each against its own plain reference implementation."""

import dataclasses
import os
import signal

import pytest
import torch

from benchmarks.sum_gan_sl_plain import (
    PlainSumGanAae,
    PlainSumGanSl,
    copy_parameters,
    plain_optimizers,
    plain_train_video,
)
from course_lib.models import sum_gan_sl as sl
from course_lib.registry import Method, family

FEATURES, HIDDEN = 12, 6


@dataclasses.dataclass(frozen=True)
class Variant:
    """A model trained by -sl's updates, with what its tests expect of it."""

    method: Method
    plain: type  # the plain reference implementation of its updates
    logs_prior: bool  # a VAE logs the prior loss; the attention auto-encoder has none
    tolerance: float  # float64 parity with the plain reference (relative)

    @property
    def checkpoint(self):
        """The name its fit function gives its checkpoints ("04-sum-gan-sl")."""
        return f"{self.method.notebook}-{self.method.name.lower()}"


SL = Variant(family()["SUM-GAN-sl"], PlainSumGanSl, logs_prior=True, tolerance=1e-6)
AAE = Variant(family()["SUM-GAN-AAE"], PlainSumGanAae, logs_prior=False, tolerance=1e-9)
VARIANTS = [pytest.param(SL, id="sl"), pytest.param(AAE, id="aae")]


def tiny_config(variant, **changes):
    return dataclasses.replace(variant.method.config("paper", verbose=False),
                               feature_dim=FEATURES, hidden_size=HIDDEN, **changes)


def videos(lengths, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, FEATURES, generator=g, dtype=dtype) for n in lengths]


def novelties(data, seed=1):
    """Made-up novelty [T] for each video of ``data`` (the novelty option's input)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(len(v), generator=g, dtype=v.dtype) for v in data]


def smoke_fit(variant, data, split, config=None, seed=7, **kwargs):
    """The variant's fit function at the smoke tier (or ``config``), built with ``seed``."""
    config = config or variant.method.config("smoke", verbose=False)
    return variant.method.fit(variant.method.build(config, seed), config, data, split,
                              seed=seed, live=False, **kwargs)


# ---------------------------------------------------------------- faithful training

# Clipping at 0.05 is active in every phase at this size, so its scope matters (a large rate
# makes the updates large enough that every option changes the result).
PARITY = dict(grad_clip=0.05, learning_rate=1e-2, discriminator_learning_rate=1e-3)
LENGTHS = [5, 9, 3, 7, 4, 6]


def faithful_parameters(variant, config, lengths=LENGTHS, plain_decoder=None,
                        plain_clip_scope="all", seed=0):
    """Train the course's model and the plain reference from the same weights and noise, one
    video per update; ``plain_decoder`` swaps in a (deliberately wrong) decoder on the plain
    side. With ``recurrence_input`` (the count option) the plain reference reads what the
    option says the model reads: each video's features with the count joined."""
    model = variant.method.build(config, seed=3).double()
    plain = variant.plain(FEATURES + config.recurrence_input, HIDDEN)
    if plain_decoder is not None:
        plain.decoder = plain_decoder(HIDDEN, 2)
    plain = plain.double()
    copy_parameters(model, plain)
    data = videos(lengths)
    optimizers = sl.make_optimizers(model, config)
    batches = sl.update_batches([str(i) for i in range(len(data))], config, seed)
    torch.manual_seed(seed)
    novelty = novelties(data)
    for _ in data:
        (key,) = next(batches)
        sl.train_step(model, optimizers,
                      sl.make_batch(model, [data[int(key)]], [novelty[int(key)]]), config)
    reference = plain_optimizers(plain, config.learning_rate, config.discriminator_learning_rate)
    torch.manual_seed(seed)
    for video in data:
        if config.recurrence_input:
            video = sl.with_recurrence(video.unsqueeze(0))[0]
        plain_train_video(plain, reference, video, config.sigma, config.grad_clip,
                          plain_clip_scope)
    return model, plain


@torch.no_grad()
def max_relative_difference(model, plain):
    return max(float((a - b).abs().max() / b.abs().max())
               for a, b in zip(model.parameters(), plain.parameters(), strict=True))


def ctrl_c():
    """What Ctrl-C (Jupyter's interrupt) does: SIGINT to this process."""
    os.kill(os.getpid(), signal.SIGINT)


def interrupt_call(function, at, interrupt=ctrl_c):
    """``function``, with ``interrupt()`` run as its ``at``-th call starts."""
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            interrupt()
        return function(*args, **kwargs)

    return interrupted


def saving_every_epoch(fit, *args, **kwargs):
    """``fit(*args, **kwargs)`` checkpointing after every epoch, not at most every
    ``CHECKPOINT_SECONDS``: in a worker process (where a test cannot patch), its progress file
    then shows that it is training."""
    from course_lib.models import summarizer_training

    summarizer_training.CHECKPOINT_SECONDS = 0.0
    return fit(*args, **kwargs)
