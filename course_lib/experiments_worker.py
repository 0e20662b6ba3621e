"""A job process that runs jobs one after another: ``course-experiments run --jobs N`` starts
up to N of them (:func:`~course_lib.experiments.grid.run_in_processes`). Importing PyTorch and
the course and making the data took 5-6 s of every laptop job when each job had a process of its
own (on the 2-core AMD EPYC with AVX2 only: 8-20 % of a laptop job); here each process pays them
once.

Reads one job per line on stdin (JSON: the job's fields, the results folder, the job's log file
and, for a change of a runner's model, ``variant``), sends everything the job prints to its log
and, when it ends, writes one word on stdout: ``finished``, ``busy`` (another process holds its
folder's lock) or ``failed`` (the log says why). Anything else this process prints goes to
stderr, never among the words. Ctrl-C (SIGINT) stops the job between two updates, saved, and
ends the process. Every job seeds and sets its threads itself, so it gives the same numbers as
in a process of its own. It stands outside :mod:`course_lib.experiments` so that ``python -m``
imports nothing heavy before :func:`main` makes Ctrl-C work (a package's ``__init__`` runs
first).
"""

import contextlib
import json
import os
import signal
import sys
import traceback


def main() -> int:
    # A process started with SIGINT ignored (``nohup ... &``) passes that on to its children,
    # and then Python would not turn Ctrl-C into KeyboardInterrupt: set before the imports.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return serve()
    except KeyboardInterrupt:  # into the log of the job it stopped, if it stopped one
        print("interrupted; every completed update is saved. Run the same command again to "
              "resume.", file=sys.stderr, flush=True)
        return 130


def serve() -> int:
    """Run the jobs that come on stdin until it closes; 1 where your summarizers cannot be
    imported."""
    reports = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a plugin's print is not a word
    errors = os.fdopen(os.dup(sys.stderr.fileno()), "w")
    from course_lib.errors import CourseError  # imported once Ctrl-C is handled
    from course_lib.experiments.jobs import Job
    from course_lib.registry import load_plugins

    try:
        load_plugins()  # your own summarizers, named in $COURSE_SUMMARIZERS
    except CourseError as error:
        print(f"course-experiments: {error}", file=sys.stderr)
        return 1
    for line in iter(sys.stdin.readline, ""):
        request = json.loads(line)
        with open(request["log"], "w") as log:
            _send_output_to(log)
            word = run_logged(Job(**request["job"]), request["out"], request["variant"])
            _send_output_to(errors)
        print(word, file=reports, flush=True)
    return 0


def run_logged(job, out: str, variant: dict | None) -> str:
    """Run ``job`` (``variant``: of that change of a model, ``{"base": MODEL, "overrides":
    {...}}``), printing what the command ``course-experiments run`` would about it; the word
    for how it ended."""
    from course_lib.errors import CourseError  # imported by main, once Ctrl-C is handled
    from course_lib.experiments.jobs import JobBusy, run_job
    from course_lib.experiments.variants import run_variant

    try:
        if variant is None:
            result = run_job(job, out, progress=True)
        else:
            (result,) = run_variant(job.model, variant["base"], job.dataset, job.tier,
                                    [job.split], [job.seed], out,
                                    overrides=variant["overrides"])
    except JobBusy as error:
        print(error)
        return "busy"
    except CourseError as error:
        print(f"course-experiments run: {error}", file=sys.stderr)
        return "failed"
    except Exception:  # noqa: BLE001 - one job's error is its log's, the other jobs go on
        traceback.print_exc()
        return "failed"
    print(f"{job}: finished in {result.folder}.")
    return "finished"


def _send_output_to(stream) -> None:
    """This process's stdout and stderr, Python's and the libraries' alike, into ``stream``."""
    for python, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        with contextlib.suppress(ValueError):  # already closed: nothing to flush
            python.flush()
        os.dup2(stream.fileno(), fd)


if __name__ == "__main__":
    sys.exit(main())
