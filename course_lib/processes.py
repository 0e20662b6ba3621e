"""Independent fits side by side: a fit's threads, the cores a process may use, and fits trained
in worker processes (notebook 01's two autoencoders, the SUM-GAN family's seeds and splits).

On a 2-core CPU one fit on two threads is far from twice as fast as on one, so two one-thread
fits at once finish sooner than the same fits one after the other on two threads (notebook 01's
two laptop autoencoders: 1.6-1.7× sooner on a 2-core AMD EPYC with AVX2).
"""

from __future__ import annotations

import contextlib
import functools
import io
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import torch
from tqdm.auto import tqdm

from course_lib.errors import CourseError
from course_lib.training import (
    LOADED_FINISHED,
    checkpoint_dir,
    random_states,
    set_random_states,
)

# The intra-op threads of a fit whose configuration names none (``cpu_threads``). A run's thread
# count fixes its numbers: oneDNN's LSTM gave the same bits on one and two threads, but a whole
# update does not (weights up to 1.6e-5 apart after one paper-size update), so each tier's
# configuration names its count (course_lib.config) and the checkpoint's key carries it.
CPU_THREADS = 1


def fit_threads(config) -> int:
    """The intra-op threads a fit of ``config`` trains on with a CPU: its ``cpu_threads``, or
    :data:`CPU_THREADS` where it has none (a summarizer of your own may leave it out)."""
    threads = getattr(config, "cpu_threads", CPU_THREADS)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise CourseError(f"cpu_threads must be a whole number >= 1 (a fit's intra-op threads "
                          f"on a CPU), got {threads!r}.")
    return threads


def available_cores() -> int:
    """The cores this process may run on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def cores_to_use(at_most: int) -> int:
    """How many cores this process may use, up to ``at_most``: those it may run on, fewer if
    OMP_NUM_THREADS asks for fewer threads (the experiment runner's jobs are asked for one)."""
    cores = available_cores()
    asked = os.environ.get("OMP_NUM_THREADS", "").strip()
    if asked.isdigit() and int(asked) > 0:
        cores = min(cores, int(asked))
    return max(1, min(at_most, cores))


@contextlib.contextmanager
def intra_op_threads(device: torch.device, threads: int) -> Iterator[None]:
    """On a CPU, ``threads`` intra-op threads (at most the cores this process may run on, where
    more would wait on each other), restored afterwards; a GPU's fit is left as it is."""
    if device.type != "cpu":
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(min(threads, available_cores()))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def fit_in_processes(fits: Sequence[functools.partial], processes: int | None = None, *,
                     first_here: bool = False) -> list[Any]:
    """Each of ``fits`` (a fit function and its arguments: ``functools.partial(fit_sum_gan_sl,
    model, config, dataset, split, seed=s)``) trained in worker processes, ``processes`` at a
    time (default: as many as the cores this process may use hold, each fit on its
    configuration's threads), then loaded here from its checkpoint. Returns what the fits return.

    A fit trains on its configuration's threads (one at the smoke and laptop tiers), so
    independent one-thread fits in two processes finish sooner on two cores, and each gives the
    same bits as in this process. ``first_here``: the first fit trains in this process, with its
    live figure, while the others train in workers beside it (this process counts as one of
    ``processes``; a worker's error is raised once the fit here has finished).
    Here instead, one after the other: one process or one fit, a model on a GPU, or a fit with
    ``checkpoint=False`` (nothing to load it from). Ctrl-C, or an error here, stops every worker
    between two updates, as it stops a fit here (each saves its checkpoint: the same call
    resumes them). Afterwards the global random state is the one the fits in this process left,
    not a worker's (whose NumPy state came from the operating system's entropy)."""
    if not fits:
        return []
    if processes is None:  # as many as the cores hold, each fit on its threads
        threads = max(fit_threads(_config(f)) for f in fits)
        processes = cores_to_use(len(fits) * threads) // threads
    here = fits[0] if first_here else None
    others = [functools.partial(f, live=False) for f in fits[first_here:]]  # no figure each
    here_only = processes < 2 or len(fits) < 2 or any(
        f.keywords.get("checkpoint", True) is False or _on_gpu(f) for f in fits)
    if not here_only and (problem := _unwritable_checkpoints()):  # a worker's model is lost
        print(f"The checkpoint folder {checkpoint_dir()} cannot be written ({problem}), and a "
              "model trained in another process comes back only through its checkpoint: "
              "training the fits here, one after the other. Set COURSE_CHECKPOINT_DIR to a "
              "writable folder to train them side by side (and keep them).")
        here_only = True
    if here_only:
        return [f() for f in ([here] if here else []) + others]
    pool = ProcessPoolExecutor(processes - first_here,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker)
    try:
        futures = [pool.submit(_fit_in_worker, f) for f in others]
        first = [here()] if here else []
        for future in tqdm(as_completed(futures), total=len(futures), desc="fits in processes"):
            future.result()  # a worker's error, raised here
        trained = [future.result() for future in futures]
    except BaseException:  # Ctrl-C or an error: stop each worker between updates, saving
        for worker in list((pool._processes or {}).values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGINT)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    # Each loaded from the checkpoint its worker finished. Loading says "Loaded the finished
    # run ... To train again, move that file away", which reads as a stale run left from
    # before: one line says what happened instead.
    states = random_states()  # loading a worker's run restores the worker's random state
    with contextlib.redirect_stdout(io.StringIO()):
        runs = [f() for f in others]
    set_random_states(states)
    print(_what_the_workers_did(runs, trained))
    return first + runs


def _unwritable_checkpoints() -> str | None:
    """Why no checkpoint can be written in :func:`checkpoint_dir` (it cannot be made, is read-only,
    the disk is full), or ``None``."""
    folder = checkpoint_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return None


def _fit_in_worker(fit: functools.partial) -> bool:
    """``fit()`` in a worker; whether it trained (``False``: it found its run finished before
    and only loaded it), so that the caller does not report a loaded run as trained now."""
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        fit()
    return LOADED_FINISHED not in said.getvalue()


def _what_the_workers_did(runs: Sequence[Any], trained: Sequence[bool]) -> str:
    """One line for the workers' fits: how many trained and for how long, and how many had
    finished before (an earlier run of the cell, or another notebook) and were only
    loaded."""
    seconds = sorted(getattr(run, "history", run).seconds  # a run or a History
                     for run, new in zip(runs, trained, strict=True) if new)
    loaded = len(runs) - len(seconds)
    found = (f"{loaded} {'fit' if loaded == 1 else 'fits'} had finished before (an earlier run of "
             "this cell, or another notebook) and only loaded")
    if not seconds:
        return f"{found} from {'its checkpoint' if loaded == 1 else 'their checkpoints'}."
    low, high = f"{seconds[0]:.0f}", f"{seconds[-1]:.0f}"
    done = (f"1 fit done in a worker process ({low} s of training)" if len(seconds) == 1 else
            f"{len(seconds)} fits done in worker processes "
            f"({low if low == high else f'{low}-{high}'} s of training each)")
    if loaded:
        return f"{done}; {found}; all read back here from their checkpoints."
    return (f"{done}, read back here from "
            f"{'the checkpoint it saved' if len(seconds) == 1 else 'the checkpoints they saved'}.")


def _start_worker() -> None:
    """Quiet, and stopped by Ctrl-C. A worker's progress bars would interleave with the others'
    in the caller's output (in Jupyter, the notebook's: the workers inherit its streams); its
    errors come back through its result instead. The caller stops its workers with SIGINT,
    which a worker of a process that ignores it (started by ``nohup ... &``) would ignore too,
    training to its end while the call waits: so each takes Python's own handler."""
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the worker's life)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _config(fit: functools.partial):
    """The configuration of a fit function's call: ``fit(model, config, ...)``."""
    return fit.keywords["config"] if "config" in fit.keywords else fit.args[1]


def _on_gpu(fit: functools.partial) -> bool:
    return any(isinstance(a, torch.nn.Module) and next(a.parameters()).device.type != "cpu"
               for a in (*fit.args, *fit.keywords.values()))
