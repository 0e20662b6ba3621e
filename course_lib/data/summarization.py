"""Video-summarization benchmarks (SumMe, TVSum) in the standard ``eccv16_*.h5`` layout.

Taught in notebook 02. One reader for every file in that layout: the feature files that
``course-data summe`` / ``course-data tvsum`` download, the annotation-only copies of the real
ground truth (no ``features``), and the embedded synthetic dataset
(:mod:`course_lib.data.synthetic_videos`). Each video becomes one validated :class:`VideoRecord`;
a :class:`SummarizationDataset` holds them with the dataset's evaluation rule (``max`` over users
for SumMe, ``mean`` for TVSum), :func:`load_splits` reads the standard 5-split JSON files and
:class:`VideoFeatureDataset` serves a split's train or test videos to PyTorch.

Layout of one video group (K. Zhou's eccv16 files): ``features`` [n_steps, 1024],
``gtscore`` [n_steps], ``user_summary`` [n_users, n_frames] 0/1, ``change_points`` [n_segs, 2]
inclusive shot bounds, ``n_frame_per_seg``, ``n_frames``, ``picks`` [n_steps], ``n_steps``,
``gtsummary`` [n_steps], ``video_name``. Only ``n_frames`` and ``picks`` are always required.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from course_lib.data import DataError, data_dir, reference_file
from course_lib.data.download import Staging, local_problem, md5sum, staging

EVAL_METHODS = {"summe": "max", "tvsum": "mean"}
MIRROR_ENV_VAR = "COURSE_SUMMARIZATION_MIRROR"


@dataclass(frozen=True, eq=False)
class VideoRecord:
    """One video of a benchmark file; optional fields are ``None`` when the file lacks them.

    ``user_summary`` is stored as bool (validated to be 0/1 on reading). ``user_scores`` are the
    raw per-frame annotator scores [n_users, n_frames] (TVSum's 1–5 ratings, or the synthetic
    annotators'), needed for rank correlation; ``extras`` keeps any non-standard arrays.
    """

    key: str
    n_frames: int
    picks: np.ndarray
    features: np.ndarray | None = None
    gtscore: np.ndarray | None = None
    user_summary: np.ndarray | None = None
    change_points: np.ndarray | None = None
    n_frame_per_seg: np.ndarray | None = None
    gtsummary: np.ndarray | None = None
    video_name: str | None = None
    user_scores: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        return len(self.picks)

    @property
    def n_users(self) -> int:
        return 0 if self.user_summary is None else len(self.user_summary)

    @property
    def shot_lengths(self) -> np.ndarray:
        return self.change_points[:, 1] - self.change_points[:, 0] + 1


def natural_key(key: str) -> tuple:
    """``video_2`` before ``video_10`` (h5 files list groups in string order)."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key))


@dataclass
class SummarizationDataset:
    """The videos of one benchmark, keyed ``video_1`` …, with its evaluation rule."""

    name: str
    videos: dict[str, VideoRecord]
    eval_method: str = "max"
    source: str = ""

    def __getitem__(self, key: str) -> VideoRecord:
        try:
            return self.videos[key]
        except KeyError:
            raise KeyError(f"{self.name} has no video {key!r} (it has {len(self)}: "
                           f"{', '.join(self.keys()[:3])}, …); check the split file matches "
                           f"this dataset.") from None

    def __len__(self) -> int:
        return len(self.videos)

    def __iter__(self) -> Iterator[VideoRecord]:
        return iter(self.videos[k] for k in self.keys())

    def keys(self) -> list[str]:
        return sorted(self.videos, key=natural_key)

    @property
    def has_features(self) -> bool:
        return all(r.features is not None for r in self.videos.values())

    def fingerprint(self) -> str:
        """A short hash of every video's features and annotations.

        Part of a training checkpoint's key, so that a run trained on other data (an older
        version of the synthetic videos, another download of a benchmark) is never loaded beside
        baselines computed on this data.
        """
        digest = hashlib.sha1(usedforsecurity=False)
        for key in self.keys():
            record = self.videos[key]
            digest.update(key.encode())
            for array in (record.features, record.user_summary, record.change_points,
                          record.picks, record.gtscore):
                if array is not None:
                    digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:12]

    def require_annotations(self, key: str) -> VideoRecord:
        """The record, or a clear error if it cannot be scored by F-score."""
        record = self[key]
        missing = [f for f in ("user_summary", "change_points") if getattr(record, f) is None]
        if not missing and not len(record.user_summary):
            raise DataError(f"{key} of {self.name} ({self.source}) has no annotators "
                            "('user_summary' has 0 rows), so its F-score cannot be computed. The "
                            "annotation file is damaged or mis-converted: download it again, or "
                            "leave the video out of the split.")
        if missing:
            raise DataError(
                f"{key} of {self.name} ({self.source}) has no {' and no '.join(missing)}, so its "
                f"F-score cannot be computed. For TVSum, the user summaries of the standard file "
                f"are derived from the annotators' scores via KTS shots (change_points) and the "
                f"knapsack: download the feature file with `course-data {self.name}`. Rank "
                f"correlation needs only the annotators' scores.")
        return record


# ---------------------------------------------------------------- reading and validation

def _fail(record_key: str, source: str, problem: str, fix: str = "") -> DataError:
    return DataError(f"{record_key} in {source}: {problem}" + (f" {fix}" if fix else ""))


def validate_record(record: VideoRecord, source: str = "memory", *,
                    require_features: bool = True) -> VideoRecord:
    """Check every invariant the evaluation and the models rely on; raise a DataError that says
    which video, which key and what to do."""
    key, n, t = record.key, record.n_frames, record.n_steps
    picks = record.picks
    if picks.ndim != 1 or t == 0:
        raise _fail(key, source, f"'picks' must be a non-empty 1-D array, got shape {picks.shape}.")
    if picks[0] < 0 or picks[-1] >= n or np.any(np.diff(picks) <= 0):
        raise _fail(key, source, f"'picks' must increase strictly within [0, n_frames={n}); "
                    f"got {picks[:3]} … {picks[-3:]}.")
    if record.features is None:
        if require_features:
            raise _fail(key, source, "missing key 'features'.",
                        "This is an annotation-only file: download the feature files with "
                        "`course-data summe` / `course-data tvsum`, or read it with "
                        "require_features=False when only evaluating.")
    else:
        f = record.features
        if f.ndim != 2 or len(f) != t:
            raise _fail(key, source, f"'features' has shape {f.shape} but there are {t} picks "
                        "(features, picks and n_steps must agree).")
        if not np.all(np.isfinite(f)):
            raise _fail(key, source, "'features' contains NaN or infinite values.")
    for name in ("gtscore", "gtsummary"):
        value = getattr(record, name)
        if value is not None and value.shape != (t,):
            raise _fail(key, source, f"'{name}' has shape {value.shape}, expected ({t},) "
                        "(one value per pick).")
    if record.user_summary is not None and (record.user_summary.ndim != 2
                                            or record.user_summary.shape[1] != n):
        raise _fail(key, source, f"'user_summary' has shape {record.user_summary.shape}, "
                    f"expected [n_users, n_frames={n}].")
    for name in ("user_summary", "user_scores"):
        value = getattr(record, name)
        if value is not None and value.ndim == 2 and not len(value):
            raise _fail(key, source, f"'{name}' has 0 rows: the video has no annotators, so it "
                        "cannot be evaluated.", "Download the file again, or leave the video "
                        "out of the split.")
    if record.user_scores is not None and (record.user_scores.ndim != 2
                                           or record.user_scores.shape[1] != n):
        raise _fail(key, source, f"'user_scores' has shape {record.user_scores.shape}, "
                    f"expected [n_users, n_frames={n}].")
    cps = record.change_points
    if cps is not None:
        if cps.ndim != 2 or cps.shape[1] != 2 or len(cps) == 0:
            raise _fail(key, source, f"'change_points' has shape {cps.shape}, expected "
                        "[n_segs, 2].")
        gaps = cps[1:, 0] != cps[:-1, 1] + 1
        if cps[0, 0] != 0 or cps[-1, 1] != n - 1 or np.any(gaps) or np.any(cps[:, 1] < cps[:, 0]):
            where = f"first gap or overlap after shot {int(np.argmax(gaps))}" if gaps.any() else (
                f"they span frames {cps[0, 0]}..{cps[-1, 1]}")
            raise _fail(key, source, f"'change_points' do not cover the video's {n} frames "
                        f"exactly once ({where}); shots must be contiguous inclusive [start, end] "
                        f"pairs from 0 to n_frames-1.")
        if record.n_frame_per_seg is not None and not np.array_equal(record.n_frame_per_seg,
                                                                     record.shot_lengths):
            raise _fail(key, source, "'n_frame_per_seg' disagrees with 'change_points'.")
    return record


STANDARD_MEMBERS = ("features", "gtscore", "user_summary", "change_points", "n_frame_per_seg",
                    "n_frames", "picks", "n_steps", "gtsummary", "video_name", "user_scores")


def _check_members(group: h5py.Group, key: str, source: str, require_features: bool) -> None:
    """Members the layout does not have: a nested group (the layout holds only arrays) is an
    error, and so is a missing standard member with a look-alike in its place (a misspelling
    would otherwise be kept as an extra and the member reported missing without a hint)."""
    import difflib

    unexpected = [k for k in group if k not in STANDARD_MEMBERS]
    if nested := [k for k in unexpected if isinstance(group[k], h5py.Group)]:
        raise _fail(key, source, f"members {nested} are groups, but a video's group in the "
                    f"eccv16 layout holds only arrays ({', '.join(STANDARD_MEMBERS)}).",
                    "Move them out of the video groups (or write the file with write_h5).")
    needed = ["n_frames", "picks"] + ["features"] * require_features
    for missing in (m for m in needed if m not in group):
        if close := difflib.get_close_matches(missing, unexpected, n=1, cutoff=0.75):
            raise _fail(key, source, f"missing key {missing!r}, but it has the unexpected "
                        f"member {close[0]!r}.", f"Rename {close[0]!r} to {missing!r}.")


def _read_group(group: h5py.Group, source: str, require_features: bool) -> VideoRecord:
    key = group.name.strip("/")

    def get(name, dtype=None):
        if name not in group:
            return None
        value = group[name][()]
        return value if dtype is None else np.asarray(value, dtype=dtype)

    _check_members(group, key, source, require_features)
    for required in ("n_frames", "picks"):
        if required not in group:
            raise _fail(key, source, f"missing key {required!r}.",
                        "The file is not in the eccv16 layout, or it is damaged: download it "
                        "again (`course-data summe` / `course-data tvsum`), or for your own "
                        "videos make it again (`course-summarize FOLDER --h5-only --out DIR`).")
    picks = get("picks", np.int64)
    n_steps = get("n_steps")
    if n_steps is not None and int(n_steps) != len(picks):
        raise _fail(key, source, f"'n_steps' is {int(n_steps)} but there are {len(picks)} picks.")
    users = get("user_summary")
    if users is not None:
        if not np.isin(users, (0, 1)).all():
            raise _fail(key, source, "'user_summary' must hold only 0 and 1, found "
                        f"{np.unique(users)[:5]}.")
        users = users.astype(bool)
    name = get("video_name")
    record = VideoRecord(
        key=key, n_frames=int(get("n_frames")), picks=picks,
        features=get("features", np.float32), gtscore=get("gtscore", np.float32),
        user_summary=users, change_points=get("change_points", np.int64),
        n_frame_per_seg=get("n_frame_per_seg", np.int64), gtsummary=get("gtsummary", np.float32),
        video_name=name.decode() if isinstance(name, bytes) else name,
        user_scores=get("user_scores", np.float32),
        extras={k: group[k][()] for k in group if k not in STANDARD_MEMBERS})
    return validate_record(record, source, require_features=require_features)


def read_h5(path: str | Path, *, name: str | None = None, require_features: bool = True,
            eval_method: str | None = None) -> SummarizationDataset:
    """Read and validate every video of a file in the eccv16 layout.

    ``name`` (default: guessed from the file name, e.g. ``summe``) picks the evaluation rule.
    Whatever is wrong with the file (missing, damaged, locked, another layout) becomes one
    :class:`DataError` that names the file and the fix.
    """
    path = Path(path)
    if name is None:
        name = next((n for n in EVAL_METHODS if n in path.name.lower()), path.stem)
    return _read_h5(path, name, require_features, eval_method, advice=True)


def _read_h5(path: Path, name: str, require_features: bool, eval_method: str | None, *,
             advice: bool) -> SummarizationDataset:
    """:func:`read_h5`; ``advice=False`` leaves out how to get a good copy (for a download that
    is being checked, where that advice would be circular)."""
    fix = _fix(name, again=True) if advice else ""
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"{path} {problem}. {_fix(name) if advice else ''}")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise _open_error(path, error, fix) from error
    try:
        with handle:
            videos = {key: _read_group(handle[key], str(path), require_features)
                      for key in handle if isinstance(handle[key], h5py.Group)}
    except DataError:
        raise
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path} is damaged: HDF5 failed while reading it ({error}). {fix}"
                        ) from error
    if not videos:
        raise DataError(f"{path} holds no video groups: it is not in the eccv16 layout.")
    return SummarizationDataset(name, videos, eval_method or EVAL_METHODS.get(name, "max"),
                                str(path))


def _open_error(path: Path, error: OSError, fix: str) -> DataError:
    """Why HDF5 could not open ``path``. A truncated file's message ("truncated file: eof = …,
    sblock->…") contains "lock" inside "sblock", so the lock is matched as a word."""
    message = str(error)
    if truncated := re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", message):
        size, expected = truncated.groups()
        return DataError(f"{path} is truncated: it has {size} bytes of the {expected} its header "
                         f"announces (an interrupted download or copy). {fix}")
    if re.search(r"\block(ed|ing)?\b", message, re.IGNORECASE):
        return DataError(f"{path} is locked by another process (is it open for writing in "
                         "another notebook or script?). Close it there and try again.")
    return DataError(f"{path} is not a readable HDF5 file ({message}). {fix}")


def write_h5(dataset: SummarizationDataset, path: str | Path) -> Path:
    """Write a dataset in the eccv16 layout (plus ``user_scores`` and extras where present)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        for record in dataset:
            group = handle.create_group(record.key)
            group["n_frames"], group["picks"] = record.n_frames, record.picks.astype(np.int32)
            group["n_steps"] = record.n_steps
            for name in ("features", "gtscore", "change_points", "n_frame_per_seg", "gtsummary",
                         "user_scores"):
                if (value := getattr(record, name)) is not None:
                    group[name] = value
            if record.user_summary is not None:
                group["user_summary"] = record.user_summary.astype(np.float32)
            if record.video_name is not None:
                group["video_name"] = record.video_name
            for name, value in record.extras.items():
                group[name] = value
    return path


# ---------------------------------------------------------------- splits

class Split(NamedTuple):
    """One random 80/20 draw: the keys a model trains on and the keys it is judged on."""

    train_keys: tuple[str, ...]
    test_keys: tuple[str, ...]


def load_splits(path: str | Path, dataset: SummarizationDataset | None = None) -> list[Split]:
    """Read a standard splits JSON (a list of ``{"train_keys": [...], "test_keys": [...]}``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Split file {path} does not exist. "
                        f"{_fix(dataset.name if dataset else path.stem.split('_')[0])}")
    try:
        raw = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not valid JSON ({error}).") from error
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path} must hold a non-empty list of splits.")
    splits = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not {"train_keys", "test_keys"} <= set(entry):
            raise DataError(f"Split {i} of {path} needs 'train_keys' and 'test_keys'.")
        for part in ("train_keys", "test_keys"):
            keys = entry[part]
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise DataError(f"Split {i} of {path}: '{part}' must be a list of video keys "
                                f"(strings such as \"video_1\"), got {str(keys)[:60]}.")
        if not entry["test_keys"]:
            raise DataError(f"Split {i} of {path} has no test videos ('test_keys' is empty), so "
                            "it cannot be evaluated: every split needs at least one test key.")
        split = Split(tuple(entry["train_keys"]), tuple(entry["test_keys"]))
        check_split_keys(split, f"Split {i} of {path}")
        if dataset is not None and (unknown := set(split.train_keys + split.test_keys)
                                    - set(dataset.videos)):
            raise DataError(f"Split {i} of {path} names videos that {dataset.name} "
                            f"({dataset.source}) lacks: {sorted(unknown, key=natural_key)}. "
                            "Is it the split file of another dataset?")
        splits.append(split)
    return splits


def check_split_keys(split: Split, where: str) -> None:
    """Refuse a video listed twice or both trained and tested on.

    The reference reads ``train_keys`` as a list and trains on each entry in turn, so a repeated
    key silently trains that video twice per epoch (a repeated test key counts twice in the mean
    F-score); a video in both lists is evaluated on what the model trained on.
    """
    for part, keys, effect in (("train_keys", split.train_keys, "train twice per epoch"),
                               ("test_keys", split.test_keys, "count twice in the F-score")):
        repeated = sorted({k for k in keys if list(keys).count(k) > 1}, key=natural_key)
        if repeated:
            raise DataError(f"{where} lists {repeated} more than once in '{part}': each would "
                            f"{effect}. List every video once (remove the repeats), or draw "
                            "the splits again with make_splits.")
    if overlap := sorted(set(split.train_keys) & set(split.test_keys), key=natural_key):
        raise DataError(f"{where} trains on its test videos {overlap}, so the F-score would not "
                        "measure unseen videos. Put each video in 'train_keys' or in "
                        "'test_keys', not both (or draw the splits again with make_splits).")


def save_splits(splits: Sequence[Split], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps([{"train_keys": list(s.train_keys), "test_keys": list(s.test_keys)}
                                for s in splits], indent=4))
    return path


def make_splits(keys: Sequence[str], n_splits: int = 5, train_fraction: float = 0.8, *,
                rng: np.random.Generator) -> list[Split]:
    """Independent random train/test draws, as the standard files are (not k-fold)."""
    keys = sorted(keys, key=natural_key)
    n_train = round(train_fraction * len(keys))
    splits = []
    for _ in range(n_splits):
        order = rng.permutation(len(keys))
        splits.append(Split(tuple(sorted((keys[i] for i in order[:n_train]), key=natural_key)),
                            tuple(sorted((keys[i] for i in order[n_train:]), key=natural_key))))
    return splits


# ---------------------------------------------------------------- PyTorch

class VideoFeatureDataset(Dataset):
    """A split's train or test videos as ``{"key", "features" [T, D], "gtscore" [T]}`` items.

    Videos differ in length, so the SUM-GAN family trains with batch size 1 (a DataLoader with
    ``batch_size=None`` passes the items through unbatched).
    """

    def __init__(self, dataset: SummarizationDataset, split: Split, part: str = "train"):
        if part not in ("train", "test"):
            raise ValueError(f"part must be 'train' or 'test', not {part!r}")
        if not dataset.has_features:
            raise DataError(f"{dataset.name} ({dataset.source}) has no features. "
                            f"{fetch_hint(dataset.name)}")
        self.keys = list(split.train_keys if part == "train" else split.test_keys)
        self.records = [dataset[k] for k in self.keys]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        gtscore = record.gtscore if record.gtscore is not None else np.zeros(record.n_steps)
        return {"key": record.key, "features": torch.from_numpy(record.features),
                "gtscore": torch.as_tensor(gtscore, dtype=torch.float32)}


# ---------------------------------------------------------------- where the files live

class RemoteFile(NamedTuple):
    """A published file: its path under each mirror, and its MD5 (``None``: none published)."""

    path: str
    md5: str | None


# SUM-GAN-sl's README: "Structured h5 files with the video features and annotations of the SumMe
# and TVSum datasets are available within the 'data' folder" (files from K. Zhou's DR-DSN
# release, whose own QMUL link, datasets.tar.gz of 173.5 MB, is dead); SUM-GAN-AAE keeps the same
# folder. No checksum is published for any of them: md5=None, and a download is accepted only
# after the reader has validated every video in it (see download_summarization).
MIRRORS = (
    "https://raw.githubusercontent.com/e-apostolidis/SUM-GAN-sl/master/",
    "https://raw.githubusercontent.com/e-apostolidis/SUM-GAN-AAE/master/",
)
REMOTE_FILES = {
    "summe": (RemoteFile("data/SumMe/eccv16_dataset_summe_google_pool5.h5", None),
              RemoteFile("data/splits/summe_splits.json", None)),
    "tvsum": (RemoteFile("data/TVSum/eccv16_dataset_tvsum_google_pool5.h5", None),
              RemoteFile("data/splits/tvsum_splits.json", None)),
}
EXPECTED_VIDEOS = {"summe": 25, "tvsum": 50}
BENCHMARK_FEATURE_DIM = 1024  # GoogLeNet pool5, as the eccv16 files hold


def summarization_dir() -> Path:
    """Where downloaded benchmark files go: ``<data_dir>/summarization``."""
    return data_dir() / "summarization"


def feature_file(name: str, folder: Path | None = None) -> Path:
    return Path(folder or summarization_dir()) / Path(REMOTE_FILES[_check_name(name)][0].path).name


def splits_file(name: str, folder: Path | None = None) -> Path:
    return Path(folder or summarization_dir()) / Path(REMOTE_FILES[_check_name(name)][1].path).name


def fetch_hint(name: str) -> str:
    return (f"Download it with:\n    course-data {name}\n(or: python -m course_lib.cli {name}; "
            f"files go to {summarization_dir()}; set $COURSE_DATA_DIR to change that).")


def _fix(name: str, *, again: bool = False) -> str:
    """How to get a good copy: the download command for a benchmark, else what the course has."""
    if name not in REMOTE_FILES:
        return ("Check the path; the course downloads the real benchmarks with `course-data "
                "summe` and `course-data tvsum`, and read_h5(path, name='summe'|'tvsum') reads "
                "a copy of them under another name.")
    if again:
        return (fetch_hint(name) + " The download replaces the file only once the new copy has "
                "been checked.")
    return fetch_hint(name)


def _check_name(name: str) -> str:
    if name not in REMOTE_FILES:
        raise DataError(f"Unknown benchmark {name!r}: use one of {', '.join(REMOTE_FILES)} "
                         "(or the embedded 'synthetic' dataset).")
    return name


def load_benchmark(name: str, *, require_features: bool = True,
                   folder: Path | None = None) -> tuple[SummarizationDataset, list[Split]]:
    """The downloaded SumMe or TVSum feature file and its 5 standard splits."""
    dataset = read_h5(feature_file(name, folder), name=name, require_features=require_features)
    return dataset, load_splits(splits_file(name, folder), dataset)


def load_annotations(name: str) -> SummarizationDataset | None:
    """Real ground truth for evaluation only: the downloaded feature file if present, else the
    annotation-only copy in the reference data folder, else ``None``."""
    for path in (feature_file(name), reference_file(name, f"{name}_annotations.h5")):
        if path is not None and path.exists():
            return read_h5(path, name=name, require_features=False)
    return None


def download_summarization(name: str, folder: Path | None = None, *,
                           mirrors: Sequence[str] | None = None, force: bool = False,
                           progress: bool = True) -> Path:
    """Fetch one benchmark's feature file and splits, validate them, and place them for the loaders.

    ``mirrors`` (or ``$COURSE_SUMMARIZATION_MIRROR``, comma-separated) replace the published
    locations, e.g. a lab server or a local test server. As no checksum is published, the new
    files replace the old ones (both, or neither) only if the reader validates every video, the
    splits name only those videos, and the file is like the published one: its number of videos,
    1024-d features, shots and user summaries in every video (``force`` accepts a file that
    differs). On any failure the files already there stay as they were. Returns the feature
    file's path.
    """
    _check_name(name)
    folder = Path(folder or summarization_dir())
    if mirrors is None:
        configured = os.environ.get(MIRROR_ENV_VAR)
        mirrors = configured.split(",") if configured else MIRRORS
    unchanged = f"The files already in {folder} (if any) are unchanged."
    if progress and feature_file(name, folder).exists():
        print(f"{feature_file(name, folder)} is already here: downloading it again (no checksum "
              "is published to compare with), to replace it only if the new file checks out.")
    with staging(folder) as stage:
        features, splits = (
            stage.fetch([m.rstrip("/") + "/" + remote.path for m in mirrors],
                        Path(remote.path).name, remote.md5, progress=progress)
            for remote in REMOTE_FILES[name])
        try:
            dataset = _read_h5(features, name, False, None, advice=False)
            load_splits(splits, dataset)
        except DataError as error:
            message = str(error).strip()
            for temp, remote in zip((features, splits), REMOTE_FILES[name], strict=True):
                message = message.replace(str(temp), Path(remote.path).name)  # not its .part
            raise DataError(f"The downloaded {name} files failed validation, so they were not "
                            f"installed: {message}\n{unchanged} Run the command again; if it "
                            "fails the same way, the mirror serves a damaged file.") from error
        if bare := [r.key for r in dataset if r.features is None]:
            raise DataError(
                f"The downloaded {name} file has no features in {', '.join(bare[:3])}"
                f"{' …' * (len(bare) > 3)}: it is an annotation-only copy, not the feature file "
                f"{Path(REMOTE_FILES[name][0].path).name}, so it was not installed. {unchanged} "
                "Running the command again will not help: the mirror holds that copy, so point "
                "it at one that holds the features (or copy a feature file you have to the "
                "path above).")
        if (problem := _unlike_the_benchmark(dataset, name)) and not force:
            raise DataError(f"The downloaded {name} feature file {problem}: it is not the real "
                            f"benchmark, so it was not installed. {unchanged} (To install it "
                            f"anyway: course-data {name} --force.)")
        size, digest = features.stat().st_size, md5sum(features)
        stage.commit()
    features_path = feature_file(name, folder)
    if progress:
        print(f"{features_path}: {len(dataset)} videos, {size} bytes, md5 {digest}")
    return features_path


def _unlike_the_benchmark(dataset: SummarizationDataset, name: str) -> str | None:
    """How a validated feature file differs from the published one, or None: its number of
    videos, their features' width (GoogLeNet pool5's 1024), or shots and user summaries missing
    (without them no F-score can be computed)."""
    if len(dataset) != (expected := EXPECTED_VIDEOS[name]):
        return f"holds {len(dataset)} videos, the published one {expected}"
    if widths := sorted({r.features.shape[1] for r in dataset} - {BENCHMARK_FEATURE_DIM}):
        return (f"has features {', '.join(map(str, widths))} wide, the published one "
                f"{BENCHMARK_FEATURE_DIM} (GoogLeNet pool5)")
    if bare := [r.key for r in dataset if r.user_summary is None or r.change_points is None]:
        return (f"has no user summaries or no shots for {len(bare)} videos ({', '.join(bare[:3])}"
                f"{', ...' if len(bare) > 3 else ''}), so they cannot be scored")
    return None


# ---------------------------------------------------------------- TVSum's raw annotations

# The official TVSum release (Song et al., CVPR 2015; github.com/yalesong/tvsum). What is and is
# not verified: the archive's URL (under the first author's MIT page) is the one many public
# download scripts use, one of which records its size (641 MB, the videos included); the GitHub
# README we could read points to Yahoo Webscope instead, so no text of the authors confirms it.
# Those scripts unpack `ydata-tvsum50-v1_1/ydata-tvsum50-data.zip` from it to get
# `data/ydata-tvsum50-anno.tsv` and `data/ydata-tvsum50-info.tsv`; as that inner layout is not
# documented, the extractor looks for the two files by name, in the archive and in any data zip
# inside it. No checksum of the archive is published. The real guard is the content check
# (validate_tvsum_annotations: 50 videos x 20 annotators, integer scores 1-5); the MD5 below was
# measured on the decompressed `ydata-anno.tsv.gz` copy of the official annotation file that
# the course's tests use, not on a fresh download of the archive.
TVSUM_ARCHIVE_URLS = ("https://people.csail.mit.edu/yalesong/tvsum/tvsum50_ver_1_1.tgz",)
TVSUM_ANNOTATION_FILE = "ydata-tvsum50-anno.tsv"
TVSUM_INFO_FILE = "ydata-tvsum50-info.tsv"
TVSUM_ANNOTATION_MD5 = "731b26a564600afbc66d1a162b36cafd"
TVSUM_ANNOTATORS = 20
TVSUM_SCORES = (1, 5)
PICK_STEP = 15  # the eccv16 files keep every 15th frame
TVSUM_FETCH = ("Download TVSum's annotations with `course-data tvsum-annotations` (or: python -m "
               "course_lib.cli tvsum-annotations).")


def read_tvsum_annotator_scores(path: str | Path) -> dict[str, np.ndarray]:
    """``ydata-tvsum50-anno.tsv`` (or a ``.gz`` of it) → {YouTube id: raw 1–5 scores
    [n_annotators, n_frames]}, in the file's video order."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows: dict[str, list[np.ndarray]] = {}
    try:
        with opener(path, "rt") as stream:
            for line_no, line in enumerate(stream, 1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 3:
                    raise DataError(f"{path}:{line_no}: expected 3 tab-separated columns "
                                    "(video id, category, comma-separated scores).")
                try:
                    scores = np.array(parts[2].split(","), dtype=np.float32)
                except ValueError as error:
                    raise DataError(f"{path}:{line_no}: the scores of {parts[0]} are not "
                                    f"comma-separated numbers ({error}).") from error
                rows.setdefault(parts[0], []).append(scores)
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is not a readable TVSum annotation table ({error}). "
                        f"{TVSUM_FETCH}") from error
    table = {}
    for video, scores in rows.items():
        if len({len(s) for s in scores}) != 1:
            raise DataError(f"{path}: the annotators of {video} scored different numbers of "
                            f"frames ({sorted({len(s) for s in scores})}).")
        table[video] = np.stack(scores)
    return table


def validate_tvsum_annotations(table: dict[str, np.ndarray], source: str, *,
                               force: bool = False) -> dict[str, np.ndarray]:
    """Check that the table is the published one: 50 videos (fewer only with ``force``), each
    rated by 20 annotators on the 1–5 scale."""
    expected = EXPECTED_VIDEOS["tvsum"]
    if len(table) < expected and not force:
        raise DataError(f"{source} holds {len(table)} videos, the published TVSum annotations "
                        f"{expected}: it is not the real file (to install it anyway: course-data "
                        "tvsum-annotations --force).")
    low, high = TVSUM_SCORES
    for video, scores in table.items():
        if len(scores) != TVSUM_ANNOTATORS:
            raise DataError(f"{source}: {video} has {len(scores)} annotators, TVSum has "
                            f"{TVSUM_ANNOTATORS} per video.")
        if np.any(scores != np.round(scores)) or scores.min() < low or scores.max() > high:
            raise DataError(f"{source}: the scores of {video} are not integers from {low} to "
                            f"{high} (found {scores.min():g} .. {scores.max():g}).")
    return table


def tvsum_annotation_path() -> Path | None:
    """The downloaded annotation table, else (test setting) the reference copy, else ``None``."""
    for path in (summarization_dir() / TVSUM_ANNOTATION_FILE,
                 reference_file("tvsum", "ydata-anno.tsv.gz")):
        if path is not None and path.is_file():
            return path
    return None


def load_tvsum_annotations(path: str | Path | None = None) -> SummarizationDataset | None:
    """TVSum's 50 videos with each annotator's raw 1–5 scores, for rank correlation; ``None``
    when the annotations have not been downloaded (``course-data tvsum-annotations``).

    With the downloaded feature file the videos are its records (features, shots, user
    summaries) plus the scores; otherwise they are built from the table alone, as the feature
    file does: keys ``video_1`` … in the table's order, every 15th frame picked, ``gtscore`` the
    annotators' mean rescaled from 1–5 to 0–1. Without shots such videos have no F-score.
    """
    path = Path(path) if path is not None else tvsum_annotation_path()
    if path is None:
        return None
    scores = validate_tvsum_annotations(read_tvsum_annotator_scores(path), str(path),
                                        force=True)  # a table installed with --force loads too
    if feature_file("tvsum").is_file():
        return with_user_scores(read_h5(feature_file("tvsum"), name="tvsum",
                                        require_features=False), scores)
    low, high = TVSUM_SCORES
    videos = {}
    for i, (video, raw) in enumerate(scores.items(), 1):
        picks = np.arange(0, raw.shape[1], PICK_STEP)
        gtscore = ((raw.mean(axis=0)[picks] - low) / (high - low)).astype(np.float32)
        record = VideoRecord(f"video_{i}", raw.shape[1], picks, gtscore=gtscore,
                             video_name=video, user_scores=raw)
        videos[record.key] = validate_record(record, str(path), require_features=False)
    return SummarizationDataset("tvsum", videos, EVAL_METHODS["tvsum"], str(path))


def download_tvsum_annotations(folder: Path | None = None, *,
                               urls: Sequence[str] = TVSUM_ARCHIVE_URLS,
                               md5: str | None = TVSUM_ANNOTATION_MD5, force: bool = False,
                               progress: bool = True) -> Path:
    """Fetch TVSum's official release and keep only its annotation and info tables.

    The archive (about 641 MB, with the videos) is downloaded into a temporary file beside the
    destination and deleted afterwards; the two tables are installed together only once the
    annotations pass :func:`validate_tvsum_annotations` and match the known MD5 (``force``
    accepts another MD5 or fewer videos). Returns the annotation table's path.
    """
    folder = Path(folder or summarization_dir())
    installed = folder / TVSUM_ANNOTATION_FILE
    if (not force and md5 is not None and installed.is_file()
            and (folder / TVSUM_INFO_FILE).is_file() and md5sum(installed) == md5):
        if progress:
            print(f"{installed}: already here, the official table (md5 {md5}), so the release "
                  "(~641 MB) is not downloaded again; --force downloads it again.")
        return installed
    unchanged = f"The files already in {folder} (if any) are unchanged."
    with staging(folder) as stage:
        archive = stage.fetch(urls, "tvsum50_ver_1_1.tgz", None, install=False,
                              progress=progress,
                              by_hand=f"put {TVSUM_ANNOTATION_FILE} and {TVSUM_INFO_FILE}, from "
                                      f"the data zip inside it, in {folder}")
        anno, info = _extract_tvsum_tables(archive, stage)
        archive.unlink()  # 641 MB that are no longer needed
        try:
            table = validate_tvsum_annotations(read_tvsum_annotator_scores(anno), "the "
                                               f"downloaded {TVSUM_ANNOTATION_FILE}", force=force)
            missing = [v for v in table if v not in info.read_text(errors="replace")]
            if missing:
                raise DataError(f"the downloaded {TVSUM_INFO_FILE} does not list the videos "
                                f"{missing[:3]} of the annotations.")
        except DataError as error:
            raise DataError(f"TVSum's annotations failed validation, so they were not "
                            f"installed: {error}\n{unchanged}") from error
        if md5 is not None and (got := md5sum(anno)) != md5 and not force:
            raise DataError(f"The downloaded {TVSUM_ANNOTATION_FILE} looks right (50 videos x 20 "
                            f"annotators) but its md5 is {got}, not the known {md5}: it differs "
                            f"from the official file, so it was not installed. {unchanged} (To "
                            "install it anyway: course-data tvsum-annotations --force.)")
        stage.commit()
    if progress:
        print(f"{folder / TVSUM_ANNOTATION_FILE}: {len(table)} videos x {TVSUM_ANNOTATORS} "
              "annotators")
    return folder / TVSUM_ANNOTATION_FILE


def _extract_tvsum_tables(archive: Path, stage: Staging) -> tuple[Path, Path]:
    """Copy the annotation and info tables out of the release archive (directly, or from the
    data zip inside it) into staged files; a clear error if they are not there."""
    wanted = {TVSUM_ANNOTATION_FILE: None, TVSUM_INFO_FILE: None}

    def take(name: str, stream) -> None:
        base = name.rsplit("/", 1)[-1]
        if base in wanted and wanted[base] is None:
            wanted[base] = stage.new_file(base)
            with open(wanted[base], "wb") as out:
                shutil.copyfileobj(stream, out)

    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if not member.isfile():
                    continue
                if base in wanted:
                    take(member.name, tar.extractfile(member))
                elif base.endswith("-data.zip"):  # not the videos' zip (ydata-tvsum50-video.zip)
                    inner = stage.new_file(base, install=False)  # beside the archive, not in /tmp
                    with open(inner, "wb") as out:
                        shutil.copyfileobj(tar.extractfile(member), out)
                    with zipfile.ZipFile(inner) as data_zip:
                        for name in data_zip.namelist():
                            if name.rsplit("/", 1)[-1] in wanted:
                                with data_zip.open(name) as stream:
                                    take(name, stream)
                    inner.unlink()
                if all(wanted.values()):
                    break
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as error:
        if local := local_problem(error, stage.folder):
            raise local from error
        raise DataError(f"The downloaded TVSum archive is not a readable .tgz ({error}); the "
                        "server may have sent something else. Nothing was installed.") from error
    if missing := [name for name, path in wanted.items() if path is None]:
        raise DataError(f"The downloaded TVSum archive holds no {' and no '.join(missing)}: it "
                        "is not the official release. Nothing was installed.")
    return wanted[TVSUM_ANNOTATION_FILE], wanted[TVSUM_INFO_FILE]


def with_user_scores(dataset: SummarizationDataset,
                     scores_by_name: dict[str, np.ndarray]) -> SummarizationDataset:
    """A copy of ``dataset`` whose records carry the annotators' raw scores, matched by name.

    TVSum's feature file names no video (its ``video_name`` is SumMe's only), and its
    ``video_i`` are the table's videos in order, as that file was made: a record without a name
    gets the i-th video of the table, checked by its number of frames."""
    in_order = list(scores_by_name)
    videos = {}
    for key, record in dataset.videos.items():
        name = record.video_name
        if name is None and (index := _video_number(key)) is not None:
            name = in_order[index - 1] if 0 < index <= len(in_order) else None
            if name is not None and scores_by_name[name].shape[1] != record.n_frames:
                raise DataError(
                    f"{key} of {dataset.source} names no video, and the table's video {index}, "
                    f"{name}, has {scores_by_name[name].shape[1]} frames, not its "
                    f"{record.n_frames}: the feature file and the annotation table do not "
                    "belong together. Download both again (`course-data tvsum`, `course-data "
                    "tvsum-annotations`).")
        if name not in scores_by_name:
            raise DataError(f"{key} ({name}) of {dataset.source} has no annotator scores in the "
                            "given table.")
        videos[key] = validate_record(replace(record, video_name=name,
                                              user_scores=scores_by_name[name]),
                                      dataset.source, require_features=False)
    return SummarizationDataset(dataset.name, videos, dataset.eval_method, dataset.source)


def _video_number(key: str) -> int | None:
    """7 for ``video_7``; None for a key of another form."""
    prefix, _, number = key.rpartition("_")
    return int(number) if prefix == "video" and number.isdigit() else None

