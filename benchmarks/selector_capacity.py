"""Can the family's selector learn rarity at all? Told it directly, what does it learn?

Fits SUM-GAN-sl's compression layer and sLSTM by least squares to the digits' true rarity (uses
labels) and to the recurrence formula (label-free) on each split's training videos, and a
per-step ridge regression to the same targets, then prints what their test scores rank like and
their F under annotators of rarity weight 0, 0.3 (the data's) and 1
(:mod:`course_lib.experiments.capacity`).

Run:  OMP_NUM_THREADS=1 python benchmarks/selector_capacity.py --dataset synthetic-digits
      (laptop tier, 5 splits: about 8 minutes on one core)
      OMP_NUM_THREADS=1 python benchmarks/selector_capacity.py --videos 200 --splits 0,1 \
          --epochs 3,10,30   (8 times the training videos: about 8 minutes)
      python benchmarks/selector_capacity.py --tier smoke --splits 0 --epochs 1,2   (seconds)
"""

from __future__ import annotations

import argparse
import time

import torch

from course_lib.config import SYNTHETIC_DATASETS
from course_lib.errors import CourseError
from course_lib.experiments import capacity


def numbers(text: str) -> list[int]:
    """``"0,1,2"`` → [0, 1, 2], or an error argparse prints with the option's name."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers joined by commas, e.g. 0,1,2; "
                                         f"got {text!r}") from None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="laptop")
    parser.add_argument("--dataset", default="synthetic-digits", choices=SYNTHETIC_DATASETS)
    parser.add_argument("--splits", type=numbers, default="0,1,2,3,4",
                        help="comma-separated split indices")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=numbers, default=",".join(map(str, capacity.EPOCHS)),
                        help="comma-separated epochs at which the selector is judged")
    parser.add_argument("--videos", type=int, default=None,
                        help="that many synthetic videos instead of the tier's own number")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    try:
        rows, baselines = capacity.told_study(args.tier, args.dataset, args.splits, args.seed,
                                              args.epochs, videos=args.videos)
    except CourseError as error:  # bad splits, epochs or number of videos: say which, no trace
        parser.error(str(error))
    videos = f", {args.videos} videos" if args.videos else ""
    print(f"{args.dataset}, {args.tier} tier{videos}, seed {args.seed}")
    print("\n".join(capacity.told_lines(rows, baselines)))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
