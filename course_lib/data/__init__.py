"""Data for the course: MNIST digits, Moving MNIST, and video-summarization benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

from course_lib.errors import DataError  # also re-exported: the data modules' error

DATA_ENV_VAR = "COURSE_DATA_DIR"
SHARED_DATA_ENV_VAR = "COURSE_SHARED_DATA"


def data_dir() -> Path:
    """Where downloaded data lives: ``$COURSE_DATA_DIR``, else the repository's ``data/``."""
    configured = os.environ.get(DATA_ENV_VAR)
    if configured:
        folder = Path(configured).expanduser()
        if folder.exists() and not folder.is_dir():
            raise DataError(f"${DATA_ENV_VAR} is {configured!r}, a file, not a folder: point it "
                            "at a folder (it is created if needed), or unset it.")
        return folder
    return Path(__file__).resolve().parents[2] / "data"


def reference_file(*parts: str) -> Path | None:
    """A file (or folder) of the reference copies of real data that the course's own tests use
    (MNIST, the SumMe and TVSum annotations, their splits), in the folder ``$COURSE_SHARED_DATA``
    names; ``None`` where that is unset or lacks it. Only that variable finds them, so that a
    notebook shows its authors what it shows a student; users download their own data with
    ``course-data``."""
    configured = os.environ.get(SHARED_DATA_ENV_VAR)
    if not configured:
        return None
    path = Path(configured, *parts)
    return path if path.exists() else None
