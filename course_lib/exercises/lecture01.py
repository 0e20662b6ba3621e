"""Exercises of notebook 01 (LSTM autoencoders on Moving MNIST) and their checkers."""

from __future__ import annotations

import numpy as np
import torch

from course_lib.data.moving_mnist import bounce_step
from course_lib.exercises.core import Exercise
from course_lib.models.lstm_autoencoder import (
    bernoulli_nats_per_frame,
    reversed_targets,
    teacher_forcing_inputs,
)


def _bounce_inputs():
    rng = np.random.default_rng(1)
    # Positions near and on the walls, so that both bounces and free flight are exercised.
    position = np.concatenate([rng.random((6, 2)), [[0.02, 0.5], [0.97, 0.99], [0.5, 0.0]]])
    velocity = rng.uniform(-0.1, 0.1, size=(9, 2))
    velocity[6:] = [[-0.05, 0.03], [0.04, 0.02], [0.0, -0.1]]
    return position, velocity


def _frames_inputs():
    torch.manual_seed(1)
    return (torch.rand(2, 5, 3, 3).flatten(2),)


def _nats_inputs():
    torch.manual_seed(2)
    return torch.randn(2, 4, 16) * 3, torch.rand(2, 4, 16)


BOUNCE = Exercise("01", "bounce_step", _bounce_inputs, bounce_step, hint=(
    "Step first, then clamp each coordinate to [0, 1] and flip the velocity components of the "
    "coordinates that reached a wall (<= 0 or >= 1)."))
REVERSED = Exercise("01", "reversed_targets", _frames_inputs, reversed_targets, hint=(
    "Reverse along the time axis (dim 1) only: frames are [batch, time, pixels]."))
TEACHER_FORCING = Exercise("01", "teacher_forcing_inputs", _frames_inputs, teacher_forcing_inputs,
                           hint="Step 0 gets a zero frame; step t gets target t-1.")
NATS = Exercise("01", "bernoulli_nats_per_frame", _nats_inputs, bernoulli_nats_per_frame,
                rtol=1e-4, hint=("Sum the per-pixel cross-entropy over pixels, then average over "
                                 "the batch and time (divide by B*T), working from logits."))

EXERCISES = [BOUNCE, REVERSED, TEACHER_FORCING, NATS]
check_bounce_step = BOUNCE.check
check_reversed_targets = REVERSED.check
check_teacher_forcing_inputs = TEACHER_FORCING.check
check_bernoulli_nats_per_frame = NATS.check
