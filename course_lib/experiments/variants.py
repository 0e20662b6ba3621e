"""A change to one of the runner's models, trained on the same grid under its own name.

Notebook 06's "your improvement" runs a student's change this way, so that its jobs are
resumable, skipped when finished and compared with the paired statistics of
:mod:`course_lib.comparison` (:func:`~course_lib.comparison.improvement_report`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields, replace
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.experiments.grid import interrupt, slots_needed
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
    ``config.json`` recording the change. ``jobs`` > 1 runs jobs in their own processes, as many
    at a time as the runner would (a job of N threads counts N); a change by ``build`` or ``fit``
    (a function another process cannot import) runs here, one job after another.
    """
    spec = check_model(base)
    if name in MODELS:
        raise CourseError(f"{name!r} is one of the runner's models: give the variant a name of "
                          f"its own, e.g. {base + '-mine'!r}, so its results never mix.")
    config = spec.config(tier, overrides)
    plain = spec.method.config(config.tier, verbose=False)
    changed = {f.name: getattr(config, f.name) for f in fields(config)
               if getattr(config, f.name) != getattr(plain, f.name)}
    method = replace(spec.method, name=name, build=build or spec.method.build,
                     fit=fit or spec.method.fit)
    todo = [Job(name, dataset, config.tier, k, s) for k in splits for s in seeds]
    if jobs > 1 and build is None and fit is None:
        _variant_processes(todo, base, dict(overrides or {}), out,
                           max(1, jobs // slots_needed(config, jobs)))
        return [load_job(job.folder(out)) for job in todo]
    return [run_job(job, out, method=method, overrides=changed, progress=progress)
            for job in todo]


_VARIANT_JOB = ("import json, sys\n"
                "from course_lib.experiments.variants import run_variant\n"
                "a = json.loads(sys.argv[1])\n"
                "run_variant(a['name'], a['base'], a['dataset'], a['tier'], [a['split']], "
                "[a['seed']], a['out'], overrides=a['overrides'], progress=False)\n")


def _variant_processes(todo: Sequence, base: str, overrides: dict, out, jobs: int) -> None:
    """Each job of a configuration-only variant in its own process, ``jobs`` at a time, its
    output in ``<out>/logs/``; Ctrl-C stops them all between two updates."""
    logs = Path(out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    queue = [j for j in todo if not (j.folder(out) / FINISHED).exists()]
    running, failed = {}, []
    try:
        while queue or running:
            while queue and len(running) < jobs:
                job = queue.pop(0)
                log = logs / f"{job.dataset}-{job.tier}-{job.model}-split{job.split}-seed" \
                             f"{job.seed}.log"
                args = {"name": job.model, "base": base, "dataset": job.dataset,
                        "tier": job.tier, "split": job.split, "seed": job.seed, "out": str(out),
                        "overrides": overrides}
                with open(log, "w") as handle:
                    running[subprocess.Popen([sys.executable, "-c", _VARIANT_JOB,
                                              json.dumps(args)], env=env, stdout=handle,
                                             stderr=subprocess.STDOUT,
                                             start_new_session=True)] = (job, log)
            time.sleep(0.5)
            for process in [p for p in running if p.poll() is not None]:
                job, log = running.pop(process)
                if process.returncode:
                    failed.append(f"{job} (see {log})")
    except KeyboardInterrupt:
        interrupt(running)
        raise
    if failed:
        raise CourseError(f"{len(failed)} variant job(s) failed: {'; '.join(failed)}.")
