"""Load a trained summarizer of the SUM-GAN family to score a new video (notebook 07,
``course-summarize --model``), and refuse one that cannot read the features at hand.

A model is named by a checkpoint file of the notebooks (``checkpoints/04-sum-gan-sl-laptop-
<hash>.pt``), a job folder of ``course-experiments`` (or its checkpoint), or a family name
(``sum-gan``, ``sum-gan-sl``, ``sum-gan-aae``: the checkpoint of notebook 03's, 04's or 05's
main run). The architecture is rebuilt from the job's ``config.json``, or, for a notebook
checkpoint, from the first configuration of the family whose tensors fit it.

Features: a model reads what it was trained on. The SumMe / TVSum files hold GoogLeNet pool5;
the course's synthetic videos hold the weight-free spectral features that ``fallback`` computes.
Both are 1024-d, so the width cannot tell them apart: a job folder records its dataset (and, for
an h5 file of your own videos, the features ``course-summarize`` wrote into it), and a
notebook checkpoint (which does not) is taken to be trained on the notebooks' default, the
synthetic videos, unless told otherwise (``trained_on``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from course_lib.errors import CheckpointError
from course_lib.video import VideoError

NOTEBOOK_RUNS = {"sum-gan": ("03-sum-gan", "SUM-GAN"),
                 "sum-gan-sl": ("04-sum-gan-sl", "SUM-GAN-sl"),
                 "sum-gan-aae": ("05-sum-gan-aae", "SUM-GAN-AAE")}
# every other dataset (summe, tvsum, yours): googlenet; synthetic-digits' features need each
# frame's digit, which no extractor of a real video gives
FEATURES_OF = {"synthetic": "fallback", "synthetic-digits": "digit-recognizer"}
NOTEBOOK_DATASETS = ("synthetic", "summe", "tvsum")  # what a notebook's DATASET can be
TIERS = ("smoke", "laptop", "paper")


def features_of(dataset: str) -> str:
    """The features a model trained on ``dataset`` reads."""
    return FEATURES_OF.get(dataset, "googlenet")


@dataclass
class Summarizer:
    """A model of the family with what it was trained on and where it came from."""

    name: str
    model: torch.nn.Module
    trained_on: str  # the dataset: "synthetic", "summe", "tvsum", or your h5 file
    source: str
    feature_kind: str | None = None  # what your h5 file recorded (else by ``trained_on``)

    @property
    def features(self) -> str:
        return self.feature_kind or features_of(self.trained_on)

    @property
    def feature_dim(self) -> int:
        """The width of the features it reads (a model of the count option joins its count
        to them itself, so its compression layer reads one more)."""
        return int(getattr(self.model, "feature_dim", self.model.compress.in_features))


def from_model(model: torch.nn.Module, trained_on: str = "synthetic", name: str | None = None,
               source: str = "this notebook") -> Summarizer:
    """A model trained in this session (e.g. ``run.model`` of a fit function)."""
    return Summarizer(name or getattr(model, "title", type(model).__name__), model.eval(),
                      trained_on, source)


def check_features(summarizer: Summarizer, kind: str, dim: int) -> None:
    """Refuse features of another kind or width than the model was trained on, naming the fix."""
    if kind != summarizer.features:
        fix = ("use --features googlenet (features='googlenet'; its ImageNet weights are "
               "downloaded once), or a model trained on the course's synthetic videos"
               if summarizer.features == "googlenet" else
               "no extractor of a real video gives them: use a model trained on the course's "
               "synthetic videos (fallback features) or on GoogLeNet features"
               if summarizer.features == "digit-recognizer" else
               "use --features fallback (features='fallback'), or a model trained on GoogLeNet "
               "features (SumMe / TVSum, or your own h5 file of GoogLeNet features)")
        raise VideoError(f"{summarizer.name} from {summarizer.source} was trained on "
                         f"{summarizer.trained_on} data, i.e. on {summarizer.features} features, "
                         f"and cannot score {kind} features: {fix}.")
    if dim != summarizer.feature_dim:
        raise VideoError(f"{summarizer.name} from {summarizer.source} reads "
                         f"{summarizer.feature_dim}-d features, these are {dim}-d: use the "
                         "features it was trained on.")


def _family():
    from course_lib.registry import family

    return family()


def _load_into(path: Path, method, config) -> torch.nn.Module:
    from course_lib.training import load_checkpoint

    model = method.build(config)
    load_checkpoint(path, {"model": model}, restore_random=False)
    return model.eval()


def _job_config(path: Path) -> tuple[Path, dict] | None:
    """The job folder's ``config.json`` for a job folder or a file inside it, if any."""
    for folder in (path, path.parent, path.parent.parent):
        if (folder / "config.json").is_file() and folder.is_dir():
            return folder, json.loads((folder / "config.json").read_text())
    return None


def _from_job(folder: Path, stored: dict, path: Path) -> Summarizer:
    method = _family()[stored["method"]]
    config = method.config(stored["tier"], verbose=False)
    types = {f.name: f for f in fields(config)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in stored["config"].items()
              if k in types}
    config = replace(config, **values)
    checkpoints = [path] if path.is_file() else sorted((folder / "checkpoint").glob("*.pt"))
    if not checkpoints:
        raise VideoError(f"the job folder {folder} has no checkpoint yet: run its "
                         "`course-experiments run` command to train it.")
    try:
        model = _load_into(checkpoints[0], method, config)
    except CheckpointError as error:
        raise VideoError(_not_loadable(error)) from None
    return Summarizer(f"{stored['model']} (split {stored['split']}, seed {stored['seed']})", model,
                      stored["dataset"], str(folder), stored.get("data", {}).get("features"))


def _not_loadable(error: CheckpointError) -> str:
    """The checkpoint's problem with this command's fix, not a training run's (which would be
    to delete the file: here it may be a file given by mistake)."""
    if error.problem is None:
        return str(error)
    return (f"--model {error.problem}: give a checkpoint the course saved (a notebook's .pt "
            f"file or a `course-experiments` job folder) or one of {', '.join(NOTEBOOK_RUNS)}.")


def _from_notebook(path: Path, trained_on: str) -> Summarizer:
    methods = _family()
    guess = next((m for prefix, m in NOTEBOOK_RUNS.values() if path.name.startswith(prefix + "-")),
                 None)
    tier = next((t for t in TIERS if f"-{t}-" in path.name), None)
    order = [(m, t) for m in [guess] + [m for m in methods if m != guess] if m
             for t in [tier] + [t for t in TIERS if t != tier] if t]
    for method_name, tier_name in order:
        method = methods[method_name]
        try:
            model = _load_into(path, method, method.config(tier_name, verbose=False))
        except CheckpointError as error:
            if "does not fit" in str(error) or "does not hold" in str(error):
                continue
            raise VideoError(_not_loadable(error)) from None
        return Summarizer(f"{method_name} ({tier_name} tier)", model, trained_on, str(path))
    raise VideoError(f"{path} fits none of the family's configurations (SUM-GAN, -sl, -AAE at "
                     "the smoke, laptop and paper tiers): give a checkpoint of the notebooks or "
                     "a `course-experiments` job folder.")


def main_run_checkpoint(name: str, trained_on: str = "synthetic") -> Path:
    """The finished checkpoint of the main run of notebook 03, 04 or 05 (``name``: ``sum-gan``,
    ``sum-gan-sl``, ``sum-gan-aae``): its first seed with the tier's own settings on the default
    split of ``trained_on``, at ``$COURSE_TIER``'s tier first, then at the others.

    Found by its file name, which hashes exactly those settings (as the notebook's fit made it),
    because the notebooks save other runs of the same model beside it under the same prefix
    (more seeds, the faithful trainer, the σ sweep, notebook 07's improved model)."""
    from course_lib.config import resolve_tier
    from course_lib.models.summarizer_training import run_settings
    from course_lib.training import checkpoint_dir, checkpoint_path, read_progress

    prefix, method_name = NOTEBOOK_RUNS[name]
    method = _family()[method_name]
    folder = checkpoint_dir()
    first = resolve_tier(None, verbose=False)
    for tier in [first] + [t for t in TIERS if t != first]:
        if not any(folder.glob(f"{prefix}-{tier}-*.pt")):
            continue  # no run of this tier: no need to make its data
        config = method.config(tier, verbose=False)
        data, splits = _notebook_data(trained_on, tier)
        path = checkpoint_path(prefix, run_settings(config, data, config.seeds[0],
                                                    splits[config.split].train_keys))
        if (read_progress(path) or {}).get("finished"):
            return path
    raise VideoError(f"no finished checkpoint of notebook {prefix[:2]}'s {method_name} run on "
                     f"{trained_on} in {folder}: run notebook {prefix[:2]} (it trains and saves "
                     f"one), or train one job, `course-experiments run {name} --splits 0 --seeds "
                     f"0 --out results/`, and pass its folder (results/synthetic/<tier>/{name}/"
                     f"split0-seed0) with --model.")


def _notebook_data(dataset: str, tier: str):
    """The data a notebook trains on when its ``DATASET`` is ``dataset``."""
    from course_lib.data.summarization import load_benchmark
    from course_lib.data.synthetic_videos import synthetic_benchmark

    return synthetic_benchmark(tier) if dataset == "synthetic" else load_benchmark(dataset)


def load_summarizer(spec: str | Path, *, trained_on: str | None = None) -> Summarizer:
    """The model ``spec`` names (see the module docstring). ``trained_on`` (a dataset name)
    overrides what a notebook checkpoint is assumed to be trained on."""
    path = Path(spec)
    if job := path.exists() and _job_config(path):
        summarizer = _from_job(job[0], job[1], path)
        if trained_on and trained_on != summarizer.trained_on:
            raise VideoError(f"{job[0]} records that it was trained on {summarizer.trained_on}, "
                             f"not {trained_on}: leave out --trained-on.")
        return summarizer
    if trained_on is not None and trained_on not in NOTEBOOK_DATASETS:
        raise VideoError(f"--trained-on {trained_on!r}: a notebook trains on one of "
                         f"{', '.join(NOTEBOOK_DATASETS)} (its DATASET), so a notebook "
                         "checkpoint was trained on one of those.")
    if str(spec) in NOTEBOOK_RUNS:
        path = main_run_checkpoint(str(spec), trained_on or "synthetic")
    if not path.exists():
        raise VideoError(f"--model {spec}: no such file or folder, and not one of the names "
                         f"{', '.join(NOTEBOOK_RUNS)}.")
    if path.is_dir():
        raise VideoError(f"--model {path} is a folder without a job's config.json: give a "
                         "checkpoint file or a `course-experiments` job folder.")
    return _from_notebook(path, trained_on or "synthetic")


def score(summarizer: Summarizer, features: np.ndarray) -> np.ndarray:
    """The selector's score per step [n_steps], exactly as the family is evaluated."""
    from course_lib.models.summarizer_training import score_videos

    return score_videos(summarizer.model, {"video": SimpleNamespace(features=features)},
                        ["video"])["video"]
