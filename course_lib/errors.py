"""The course's error types: bad input becomes one error that names what was wrong and the fix.

Every public entry point turns malformed input (a damaged file, a wrong shape, an unknown name)
into a :class:`CourseError` instead of a raw exception from deep inside numpy, h5py or torch, so
a notebook can catch it in one place and a student reads one message that says what to do.
``CourseError`` is a ``ValueError``, so code that already catches ``ValueError`` keeps working.
"""

from __future__ import annotations


class CourseError(ValueError):
    """Bad input to the course's code; the message names the file, key or value and the fix."""


class DataError(CourseError):
    """A data file is missing or malformed; the message says what is wrong and how to fix it."""


class CheckpointError(CourseError):
    """A checkpoint cannot be used for this run (damaged, foreign, another configuration).
    ``problem`` is the message without its fix (a training run's), for a caller that trains
    nothing and names its own."""

    def __init__(self, message: str, *, problem: str | None = None):
        super().__init__(message)
        self.problem = problem
