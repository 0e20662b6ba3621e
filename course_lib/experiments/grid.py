"""The grid of jobs: which jobs a grid has, which are missing, and running them one after
another or several at a time in worker processes."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from course_lib.config import resolve_tier
from course_lib.errors import CourseError
from course_lib.experiments.jobs import (
    FINISHED,
    MODELS,
    Job,
    JobBusy,
    JobResult,
    check_model,
    check_out,
    check_splits,
    claim_folder,
    dataset_folder,
    job_config,
    load_data,
    load_job,
    run_job,
)
from course_lib.processes import fit_threads


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
    """Run every job of the grid (finished ones are skipped): :func:`run_jobs` on
    :func:`grid`."""
    tier = resolve_tier(tier, verbose=False)
    splits, seeds = check_splits(dataset, tier, splits), list(seeds)
    todo = grid(models, dataset, tier, splits, seeds)
    if not todo:
        raise CourseError(f"The grid is empty (models {list(models)}, splits {splits}, "
                          f"seeds {seeds}), so nothing would run: give at least one of "
                          "each.")
    return run_jobs(todo, out, jobs=jobs, progress=progress)


def run_jobs(todo: Sequence[Job], out: str | Path, *, jobs: int = 1,
             progress: bool = True) -> list[JobResult]:
    """Run the jobs not yet finished, in the order given: one after another in this process,
    or ``jobs`` at a time in worker processes (one per GPU when there are several). Several
    grids in one call keep every process busy to the end; put the longest jobs first (each
    worker takes the next job when its last one ends). A job that another process is running
    is skipped with a message, and its result says ``running_elsewhere``."""
    todo = list(dict.fromkeys(todo))
    for job in todo:
        check_model(job.model)
    check_out(out)
    for dataset, tier in dict.fromkeys((j.dataset, j.tier) for j in todo):
        data, all_splits = load_data(dataset, tier)
        check_splits(dataset, tier, {j.split for j in todo if j.dataset == dataset})
        for job in (j for j in todo if (j.dataset, j.tier) == (dataset, tier)):
            # every folder is checked before anything trains
            claim_folder(job.folder(out), job_config(job, MODELS[job.model], data,
                                                     all_splits[job.split]))
    pending = [j for j in todo if not (j.folder(out) / FINISHED).exists()]
    names = ", ".join(dict.fromkeys(f"{dataset_folder(j.dataset)}, {j.tier}" for j in todo))
    bar = tqdm(total=len(todo), initial=len(todo) - len(pending), desc=f"jobs ({names})",
               disable=not progress)
    busy, started = [], time.monotonic()
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
            busy = run_in_processes(pending, out, jobs, bar)
    finally:
        bar.close()
    if pending and progress:  # what the bar showed, kept where a saved notebook shows it at 0 %
        minutes, seconds = divmod(round(time.monotonic() - started), 60)
        print(f"jobs ({names}): {len(pending) - len(busy)} trained in {minutes} min {seconds} s "
              f"({jobs} at a time), {len(todo) - len(pending)} loaded"
              + (f", {len(busy)} left to the process running them" if busy else "") + ".")
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


BUSY_EXIT = 75  # the exit status of ``course-experiments run`` that skipped a running job


def slots_needed(config, jobs: int) -> int:
    """How many of ``--jobs``' slots a job of ``config`` takes: one where a GPU trains it, else
    its threads (:func:`~course_lib.processes.fit_threads`; at most all of
    them), so that ``--jobs 2`` never runs two two-thread jobs on two cores at once (a fit
    whose threads share a core with another job wait on each other: 7-20 times slower,
    measured on the 2-core CPU)."""
    return 1 if torch.cuda.is_available() else min(jobs, fit_threads(config))


def run_in_processes(pending: list[Job], out: str | Path, jobs: int, bar, *,
                     variant: Mapping | None = None) -> list[Job]:
    """Up to ``jobs`` jobs at a time in worker processes (:mod:`course_lib.experiments_worker`,
    one per slot in use), each of which runs the jobs it is given one after another: on the CPU
    a job takes as many of the ``jobs`` slots as it has threads, on a GPU one (the slots spread
    over the GPUs where there are several); each job's output goes to ``<out>/logs/``. A failed
    job does not stop the others; Ctrl-C, or an error here, stops every worker, each job saved.
    ``variant`` (``{"base": MODEL, "overrides": {...}}``): the jobs are that change of a
    runner's model (:func:`~.variants.run_variant`). Returns the jobs skipped because another
    process was running them."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    logs = Path(out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    todo, running, failed, busy = list(pending), {}, [], []
    free, workers, reports = list(range(jobs)), {}, queue.Queue()
    try:
        while todo or running:
            while todo and len(free) >= (need := _slots(todo[0], jobs, variant)):
                job, slots = todo.pop(0), [free.pop(0) for _ in range(need)]
                worker = workers.get(slots[0])  # a job runs in the worker of its first slot
                if worker is None or worker.process.poll() is not None:
                    worker = workers[slots[0]] = _Worker(slots[0], gpus, reports)
                log = logs / f"{job.dataset}-{job.tier}-{job.model}-split{job.split}-seed" \
                             f"{job.seed}.log"
                worker.give(job, out, log, variant)
                running[worker] = (job, slots, log)
            with contextlib.suppress(queue.Empty):
                worker, word = reports.get(timeout=0.5)
                if worker not in running:  # it ended between two jobs
                    continue
                job, slots, log = running.pop(worker)
                free += slots
                if word is None:  # it ended in the middle of the job
                    with open(log, "a") as handle:
                        handle.write(f"\nThe process running {job} ended (status "
                                     f"{worker.ended()}).\n")
                if word == "busy":
                    tqdm.write(f"Skipped {job}: another process is running it (see {log}).")
                    busy.append(job)
                elif word != "finished":
                    failed.append((job, log))
                bar.update()
            bar.set_postfix_str(", ".join(_epochs_done(job, out) for job, _, _ in
                                          running.values()))
    except BaseException:  # Ctrl-C, or an error here: no worker goes on alone
        interrupt([w.process for w in workers.values()])
        raise
    for worker in workers.values():
        worker.ended()
    if failed:
        raise CourseError(f"{len(failed)} job(s) failed: " + "; ".join(
            f"{job} (see {log})" for job, log in failed))
    return busy


WORDS = ("finished", "busy", "failed")  # how a worker says a job ended


class _Worker:
    """A worker process (:mod:`course_lib.experiments_worker`) for slot ``slot``, and a thread
    that puts each word it reports, then ``None`` when it ends, into ``reports`` as ``(this
    worker, word)``."""

    def __init__(self, slot: int, gpus: int, reports: queue.Queue):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "TQDM_MININTERVAL": "10"}  # a fit sets its own threads
        if gpus > 1:
            env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "course_lib.experiments_worker"], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        threading.Thread(target=self._read, args=(reports,), daemon=True).start()

    def _read(self, reports: queue.Queue) -> None:
        for line in self.process.stdout:
            if line.strip() in WORDS:
                reports.put((self, line.strip()))
        reports.put((self, None))

    def give(self, job: Job, out: str | Path, log: Path, variant: Mapping | None) -> None:
        request = {"job": asdict(job), "out": str(out), "log": str(log), "variant": variant}
        with contextlib.suppress(OSError):  # it has just ended: its None report says so
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()

    def ended(self) -> int:
        """Tell the process that no job is coming (it ends), wait for it: its exit status."""
        with contextlib.suppress(OSError):  # it has ended already
            self.process.stdin.close()
        return self.process.wait()


def _slots(job: Job, jobs: int, variant: Mapping | None) -> int:
    spec = MODELS[variant["base"] if variant else job.model]
    return slots_needed(spec.config(job.tier, variant and variant["overrides"]), jobs)


def interrupt(processes) -> None:
    """Ctrl-C for running job processes: each saves its last completed step, then stops. A
    second Ctrl-C while they save stops them at once (each job resumes from its last
    checkpoint). On Windows the console's Ctrl-C has reached them already."""
    processes = [p for p in processes if p.poll() is None]
    for process in processes:
        if process.stdin is not None:  # a worker between two jobs ends at once
            with contextlib.suppress(OSError):
                process.stdin.close()
        if os.name != "nt":
            process.send_signal(signal.SIGINT)
    try:
        for process in processes:
            process.wait()
    except KeyboardInterrupt:
        for process in processes:
            process.kill()
        raise


def _epochs_done(job: Job, out: str | Path) -> str:
    """``"sum-gan split 0 seed 1: epoch 5/20"``: how far a running job is."""
    try:
        r = load_job(job.folder(out))
    except (CourseError, KeyError):  # not started yet, or being written
        return f"{job.model} split {job.split} seed {job.seed}: starting"
    done = int(r.epochs.max()) if len(r.epochs) else 0
    return f"{job.model} split {job.split} seed {job.seed}: epoch {done}/{r.total_epochs}"
