"""One job of the benchmark protocol: the runner's models (read from the registry), the data,
the job folder and its atomic files, running (or resuming) a job and reading its results back."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from course_lib.config import (
    EARLIER_VALUES,
    IMPROVEMENTS,
    SYNTHETIC_DATASETS,
    improvement,
    resolve_tier,
    synthetic_draw,
)
from course_lib.errors import CheckpointError, CourseError, DataError
from course_lib.models.summarizer_training import checkpoint_file, run_settings
from course_lib.registry import Method, runner_models
from course_lib.training import checkpoint_exists, read_progress

try:
    import fcntl
except ImportError:  # Windows: jobs run unlocked (see _job_lock)
    fcntl = None


DATASETS = (*SYNTHETIC_DATASETS, "summe", "tvsum")
# File-name prefixes of the per-epoch score files, as the reference names them ("SumMe_-1.json");
# the synthetic data's has the same length, so the reference's parser reads it too; "Yours" for
# an h5 file of your own videos.
RESULT_PREFIX = {"summe": "SumMe", "tvsum": "TVSum", "synthetic": "Synth",
                 "synthetic-digits": "Synth"}
H5_SUFFIXES = (".h5", ".hdf5")
OWN_SPLIT_SEED = 0  # the splits of your own file: the same 5 random 80/20 draws every time
MAKE_OWN_H5 = ("write one with `course-summarize VIDEOS_FOLDER --h5-only --out FOLDER`, one "
               "group per video, GoogLeNet features by default")
FINISHED = "result.json"
LOCK = "lock"


# ---------------------------------------------------------------- models

@dataclass(frozen=True)
class Model:
    """A runner model: a method of the family and which trainer it uses.

    ``trainer``: ``None`` (SUM-GAN has one), ``"faithful"`` (one video per update in the
    split's order, as the reference, whatever the tier) or ``"fast"`` (several videos of similar
    length per update), each with its tier's settings from :mod:`course_lib.config`.
    ``improvements``: the configuration fields of its improvement options, if any.
    """

    method: Method
    trainer: str | None = None
    improvements: tuple[tuple[str, object], ...] = ()

    def config(self, tier: str, overrides: Mapping | None = None):
        """The method's configuration at ``tier`` for this trainer and its improvements, with
        ``overrides``."""
        trainer = {"trainer": self.trainer} if self.trainer else {}
        config = self.method.config(tier, verbose=False, **trainer)
        overrides = {**dict(self.improvements), **(overrides or {})}
        names = {f.name for f in fields(config)}
        if unknown := sorted(set(overrides) - names):
            raise CourseError(f"{self.method.name}'s configuration has no field "
                              f"{', '.join(map(repr, unknown))}; its fields are "
                              f"{', '.join(sorted(names))}.")
        return replace(config, **overrides)


class _Models(Mapping):
    """The runner's models, read from :mod:`course_lib.registry` at each use, so that a method
    registered later (a student's own) is one of them. ``MODEL+OPTION`` (e.g.
    ``sum-gan-sl-fast+dpp``, or ``+dpp+spread``) is that model with improvement options
    (:data:`course_lib.config.IMPROVEMENTS`): the job ``run MODEL --option OPTION`` makes."""

    def __getitem__(self, name: str) -> Model:
        base, *options = name.split("+")
        method, trainer = runner_models()[base]
        if not options:
            return Model(method, trainer)
        if unknown := [o for o in options if o not in IMPROVEMENTS]:
            raise KeyError(f"{name}: no improvement {', '.join(unknown)}")
        return Model(replace(method, name=name), trainer,
                     tuple(improvement(",".join(options)).items()))

    def __iter__(self):
        return iter(runner_models())

    def __len__(self) -> int:
        return len(runner_models())


MODELS: Mapping[str, Model] = _Models()


def model_color(model: str) -> str:
    """One colour per model in every figure of the runner and of notebook 06: the runner's
    models in their order, a variant (``MODEL+OPTION``, your own) one of the colours after
    them, fixed by its name, so that a model keeps its colour from one figure to the next."""
    import zlib

    known = list(MODELS)
    if model in known:
        return f"C{known.index(model) % 10}"
    return f"C{len(known) + zlib.crc32(model.encode()) % max(10 - len(known), 1)}"


def check_model(name: str) -> Model:
    """The runner model ``name`` (``MODEL`` or ``MODEL+OPTION+...``), or an error that names
    what is wrong: an unknown model or option, an option named twice, or options given to a
    model whose configuration has none (SUM-GAN's, a student's own)."""
    if name not in MODELS:
        raise CourseError(f"Unknown model {name!r}: use one of {', '.join(MODELS)}, each "
                          f"optionally with improvements (+{'+'.join(IMPROVEMENTS)}, e.g. "
                          "sum-gan-sl-fast+dpp).")
    base, *options = name.split("+")
    if repeated := sorted({o for o in options if options.count(o) > 1}):
        raise CourseError(f"{name} names {', '.join(repeated)} more than once: name each "
                          "improvement once.")
    model = MODELS[name]
    if options:
        plain = MODELS[base]
        trainer = {"trainer": plain.trainer} if plain.trainer else {}
        has = {f.name for f in fields(plain.method.config("smoke", verbose=False, **trainer))}
        if not set(dict(model.improvements)) <= has:
            raise CourseError(f"{base} takes no improvement options: they are options of "
                              "SUM-GAN-sl and SUM-GAN-AAE (sum-gan-sl, sum-gan-aae and their "
                              f"-fast trainers); run {base} without +{'+'.join(options)}.")
    return model


# ---------------------------------------------------------------- data

def is_own(dataset: str) -> bool:
    """Whether ``dataset`` names an h5 file of your own videos (not one of :data:`DATASETS`, nor
    another draw of the synthetic data, e.g. ``synthetic@3``)."""
    return dataset not in DATASETS and synthetic_draw(dataset) is None


def dataset_key(name: str) -> str:
    """How a job records its dataset: the name of a built-in one, the absolute path of a file
    (so that the same file is the same dataset from any working folder)."""
    looks_like_file = Path(name).suffix.lower() in H5_SUFFIXES or Path(name).exists()
    return str(Path(name).resolve()) if is_own(name) and looks_like_file else name


def dataset_folder(dataset: str) -> str:
    """The folder of ``dataset``'s jobs under the results folder: its name, or the file's stem
    (``my_videos.h5`` → ``my_videos``; ``-own`` appended to a built-in dataset's name)."""
    if not is_own(dataset):
        return dataset
    stem = Path(dataset).stem
    return f"{stem}-own" if stem in DATASETS else stem


def check_dataset(name: str) -> str:
    """``name`` as jobs record it (see :func:`dataset_key`), or one clear error."""
    key = dataset_key(name)
    if not is_own(key):
        return key
    path = Path(key)
    if path.suffix.lower() not in H5_SUFFIXES and not path.exists():
        raise CourseError(f"Unknown dataset {name!r}: use one of {', '.join(DATASETS)} (the "
                          "real ones once downloaded with `course-data summe` or "
                          "`course-data tvsum`; synthetic@N for the synthetic data's draw from "
                          "seed N), or the path of an h5 file of your own videos "
                          f"({MAKE_OWN_H5}).")
    if not path.is_file():
        problem = "is a folder, not an h5 file" if path.is_dir() else "does not exist"
        raise DataError(f"The dataset {name} {problem}: give the h5 file of your own videos "
                        f"({MAKE_OWN_H5}).")
    return key


def load_data(dataset: str, tier: str):
    """The dataset asked for and its 5 splits: the embedded synthetic videos of ``tier``, the
    downloaded SumMe / TVSum file, or an h5 file of your own videos (features only, no
    annotations needed). Never another dataset in place of a missing one."""
    from course_lib.data import summarization as sm

    dataset = check_dataset(dataset)
    if synthetic_draw(dataset) is not None:
        return _synthetic(dataset, tier)
    if is_own(dataset):
        return _own(dataset, _modified(Path(dataset)))
    path = sm.feature_file(dataset)
    table = sm.tvsum_annotation_path() if dataset == "tvsum" else None
    return _benchmark(dataset, path, _modified(path), table, _modified(table))


def _modified(path: Path | None) -> int | None:
    return path.stat().st_mtime_ns if path is not None and path.exists() else None


@lru_cache(maxsize=3)
def _synthetic(dataset: str, tier: str):
    from course_lib.data.synthetic_videos import synthetic_benchmark

    return synthetic_benchmark(tier, dataset=dataset)


@lru_cache(maxsize=2)
def _own(path: str, modified: int | None):
    """Your own videos' h5 file (read once per version) and 5 random 80/20 splits of it, drawn
    as the course draws the synthetic data's."""
    from course_lib.data import summarization as sm

    try:
        # without the advice to download a benchmark again: that is not how this file is made
        data = sm._read_h5(Path(path), dataset_folder(path), False, None, advice=False)
    except DataError as error:
        raise DataError(f"The dataset {path} cannot be used: {str(error).strip()} An h5 file "
                        f"of your own videos is in the eccv16 layout: {MAKE_OWN_H5}.") from None
    if bare := [r.key for r in data if r.features is None]:
        raise DataError(f"The dataset {path} has no features in {', '.join(bare[:3])}"
                        f"{' …' * (len(bare) > 3)}, so no model can train on it (an annotation-"
                        f"only file?): {MAKE_OWN_H5}.")
    if benchmark := _published_benchmark(Path(path), data):
        raise DataError(
            f"{path} is the {benchmark} benchmark's feature file. Train on it with `--dataset "
            f"{benchmark}`, which evaluates on its 5 standard splits as the papers do: put it "
            f"in {sm.summarization_dir()} with its splits (`course-data {benchmark}` does both; "
            "$COURSE_DATA_DIR moves that folder). Given as a file of your own videos it would "
            "get 5 random splits, and F-scores on them cannot be compared with published ones.")
    if len(data) < 3:
        raise DataError(f"The dataset {path} holds {len(data)} video(s); training needs at least "
                        "3, so that each 80/20 split has test videos: put more videos in the "
                        "folder and write its h5 again (`course-summarize VIDEOS_FOLDER "
                        "--h5-only --overwrite --out FOLDER`).")
    feature_kind(data)  # one kind throughout, or an error
    require_shots(data, MAKE_OWN_H5)
    return data, sm.make_splits(data.keys(), rng=np.random.default_rng(OWN_SPLIT_SEED))


def _published_benchmark(path: Path, data) -> str | None:
    """``summe`` or ``tvsum`` where an own-videos file is that benchmark: its published name, or
    its videos ``video_1`` .. ``video_N`` with annotations, N the benchmark's count."""
    from course_lib.data import summarization as sm

    for name, count in sm.EXPECTED_VIDEOS.items():
        if path.name == sm.feature_file(name, path.parent).name or (
                set(data.keys()) == {f"video_{i}" for i in range(1, count + 1)}
                and has_annotations(data, data.keys())):
            return name
    return None


def feature_kind(data) -> str | None:
    """The features of ``data`` as ``course-summarize`` records them (``googlenet`` or
    ``fallback``; ``None`` when the file does not say), so that a model trained on it is given
    the same kind when it summarizes a video."""
    kinds = {_text(r.extras["feature_kind"]) for r in data if "feature_kind" in r.extras}
    if len(kinds) > 1:
        raise DataError(f"{data.source} mixes features ({', '.join(sorted(kinds))}): a model "
                        "reads one kind; write the h5 of all your videos with one --features.")
    return kinds.pop() if kinds else None


def _text(value) -> str:
    """A string member of an h5 group as text (h5py reads it back as bytes)."""
    value = np.asarray(value).item()
    return value.decode() if isinstance(value, bytes) else str(value)


def require_shots(data, remedy: str) -> None:
    """Refuse, before any training, a file whose videos lack their shots: a summary is chosen
    shot by shot, so without them no epoch could be evaluated, annotations or not."""
    if bare := [r.key for r in data if r.change_points is None]:
        raise DataError(f"{data.source} has no shots ('change_points') in {', '.join(bare[:3])}"
                        f"{' …' * (len(bare) > 3)}: a summary is chosen shot by shot, so no "
                        f"model can be evaluated on it; {remedy}.")


def has_annotations(data, keys: Iterable[str]) -> bool:
    """Whether every video of ``keys`` has user summaries, so that F-scores can be computed."""
    return all(data[k].user_summary is not None for k in keys)


NO_F_SCORE = ("No F-score: {} has no annotations (user summaries), which the F-score compares "
              "with; the label-free measures (score spread, constant overlap) were computed.")


@lru_cache(maxsize=2)
def _benchmark(dataset: str, path: Path, modified: int | None, table: Path | None,
               table_modified: int | None):
    """Read once per version of the feature file and of TVSum's annotation ``table`` (the
    ``modified`` time stamps): a table downloaded later is used at once."""
    from course_lib.data import summarization as sm

    try:
        data, splits = sm.load_benchmark(dataset, folder=path.parent)
    except DataError as error:
        raise DataError(f"The {dataset} benchmark was asked for, but it cannot be read: "
                        f"{error}") from None
    require_shots(data, f"download it again with `course-data {dataset}`")
    if table is not None:  # the annotators' scores, for rank correlation
        try:
            data = sm.with_user_scores(data, sm.validate_tvsum_annotations(
                sm.read_tvsum_annotator_scores(table), str(table), force=True))
        except DataError as error:
            print(f"No rank correlation on {dataset}: {error}")
    return data, splits


def check_splits(dataset: str, tier: str, splits: Iterable[int]) -> list[int]:
    n = len(load_data(dataset, tier)[1])
    splits = list(splits)
    if bad := [k for k in splits if not 0 <= k < n]:
        raise CourseError(f"Split {', '.join(map(str, bad))} does not exist: {dataset} has "
                          f"{n} splits, numbered 0-{n - 1}.")
    return splits


# ---------------------------------------------------------------- jobs and their folders

@dataclass(frozen=True)
class Job:
    """One (model, dataset, tier, split, seed) of the grid."""

    model: str
    dataset: str
    tier: str
    split: int
    seed: int

    def __post_init__(self):
        object.__setattr__(self, "dataset", dataset_key(self.dataset))

    def folder(self, out: str | Path) -> Path:
        return (Path(out) / dataset_folder(self.dataset) / self.tier / self.model
                / f"split{self.split}-seed{self.seed}")

    def __str__(self) -> str:
        return (f"{self.model} on {dataset_folder(self.dataset)} ({self.tier} tier), split "
                f"{self.split}, seed {self.seed}")


@dataclass
class JobResult:
    """What a job's folder holds, finished or not. Arrays are aligned with ``epochs``
    (0 = the untrained model, then 1..E); ``seconds_per_epoch[0]`` is the time before and for
    the untrained model's evaluation (SUM-GAN's VAE pre-training included)."""

    job: Job
    folder: Path
    finished: bool
    parameters: int
    epochs: np.ndarray
    f_scores: np.ndarray
    seconds_per_epoch: np.ndarray
    train_curves: dict[str, np.ndarray] = field(default_factory=dict)
    selections: dict[str, tuple[int, float]] = field(default_factory=dict)
    rank_correlation: dict[str, float] | None = None
    total_epochs: int = 0
    # the label-free diagnostics per epoch (score spread, constant overlap); absent in the
    # folders of runs made before the course logged them
    test_metrics: dict[str, np.ndarray] = field(default_factory=dict)
    running_elsewhere: bool = False  # skipped by this run: another process held its lock
    note: str = ""  # why there is no F-score (a dataset without annotations), if so
    code: str = ""  # the course's version that trained it (:func:`code_version`; "" before)

    def test_scores(self, epoch: int) -> dict[str, np.ndarray]:
        """The test videos' scores saved after ``epoch`` (0 = untrained)."""
        path = _scores_path(self.folder, self.job.dataset, epoch)
        if not path.exists():
            raise CourseError(f"{self.folder} has no scores of epoch {epoch} (it has epochs "
                              f"{number_ranges(self.epochs.tolist())}).")
        return {k: np.asarray(v, dtype=np.float32) for k, v in _read_json(path).items()}


def _scores_path(folder: Path, dataset: str, epoch: int) -> Path:
    """The reference numbers epochs from -1 (before training): the course's epoch 0."""
    name = (synthetic_draw(dataset) or (dataset,))[0]  # a draw's files are named as the course's
    return folder / "results" / f"{RESULT_PREFIX.get(name, 'Yours')}_{epoch - 1}.json"


def _write_text(path: Path, text: str) -> None:
    """Atomically: a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json(path: Path, obj, indent: int | None = 1) -> None:
    """Standard JSON (NaN becomes null), atomically."""
    _write_text(path, json.dumps(_finite(obj), indent=indent, allow_nan=False))


def _finite(obj):
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CourseError(f"{path} cannot be read ({type(error).__name__}); it was not written "
                          f"by course-experiments or was edited. Delete the folder "
                          f"{path.parent} and run the job again.") from None


def _plain(obj):
    """JSON's view of ``obj`` (tuples become lists), so a stored config compares equal."""
    return json.loads(json.dumps(obj, default=str))


def _qualname(function: Callable) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"


def job_config(job: Job, spec: Model, data, split, overrides: Mapping | None = None) -> dict:
    """What a job folder's ``config.json`` holds: everything its results depend on.
    ``overrides`` there lists the fields that differ from the model's configuration."""
    config = _without_notebook_defaults(asdict(spec.config(job.tier, overrides)))
    base = asdict(replace(spec, improvements=()).config(job.tier))  # the options are changes
    method = spec.method
    return _plain({"model": job.model, "method": method.name, "build": _qualname(method.build),
                   "fit": _qualname(method.fit), "dataset": job.dataset, "tier": job.tier,
                   "split": job.split, "seed": job.seed, "config": config,
                   "overrides": {k: v for k, v in config.items() if v != base[k]},
                   "data": {"name": data.name, "source": data.source,
                            "fingerprint": data.fingerprint(),
                            # what a model trained on your own file reads (course-summarize)
                            **({"features": feature_kind(data)}
                               if is_own(job.dataset) and feature_kind(data) else {})},
                   "train_keys": list(split.train_keys), "test_keys": list(split.test_keys)})


# A configuration's split and seeds are the notebooks' defaults; a job trains on its own, which
# config.json records beside the configuration (folders written before keep them: ignored).
NOTEBOOK_DEFAULTS = ("split", "seeds")


def _without_notebook_defaults(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in NOTEBOOK_DEFAULTS}


def _differences(stored: dict, wanted: dict) -> list[str]:
    out = []
    for key in sorted((set(stored) | set(wanted)) - {"overrides"}):  # shown in config.*
        a, b = stored.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{d}" for d in _differences(a, b)]
        elif a != b:
            out.append(f"{key} ({a!r} there, {b!r} asked for)"[:160])
    return out


def _with_later_fields(stored: dict, wanted: dict) -> dict:
    """``stored`` with the configuration fields added to the course after it was written, at
    what they meant before they existed: :data:`~course_lib.config.EARLIER_VALUES`, else the
    values ``wanted`` gives them where it does not override them (an option is only ever added
    with a default that keeps the earlier behaviour, so a run trained before it existed is the
    same run)."""
    if not isinstance(stored.get("config"), dict) or not isinstance(wanted.get("config"), dict):
        return stored
    later = {k: EARLIER_VALUES.get(k, v) for k, v in wanted["config"].items()
             if k not in stored["config"] and k not in wanted.get("overrides", {})}
    return {**stored, "config": {**stored["config"], **later}} if later else stored


def claim_folder(folder: Path, config: dict) -> None:
    """Write ``config.json`` into a new job folder, or check that an existing one holds this
    configuration; refuse (changing nothing) a folder of another configuration or a foreign one."""
    path = folder / "config.json"
    if path.exists():
        stored = _read_json(path)
        if isinstance(stored.get("config"), dict):
            stored["config"] = _without_notebook_defaults(stored["config"])
        stored = _with_later_fields(stored, config)
        if stored != config:
            raise CourseError(
                f"{folder} holds a run of another configuration: "
                f"{'; '.join(_differences(stored, config)[:4])}. Nothing was changed. Write "
                f"these results to another folder (--out; in notebook 06, RESULTS), or delete "
                f"{folder} to run this "
                "configuration there.")
        return
    # A process claiming the same new folder at this moment writes only config.json (through a
    # temporary file): not a foreign file.
    if folder.exists() and any(p.name != path.name and not p.name.startswith(f".{path.name}.")
                               for p in folder.iterdir()):
        raise CourseError(f"{folder} holds files but no config.json, so it was not written by "
                          f"course-experiments (or its config.json was deleted). Nothing was "
                          f"changed. Delete {folder} to run the job there, or use another "
                          f"--out (in notebook 06, RESULTS).")
    _write_json(path, config)


class _EpochRecorder:
    """``on_evaluate`` of a fit function: saves each epoch's test scores and progress.

    ``epoch`` starts at the number of evaluations the checkpoint already holds, so a resumed
    run numbers its epochs on; epochs recorded after that checkpoint (by a run killed before it
    saved the next one) are dropped from the progress and written again."""

    def __init__(self, folder: Path, dataset: str, epoch: int):
        self.folder, self.dataset, self.epoch = folder, dataset, epoch
        self.path = folder / "progress.json"
        stored = _read_json(self.path)["epochs"] if self.path.exists() else []
        self.epochs = [e for e in stored if e["epoch"] < epoch]
        self.last = time.monotonic()

    def __call__(self, scores: Mapping[str, np.ndarray], metrics: Mapping[str, float]) -> None:
        now = time.monotonic()
        _write_json(_scores_path(self.folder, self.dataset, self.epoch),
                    {k: np.asarray(v, dtype=float).tolist() for k, v in scores.items()},
                    indent=None)
        self.epochs.append({"epoch": self.epoch, **metrics, "seconds": now - self.last})
        _write_json(self.path, {"epochs": self.epochs})
        self.epoch += 1
        self.last = time.monotonic()


def _evaluations_done(path: Path | None) -> int:
    """How many evaluations a checkpoint's history holds (0 without one), read from its side
    file where it can be; a damaged file is left for the training loop to report."""
    if path is None or not checkpoint_exists(path):
        return 0
    try:
        progress = read_progress(path)
    except CheckpointError:
        return 0
    return 0 if progress is None else progress["evaluations"]


def run_job(job: Job, out: str | Path, *, method: Method | None = None,
            overrides: Mapping | None = None, progress: bool = True) -> JobResult:
    """Run one job in its folder under ``out``: skipped when finished, resumed when started.

    ``method`` (a :class:`Method` with its own ``build``/``fit``) and ``overrides`` (changed
    configuration fields) run a variant under its own ``job.model`` name through the same
    harness; the folder's ``config.json`` records both, so a variant never mixes with another.
    ``progress=False`` hides the training's progress bars (its stderr).
    """
    spec = Model(method) if method is not None else check_model(job.model)
    check_out(out)
    tier = resolve_tier(job.tier, verbose=False)
    if tier != job.tier:
        job = replace(job, tier=tier)
    data, splits = load_data(job.dataset, job.tier)
    split = splits[check_splits(job.dataset, job.tier, [job.split])[0]]
    config = spec.config(job.tier, overrides)
    folder = job.folder(out)
    wanted = job_config(job, spec, data, split, overrides)
    claim_folder(folder, wanted)
    if (folder / FINISHED).exists():
        return load_job(folder)
    with _job_lock(folder, job):
        # Checked again under the lock: the process that held it may have finished the job, or
        # have claimed the new folder at the same moment for another configuration.
        claim_folder(folder, wanted)
        if (folder / FINISHED).exists():
            return load_job(folder)
        try:
            _train(job, spec, config, data, split, folder, progress)
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise CourseError(
                f"{job}: the disk holding {folder} is full ({error.strerror}). Nothing finished "
                "was lost: every file is written whole or not at all, the finished jobs are "
                "untouched and this job's completed epochs are in its checkpoint. Free some "
                "space and run the same command again: the job resumes where it stopped."
            ) from None
    return load_job(folder)


def check_out(out: str | Path, *, writing: bool = True) -> Path:
    """The results folder: a file where it or a folder above it should be, or a place that
    cannot be written, is an error naming the fix, not a traceback from a later mkdir. Only a
    run (``writing``) makes the folder, where it is missing."""
    out = Path(out)
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        where = "is a file" if existing == out else f"lies under {existing}, a file"
        raise CourseError(f"The results folder {out} (--out) {where}, not a folder: give a "
                          f"folder{' (it is created if missing)' if writing else ''}, e.g. "
                          "--out results/.")
    if writing:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CourseError(f"The results folder {out} (--out) cannot be made: "
                              f"{error.strerror}. Give a folder you can write, e.g. "
                              "--out results/.") from None
    return out


class JobBusy(CourseError):
    """Another process holds the job folder's lock: it is running the job."""


@contextmanager
def _job_lock(folder: Path, job: Job) -> Iterator[None]:
    """Hold the job folder's lock file while the body runs, or raise :class:`JobBusy`.

    The operating system's lock (``flock``) goes with the process that holds it, however that
    ends, so none is ever left behind. Where there is none (Windows, a file system mounted
    without locks) the job runs unlocked: then only one process may run a job folder at a time.
    """
    with open(folder / LOCK, "a+") as handle:  # "a+": leaves the holder's name in the file
        locked = False
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip()  # empty until the holder has written it
                raise JobBusy(f"Skipped {job}: another process{f' ({holder})' * bool(holder)} "
                              f"is running it (it holds {folder / LOCK}).") from None
            except OSError as error:
                print(f"{job}: runs unlocked, {folder / LOCK} cannot be locked "
                      f"({error.strerror}): run it in one process at a time.")
        if locked:
            handle.truncate(0)
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
            handle.flush()
        yield


def _train(job: Job, spec: Model, config, data, split, folder: Path, progress: bool) -> None:
    """Train (or resume) the job in its claimed folder and write its end-of-job files."""
    from course_lib.runtime import get_device, seed_everything

    # As the notebooks do: the deterministic kernels (and cuBLAS's setting for them, which must
    # precede the first CUDA call), so that a job, resumed or not, gives the same numbers on a GPU.
    seed_everything(job.seed)
    model = spec.method.build(config, job.seed).to(get_device(verbose=False))
    path = checkpoint_file(folder / "checkpoint", job.model,
                           run_settings(config, data, job.seed, split.train_keys))
    recorder = _EpochRecorder(folder, job.dataset, _evaluations_done(path))
    try:
        with _quiet(not progress):
            run = spec.method.fit(model, config, data, split, name=job.model, seed=job.seed,
                                  checkpoint=folder / "checkpoint", live=False,
                                  on_evaluate=recorder)
    except CheckpointError as error:
        raise CheckpointError(f"{job}: {error}") from None
    _finish(folder, job, run, data, split)


@contextmanager
def _quiet(quiet: bool) -> Iterator[None]:
    """Without progress bars: the training loop's tqdm bars (on stderr) go nowhere."""
    if not quiet:
        yield
        return
    with open(os.devnull, "w") as sink, redirect_stderr(sink):
        yield


# What epochs.csv records of each evaluation of the test videos, in its columns' order.
EPOCH_METRICS = ("f_score", "mean_score", "score_spread", "constant_overlap")


def _per_evaluation(history, key: str) -> list[float]:
    """One value of ``key`` per evaluation; NaN for evaluations made before the course logged it
    (a run resumed from an older checkpoint), which come first."""
    values = history.evals.get(key, [])
    return [float("nan")] * (len(history.eval_steps) - len(values)) + list(values)


def _finish(folder: Path, job: Job, run, data, split) -> None:
    """The end-of-job files, ``result.json`` (the finished mark) last."""
    from course_lib.evaluation import evaluate_rank_correlation

    history = run.history
    epochs = [s // run.steps_per_epoch for s in history.eval_steps]
    progress = {e["epoch"]: e for e in _read_json(folder / "progress.json")["epochs"]}
    seconds = [progress.get(e, {}).get("seconds", float("nan")) for e in epochs]
    curves = {k: [float("nan")] + run.epoch_means(k).tolist() for k in history.train}
    f = history.evals["f_score"]
    tests = {f"test_{k}": _per_evaluation(history, k) for k in EPOCH_METRICS}
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["epoch", *tests, "seconds", *(f"train_{k}" for k in curves)])
    for i, epoch in enumerate(epochs):
        writer.writerow([epoch, *(t[i] for t in tests.values()), seconds[i],
                         *(c[epoch] if epoch < len(c) else "" for c in curves.values())])
    _write_text(folder / "epochs.csv", table.getvalue())
    _write_json(folder / "f_scores.json", f)
    test_keys = list(split.test_keys)
    ranked = None
    if all(data[k].user_scores is not None for k in test_keys):
        final = _read_json(_scores_path(folder, job.dataset, epochs[-1]))
        ranked = evaluate_rank_correlation(data, final, test_keys)
    note = "" if has_annotations(data, test_keys) else NO_F_SCORE.format(data.source)
    _write_json(folder / FINISHED, {
        "parameters": sum(p.numel() for p in run.model.parameters()), "epochs": epochs,
        "f_scores": f, "seconds_per_epoch": seconds, "train_curves": curves,
        "selections": run.selections(), "rank_correlation_final_epoch": ranked,
        "test_metrics": {k: tests[f"test_{k}"] for k in EPOCH_METRICS[2:]},
        "seconds": history.seconds, "code": code_version(),
        **({"note": note} if note else {})})


@lru_cache(maxsize=1)
def code_version() -> str:
    """The course's version and, in a git checkout, its commit (``+ changes`` where the library
    differs from it): a job repeats its numbers exactly only with the same code, so the report
    says when its runs were trained by several."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("course-lib")
    except PackageNotFoundError:
        text = "unknown"
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        try:
            git = ["git", "-C", str(root)]
            commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True, timeout=10, check=True).stdout.strip()
            changed = subprocess.run([*git, "status", "--porcelain", "--", "course_lib"],
                                     capture_output=True, text=True, timeout=10).stdout.strip()
            text += f" (commit {commit}{' + changes' if changed else ''})"
        except (OSError, subprocess.SubprocessError):
            pass  # no git program: the version alone
    return text


def load_job(folder: str | Path) -> JobResult:
    """A job folder's results: complete when finished, the epochs so far otherwise."""
    folder = Path(folder)
    try:
        return _load_job(folder)
    except CourseError:  # says what is wrong already
        raise
    except (KeyError, TypeError, ValueError) as error:  # fields missing or of another kind
        raise CourseError(f"{folder} holds files course-experiments cannot read ({error!r} "
                          "missing or malformed; edited by hand, or written by another "
                          "program?). Delete that folder to run its job again, or move it "
                          "away.") from error


def _load_job(folder: Path) -> JobResult:
    config = _read_json(folder / "config.json")
    job = Job(config["model"], config["dataset"], config["tier"], config["split"], config["seed"])
    total = config["config"].get("epochs", 0)
    if (folder / FINISHED).exists():
        r = _read_json(folder / FINISHED)
        return JobResult(job, folder, True, r["parameters"], np.array(r["epochs"]),
                         np.array(r["f_scores"], dtype=float),
                         np.array(r["seconds_per_epoch"], dtype=float),
                         {k: np.array(v, dtype=float) for k, v in r["train_curves"].items()},
                         {k: (int(e), np.nan if v is None else float(v))  # null: no F-score
                          for k, (e, v) in r["selections"].items()},
                         r["rank_correlation_final_epoch"], total,
                         test_metrics={k: np.array(v, dtype=float)
                                       for k, v in r.get("test_metrics", {}).items()},
                         note=r.get("note", ""), code=r.get("code", ""))
    path = folder / "progress.json"
    epochs = _read_json(path)["epochs"] if path.exists() else []
    return JobResult(job, folder, False, 0, np.array([e["epoch"] for e in epochs], dtype=int),
                     np.array([e["f_score"] for e in epochs], dtype=float),
                     np.array([e["seconds"] for e in epochs], dtype=float), total_epochs=total)


def load_results(out: str | Path, *, dataset: str | None = None,
                 tier: str | None = None) -> list[JobResult]:
    """Every job folder under ``out`` (of ``dataset`` / ``tier`` if given), finished or not."""
    where = dataset_folder(dataset_key(dataset)) if dataset else "*"
    pattern = f"{where}/{tier or '*'}/*/split*-seed*/config.json"
    return [load_job(p.parent) for p in sorted(Path(out).glob(pattern))]


def number_ranges(values: Sequence[int]) -> str:
    """``[0, 1, 2, 4]`` → ``"0-2, 4"``."""
    values, parts = sorted(set(values)), []
    for v in values:
        if parts and v == parts[-1][1] + 1:
            parts[-1][1] = v
        else:
            parts.append([v, v])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in parts) or "none"


