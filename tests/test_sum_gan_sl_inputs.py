"""Bad input to SUM-GAN-sl's fit function: each case a clear error that names the video and the
fix (issue 12); the model-level checks are in test_sum_gan_sl.py."""

import dataclasses

import numpy as np
import pytest

from course_lib.config import sum_gan_sl_config, summarization_data_config
from course_lib.data.summarization import SummarizationDataset, make_splits
from course_lib.data.synthetic_videos import make_synthetic_dataset
from course_lib.errors import CourseError
from course_lib.models import sum_gan_sl as sl


@pytest.fixture(scope="module")
def smoke_data():
    data = make_synthetic_dataset(summarization_data_config("smoke", verbose=False))
    return data, make_splits(data.keys(), rng=np.random.default_rng(0))[0]


def with_features(data, key, features):
    """The dataset with one video's features replaced."""
    videos = dict(data.videos)
    videos[key] = dataclasses.replace(videos[key], features=features)
    return SummarizationDataset(data.name, videos, data.eval_method, data.source)


def fit(data, split):
    config = sum_gan_sl_config("smoke", verbose=False)
    return sl.fit_sum_gan_sl(sl.build_sum_gan_sl(config, 0), config, data, split, seed=0,
                             checkpoint=False, live=False)


@pytest.mark.parametrize("role", ["train", "test"])
@pytest.mark.parametrize(("problem", "make", "message"), [
    ("one step", lambda f: f[:1], "too short.*leave it out"),
    ("wrong width", lambda f: f[:, :512], "feature_dim=512"),
    ("NaN", lambda f: np.where(np.arange(len(f))[:, None] == 1, np.nan, f).astype(f.dtype),
     "NaN.*before training"),
])
def test_a_bad_video_is_a_clear_error_naming_it(smoke_data, role, problem, make, message):
    data, split = smoke_data
    key = (split.train_keys if role == "train" else split.test_keys)[0]
    bad = with_features(data, key, make(np.asarray(data[key].features)))
    with pytest.raises(CourseError, match=message) as raised:
        fit(bad, split)
    assert key in str(raised.value)
