"""Malformed input → one of the course's error types, with a message that names the fix.

One row per kind of bad input that used to end in a raw exception from deep inside numpy, h5py,
json or the standard library (or in a message that told the user to delete a good file). Each
row builds the bad input in a temporary folder and returns the call that must fail; the test
checks the error type and a fragment of its message.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import warnings

import h5py
import numpy as np
import pytest

from course_lib import config
from course_lib import evaluation as ev
from course_lib.data import DATA_ENV_VAR, data_dir
from course_lib.data import summarization as sm
from course_lib.data.download import download
from course_lib.data.mnist import IMAGES_MAGIC, read_idx
from course_lib.data.moving_mnist import load_moving_mnist_test
from course_lib.errors import CourseError, DataError

SHOTS = np.array([[0, 9], [10, 39], [40, 119]])  # 120 frames: the budget, 18, fits shot 0
PICKS = np.arange(0, 120, 15)


def video_file(path, n_videos=2):
    """A valid feature file in the eccv16 layout."""
    with h5py.File(path, "w") as f:
        for i in range(1, n_videos + 1):
            g = f.create_group(f"video_{i}")
            g["n_frames"], g["picks"], g["change_points"] = 120, PICKS, SHOTS
            g["features"] = np.ones((len(PICKS), 8), np.float32)
            g["user_summary"] = np.zeros((2, 120), np.float32)
            g["user_summary"][:, :10] = 1  # shot 0 (an all-zero summary draws a warning)
    return path


def dataset(tmp_path):
    return sm.read_h5(video_file(tmp_path / "eccv16_dataset_summe_google_pool5.h5"))


def splits_file(tmp_path, train, test):
    path = tmp_path / "summe_splits.json"
    path.write_text(json.dumps([{"train_keys": train, "test_keys": test}]))
    return lambda: sm.load_splits(path)


def damaged_h5(tmp_path):
    """A file HDF5 opens, whose internals (a local heap) are broken."""
    raw = bytearray(video_file(tmp_path / "eccv16_dataset_summe_google_pool5.h5").read_bytes())
    at = raw.find(b"HEAP")
    raw[at:at + 4] = b"XXXX"
    (tmp_path / "eccv16_dataset_summe_google_pool5.h5").write_bytes(raw)
    return lambda: sm.read_h5(tmp_path / "eccv16_dataset_summe_google_pool5.h5")


def h5_with_member(tmp_path, add):
    """A valid feature file whose video_1 group gets ``add(group)`` (e.g. a stray member)."""
    path = video_file(tmp_path / "eccv16_dataset_summe_google_pool5.h5")
    with h5py.File(path, "a") as handle:
        add(handle["video_1"])
    return lambda: sm.read_h5(path)


def rename(group, old, new):
    group.move(old, new)


def locked_h5(tmp_path):
    """A file locked the way HDF5 locks a file open for writing in another process."""
    fcntl = pytest.importorskip("fcntl")
    path = video_file(tmp_path / "eccv16_dataset_summe_google_pool5.h5")
    writer = open(path, "rb+")  # noqa: SIM115  (held until the call has run)
    fcntl.flock(writer, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return lambda: (sm.read_h5(path), writer.close())


def overflowing_idx(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">iIII", IMAGES_MAGIC, 2**31, 2**31, 4))  # 2**64 pixels, no data
    return lambda: read_idx(path)


def moving_mnist_file(tmp_path, content: bytes | None = None):
    path = tmp_path / "mnist_test_seq.npy"
    if content is None:
        with open(path, "wb") as stream:  # np.savez on an open file keeps the .npy name
            np.savez(stream, a=np.zeros(3, np.uint8))
    else:
        path.write_bytes(content)
    return lambda: load_moving_mnist_test(path, verify=False)


def scores_call(tmp_path, make_scores, **kwargs):
    data = dataset(tmp_path)
    return lambda: ev.evaluate(data, make_scores(data), **kwargs)


def summary_call(change_points=SHOTS, **kwargs):
    return lambda: ev.generate_summary(np.full(len(PICKS), 0.5), change_points, PICKS, 120,
                                       **kwargs)


def synthetic(edit=None):
    """The smoke-tier synthetic dataset (it has annotator scores), one video edited by
    ``edit(record) -> changes``; and that video's key."""
    from course_lib.data.synthetic_videos import make_synthetic_dataset

    data = make_synthetic_dataset(config.summarization_data_config("smoke", verbose=False))
    key = data.keys()[0]
    if edit is not None:
        record = dataclasses.replace(data[key], **edit(data[key]))
        data = dataclasses.replace(data, videos={**data.videos, key: record})
    return data, key


def rank_call(make_scores, edit=None):
    data, key = synthetic(edit)
    return lambda: ev.evaluate_rank_correlation(data, {key: make_scores(data[key].n_steps)},
                                                [key])


def with_nan(n):
    scores = np.linspace(0, 1, n)
    scores[3] = np.nan
    return scores


def no_annotators(record):
    return {"user_scores": record.user_scores[:0], "user_summary": record.user_summary[:0]}


def env_call(monkeypatch, name, value, call):
    monkeypatch.setenv(name, value)
    return call


def a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


CASES = {
    # data files
    "IDX header whose sizes overflow": (
        lambda t, m: overflowing_idx(t), DataError, "announces dimensions"),
    "empty Moving MNIST file": (
        lambda t, m: moving_mnist_file(t, b""), DataError, "is empty (0 bytes)"),
    "Moving MNIST .npz archive": (
        lambda t, m: moving_mnist_file(t), DataError, "an .npz archive"),
    "h5 with corrupted internals": (lambda t, m: damaged_h5(t), DataError, "is damaged"),
    "h5 video group with a nested group": (
        lambda t, m: h5_with_member(t, lambda g: g.create_group("extra").create_dataset(
            "x", data=1)), DataError,
        "video_1 in {path}: members ['extra'] are groups, but a video's group in the eccv16 "
        "layout holds only arrays"),
    "h5 video group with a misspelt member": (
        lambda t, m: h5_with_member(t, lambda g: rename(g, "features", "featurs")), DataError,
        "video_1 in {path}: missing key 'features', but it has the unexpected member "
        "'featurs'. Rename 'featurs' to 'features'."),
    "h5 locked by another writer": (
        lambda t, m: locked_h5(t), DataError, "locked by another process"),
    "read_h5 of a file named like no benchmark": (
        lambda t, m: lambda: sm.read_h5(t / "my_videos.h5"), DataError, "name='summe'|'tvsum'"),
    # split files
    "split keys as a string": (
        lambda t, m: splits_file(t, "video_1", ["video_2"]), DataError, "must be a list of"),
    "split keys as numbers": (
        lambda t, m: splits_file(t, [1], [2]), DataError, "must be a list of video keys"),
    "split keys null": (
        lambda t, m: splits_file(t, None, ["video_2"]), DataError, "'train_keys' must be a list"),
    "split with no test keys": (
        lambda t, m: splits_file(t, ["video_1"], []), DataError, "has no test videos"),
    "split repeating a training video": (
        lambda t, m: splits_file(t, ["video_1", "video_3", "video_1"], ["video_2"]), DataError,
        "lists ['video_1'] more than once in 'train_keys': each would train twice per epoch. "
        "List every video once"),
    "split repeating a test video": (
        lambda t, m: splits_file(t, ["video_1"], ["video_2", "video_2"]), DataError,
        "lists ['video_2'] more than once in 'test_keys'"),
    "split testing a training video": (
        lambda t, m: splits_file(t, ["video_1", "video_2"], ["video_2"]), DataError,
        "trains on its test videos ['video_2'], so the F-score would not measure unseen videos. "
        "Put each video in 'train_keys' or in 'test_keys', not both"),
    # scores and the evaluation
    "scores as a list": (
        lambda t, m: scores_call(t, lambda d: [np.ones(4)] * 2), CourseError, "must be a dict"),
    "scores as a 2-D array": (
        lambda t, m: scores_call(t, lambda d: {k: np.ones((8, 2)) for k in d.keys()}),
        CourseError, "video_1 have shape (8, 2)"),
    "generate_summary with 2-D scores": (
        lambda t, m: lambda: ev.generate_summary(np.ones((2, len(PICKS))), SHOTS, PICKS, 120),
        CourseError, "The scores have shape (2, 8)"),
    "logits with allow_negative=False": (
        lambda t, m: scores_call(t, lambda d: {k: np.linspace(-2, 1, 8) for k in d.keys()},
                                 allow_negative=False), CourseError, "negative mean score"),
    "evaluate_epochs with mismatched sets": (
        lambda t, m: lambda: ev.evaluate_epochs(dataset(t), [{"video_1": np.ones(8)}, {}]),
        CourseError, "No scores for 'video_1' (in set 1)"),
    "evaluate_epochs with no sets": (
        lambda t, m: lambda: ev.evaluate_epochs(dataset(t), []), CourseError, "non-empty list"),
    "zero annotators in rank correlation": (
        lambda t, m: rank_call(np.ones, no_annotators), CourseError,
        "The scores of video_1: there are no annotators to rank against"),
    "zero annotators in a file": (
        lambda t, m: h5_with_member(t, lambda g: g.__setitem__("user_scores",
                                                               np.zeros((0, 120)))),
        DataError, "video_1 in {path}: 'user_scores' has 0 rows: the video has no annotators"),
    "NaN scores in rank correlation": (
        lambda t, m: rank_call(with_nan), CourseError,
        "The scores of video_1 hold 1 NaN or infinite value(s) (first at step 3)"),
    "no scores for a video in rank correlation": (
        lambda t, m: (lambda d, k: lambda: ev.evaluate_rank_correlation(d, {}, [k]))(
            *synthetic()), CourseError, "No scores for 'video_1'"),
    "generate_summary with empty change points": (
        lambda t, m: summary_call(np.zeros((0, 2), int)), CourseError, "non-empty [n_shots, 2]"),
    "generate_summary with a negative proportion": (
        lambda t, m: summary_call(proportion=-0.1), CourseError, "from 0 to 1"),
    "knapsack with a negative capacity": (
        lambda t, m: lambda: ev.knapsack_dp([1.0], [1], -1), CourseError, "capacity"),
    "knapsack with mismatched lengths": (
        lambda t, m: lambda: ev.knapsack([1.0, 2.0], [1], 3), CourseError, "do not match"),
    "unknown solver": (
        lambda t, m: summary_call(solver="greedy"), CourseError, "Unknown knapsack solver"),
    # settings
    "TIER = 1": (lambda t, m: lambda: config.resolve_tier(1, verbose=False), CourseError,
                 'TIER = "laptop" (with quotes)'),
    "COURSE_DATA_DIR pointing at a file": (
        lambda t, m: env_call(m, DATA_ENV_VAR, str(a_file(t)), data_dir), DataError,
        "a file, not a folder"),
    "--dest pointing at a file": (
        lambda t, m: lambda: download(["http://127.0.0.1:9/x"], a_file(t) / "x", None),
        DataError, "is a file, not a folder"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_a_clear_error(case, tmp_path, monkeypatch):
    build, error_type, fragment = CASES[case]
    call = build(tmp_path, monkeypatch)
    with pytest.raises(error_type) as error:
        call()
    assert fragment.format(path=tmp_path / "eccv16_dataset_summe_google_pool5.h5") in str(
        error.value)


def without_annotation(data, key, users):
    """``data`` with the user summaries ``users`` of video ``key`` emptied (all zeros)."""
    summary = data[key].user_summary.copy()
    summary[users] = False
    record = dataclasses.replace(data[key], user_summary=summary)
    return dataclasses.replace(data, videos={**data.videos, key: record})


def test_negative_scores_and_unreachable_budgets_warn_naming_the_video(tmp_path):
    data = dataset(tmp_path)
    logits = {k: np.linspace(-2, 1, len(PICKS)) for k in data.keys()}
    with pytest.warns(ev.ScoreWarning, match=r"video_\d: 2 of 3 shots have a negative"):
        ev.evaluate(data, logits)
    with pytest.warns(ev.ScoreWarning, match="every shot's score is 0"):
        ev.evaluate(data, {k: np.zeros(len(PICKS)) for k in data.keys()})
    with pytest.warns(ev.ScoreWarning, match="every shot is longer than the summary budget"):
        ev.generate_summary(np.ones(len(PICKS)), np.array([[0, 59], [60, 119]]), PICKS, 120)
    with pytest.warns(ev.ScoreWarning, match=r"video_2 in .*: 1 of 2 user summaries \(rows "
                      r"\[1\] of 'user_summary'\) select no frame.*download it again"):
        ev.evaluate(without_annotation(data, "video_2", [1]), {k: np.full(len(PICKS), 0.5)
                                                               for k in data.keys()})
    with pytest.warns(ev.ScoreWarning, match=r"video_1 .*2 of 2 .*its F-score is 0 whatever"):
        f = ev.evaluate(without_annotation(data, "video_1", [0, 1]),
                        {k: np.full(len(PICKS), 0.5) for k in data.keys()})
    assert f.per_video["video_1"] == 0 < f.per_video["video_2"]
    with warnings.catch_warnings():  # probabilities and a reachable budget: silence
        warnings.simplefilter("error")
        ev.evaluate(data, {k: np.full(len(PICKS), 0.5) for k in data.keys()})


def test_a_truncated_h5_says_truncated_not_locked(tmp_path):
    """HDF5's message for a cut file holds "sblock", which used to be read as a lock."""
    path = video_file(tmp_path / "eccv16_dataset_summe_google_pool5.h5")
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(DataError) as error:
        sm.read_h5(path)
    message = str(error.value)
    assert (f"{path} is truncated: it has {len(raw) // 2} bytes of the {len(raw)} its header "
            "announces (an interrupted download or copy)") in message
    assert "course-data summe" in message and "lock" not in message


def test_zero_annotators_and_short_scores_name_the_video_and_the_fix():
    """No annotators (F-score: a raw numpy error; rank correlation: NaN) and scores one step
    short of the annotations (a raw broadcasting error)."""
    data, key = synthetic(no_annotators)
    with pytest.raises(DataError, match=rf"{key} of {data.name} \(.*\) has no annotators "
                                        r"\('user_summary' has 0 rows\).*download it again"):
        ev.evaluate(data, {key: np.ones(data[key].n_steps)}, [key])
    data, key = synthetic()
    n = data[key].n_steps
    with pytest.raises(CourseError, match=rf"The scores of {key} have shape \({n - 1},\); give "
                                          rf"a 1-D array of the video's {n} step scores"):
        ev.evaluate_rank_correlation(data, {key: np.linspace(0, 1, n - 1)}, [key])


def test_the_baseline_table_names_a_training_video_without_gtscore():
    """The supervised row fits gtscore: a training video without it was a raw numpy error."""
    from course_lib.data.summarization import make_splits

    data, key = synthetic(lambda record: {"gtscore": None})
    split = next(s for s in make_splits(data.keys(), rng=np.random.default_rng(0))
                 if key in s.train_keys)
    with pytest.raises(CourseError, match=rf"'gtscore', which \['{key}'\] of synthetic .* lack"
                                          ".*leave those videos out"):
        ev.baseline_table(data, split, n_random_trials=1)
