"""Reader, validation, splits, PyTorch dataset and download of the summarization benchmarks."""

from __future__ import annotations

import threading
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import h5py
import numpy as np
import pytest
import torch

from course_lib import evaluation as ev
from course_lib.data import DataError, reference_file
from course_lib.data import summarization as sm


def write_video(group: h5py.Group, rng: np.random.Generator, n_frames: int = 300,
                dim: int = 8) -> None:
    """One video in the eccv16 layout with consistent, random content."""
    picks = np.arange(0, n_frames, 15)
    bounds = np.array([0, 60, 140, 220, n_frames])
    cps = np.stack([bounds[:-1], bounds[1:] - 1], axis=1)
    group["features"] = rng.random((len(picks), dim)).astype(np.float32)
    group["gtscore"] = rng.random(len(picks)).astype(np.float32)
    group["user_summary"] = (rng.random((3, n_frames)) < 0.2).astype(np.float32)
    group["change_points"] = cps
    group["n_frame_per_seg"] = cps[:, 1] - cps[:, 0] + 1
    group["n_frames"], group["n_steps"], group["picks"] = n_frames, len(picks), picks
    group["gtsummary"] = np.zeros(len(picks), np.float32)
    group["video_name"] = "toy"


@pytest.fixture
def h5_file(tmp_path):
    path = tmp_path / "eccv16_dataset_summe_google_pool5.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for i in range(1, 6):
            write_video(f.create_group(f"video_{i}"), rng)
    return path


def corrupt(path, key, value=None):
    with h5py.File(path, "a") as f:
        del f["video_2"][key]
        if value is not None:
            f["video_2"][key] = value


def test_reader_gives_typed_validated_records(h5_file):
    data = sm.read_h5(h5_file)
    assert data.name == "summe" and data.eval_method == "max" and len(data) == 5
    r = data["video_1"]
    assert r.features.dtype == np.float32 and r.user_summary.dtype == bool
    assert r.n_steps == 20 and r.n_users == 3 and r.video_name == "toy"
    assert data.keys()[:2] == ["video_1", "video_2"]
    with pytest.raises(KeyError, match="no video 'video_99'"):
        data["video_99"]


@pytest.mark.parametrize("key, value, message", [
    ("features", None, "missing key 'features'.*course-data"),
    ("picks", None, "missing key 'picks'.*course-data summe.*course-summarize FOLDER --h5-only"),
    ("features", np.zeros((7, 8), np.float32), "features.*7.*20 picks"),
    ("n_steps", 19, "'n_steps' is 19 but there are 20 picks"),
    ("user_summary", np.full((3, 300), 0.5, np.float32), "only 0 and 1"),
    ("user_summary", np.zeros((3, 299), np.float32), "expected \\[n_users, n_frames=300\\]"),
    ("change_points", np.array([[0, 59], [60, 200]]), "do not cover"),
    ("change_points", np.array([[0, 59], [70, 299]]), "gap or overlap after shot 0"),
    ("n_frame_per_seg", np.array([1, 2, 3, 4]), "n_frame_per_seg"),
])
def test_validation_names_video_key_and_file(h5_file, key, value, message):
    corrupt(h5_file, key, value)
    with pytest.raises(DataError, match=message) as info:
        sm.read_h5(h5_file)
    assert "video_2" in str(info.value) and str(h5_file) in str(info.value)


def test_features_are_optional_for_evaluation(h5_file):
    corrupt(h5_file, "features")
    data = sm.read_h5(h5_file, require_features=False)
    assert data["video_2"].features is None and not data.has_features
    with pytest.raises(DataError, match="no features"):
        sm.VideoFeatureDataset(data, sm.Split(("video_1",), ("video_2",)))


def test_missing_file_says_which_command(tmp_path):
    with pytest.raises(DataError, match="course-data tvsum"):
        sm.read_h5(tmp_path / "eccv16_dataset_tvsum_google_pool5.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(DataError, match="not a readable HDF5"):
        sm.read_h5(tmp_path / "junk.h5", name="summe")


def test_round_trip_through_write_h5(h5_file, tmp_path):
    data = sm.read_h5(h5_file)
    again = sm.read_h5(sm.write_h5(data, tmp_path / "copy.h5"), name="summe")
    for a, b in zip(data, again, strict=True):
        for name in ("features", "gtscore", "user_summary", "change_points", "picks"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_splits_read_validate_and_feed_pytorch(h5_file, tmp_path):
    data = sm.read_h5(h5_file)
    splits = sm.make_splits(data.keys(), rng=np.random.default_rng(0))
    assert len(splits) == 5 and all(len(s.test_keys) == 1 for s in splits)
    path = sm.save_splits(splits, tmp_path / "splits.json")
    assert sm.load_splits(path, data) == splits
    train = sm.VideoFeatureDataset(data, splits[0], "train")
    item = next(iter(torch.utils.data.DataLoader(train, batch_size=None)))
    assert item["features"].shape == (20, 8) and item["key"] == splits[0].train_keys[0]
    assert len(sm.VideoFeatureDataset(data, splits[0], "test")) == 1
    path.write_text('[{"train_keys": ["video_1"], "test_keys": ["video_1"]}]')
    with pytest.raises(DataError, match="trains on its test videos"):
        sm.load_splits(path)
    path.write_text('[{"train_keys": ["video_1"], "test_keys": ["video_77"]}]')
    with pytest.raises(DataError, match="video_77"):
        sm.load_splits(path, data)


# ---------------------------------------------------------------- download from 127.0.0.1

class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mirror(tmp_path, h5_file):
    """A local server laid out like the published repository (data/SumMe/..., data/splits/...)."""
    root = tmp_path / "served"
    features, splits = (root / p for p in (r.path for r in sm.REMOTE_FILES["summe"]))
    features.parent.mkdir(parents=True)
    splits.parent.mkdir(parents=True)
    features.write_bytes(h5_file.read_bytes())
    sm.save_splits(sm.make_splits([f"video_{i}" for i in range(1, 6)],
                                  rng=np.random.default_rng(1)), splits)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=root))
    threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", features, splits
    httpd.shutdown()
    httpd.server_close()


def test_download_places_and_validates_the_files(mirror, tmp_path, monkeypatch):
    url, _, _ = mirror
    dest = tmp_path / "data"
    monkeypatch.setenv(sm.MIRROR_ENV_VAR, url)  # the override a lab mirror would use
    path = sm.download_summarization("summe", folder=dest, force=True, progress=False)
    assert path == sm.feature_file("summe", dest)
    data, splits = sm.load_benchmark("summe", folder=dest)
    assert len(data) == 5 and len(splits) == 5 and data.has_features


def test_download_rejects_a_broken_file_and_cleans_up(mirror, tmp_path):
    url, features, _ = mirror
    features.write_bytes(b"version https://git-lfs.github.com/spec/v1\n")  # an LFS pointer
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="failed validation, so they were not installed"):
        sm.download_summarization("summe", folder=dest, mirrors=[url], progress=False)
    assert not sm.feature_file("summe", dest).exists()


def test_download_reports_every_failed_mirror(tmp_path):
    with pytest.raises(DataError, match="every mirror failed"):
        sm.download_summarization("tvsum", folder=tmp_path, mirrors=["http://127.0.0.1:9/"],
                                  progress=False)


# ---------------------------------------------------------------- the real annotations

SUMME = reference_file("summe", "summe_annotations.h5")
TVSUM = reference_file("tvsum")


@pytest.mark.shared_data
@pytest.mark.skipif(SUMME is None, reason="set $COURSE_SHARED_DATA to the reference data")
def test_real_summe_annotations_load_through_the_same_reader():
    data = sm.read_h5(SUMME, name="summe",
                      require_features=False)
    assert len(data) == 25 and all(r.n_users >= 15 for r in data)
    splits = sm.load_splits(reference_file("splits", "summe_splits.json"), data)
    assert len(splits) == 5 and all(len(s.test_keys) == 5 for s in splits)
    with pytest.raises(DataError, match="missing key 'features'"):
        sm.read_h5(SUMME)


@pytest.mark.shared_data
@pytest.mark.skipif(TVSUM is None, reason="set $COURSE_SHARED_DATA to the reference data")
def test_real_tvsum_supports_rank_correlation_but_not_f_scores():
    data = sm.read_h5(TVSUM / "tvsum_annotations.h5", name="tvsum",
                      require_features=False)
    assert len(data) == 50 and data.eval_method == "mean"
    with pytest.raises(DataError, match="no user_summary and no change_points"):
        ev.evaluate(data, ev.uniform_scores(data, ["video_1"]))
    scores = sm.read_tvsum_annotator_scores(TVSUM / "ydata-anno.tsv.gz")
    nameless = sm.SummarizationDataset("tvsum", {k: replace(r, video_name=None) for k, r in
                                                 data.videos.items()}, "mean", data.source)
    data = sm.with_user_scores(data, scores)
    assert all(r.user_scores.shape == (20, r.n_frames) for r in data)
    # the standard file's videos are the table's, in order (the downloaded file has no names)
    by_order = sm.with_user_scores(nameless, scores)
    assert all(np.array_equal(r.user_scores, data[r.key].user_scores) for r in by_order)
    keys = data.keys()[:3]
    random = ev.evaluate_rank_correlation(data, ev.random_scores(data, keys,
                                                                 np.random.default_rng(0)))
    human = np.mean([ev.human_rank_correlation(
        ev.annotator_step_scores(data[k].user_scores, data[k].picks)) for k in keys], axis=0)
    assert abs(random["kendall_tau"]) < 0.05 and human[0] > 0.1


def test_annotator_scores_join_a_feature_file_without_names_in_the_tables_order():
    """TVSum's feature file names no video: video_i is the table's i-th, checked by frames."""
    records = {f"video_{i}": sm.VideoRecord(f"video_{i}", n, np.arange(0, n, 15))
               for i, n in ((1, 60), (2, 90))}
    data = sm.SummarizationDataset("tvsum", records, "mean", "features.h5")
    table = {"first": np.full((3, 60), 2.0, np.float32), "second": np.full((3, 90), 4.0,
                                                                          np.float32)}
    joined = sm.with_user_scores(data, table)
    assert [(r.video_name, r.user_scores[0, 0]) for r in joined] == [("first", 2), ("second", 4)]
    named = sm.SummarizationDataset("tvsum", {k: replace(r, video_name=n) for (k, r), n in zip(
        records.items(), ["second", "first"], strict=True)}, "mean", "features.h5")
    with pytest.raises(DataError, match=r"expected \[n_users, n_frames=60\]"):
        sm.with_user_scores(named, table)  # a name, where there is one, decides
    swapped = {"second": table["second"], "first": table["first"]}
    with pytest.raises(DataError, match="video 1, second, has 90 frames, not its 60.*belong "
                                        "together"):
        sm.with_user_scores(data, swapped)


def test_fingerprint_changes_with_the_data_and_only_with_it():
    from course_lib.config import summarization_data_config
    from course_lib.data.synthetic_videos import make_synthetic_dataset

    config = summarization_data_config("smoke", verbose=False)
    first, again = make_synthetic_dataset(config), make_synthetic_dataset(config)
    assert first.fingerprint() == again.fingerprint()
    again.videos["video_1"].features[0, 0] += 1.0
    assert first.fingerprint() != again.fingerprint()
    other = make_synthetic_dataset(replace(config, seed=config.seed + 1))
    assert first.fingerprint() != other.fingerprint()
