"""The benchmark protocol as a grid of jobs (notebook 06 and the ``course-experiments`` command).

One *job* trains one model on one split of one dataset from one seed, at one tier, in its own
folder ``<out>/<dataset>/<tier>/<model>/split<k>-seed<s>/``:

- ``config.json``, written first: the model, its full configuration (with any overrides), the
  tier, split, seed, the training and test videos and a fingerprint of the data. A folder whose
  configuration differs from the one asked for is refused, so results of two configurations are
  never mixed;
- ``results/<Dataset>_<epoch>.json``: the test videos' scores after every epoch, one file per
  epoch in the reference implementations' shape (``{"video_1": [scores...], ...}``, epochs
  numbered from -1 = before training), so their evaluation scripts can read them;
- ``progress.json``, rewritten after every epoch: F-score, mean score and seconds per epoch;
- ``checkpoint/``: the training checkpoint (resumable; the final model at the end);
- at the end ``epochs.csv`` (F-score, seconds and the training losses' means per epoch),
  ``f_scores.json`` (F per epoch, as the reference's evaluation script writes it) and, last,
  ``result.json``, which marks the job finished;
- ``lock``: held by the process running the job, so that a second one (the same command started
  twice, two array tasks with the same ``--only``) skips the job instead of training it too.

Every file is written atomically (a temporary file, then a rename). An interrupted job resumes
from its last completed epoch and ends as an uninterrupted one would; a finished job is skipped.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib.config import resolve_tier, summarization_data_config
from course_lib.errors import CheckpointError, CourseError, DataError
from course_lib.evaluation import TRIVIAL_BASELINES  # the label-free rows of a table
from course_lib.models.summarizer_training import Method, checkpoint_file, family, run_settings
from course_lib.training import checkpoint_exists, read_progress

try:
    import fcntl
except ImportError:  # Windows: jobs run unlocked (see _job_lock)
    fcntl = None

DATASETS = ("synthetic", "summe", "tvsum")
# File-name prefixes of the per-epoch score files, as the reference names them ("SumMe_-1.json");
# the synthetic data's has the same length, so the reference's parser reads it too.
RESULT_PREFIX = {"summe": "SumMe", "tvsum": "TVSum", "synthetic": "Synth"}
FAST_VIDEOS_PER_UPDATE = 5  # the fast trainers' batch where a tier trains one video per update
FINISHED = "result.json"
LOCK = "lock"


# ---------------------------------------------------------------- models

@dataclass(frozen=True)
class Model:
    """A runner model: a method of the family and which trainer it uses.

    ``trainer``: ``None`` (SUM-GAN has one), ``"faithful"`` (one video per update in the
    split's order, as the reference, whatever the tier) or ``"fast"`` (several videos of similar
    length per update: the tier's number when it uses the fast trainer, else
    ``FAST_VIDEOS_PER_UPDATE``).
    """

    method: Method
    trainer: str | None = None

    def config(self, tier: str, overrides: Mapping | None = None):
        """The method's configuration at ``tier`` for this trainer, with ``overrides``."""
        config = self.method.config(tier, verbose=False)
        changes = {}
        if self.trainer == "faithful":
            changes = {"videos_per_update": 1, "training_order": "split"}
        elif self.trainer == "fast":
            batch = config.videos_per_update
            changes = {"videos_per_update": batch if batch > 1 else FAST_VIDEOS_PER_UPDATE,
                       "training_order": "by_length"}
        names = {f.name for f in fields(config)}
        if unknown := sorted(set(overrides or {}) - names):
            raise CourseError(f"{self.method.name}'s configuration has no field "
                              f"{', '.join(map(repr, unknown))}; its fields are "
                              f"{', '.join(sorted(names))}.")
        return replace(config, **{**changes, **(overrides or {})})


def _models() -> dict[str, Model]:
    methods = family()
    return {"sum-gan": Model(methods["SUM-GAN"]),
            "sum-gan-sl": Model(methods["SUM-GAN-sl"], "faithful"),
            "sum-gan-aae": Model(methods["SUM-GAN-AAE"], "faithful"),
            "sum-gan-sl-fast": Model(methods["SUM-GAN-sl"], "fast"),
            "sum-gan-aae-fast": Model(methods["SUM-GAN-AAE"], "fast")}


MODELS: dict[str, Model] = _models()


def check_model(name: str) -> Model:
    if name not in MODELS:
        raise CourseError(f"Unknown model {name!r}: use one of {', '.join(MODELS)}.")
    return MODELS[name]


# ---------------------------------------------------------------- data

def check_dataset(name: str) -> str:
    if name not in DATASETS:
        raise CourseError(f"Unknown dataset {name!r}: use one of {', '.join(DATASETS)} (the "
                          "real ones once downloaded with `course-data summe` or "
                          "`course-data tvsum`).")
    return name


def load_data(dataset: str, tier: str):
    """The dataset asked for and its 5 splits: the embedded synthetic videos of ``tier``, or the
    downloaded SumMe / TVSum file. Never another dataset in place of a missing one."""
    from course_lib.data import summarization as sm

    if check_dataset(dataset) == "synthetic":
        return _synthetic(tier)
    path = sm.feature_file(dataset)
    table = sm.tvsum_annotation_path() if dataset == "tvsum" else None
    return _benchmark(dataset, path, _modified(path), table, _modified(table))


def _modified(path: Path | None) -> int | None:
    return path.stat().st_mtime_ns if path is not None and path.exists() else None


@lru_cache(maxsize=3)
def _synthetic(tier: str):
    from course_lib.data.summarization import make_splits
    from course_lib.data.synthetic_videos import make_synthetic_dataset

    config = summarization_data_config(tier, verbose=False)
    data = make_synthetic_dataset(config)
    return data, make_splits(data.keys(), rng=np.random.default_rng(config.seed))


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

    def folder(self, out: str | Path) -> Path:
        return (Path(out) / self.dataset / self.tier / self.model
                / f"split{self.split}-seed{self.seed}")

    def __str__(self) -> str:
        return (f"{self.model} on {self.dataset} ({self.tier} tier), split {self.split}, "
                f"seed {self.seed}")


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
    running_elsewhere: bool = False  # skipped by this run: another process held its lock

    def test_scores(self, epoch: int) -> dict[str, np.ndarray]:
        """The test videos' scores saved after ``epoch`` (0 = untrained)."""
        path = _scores_path(self.folder, self.job.dataset, epoch)
        if not path.exists():
            raise CourseError(f"{self.folder} has no scores of epoch {epoch} (it has epochs "
                              f"{number_ranges(self.epochs.tolist())}).")
        return {k: np.asarray(v, dtype=np.float32) for k, v in _read_json(path).items()}


def _scores_path(folder: Path, dataset: str, epoch: int) -> Path:
    """The reference numbers epochs from -1 (before training): the course's epoch 0."""
    return folder / "results" / f"{RESULT_PREFIX[dataset]}_{epoch - 1}.json"


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
    config, base = asdict(spec.config(job.tier, overrides)), asdict(spec.config(job.tier))
    method = spec.method
    return _plain({"model": job.model, "method": method.name, "build": _qualname(method.build),
                   "fit": _qualname(method.fit), "dataset": job.dataset, "tier": job.tier,
                   "split": job.split, "seed": job.seed, "config": config,
                   "overrides": {k: v for k, v in config.items() if v != base[k]},
                   "data": {"name": data.name, "source": data.source,
                            "fingerprint": data.fingerprint()},
                   "train_keys": list(split.train_keys), "test_keys": list(split.test_keys)})


def _differences(stored: dict, wanted: dict) -> list[str]:
    out = []
    for key in sorted((set(stored) | set(wanted)) - {"overrides"}):  # shown in config.*
        a, b = stored.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key != "data":
            out += [f"{key}.{d}" for d in _differences(a, b)]
        elif a != b:
            out.append(f"{key} ({a!r} there, {b!r} asked for)"[:160])
    return out


def claim_folder(folder: Path, config: dict) -> None:
    """Write ``config.json`` into a new job folder, or check that an existing one holds this
    configuration; refuse (changing nothing) a folder of another configuration or a foreign one."""
    path = folder / "config.json"
    if path.exists():
        stored = _read_json(path)
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


def check_out(out: str | Path) -> Path:
    """The results folder; a file of that name is an error (not a raw one from mkdir)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CourseError(f"The results folder {out} (--out) is a file, not a folder: give a "
                          "folder (it is created if missing), e.g. --out results/.")
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


def _finish(folder: Path, job: Job, run, data, split) -> None:
    """The end-of-job files, ``result.json`` (the finished mark) last."""
    from course_lib.evaluation import evaluate_rank_correlation

    history = run.history
    epochs = [s // run.steps_per_epoch for s in history.eval_steps]
    progress = {e["epoch"]: e for e in _read_json(folder / "progress.json")["epochs"]}
    seconds = [progress.get(e, {}).get("seconds", float("nan")) for e in epochs]
    curves = {k: [float("nan")] + run.epoch_means(k).tolist() for k in history.train}
    f = history.evals["f_score"]
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["epoch", "test_f_score", "test_mean_score", "seconds",
                     *(f"train_{k}" for k in curves)])
    for i, epoch in enumerate(epochs):
        writer.writerow([epoch, f[i], history.evals["mean_score"][i], seconds[i],
                         *(c[epoch] if epoch < len(c) else "" for c in curves.values())])
    _write_text(folder / "epochs.csv", table.getvalue())
    _write_json(folder / "f_scores.json", f)
    test_keys = list(split.test_keys)
    ranked = None
    if all(data[k].user_scores is not None for k in test_keys):
        final = _read_json(_scores_path(folder, job.dataset, epochs[-1]))
        ranked = evaluate_rank_correlation(data, final, test_keys)
    _write_json(folder / FINISHED, {
        "parameters": sum(p.numel() for p in run.model.parameters()), "epochs": epochs,
        "f_scores": f, "seconds_per_epoch": seconds, "train_curves": curves,
        "selections": run.selections(), "rank_correlation_final_epoch": ranked,
        "seconds": history.seconds})


def load_job(folder: str | Path) -> JobResult:
    """A job folder's results: complete when finished, the epochs so far otherwise."""
    folder = Path(folder)
    config = _read_json(folder / "config.json")
    job = Job(config["model"], config["dataset"], config["tier"], config["split"], config["seed"])
    total = config["config"].get("epochs", 0)
    if (folder / FINISHED).exists():
        r = _read_json(folder / FINISHED)
        return JobResult(job, folder, True, r["parameters"], np.array(r["epochs"]),
                         np.array(r["f_scores"], dtype=float),
                         np.array(r["seconds_per_epoch"], dtype=float),
                         {k: np.array(v, dtype=float) for k, v in r["train_curves"].items()},
                         {k: (int(e), float(v)) for k, (e, v) in r["selections"].items()},
                         r["rank_correlation_final_epoch"], total)
    path = folder / "progress.json"
    epochs = _read_json(path)["epochs"] if path.exists() else []
    return JobResult(job, folder, False, 0, np.array([e["epoch"] for e in epochs], dtype=int),
                     np.array([e["f_score"] for e in epochs], dtype=float),
                     np.array([e["seconds"] for e in epochs], dtype=float), total_epochs=total)


def load_results(out: str | Path, *, dataset: str | None = None,
                 tier: str | None = None) -> list[JobResult]:
    """Every job folder under ``out`` (of ``dataset`` / ``tier`` if given), finished or not."""
    pattern = f"{dataset or '*'}/{tier or '*'}/*/split*-seed*/config.json"
    return [load_job(p.parent) for p in sorted(Path(out).glob(pattern))]


def grid(models: Sequence[str], dataset: str, tier: str, splits: Iterable[int],
         seeds: Iterable[int]) -> list[Job]:
    """The jobs of a grid, model by model, split by split, seed by seed."""
    return [Job(m, dataset, tier, k, s) for m in models for k in splits for s in seeds]


def missing(out: str | Path, models: Sequence[str], dataset: str, tier: str,
            splits: Iterable[int], seeds: Iterable[int]) -> list[Job]:
    """The jobs of the grid that are not finished under ``out``."""
    return [j for j in grid(models, dataset, tier, list(splits), list(seeds))
            if not (j.folder(out) / FINISHED).exists()]


# ---------------------------------------------------------------- the grid

def run_grid(models: Sequence[str], dataset: str, tier: str | None, splits: Iterable[int],
             seeds: Iterable[int], out: str | Path, *, jobs: int = 1,
             progress: bool = True) -> list[JobResult]:
    """Run every job of the grid (finished ones are skipped): one after another in this process,
    or ``jobs`` at a time in their own processes (one per GPU when there are several). A job
    that another process is running is skipped with a message, and its result says
    ``running_elsewhere``."""
    for name in models:
        check_model(name)
    tier = resolve_tier(tier, verbose=False)
    splits = check_splits(dataset, tier, splits)
    todo = grid(models, dataset, tier, splits, list(seeds))
    if not todo:
        raise CourseError(f"The grid is empty (models {list(models)}, splits {list(splits)}, "
                          f"seeds {list(seeds)}), so nothing would run: give at least one of "
                          "each.")
    check_out(out)
    data, all_splits = load_data(dataset, tier)
    for job in todo:  # every folder is checked before anything trains
        claim_folder(job.folder(out), job_config(job, MODELS[job.model], data,
                                                 all_splits[job.split]))
    pending = [j for j in todo if not (j.folder(out) / FINISHED).exists()]
    bar = tqdm(total=len(todo), initial=len(todo) - len(pending), desc=f"jobs ({dataset}, "
               f"{tier})", disable=not progress)
    busy = []
    try:
        if jobs <= 1:
            for job in pending:
                bar.set_postfix_str(str(job))
                try:
                    run_job(job, out, progress=progress)
                except JobBusy as error:
                    tqdm.write(str(error))
                    busy.append(job)
                bar.update()
        else:
            busy = _run_parallel(pending, out, jobs, bar)
    finally:
        bar.close()
    return [replace(load_job(j.folder(out)), running_elsewhere=j in busy) for j in todo]


def check_finished(results: Sequence[JobResult]) -> list[JobResult]:
    """``results`` when every run finished; else a clear error naming the runs that another
    process is still training (the only way :func:`run_grid` returns an unfinished one)."""
    waiting = [r for r in results if not r.finished]
    if waiting:
        names = ", ".join(str(r.job) for r in waiting[:3]) + (", ..." if len(waiting) > 3 else "")
        raise CourseError(
            f"{len(waiting)} of {len(results)} runs are not finished ({names}): another process "
            f"is training them (it holds the lock in their folders under "
            f"{waiting[0].folder.parent}). Wait for it to finish, then run this again: finished "
            f"runs are loaded, not retrained.")
    return list(results)


def job_command(job: Job, out: str | Path) -> list[str]:
    """The command that runs ``job`` alone (what a cluster's job array would run)."""
    return [sys.executable, "-m", "course_lib.experiments_cli", "run", job.model, "--dataset",
            job.dataset, "--tier", job.tier, "--out", str(out),
            "--only", f"split={job.split},seed={job.seed}", "--splits", str(job.split),
            "--seeds", str(job.seed)]


BUSY_EXIT = 75  # the exit status of ``course-experiments run`` that skipped a running job


def _run_parallel(pending: list[Job], out: str | Path, jobs: int, bar) -> list[Job]:
    """``jobs`` processes at a time, each single-threaded on the CPU or alone on one GPU; each
    one's output goes to ``<out>/logs/``. A failed job does not stop the others. Returns the
    jobs skipped because another process was running them."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    logs = Path(out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    queue, running, failed, busy = list(pending), {}, [], []
    free = list(range(jobs))
    try:
        while queue or running:
            while queue and free:
                job, slot = queue.pop(0), free.pop(0)
                env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                       "TQDM_MININTERVAL": "10"}
                if gpus > 1:
                    env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
                log = logs / f"{job.dataset}-{job.tier}-{job.model}-split{job.split}-seed" \
                             f"{job.seed}.log"
                with open(log, "w") as handle:
                    process = subprocess.Popen(job_command(job, out), env=env, stdout=handle,
                                               stderr=subprocess.STDOUT, start_new_session=True)
                running[process] = (job, slot, log)
            time.sleep(0.5)
            for process in [p for p in running if p.poll() is not None]:
                job, slot, log = running.pop(process)
                free.append(slot)
                if process.returncode == BUSY_EXIT:
                    tqdm.write(f"Skipped {job}: another process is running it (see {log}).")
                    busy.append(job)
                elif process.returncode:
                    failed.append((job, log))
                bar.update()
            bar.set_postfix_str(", ".join(_epochs_done(job, out) for job, _, _ in
                                          running.values()))
    except KeyboardInterrupt:
        for process in running:  # each saves its last completed step, then stops
            process.send_signal(signal.SIGINT)
        for process in running:
            process.wait()
        raise
    if failed:
        raise CourseError(f"{len(failed)} job(s) failed: " + "; ".join(
            f"{job} (see {log})" for job, log in failed))
    return busy


def _epochs_done(job: Job, out: str | Path) -> str:
    """``"sum-gan split 0 seed 1: epoch 5/20"``: how far a running job is."""
    try:
        r = load_job(job.folder(out))
    except (CourseError, KeyError):  # not started yet, or being written
        return f"{job.model} split {job.split} seed {job.seed}: starting"
    done = int(r.epochs.max()) if len(r.epochs) else 0
    return f"{job.model} split {job.split} seed {job.seed}: epoch {done}/{r.total_epochs}"


def number_ranges(values: Sequence[int]) -> str:
    """``[0, 1, 2, 4]`` → ``"0-2, 4"``."""
    values, parts = sorted(set(values)), []
    for v in values:
        if parts and v == parts[-1][1] + 1:
            parts[-1][1] = v
        else:
            parts.append([v, v])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in parts) or "none"


# ---------------------------------------------------------------- the comparison

SELECTION_RULES = {"best test epoch (uses test labels)": "F, best test epoch (uses test labels)",
                   "final epoch (label-free)": "F, final epoch",
                   "lowest training loss (label-free)": "F, lowest training loss"}


def _model_order(names: Iterable[str]) -> list[str]:
    """The runner's models in their own order, variants after them."""
    names = set(names)
    return [m for m in MODELS if m in names] + sorted(names - set(MODELS))


def over_seeds(results: Sequence[JobResult], value: Callable[[JobResult], float]
               ) -> tuple[float, float, int]:
    """The protocol's aggregate of finished jobs: the mean over splits for each seed, then the
    mean and standard deviation over seeds (NaN with fewer than two) and the number of seeds."""
    per_seed = {}
    for r in results:
        if r.finished:
            per_seed.setdefault(r.job.seed, []).append(value(r))
    means = [float(np.mean(v)) for v in per_seed.values()]
    if not means:
        return float("nan"), float("nan"), 0
    return (float(np.mean(means)), float(np.std(means, ddof=1)) if len(means) > 1
            else float("nan"), len(means))


def seed_curves(results: Sequence[JobResult]) -> dict[str, np.ndarray]:
    """Per model, F per epoch for each seed (rows), averaged over that seed's finished splits;
    cut to the epochs every finished job has."""
    curves = {}
    for model in _model_order(r.job.model for r in results):
        mine = [r for r in results if r.job.model == model and r.finished]
        if not mine:
            continue
        n = min(len(r.f_scores) for r in mine)
        seeds = sorted({r.job.seed for r in mine})
        curves[model] = np.array([np.mean([r.f_scores[:n] for r in mine if r.job.seed == s],
                                          axis=0) for s in seeds])
    return curves


def _band(ax, curves: np.ndarray, label: str, color) -> None:
    """Mean over seeds as a line, the range over seeds as a band."""
    epochs = np.arange(curves.shape[1])
    ax.plot(epochs, curves.mean(axis=0), "o-", ms=3, color=color,
            label=f"{label} ({len(curves)} seed{'s' if len(curves) > 1 else ''})")
    if len(curves) > 1:
        ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=color, alpha=0.2)


def f_per_epoch_figure(results: Sequence[JobResult],
                       baselines: Mapping[str, float] | None = None, ax=None, title: str = ""):
    """Test F-score per epoch for each model: the mean over seeds of the mean over splits, the
    band spanning the seeds; ``baselines`` as labelled lines."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from course_lib.summary_plots import baseline_line

    fig, ax = plt.subplots(figsize=(9, 4)) if ax is None else (ax.figure, ax)
    for i, (model, curves) in enumerate(seed_curves(results).items()):
        _band(ax, curves, model, f"C{i}")
    for name, value in (baselines or {}).items():
        baseline_line(ax, name, value)
    ax.set(xlabel="epoch (0 = untrained)", ylabel="test F-score (%)", title=title or
           "F per epoch: mean over splits and seeds, band = range over seeds")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def per_split_figure(results: Sequence[JobResult],
                     baselines: Mapping[int, Mapping[str, float]] | None = None):
    """One panel per split: each model's F per epoch (mean over seeds, band = their range),
    with that split's ``baselines[split]``: how much the split alone moves the numbers."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from course_lib.summary_plots import BASELINE_STYLES

    splits = sorted({r.job.split for r in results if r.finished})
    fig, axes = plt.subplots(1, max(len(splits), 1), figsize=(3.2 * max(len(splits), 1) + 1.5,
                                                             3.4), sharey=True, squeeze=False)
    models = _model_order(r.job.model for r in results)
    for ax, split in zip(axes[0], splits, strict=False):  # no panel without a split
        mine = [r for r in results if r.job.split == split]
        for model, curves in seed_curves(mine).items():
            _band(ax, curves, model, f"C{models.index(model)}")
        for name, value in (baselines or {}).get(split, {}).items():  # values differ by split
            ax.axhline(value, lw=1.1, label=name, **BASELINE_STYLES.get(name, {"ls": "--"}))
        ax.set(xlabel="epoch", title=f"split {split}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test F-score (%)")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("F per epoch on each split (mean over seeds, band = range over seeds)")
    fig.tight_layout()
    return fig


def _describe_missing(out: Path, jobs: Sequence[Job]) -> list[str]:
    """One line per model: the jobs not started (split by split) and each unfinished one."""
    lines = []
    for model in _model_order(j.model for j in jobs):
        absent, started = {}, []
        for job in (j for j in jobs if j.model == model):
            r = load_job(job.folder(out)) if (job.folder(out) / "config.json").exists() else None
            if r is not None and len(r.epochs):
                started.append(f"split {job.split} seed {job.seed} (epoch {r.epochs.max()} of "
                               f"{r.total_epochs} done)")
            else:
                absent.setdefault(job.split, []).append(job.seed)
        parts = (["not started: " + ", ".join(f"split {k} seed{'s' * (len(v) > 1)} "
                                               f"{number_ranges(v)}" for k, v in absent.items())]
                 if absent else []) + ([f"unfinished: {', '.join(started)}"] if started else [])
        lines.append(f"{model}: {'; '.join(parts)}")
    return lines


def _baselines(dataset: str, tier: str, results: Sequence[JobResult], splits: Sequence[int]):
    """The baseline table of each split on the same data the jobs used, or a note why not."""
    from course_lib.evaluation import baseline_table

    try:
        data, all_splits = load_data(dataset, tier)
    except DataError as error:
        return {}, f"No baselines: {error}"
    used = {_read_json(r.folder / "config.json")["data"]["fingerprint"] for r in results}
    if used != {data.fingerprint()}:
        return {}, ("No baselines: the jobs were trained on other data than the current "
                    f"{dataset} files (data fingerprints {sorted(used)}, now "
                    f"{data.fingerprint()}).")
    trials = summarization_data_config(tier, verbose=False).n_random_trials
    return {k: baseline_table(data, all_splits[k], n_random_trials=max(trials, 10))
            for k in splits}, ""


def report(out: str | Path, *, dataset: str | None = None, tier: str | None = None,
           models: Sequence[str] | None = None, splits: Sequence[int] | None = None,
           seeds: Sequence[int] | None = None) -> list[Path]:
    """Write ``comparison.md``, ``comparison.csv``, ``f_per_epoch.png`` and ``f_per_split.png``
    into ``<out>/<dataset>/<tier>/`` for each dataset and tier found (or asked for), from the
    finished jobs, and say which jobs of the grid are missing. The grid is ``models`` ×
    ``splits`` × ``seeds`` (default: the models and seeds found, every split of the data)."""
    import matplotlib.pyplot as plt

    out = check_out(out)
    found = load_results(out, dataset=dataset, tier=tier)
    if not found:
        where = " ".join(f"--{k} {v}" for k, v in (("dataset", dataset), ("tier", tier)) if v)
        raise CourseError(f"{out} holds no job folders{' for ' + where if where else ''}: run "
                          f"`course-experiments run MODEL --out {out}` first.")
    written = []
    for ds, tr in sorted({(r.job.dataset, r.job.tier) for r in found}):
        results = [r for r in found if (r.job.dataset, r.job.tier) == (ds, tr)]
        names = _model_order(models or {r.job.model for r in results})
        try:
            grid_splits = list(splits) if splits is not None else list(
                range(len(load_data(ds, tr)[1])))
        except DataError:
            grid_splits = sorted({r.job.split for r in results})
        grid_seeds = list(seeds) if seeds is not None else sorted({r.job.seed for r in results})
        results = [r for r in results if r.job.model in names and r.job.split in grid_splits
                   and r.job.seed in grid_seeds]
        finished = [r for r in results if r.finished]
        absent = missing(out, names, ds, tr, grid_splits, grid_seeds)
        tables, note = _baselines(ds, tr, finished, sorted({r.job.split for r in finished}))
        folder = out / ds / tr
        written += _write_report(folder, ds, tr, names, finished, absent, tables, note,
                                 grid_splits, grid_seeds, out)
        mean_baselines = {b: float(np.mean([t[b].f_score for t in tables.values()]))
                          for b in next(iter(tables.values()), {})}
        shown = {b: v for b, v in mean_baselines.items() if b in ("random", "uniform")
                 or b.startswith("human")}
        for name, fig in (("f_per_epoch.png", f_per_epoch_figure(finished, shown)),
                          ("f_per_split.png", per_split_figure(finished, {
                              k: {b: t[b].f_score for b in shown} for k, t in tables.items()}))):
            fig.savefig(tmp := folder / f".{name}.tmp.png", dpi=110, bbox_inches="tight")
            plt.close(fig)
            os.replace(tmp, folder / name)
            written.append(folder / name)
    return written


def summarize(results: Sequence[JobResult]) -> dict[str, float]:
    """One model's row of the comparison from its finished jobs: F of the untrained model and
    under each selection rule (mean and standard deviation over seeds, see
    :func:`over_seeds`), τ and ρ of the final
    epoch, the median of the jobs' mean seconds per epoch and the parameter count."""
    row = {"finished": len(results)}
    row["f_untrained_mean"], row["f_untrained_sd"], _ = over_seeds(results,
                                                                   lambda r: r.f_scores[0])
    for rule, key in zip(SELECTION_RULES, ("best", "final", "lowest"), strict=True):
        row[f"f_{key}_mean"], row[f"f_{key}_sd"], row["seeds"] = over_seeds(
            results, lambda r, rule=rule: r.selections[rule][1])
    ranked = [r for r in results if r.rank_correlation]
    for key in ("kendall_tau", "spearman_rho"):
        row[key] = over_seeds(ranked, lambda r, key=key: r.rank_correlation[key])[0]
    row["seconds_per_epoch"] = (float(np.median([np.nanmean(r.seconds_per_epoch[1:])
                                                 for r in results])) if results else np.nan)
    row["parameters"] = results[0].parameters if results else 0
    return row


def _number(value: float, fmt: str = ".1f", sd: float = np.nan) -> str:
    if np.isnan(value):
        return "—"
    shown = float(format(value, fmt)) + 0.0  # no "-0.000"
    return format(shown, fmt) + ("" if np.isnan(sd) else f" ± {sd:{fmt}}")


def _write_report(folder: Path, dataset: str, tier: str, names: list[str],
                  finished: list[JobResult], absent: list[Job], tables: dict, note: str,
                  splits: list[int], seeds: list[int], out: Path) -> list[Path]:
    """The comparison table (markdown and CSV) of one dataset and tier."""
    from course_lib.comparison import paired_report_lines
    from course_lib.summary_plots import versus_baselines

    expected = len(splits) * len(seeds)
    rows = {m: summarize([r for r in finished if r.job.model == m]) for m in names}
    used = sorted(tables)
    baselines = {b: {"f_final_mean": float(np.mean([tables[k][b].f_score for k in used])),
                     **{m: float(np.mean([getattr(tables[k][b], m) for k in used]))
                        for m in ("kendall_tau", "spearman_rho")}}
                 for b in (tables[used[0]] if used else {})}
    header = ["model", "finished", "F, untrained", *SELECTION_RULES.values(), "Kendall τ (final)",
              "Spearman ρ (final)", "s / epoch", "parameters"]
    lines = [f"# The SUM-GAN family on {dataset} ({tier} tier)", "",
             f"Grid: splits {number_ranges(splits)} × seeds {number_ranges(seeds)}. F-score "
             "(%) on each split's test videos under three model-selection rules; each cell "
             "is the mean over splits for each seed, then the mean ± standard deviation over "
             "seeds (finished jobs only). τ and ρ: rank correlation of the final epoch's "
             "scores with the annotators'. s / epoch: median over jobs of the mean seconds per "
             "epoch (with its evaluation; other work on the machine slows it).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, row in rows.items():
        lines.append("| " + " | ".join([
            model, f"{row['finished']} of {expected}",
            *(_number(row[f"f_{k}_mean"], sd=row[f"f_{k}_sd"])
              for k in ("untrained", "best", "final", "lowest")),
            _number(row["kendall_tau"], ".3f"), _number(row["spearman_rho"], ".3f"),
            _number(row["seconds_per_epoch"], ".2f"),
            f"{row['parameters']:,}" if row["parameters"] else "—"]) + " |")
    lines.append("")
    lines += paired_report_lines([r for m in names for r in finished if r.job.model == m])
    if baselines:
        trivial = {b: baselines[b]["f_final_mean"] for b in TRIVIAL_BASELINES if b in baselines}
        lines += [f"Baselines on the same test videos (mean over splits "
                  f"{number_ranges(used)}):", "",
                  "| baseline | F | Kendall τ | Spearman ρ |", "|---|---|---|---|",
                  *(f"| {b} | {v['f_final_mean']:.1f} | {_number(v['kendall_tau'], '.3f')} | "
                    f"{_number(v['spearman_rho'], '.3f')} |" for b, v in baselines.items()), "",
                  *("- " + versus_baselines(f"{m}, final epoch", r["f_final_mean"], {
                      **trivial, "its untrained model": r["f_untrained_mean"]})
                    for m, r in rows.items() if r["finished"]), ""]
    elif note:
        lines += [note, ""]
    if absent:
        lines += [f"Missing: {len(absent)} of the grid's {expected * len(names)} jobs, not "
                  f"finished (the table leaves them out; `course-experiments run` with the same "
                  f"grid and --out {out} runs or resumes them):", "",
                  *(f"- {line}" for line in _describe_missing(out, absent)), ""]
    else:
        lines += ["Every job of the grid is finished.", ""]
    folder.mkdir(parents=True, exist_ok=True)
    _write_text(folder / "comparison.md", "\n".join(lines))
    table = io.StringIO()
    writer = csv.DictWriter(table, ["kind", "name", "expected", *next(iter(rows.values()))],
                            lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows([{"kind": "model", "name": m, "expected": expected, **r}
                      for m, r in rows.items()])
    writer.writerows([{"kind": "baseline", "name": b, **v} for b, v in baselines.items()])
    _write_text(folder / "comparison.csv", table.getvalue())
    return [folder / "comparison.md", folder / "comparison.csv"]
