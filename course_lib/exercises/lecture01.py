"""Exercises of notebook 01 (LSTM autoencoders on Moving MNIST) and their checkers.

Each exercise's ``mistakes`` are the wrong answers its inputs tell apart from the right one;
``tests/test_exercises.py`` writes them again independently and asserts each is rejected.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data.moving_mnist import bounce_step
from course_lib.exercises.core import Exercise, Mistake, use_if_passed
from course_lib.models.lstm_autoencoder import (
    bernoulli_nats_per_frame,
    reversed_targets,
    teacher_forcing_inputs,
)


def _bounce_inputs():
    rng = np.random.default_rng(1)
    free = 0.2 + 0.6 * rng.random((4, 2)), rng.uniform(-0.1, 0.1, size=(4, 2))
    # Overshooting one wall, two walls at once (a corner), or just one coordinate.
    crossing = (np.array([[0.03, 0.5], [0.97, 0.99], [0.5, 0.02], [0.95, 0.04]]),
                np.array([[-0.05, 0.03], [0.04, 0.02], [0.01, -0.1], [0.08, -0.06]]))
    # Sums exact in binary floating point, so each lands exactly on 0.0 or 1.0.
    on_wall = (np.array([[0.75, 0.5], [0.5, 0.25], [0.25, 0.75]]),
               np.array([[0.25, 0.125], [-0.5, 0.0625], [0.125, 0.25]]))
    return {"free flight": free, "digits crossing a wall": crossing,
            "digits landing exactly on a wall": on_wall}


def _bounce(compare_low, compare_high, *, clamp=True, flip=True):
    """A bounce step built from parts, to write its plausible mistakes."""
    def step(position, velocity):
        position = position + velocity
        hit = compare_low(position, 0.0) | compare_high(position, 1.0)
        new_velocity = np.where(hit, -velocity, velocity) if flip else velocity
        return (np.clip(position, 0.0, 1.0) if clamp else position), new_velocity
    return step


def _bounce_mirror(position, velocity):
    position = position + velocity
    hit = (position <= 0.0) | (position >= 1.0)
    mirrored = np.where(position < 0, -position, np.where(position > 1, 2 - position, position))
    return mirrored, np.where(hit, -velocity, velocity)


def _bounce_both_components(position, velocity):
    position = position + velocity
    hit = ((position <= 0.0) | (position >= 1.0)).any(axis=-1, keepdims=True)
    return np.clip(position, 0.0, 1.0), np.where(hit, -velocity, velocity)


def _frames_inputs():
    torch.manual_seed(1)
    return {"frames [batch 2, time 5, pixels 9]": (torch.rand(2, 5, 3, 3).flatten(2),)}


def _nats_inputs():
    torch.manual_seed(2)
    logits = torch.randn(2, 4, 16) * 3
    logits[:, :, :3] = torch.tensor([40.0, -40.0, 25.0])  # where sigmoid rounds to 0 or 1
    return {"logits up to ±40": (logits, 0.1 + 0.8 * torch.rand(2, 4, 16))}


def _nats_sum(logits, targets):
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")


def _per_frame(total, logits):
    return total / (logits.shape[0] * logits.shape[1])


BOUNCE = Exercise(
    "01", "bounce_step", _bounce_inputs, bounce_step, outputs=("position", "velocity"),
    hint="Step first, then clamp each coordinate to [0, 1] and flip the velocity components of "
         "the coordinates that reached a wall (<= 0 or >= 1); return (position, velocity).",
    mistakes=(
        Mistake("a coordinate that lands exactly on a wall bounces too: compare with <= and >=, "
                "not < and >.", _bounce(np.less, np.greater)),
        Mistake("clamp the position onto the wall (np.clip) as well as flipping the velocity.",
                _bounce(np.less_equal, np.greater_equal, clamp=False)),
        Mistake("flip the velocity component of a coordinate that reached a wall (and test the "
                "walls after the step).", _bounce(np.less_equal, np.greater_equal, flip=False)),
        Mistake("the recipe clamps onto the wall; it does not mirror the overshoot back.",
                _bounce_mirror),
        Mistake("flip only the velocity components of the coordinates that hit a wall, not both.",
                _bounce_both_components),
        Mistake("return (position, velocity) in that order.",
                lambda p, v: bounce_step(p, v)[::-1]),
    ))
REVERSED = Exercise(
    "01", "reversed_targets", _frames_inputs, reversed_targets, tensor=True,
    hint="Reverse along the time axis (dim 1) only: frames are [batch, time, pixels].",
    mistakes=(
        Mistake("the frames are not reversed at all.", lambda f: f.clone()),
        Mistake("that reverses the batch (dim 0); reverse time (dim 1).", lambda f: f.flip(0)),
        Mistake("that reverses the pixels (last dim); reverse time (dim 1).", lambda f: f.flip(-1)),
        Mistake("reverse time (dim 1) only, not every axis.", lambda f: f.flip((0, 1, 2))),
        Mistake("that swaps batch and time; keep [batch, time, pixels] and reverse dim 1.",
                lambda f: f.transpose(0, 1)),
    ))
TEACHER_FORCING = Exercise(
    "01", "teacher_forcing_inputs", _frames_inputs, teacher_forcing_inputs, tensor=True,
    hint="Step 0 gets a zero frame; step t gets target t-1 (shift along dim 1, same shape).",
    mistakes=(
        Mistake("the inputs must be shifted: step t gets target t-1, not target t.",
                lambda t: t.clone()),
        Mistake("the shift goes the other way: step t gets target t-1 (the past), and the zero "
                "frame comes first.",
                lambda t: torch.cat([t[:, 1:], torch.zeros_like(t[:, :1])], dim=1)),
        Mistake("step 0 gets a zero frame, not the last target (torch.roll wraps around).",
                lambda t: torch.roll(t, 1, dims=1)),
        Mistake("shift along time (dim 1), not along the batch (dim 0).",
                lambda t: torch.cat([torch.zeros_like(t[:1]), t[:-1]], dim=0)),
        Mistake("prepend a zero frame so that there is one input per target.",
                lambda t: t[:, :-1]),
    ))
def _clamped_nats(z, t, eps):
    """The cross-entropy of probabilities clamped to [eps, 1 - eps] "to be safe"."""
    p = torch.sigmoid(z).clamp(eps, 1 - eps)
    return _per_frame(-(t * p.log() + (1 - t) * (1 - p).log()).sum(), z)


NATS = Exercise(
    "01", "bernoulli_nats_per_frame", _nats_inputs, bernoulli_nats_per_frame, rtol=1e-4,
    tensor=True, differentiable=True, data_args=("targets",),
    hint="Sum the per-pixel cross-entropy over pixels, then divide by the number of frames "
         "(batch × time), working from logits.",
    mistakes=(
        Mistake("that is the mean over pixels too; sum over pixels and divide by batch × time.",
                lambda z, t: F.binary_cross_entropy_with_logits(z, t)),
        Mistake("divide the sum by the number of frames, batch × time.", _nats_sum),
        Mistake("divide by batch × time, not by the batch size alone.",
                lambda z, t: _nats_sum(z, t) / z.shape[0]),
        Mistake("divide by batch × time, not by the number of time steps alone.",
                lambda z, t: _nats_sum(z, t) / z.shape[1]),
        Mistake("work from the logits (binary_cross_entropy_with_logits): the probabilities "
                "sigmoid(z) round to exactly 0 or 1 for large |z|, and their log is then ±inf "
                "or clipped.",
                lambda z, t: _per_frame(
                    F.binary_cross_entropy(torch.sigmoid(z), t, reduction="sum"), z)),
        Mistake("work from the logits: log(sigmoid(z)) of a large |z| is -inf in float32; "
                "binary_cross_entropy_with_logits computes it stably.",
                lambda z, t: _per_frame(-(t * torch.sigmoid(z).log()
                                          + (1 - t) * (1 - torch.sigmoid(z)).log()).sum(), z)),
        *(Mistake("work from the logits: clamping sigmoid(z) to [eps, 1 - eps] caps what a "
                  "confidently wrong pixel costs at -ln(eps), where "
                  "binary_cross_entropy_with_logits charges the whole cost.",
                  partial(_clamped_nats, eps=eps)) for eps in (1e-4, 1e-5, 1e-6, 1e-7)),
        Mistake("the arguments are (logits, targets): the first one is the logits.",
                lambda z, t: _per_frame(_nats_sum(t, z), z)),
        Mistake("a cross-entropy is positive: minus the log-likelihood.",
                lambda z, t: -_per_frame(_nats_sum(z, t), z)),
        Mistake("the unit is nats, natural logarithms: dividing by ln 2 gives bits.",
                lambda z, t: _per_frame(_nats_sum(z, t), z) / math.log(2)),
        Mistake("a frame has as many pixels as the last axis says (1,600 at the laptop tier): "
                "sum over that axis rather than scaling a mean by 4096.",
                lambda z, t: F.binary_cross_entropy_with_logits(z, t) * 4096),
    ))

EXERCISES = [BOUNCE, REVERSED, TEACHER_FORCING, NATS]
check_bounce_step = BOUNCE.check
check_reversed_targets = REVERSED.check
check_teacher_forcing_inputs = TEACHER_FORCING.check
check_bernoulli_nats_per_frame = NATS.check

# What a notebook uses as `ex.<name>`.
__all__ = [
    "EXERCISES", "check_bounce_step", "check_reversed_targets", "check_teacher_forcing_inputs",
    "check_bernoulli_nats_per_frame", "use_if_passed",
]
