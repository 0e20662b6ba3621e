"""``course-experiments``: the benchmark protocol for the SUM-GAN family, job by job.

    course-experiments run sum-gan-sl --dataset summe --splits 0-4 --seeds 0,1,2 --out results/
    course-experiments run sum-gan-sl-fast --option dpp --out results/
    course-experiments report --out results/
    course-experiments rarity --out results/
    course-experiments rarity --draws 0-5
    course-experiments run sum-gan-aae-fast --option recurrence --dataset synthetic-digits ...
    course-experiments run sum-gan-aae-fast --dataset synthetic@3 --out results/
    course-experiments run sum-gan-sl-fast --dataset summaries/my_videos.h5 --out results/

Each (model, dataset, tier, split, seed) is one job with its own folder under --out; a finished
job is skipped and an interrupted one resumes, so the same command continues a grid. --only
runs one job of the grid (for a cluster's job array), --jobs N runs N at a time. A job that
another process is running is skipped; then the exit status is 75 (run the command again later).
``rarity`` judges the finished synthetic runs again by annotators who value a scene's rarity
more or less (no training: only the labels change); with ``--draws``, it first says how much
room a summarizer that found rarity would have on other draws of the same kind of data.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from course_lib import experiments as ex
from course_lib.config import IMPROVEMENTS, SYNTHETIC_DATASETS, TIER_ENV_VAR, TIERS, improvement
from course_lib.errors import CourseError
from course_lib.experiments.rarity import (
    draw_lines,
    follow_lines,
    rarity_sweep,
    room_on_draws,
    sweep_lines,
    what_scores_follow,
)
from course_lib.registry import load_plugins
from course_lib.training import TrainingInterrupted

ONLY_KEYS = ("model", "split", "seed", "index")


def parse_numbers(text: str, what: str) -> list[int]:
    """``"0-4"``, ``"0,2,4"`` or ``"0-2,4"`` → a list of integers, each once. An open range
    (``"0-"``) or an empty list (an unset shell variable) is refused, not read as one number or
    as every one."""
    numbers = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last if dash else first)
        except ValueError:
            raise CourseError(f"--{what} {text!r} is not a list of numbers: write e.g. 0-4, "
                              "0,2,4 or 0-2,4.") from None
        if high < low:  # range() would be empty: nothing would run
            raise CourseError(f"--{what} {text!r}: the range {part.strip()} counts down, so it "
                              f"is empty; write it upwards, {high}-{low}.")
        numbers += range(low, high + 1)
    return list(dict.fromkeys(numbers))


def parse_only(text: str) -> dict[str, str]:
    """``"split=3,seed=2"`` → ``{"split": "3", "seed": "2"}``."""
    pairs = dict(part.partition("=")[::2] for part in text.split(","))
    if bad := [k for k, v in pairs.items() if k not in ONLY_KEYS or not v]:
        raise CourseError(f"--only {text!r}: {', '.join(map(repr, bad))} is not KEY=VALUE "
                          f"with KEY one of {', '.join(ONLY_KEYS)} (e.g. --only split=3,seed=2, "
                          "or --only index=$SLURM_ARRAY_TASK_ID).")
    return pairs


def check_tier(tier: str | None, *, from_environment: bool = False) -> None:
    """``--tier`` as given (or, for ``run``, ``$COURSE_TIER`` when it is not): an unknown name
    is refused with the command line's fix, before anything is read."""
    name, source = tier, "--tier"
    if name is None and from_environment:
        name, source = os.environ.get(TIER_ENV_VAR) or None, f"${TIER_ENV_VAR}"
    if name is not None and name.strip().lower() not in TIERS:
        raise CourseError(f"{source} {name!r} is not a tier: use one of {', '.join(TIERS)}"
                          + ("." if source == "--tier" else f", or unset {TIER_ENV_VAR}."))


def select(jobs: list[ex.Job], only: dict[str, str]) -> list[ex.Job]:
    """The jobs --only names; an empty selection is an error that lists the grid."""
    if "index" in only:
        index, *more = parse_numbers(only["index"], "only index")
        if more:
            raise CourseError(f"--only index={only['index']}: give one job's index (a job "
                              "array's task runs one job each: index=$SLURM_ARRAY_TASK_ID).")
        if not 0 <= index < len(jobs):
            raise CourseError(f"--only index={index}: the grid has {len(jobs)} jobs, numbered "
                              f"0-{len(jobs) - 1}.")
        jobs = [jobs[index]]
    chosen = [j for j in jobs if all(str(getattr(j, k)) == v for k, v in only.items()
                                     if k != "index")]
    if not chosen:
        models = ", ".join(dict.fromkeys(j.model for j in jobs))
        splits, seeds = sorted({j.split for j in jobs}), sorted({j.seed for j in jobs})
        raise CourseError(f"--only {','.join(f'{k}={v}' for k, v in only.items())} matches no "
                          f"job of the grid (models {models}; splits {splits}; seeds {seeds}).")
    return chosen


def with_options(models: list[str], options: list[str]) -> list[str]:
    """Each model (once) with the improvements of every --option, repeated or joined by
    commas: a runner model of its own name, ``MODEL+OPTION+...``, checked before anything
    runs."""
    names = [name.strip() for text in options for name in text.split(",")]
    if "" in names:
        raise CourseError("--option names an empty improvement: give one of "
                          f"{', '.join(IMPROVEMENTS)}, or several joined by commas.")
    if names:
        improvement(",".join(names))  # an unknown option, by its name
    models = [m + "".join(f"+{n}" for n in names) for m in dict.fromkeys(models)]
    for name in models:
        ex.check_model(name)
    return models


def run(args) -> int:
    if args.jobs < 1:
        raise CourseError(f"--jobs {args.jobs}: run at least one job at a time (--jobs 1, the "
                          "default, runs them one after another).")
    args.models = with_options(args.models, args.option)
    ex.check_out(args.out, writing=False)
    check_tier(args.tier, from_environment=True)
    dataset = ex.check_dataset(args.dataset)
    tier = ex.resolve_tier(args.tier, verbose=False)
    seeds = parse_numbers(args.seeds, "seeds")
    splits = ex.check_splits(dataset, tier, parse_numbers(args.splits, "splits")
                             if args.splits is not None
                             else range(len(ex.load_data(dataset, tier)[1])))
    jobs = ex.grid(args.models, dataset, tier, list(splits), seeds)
    if args.only:
        jobs = select(jobs, parse_only(args.only))
    models = list(dict.fromkeys(j.model for j in jobs))  # those --only kept
    print(f"{len(jobs)} job(s) of {', '.join(models)} on {args.dataset} ({tier} tier) "
          f"in {args.out}: splits {ex.number_ranges([j.split for j in jobs])}, seeds "
          f"{ex.number_ranges([j.seed for j in jobs])}.")
    # --only keeps a product of models, splits and seeds (or one job): a grid again.
    grid = (models, dataset, tier,
            sorted({j.split for j in jobs}), sorted({j.seed for j in jobs}), args.out)
    results = ex.run_grid(*grid, jobs=args.jobs)
    done = sum(r.finished for r in results)
    busy = [r for r in results if r.running_elsewhere and not r.finished]
    print(f"Done: {done} of {len(results)} job(s) finished in {args.out}"
          + (f"; {len(busy)} skipped: another process is running them (run this command again "
             "once it has stopped)" if busy else "")
          + f". Compare them with: course-experiments report --out {args.out}")
    if notes := {r.note for r in results if r.note}:
        print(*notes, sep="\n")
    return ex.BUSY_EXIT if busy else 0


def report(args) -> int:
    check_tier(args.tier)
    paths = ex.report(args.out, dataset=args.dataset, tier=args.tier, models=args.models,
                      splits=None if args.splits is None else parse_numbers(args.splits, "splits"),
                      seeds=None if args.seeds is None else parse_numbers(args.seeds, "seeds"))
    for path in paths:
        if path.name == "comparison.md":
            print(path.read_text())
    print("Wrote " + ", ".join(map(str, paths)))
    return 0


def rarity(args) -> int:
    try:
        weights = [float(w) for w in args.weights.split(",")]
    except ValueError:
        raise CourseError(f"--weights {args.weights}: give numbers in [0, 1] joined by commas, "
                          "e.g. 0,0.3,0.7,1.") from None
    check_tier(args.tier)
    if args.out is None and args.draws is None:
        raise CourseError("give --out (the results folder whose runs to judge) or --draws "
                          "(the seeds of the draws of the data to measure the room on), or both.")
    if args.draws is not None:
        rooms = room_on_draws(args.tier or "laptop", parse_numbers(args.draws, "draws"), weights,
                              args.dataset)
        print("\n".join(draw_lines(rooms)))
        print("Room: the ceiling with its ties broken minus the best heuristic, paired by the "
              "draw's 5 splits (95 % t-interval); the course's own draw is 0.\n")
        if args.out is None:
            return 0
    if not ex.check_out(args.out, writing=False).is_dir():
        raise CourseError(f"The results folder {args.out} (--out) does not exist: give the "
                          "folder of your runs (course-experiments run ... --out FOLDER).")
    results = ex.load_results(args.out, dataset=args.dataset, tier=args.tier)
    tier = args.tier or next((r.job.tier for r in results if r.finished), "laptop")
    others = sorted({r.job.tier for r in results if r.finished} - {tier})
    print(f"Runs of {args.dataset} at the {tier} tier in {args.out}"
          + (f" (it also holds {', '.join(others)}-tier runs: --tier picks them)" if others
             else "") + ".")
    print("\n".join(sweep_lines(rarity_sweep(results, tier, weights, dataset=args.dataset))))
    print("F: final epoch, mean over the runs; − X: mean paired difference with its 95 % "
          "t-interval over the (split, seed) runs.\n")
    print("\n".join(follow_lines(what_scores_follow(results, tier, args.dataset))))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; bad input is reported in one message, exit status 1."""
    try:
        load_plugins()  # your own summarizers, named in $COURSE_SUMMARIZERS
    except CourseError as error:
        print(f"course-experiments: {error}", file=sys.stderr)
        return 1
    parser = argparse.ArgumentParser(prog="course-experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("run", help="train the jobs of a grid (skips finished ones)")
    sub.add_argument("models", nargs="+", metavar="MODEL",
                     help=f"one or more of {', '.join(ex.MODELS)}; MODEL+OPTION (e.g. "
                     "sum-gan-aae-fast+spread) is that model with improvement options, as "
                     "--option makes it")
    sub.add_argument("--dataset", default="synthetic",
                     help=f"{', '.join(ex.DATASETS)}, synthetic@N or synthetic-digits@N (the "
                     "data drawn from seed N: other videos, annotators and splits of the same "
                     "kind), or an "
                     "h5 file of your own videos written by course-summarize (default: "
                     "synthetic)")
    sub.add_argument("--splits", help="e.g. 0-4 or 0,2 (default: every split)")
    sub.add_argument("--seeds", default="0,1,2", help="e.g. 0-2 or 0,1,2 (default: 0,1,2)")
    sub.add_argument("--tier", help="smoke, laptop or paper (default: $COURSE_TIER, else "
                     "paper on a CUDA GPU and laptop otherwise)")
    sub.add_argument("--out", type=Path, required=True, help="the results folder")
    sub.add_argument("--jobs", type=int, default=1,
                     help="jobs at a time, in up to as many worker processes that each run "
                     "one job after another (one per GPU when there are several; on a CPU a "
                     "job of N threads, the paper tier's, counts N; default 1: one after "
                     "another in this process)")
    sub.add_argument("--only", help="run only these jobs of the grid: split=K,seed=S "
                     "(either or both, and model=NAME), or index=I, the I-th job")
    sub.add_argument("--option", action="append", default=[],
                     help=f"train each model with an improvement: one of "
                     f"{', '.join(IMPROVEMENTS)}, or several joined by commas or given as "
                     "several --option; its jobs go under MODEL+OPTION (options in another "
                     "order name another model, with jobs of its own)")
    sub = commands.add_parser("report", help="write the comparison table and figures")
    sub.add_argument("--out", type=Path, required=True, help="the results folder")
    sub.add_argument("--dataset", help="only this dataset's results")
    sub.add_argument("--tier", help="only this tier's results")
    sub.add_argument("--models", nargs="+", metavar="MODEL",
                     help="the grid's models (default: those found)")
    sub.add_argument("--splits", help="the grid's splits (default: every split of the data)")
    sub.add_argument("--seeds", help="the grid's seeds (default: those found)")
    sub = commands.add_parser("rarity", help="judge the synthetic runs by annotators who "
                              "value rarity more or less (no training: the labels change only), "
                              "or, with --draws, measure without runs how much room other draws "
                              "of the data leave (give --out, --draws or both)")
    sub.add_argument("--out", type=Path, help="the results folder whose runs to judge")
    sub.add_argument("--tier", help="only this tier's runs (default: that of the first found; "
                     "with --draws alone, laptop)")
    sub.add_argument("--draws", help="measure, without any runs, how far knowing every "
                     "digit's rarity would beat the best heuristic (the room) on these draws of "
                     "the data, e.g. 0-11 (their seeds; 0 is the course's draw)")
    sub.add_argument("--weights", default="0,0.3,0.7,1", help="the annotators' rarity weights, "
                     "each in [0, 1] (default: 0,0.3,0.7,1; the data's own is 0.3)")
    sub.add_argument("--dataset", default="synthetic", help=f"{' or '.join(SYNTHETIC_DATASETS)} "
                     "(the same videos with features that show the digit), either with @N for "
                     "its draw from seed N (default: synthetic)")
    args = parser.parse_args(argv)
    before = {sig: signal.signal(sig, handler) for sig, handler in _STOP_HANDLERS.items()}
    try:
        return {"run": run, "report": report, "rarity": rarity}[args.command](args)
    except CourseError as error:
        print(f"course-experiments {args.command}: {error}", file=sys.stderr)
        return 1
    except (TrainingInterrupted, KeyboardInterrupt):
        print(f"course-experiments {args.command}: interrupted; every job saved its last "
              "completed update. Run the same command again to resume.", file=sys.stderr)
        return 130
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _as_ctrl_c(signum, frame) -> None:
    os.kill(os.getpid(), signal.SIGINT)


# Ctrl-C stops a run cleanly even where it reached the process ignored (a script's `cmd &`,
# nohup), and kill, a scheduler's stop (SIGTERM) and a closed terminal stop it as Ctrl-C does.
_STOP_HANDLERS = {signal.SIGINT: signal.default_int_handler,
                  **{getattr(signal, name): _as_ctrl_c for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name)}}


if __name__ == "__main__":
    sys.exit(main())
