"""Data for the course: MNIST digits, Moving MNIST, and video-summarization benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

from course_lib.errors import DataError  # noqa: F401  (re-exported: the data modules' error)

DATA_ENV_VAR = "COURSE_DATA_DIR"


def data_dir() -> Path:
    """Where downloaded data lives: ``$COURSE_DATA_DIR``, else the repository's ``data/``."""
    configured = os.environ.get(DATA_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2] / "data"
