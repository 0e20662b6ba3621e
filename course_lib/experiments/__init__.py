"""The benchmark protocol as a grid of jobs (notebook 06 and the ``course-experiments`` command):
:mod:`.jobs` (one job, its folder and files), :mod:`.grid` (running many) and :mod:`.report`
(the comparison's figures and files), on top of :mod:`course_lib.registry`; the statistics are
:mod:`course_lib.comparison`'s.

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

from course_lib.comparison import SELECTION_RULES, over_seeds, summarize  # the report's rows
from course_lib.config import resolve_tier
from course_lib.errors import CheckpointError, CourseError
from course_lib.experiments.grid import (
    BUSY_EXIT,
    check_finished,
    grid,
    missing,
    run_grid,
    run_jobs,
)
from course_lib.experiments.jobs import (
    DATASETS,
    FINISHED,
    LOCK,
    MODELS,
    RESULT_PREFIX,
    Job,
    JobBusy,
    JobResult,
    Model,
    _job_lock,
    check_dataset,
    check_model,
    check_out,
    check_splits,
    claim_folder,
    code_version,
    fcntl,
    job_config,
    load_data,
    load_job,
    load_results,
    model_color,
    number_ranges,
    run_job,
)
from course_lib.experiments.report import (
    f_per_epoch_figure,
    judged_the_other_way,
    other_aggregation_lines,
    per_split_figure,
    report,
    seed_curves,
)
from course_lib.experiments.variants import run_variant

__all__ = [
    "CheckpointError",
    "CourseError",
    "resolve_tier",
    "DATASETS",
    "FINISHED",
    "Job",
    "JobBusy",
    "JobResult",
    "LOCK",
    "MODELS",
    "Model",
    "RESULT_PREFIX",
    "_job_lock",
    "check_dataset",
    "check_model",
    "check_out",
    "check_splits",
    "claim_folder",
    "code_version",
    "fcntl",
    "job_config",
    "load_data",
    "load_job",
    "load_results",
    "model_color",
    "number_ranges",
    "run_job",
    "BUSY_EXIT",
    "check_finished",
    "grid",
    "missing",
    "run_grid",
    "run_jobs",
    "SELECTION_RULES",
    "f_per_epoch_figure",
    "judged_the_other_way",
    "other_aggregation_lines",
    "over_seeds",
    "per_split_figure",
    "report",
    "seed_curves",
    "summarize",
    "run_variant",
]
