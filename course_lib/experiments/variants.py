"""A change to one of the runner's models, trained on the same grid under its own name.

Notebook 06's "your improvement" runs a student's change this way, so that its jobs are
resumable, skipped when finished and compared with the paired statistics of
:mod:`course_lib.comparison` (:func:`~course_lib.comparison.improvement_report`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields, replace

from tqdm.auto import tqdm

from course_lib.errors import CourseError
from course_lib.experiments.grid import run_in_processes
from course_lib.experiments.jobs import FINISHED, MODELS, Job, check_model, load_job, run_job


def run_variant(name: str, base: str, dataset: str, tier: str | None, splits: Iterable[int],
                seeds: Iterable[int], out, *, overrides: Mapping | None = None,
                build: Callable | None = None, fit: Callable | None = None,
                progress: bool = True, jobs: int = 1) -> list:
    """Train a change to the runner's model ``base`` on the same grid, under its own ``name``.

    ``overrides`` changes configuration fields (``{"sigma": 0.3}``); ``build`` / ``fit`` replace
    the method's model builder or training function (a new layer, a loss term). Everything else
    is ``base``'s, its trainer included, so a difference in the results is the change's. Each
    job goes through the runner (``run_job``): resumable, skipped when finished, its folder's
    ``config.json`` recording the change. ``jobs`` > 1 runs them in the runner's worker
    processes, as many at a time as it would (a job of N threads counts N); a change by
    ``build`` or ``fit`` (a function another process cannot import) runs here, one job after
    another.
    """
    spec = check_model(base)
    if name in MODELS:
        raise CourseError(f"{name!r} is one of the runner's models: give the variant a name of "
                          f"its own, e.g. {base + '-mine'!r}, so its results never mix.")
    config = spec.config(tier, overrides)
    plain = spec.method.config(config.tier, verbose=False)
    changed = {f.name: getattr(config, f.name) for f in fields(config)
               if getattr(config, f.name) != getattr(plain, f.name)}
    if build is None and fit is None and config == spec.config(tier, None):
        raise CourseError(f"{name!r} changes nothing of {base}: "
                          + (f"its overrides {dict(overrides)} are {base}'s own values"
                             if overrides else "no overrides, build or fit was given")
                          + f", so it would train a copy of {base}. Change a field, or give a "
                          "build or fit of your own.")
    method = replace(spec.method, name=name, build=build or spec.method.build,
                     fit=fit or spec.method.fit)
    todo = [Job(name, dataset, config.tier, k, s) for k in splits for s in seeds]
    if jobs > 1 and build is None and fit is None:
        pending = [j for j in todo if not (j.folder(out) / FINISHED).exists()]
        with tqdm(total=len(todo), initial=len(todo) - len(pending), desc=f"jobs ({name})",
                  disable=not progress) as bar:
            busy = run_in_processes(pending, out, jobs, bar, variant={
                "base": base, "overrides": dict(overrides or {})})
        return [replace(load_job(j.folder(out)), running_elsewhere=j in busy) for j in todo]
    return [run_job(job, out, method=method, overrides=changed, progress=progress)
            for job in todo]
