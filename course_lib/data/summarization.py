"""Video-summarization benchmarks (SumMe, TVSum) in the standard ``eccv16_*.h5`` layout.

Taught in notebook 02. One reader for every file in that layout: the feature files that
``course-data summe`` / ``course-data tvsum`` download, the annotation-only copies of the real
ground truth (no ``features``), and the embedded synthetic dataset
(:mod:`course_lib.data.synthetic_videos`). Each video becomes one validated :class:`VideoRecord`;
a :class:`SummarizationDataset` holds them with the dataset's evaluation rule (``max`` over users
for SumMe, ``mean`` for TVSum), :func:`load_splits` reads the standard 5-split JSON files and
:class:`VideoFeatureDataset` serves a split's train or test videos to PyTorch.

Layout of one video group (see ``docs/sum-gan-family.md`` §4): ``features`` [n_steps, 1024],
``gtscore`` [n_steps], ``user_summary`` [n_users, n_frames] 0/1, ``change_points`` [n_segs, 2]
inclusive shot bounds, ``n_frame_per_seg``, ``n_frames``, ``picks`` [n_steps], ``n_steps``,
``gtsummary`` [n_steps], ``video_name``. Only ``n_frames`` and ``picks`` are always required.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from course_lib.data import DataError, data_dir
from course_lib.data.download import download, md5sum

EVAL_METHODS = {"summe": "max", "tvsum": "mean"}
SHARED_DATA_ENV_VAR = "COURSE_SHARED_DATA"
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

    def require_annotations(self, key: str) -> VideoRecord:
        """The record, or a clear error if it cannot be scored by F-score."""
        record = self[key]
        missing = [f for f in ("user_summary", "change_points") if getattr(record, f) is None]
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


def _read_group(group: h5py.Group, source: str, require_features: bool) -> VideoRecord:
    key = group.name.strip("/")

    def get(name, dtype=None):
        if name not in group:
            return None
        value = group[name][()]
        return value if dtype is None else np.asarray(value, dtype=dtype)

    for required in ("n_frames", "picks"):
        if required not in group:
            raise _fail(key, source, f"missing key {required!r}.",
                        "The file is not in the eccv16 layout, or it is damaged: download it "
                        "again (`course-data summe` / `course-data tvsum`).")
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
    standard = {"features", "gtscore", "user_summary", "change_points", "n_frame_per_seg",
                "n_frames", "picks", "n_steps", "gtsummary", "video_name", "user_scores"}
    record = VideoRecord(
        key=key, n_frames=int(get("n_frames")), picks=picks,
        features=get("features", np.float32), gtscore=get("gtscore", np.float32),
        user_summary=users, change_points=get("change_points", np.int64),
        n_frame_per_seg=get("n_frame_per_seg", np.int64), gtsummary=get("gtsummary", np.float32),
        video_name=name.decode() if isinstance(name, bytes) else name,
        user_scores=get("user_scores", np.float32),
        extras={k: group[k][()] for k in group if k not in standard})
    return validate_record(record, source, require_features=require_features)


def read_h5(path: str | Path, *, name: str | None = None, require_features: bool = True,
            eval_method: str | None = None) -> SummarizationDataset:
    """Read and validate every video of a file in the eccv16 layout.

    ``name`` (default: guessed from the file name, e.g. ``summe``) picks the evaluation rule.
    """
    path = Path(path)
    if name is None:
        name = next((n for n in EVAL_METHODS if n in path.name.lower()), path.stem)
    if not path.exists():
        raise DataError(f"{path} does not exist. {fetch_hint(name)}")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise DataError(f"{path} is not a readable HDF5 file ({error}). Delete it and "
                        f"download it again. {fetch_hint(name)}") from error
    with handle:
        videos = {}
        for key in handle:
            if isinstance(handle[key], h5py.Group):
                videos[key] = _read_group(handle[key], str(path), require_features)
    if not videos:
        raise DataError(f"{path} holds no video groups: it is not in the eccv16 layout.")
    return SummarizationDataset(name, videos, eval_method or EVAL_METHODS.get(name, "max"),
                                str(path))


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
    if not path.exists():
        raise DataError(f"Split file {path} does not exist. "
                        f"{fetch_hint(dataset.name if dataset else 'summe')}")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON ({error}).") from error
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path} must hold a non-empty list of splits.")
    splits = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not {"train_keys", "test_keys"} <= set(entry):
            raise DataError(f"Split {i} of {path} needs 'train_keys' and 'test_keys'.")
        split = Split(tuple(entry["train_keys"]), tuple(entry["test_keys"]))
        if overlap := set(split.train_keys) & set(split.test_keys):
            raise DataError(f"Split {i} of {path} trains on its test videos {sorted(overlap)}.")
        if dataset is not None and (unknown := set(split.train_keys + split.test_keys)
                                    - set(dataset.videos)):
            raise DataError(f"Split {i} of {path} names videos that {dataset.name} "
                            f"({dataset.source}) lacks: {sorted(unknown, key=natural_key)}. "
                            "Is it the split file of another dataset?")
        splits.append(split)
    return splits


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


def summarization_dir() -> Path:
    """Where downloaded benchmark files go: ``<data_dir>/summarization``."""
    return data_dir() / "summarization"


def feature_file(name: str, folder: Path | None = None) -> Path:
    return Path(folder or summarization_dir()) / Path(REMOTE_FILES[_check_name(name)][0].path).name


def splits_file(name: str, folder: Path | None = None) -> Path:
    return Path(folder or summarization_dir()) / Path(REMOTE_FILES[_check_name(name)][1].path).name


def reference_data_dir() -> Path:
    """The real annotations beside the project (``$COURSE_SHARED_DATA``, else ``../shared/data``);
    optional: everything works without it."""
    configured = os.environ.get(SHARED_DATA_ENV_VAR)
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared/data"


def fetch_hint(name: str) -> str:
    return (f"Download it with:\n    course-data {name}\n(or: python -m course_lib.cli {name}; "
            f"files go to {summarization_dir()}; set $COURSE_DATA_DIR to change that).")


def _check_name(name: str) -> str:
    if name not in REMOTE_FILES:
        raise ValueError(f"Unknown benchmark {name!r}: use one of {', '.join(REMOTE_FILES)} "
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
    for path in (feature_file(name), reference_data_dir() / name / f"{name}_annotations.h5"):
        if path.exists():
            return read_h5(path, name=name, require_features=False)
    return None


def download_summarization(name: str, folder: Path | None = None, *,
                           mirrors: Sequence[str] | None = None, progress: bool = True) -> Path:
    """Fetch one benchmark's feature file and splits, validate them, and place them for the loaders.

    ``mirrors`` (or ``$COURSE_SUMMARIZATION_MIRROR``, comma-separated) replace the published
    locations, e.g. a lab server or a local test server. As no checksum is published, a file is
    kept only if the reader validates all of its videos (and the splits name only those videos);
    otherwise it is deleted and the error says why. Returns the feature file's path.
    """
    _check_name(name)
    folder = Path(folder or summarization_dir())
    if mirrors is None:
        configured = os.environ.get(MIRROR_ENV_VAR)
        mirrors = configured.split(",") if configured else MIRRORS
    paths = []
    for remote in REMOTE_FILES[name]:
        dest = folder / Path(remote.path).name
        urls = [m.rstrip("/") + "/" + remote.path for m in mirrors]
        paths.append(download(urls, dest, remote.md5, progress=progress))
    features_path, splits_path = paths
    try:
        dataset = read_h5(features_path, name=name)
        load_splits(splits_path, dataset)
    except DataError as error:
        for path in paths:
            path.unlink(missing_ok=True)
        raise DataError(f"The downloaded {name} files failed validation and were deleted: "
                        f"{error}") from error
    if len(dataset) != EXPECTED_VIDEOS[name] and progress:
        print(f"Note: {features_path.name} has {len(dataset)} videos, the published file "
              f"{EXPECTED_VIDEOS[name]}.")
    if progress:
        print(f"{features_path}: {len(dataset)} videos, {features_path.stat().st_size} bytes, "
              f"md5 {md5sum(features_path)}")
    return features_path


# ---------------------------------------------------------------- TVSum's raw annotations

def read_tvsum_annotator_scores(path: str | Path) -> dict[str, np.ndarray]:
    """``ydata-anno.tsv(.gz)`` → {YouTube id: raw 1–5 scores [n_annotators, n_frames]}."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows: dict[str, list[np.ndarray]] = {}
    with opener(path, "rt") as stream:
        for line_no, line in enumerate(stream, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                raise DataError(f"{path}:{line_no}: expected 3 tab-separated columns "
                                "(video id, category, scores).")
            rows.setdefault(parts[0], []).append(np.fromstring(parts[2], dtype=np.float32, sep=","))
    return {video: np.stack(scores) for video, scores in rows.items()}


def with_user_scores(dataset: SummarizationDataset,
                     scores_by_name: dict[str, np.ndarray]) -> SummarizationDataset:
    """A copy of ``dataset`` whose records carry the annotators' raw scores (matched by name)."""
    videos = {}
    for key, record in dataset.videos.items():
        if record.video_name not in scores_by_name:
            raise DataError(f"{key} ({record.video_name}) of {dataset.source} has no annotator "
                            "scores in the given table.")
        videos[key] = validate_record(replace(record, user_scores=scores_by_name[
            record.video_name]), dataset.source, require_features=False)
    return SummarizationDataset(dataset.name, videos, dataset.eval_method, dataset.source)

