import numpy as np
import pytest

from course_lib.config import summarization_data_config
from course_lib.data.summarization import make_splits
from course_lib.data.synthetic_videos import make_synthetic_dataset


@pytest.fixture(scope="session")
def smoke_data():
    """The smoke-tier synthetic summarization dataset and its splits (tests must not change
    them: they build edited copies)."""
    data = make_synthetic_dataset(summarization_data_config("smoke", verbose=False))
    return data, make_splits(data.keys(), rng=np.random.default_rng(0))
