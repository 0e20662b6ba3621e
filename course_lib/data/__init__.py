"""Data for the course: MNIST digits, Moving MNIST, and video-summarization benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "COURSE_DATA_DIR"


class DataError(Exception):
    """A data file is missing or malformed; the message says what is wrong and how to fix it."""


def data_dir() -> Path:
    """Where downloaded data lives: ``$COURSE_DATA_DIR``, else the repository's ``data/``."""
    configured = os.environ.get(DATA_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2] / "data"
