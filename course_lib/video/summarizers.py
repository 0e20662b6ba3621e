"""Load a trained summarizer of the SUM-GAN family to score a new video (notebook 07,
``course-summarize --model``), and refuse one that cannot read the features at hand.

A model is named by a checkpoint file of the notebooks (``checkpoints/04-sum-gan-sl-laptop-
<hash>.pt``), a job folder of ``course-experiments`` (or its checkpoint), or a family name
(``sum-gan``, ``sum-gan-sl``, ``sum-gan-aae``: the newest finished notebook checkpoint of that
model). The architecture is rebuilt from the job's ``config.json``, or, for a notebook
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
import re
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


def newest_checkpoint(name: str, folder: Path | None = None) -> Path:
    """The newest finished notebook checkpoint of ``name`` (``sum-gan``, ``sum-gan-sl``,
    ``sum-gan-aae``) in the course's checkpoint folder."""
    from course_lib.training import checkpoint_dir, read_progress

    prefix, method = NOTEBOOK_RUNS[name]
    folder = folder or checkpoint_dir()
    pattern = re.compile(rf"^{re.escape(prefix)}-({'|'.join(TIERS)})-[0-9a-f]{{8}}\.pt$")
    found = [p for p in (folder.glob(f"{prefix}-*.pt") if folder.is_dir() else [])
             if pattern.match(p.name) and (read_progress(p) or {}).get("finished")]
    if not found:
        notebook = prefix[:2]
        raise VideoError(f"no finished {method} checkpoint in {folder}: run notebook {notebook} "
                         f"(it trains and saves one), or train one job, `course-experiments run "
                         f"{name} --splits 0 --seeds 0 --out results/`, and pass its folder "
                         f"(results/synthetic/<tier>/{name}/split0-seed0) with --model.")
    return max(found, key=lambda p: p.stat().st_mtime)


def load_summarizer(spec: str | Path, *, trained_on: str | None = None) -> Summarizer:
    """The model ``spec`` names (see the module docstring). ``trained_on`` (a dataset name)
    overrides what a notebook checkpoint is assumed to be trained on."""
    if str(spec) in NOTEBOOK_RUNS:
        spec = newest_checkpoint(str(spec))
    path = Path(spec)
    if not path.exists():
        raise VideoError(f"--model {spec}: no such file or folder, and not one of the names "
                         f"{', '.join(NOTEBOOK_RUNS)}.")
    if job := _job_config(path):
        summarizer = _from_job(job[0], job[1], path)
        if trained_on and trained_on != summarizer.trained_on:
            raise VideoError(f"{job[0]} records that it was trained on {summarizer.trained_on}, "
                             f"not {trained_on}: leave out --trained-on.")
        return summarizer
    if path.is_dir():
        raise VideoError(f"--model {path} is a folder without a job's config.json: give a "
                         "checkpoint file or a `course-experiments` job folder.")
    return _from_notebook(path, trained_on or "synthetic")


def score(summarizer: Summarizer, features: np.ndarray) -> np.ndarray:
    """The selector's score per step [n_steps], exactly as the family is evaluated."""
    from course_lib.models.summarizer_training import score_videos

    return score_videos(summarizer.model, {"video": SimpleNamespace(features=features)},
                        ["video"])["video"]
