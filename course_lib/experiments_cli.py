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
import sys
from pathlib import Path

from course_lib import experiments as ex
from course_lib.config import IMPROVEMENTS, SYNTHETIC_DATASETS, improvement
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
    """``"0-4"``, ``"0,2,4"`` or ``"0-2,4"`` → a list of integers."""
    numbers = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise CourseError(f"--{what} {text!r} is not a list of numbers: write e.g. 0-4, "
                              "0,2,4 or 0-2,4.") from None
        if high < low:  # range() would be empty: nothing would run
            raise CourseError(f"--{what} {text!r}: the range {part.strip()} counts down, so it "
                              f"is empty; write it upwards, {high}-{low}.")
        numbers += range(low, high + 1)
    return numbers


def parse_only(text: str) -> dict[str, str]:
    """``"split=3,seed=2"`` → ``{"split": "3", "seed": "2"}``."""
    pairs = dict(part.partition("=")[::2] for part in text.split(","))
    if bad := [k for k, v in pairs.items() if k not in ONLY_KEYS or not v]:
        raise CourseError(f"--only {text!r}: {', '.join(map(repr, bad))} is not KEY=VALUE "
                          f"with KEY one of {', '.join(ONLY_KEYS)} (e.g. --only split=3,seed=2, "
                          "or --only index=$SLURM_ARRAY_TASK_ID).")
    return pairs


def select(jobs: list[ex.Job], only: dict[str, str]) -> list[ex.Job]:
    """The jobs --only names; an empty selection is an error that lists the grid."""
    if "index" in only:
        index = parse_numbers(only["index"], "only index")[0]
        if not 0 <= index < len(jobs):
            raise CourseError(f"--only index={index}: the grid has {len(jobs)} jobs, numbered "
                              f"0-{len(jobs) - 1}.")
        jobs = [jobs[index]]
    chosen = [j for j in jobs if all(str(getattr(j, k)) == v for k, v in only.items()
                                     if k != "index")]
    if not chosen:
        raise CourseError(f"--only {','.join(f'{k}={v}' for k, v in only.items())} matches no "
                          f"job of the grid (splits {sorted({j.split for j in jobs})}, seeds "
                          f"{sorted({j.seed for j in jobs})}).")
    return chosen


def run(args) -> int:
    for name in args.models:
        ex.check_model(name)
    if args.option:  # each model with the improvements: a runner model of its own name
        improvement(args.option)  # an unknown option is named before anything runs
        args.models = [f"{m}+{args.option.replace(',', '+')}" for m in args.models]
    dataset = ex.check_dataset(args.dataset)
    tier = ex.resolve_tier(args.tier, verbose=False)
    seeds = parse_numbers(args.seeds, "seeds")
    splits = ex.check_splits(dataset, tier, parse_numbers(args.splits, "splits")
                             if args.splits else range(len(ex.load_data(dataset, tier)[1])))
    jobs = ex.grid(args.models, dataset, tier, list(splits), seeds)
    if args.only:
        jobs = select(jobs, parse_only(args.only))
    print(f"{len(jobs)} job(s) of {', '.join(args.models)} on {args.dataset} ({tier} tier) "
          f"in {args.out}: splits {ex.number_ranges([j.split for j in jobs])}, seeds "
          f"{ex.number_ranges([j.seed for j in jobs])}.")
    # --only keeps a product of models, splits and seeds (or one job): a grid again.
    grid = (list(dict.fromkeys(j.model for j in jobs)), dataset, tier,
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
    paths = ex.report(args.out, dataset=args.dataset, tier=args.tier, models=args.models,
                      splits=args.splits and parse_numbers(args.splits, "splits"),
                      seeds=args.seeds and parse_numbers(args.seeds, "seeds"))
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
    results = ex.load_results(args.out, dataset=args.dataset, tier=args.tier)
    tier = args.tier or next((r.job.tier for r in results if r.finished), "laptop")
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
                     help=f"one or more of {', '.join(ex.MODELS)}")
    sub.add_argument("--dataset", default="synthetic",
                     help=f"{', '.join(ex.DATASETS)}, synthetic@N (the synthetic data drawn "
                     "from seed N: other videos, annotators and splits of the same kind), or an "
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
    sub.add_argument("--option", help=f"train each model with an improvement: one of "
                     f"{', '.join(IMPROVEMENTS)}, or several joined by commas; its jobs go "
                     "under MODEL+OPTION")
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
    try:
        return {"run": run, "report": report, "rarity": rarity}[args.command](args)
    except CourseError as error:
        print(f"course-experiments {args.command}: {error}", file=sys.stderr)
        return 1
    except (TrainingInterrupted, KeyboardInterrupt):
        print(f"course-experiments {args.command}: interrupted; every completed epoch is saved. "
              "Run the same command again to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
