"""Scoring 5 splits × 101 epochs on SumMe-sized data: vectorised knapsack vs the plain DP.

Run:  python benchmarks/bench_knapsack.py [--epochs 101]

This is what training the SUM-GAN family costs in evaluation (the reference scores every epoch
plus an "epoch -1" before training). Both runs go through the whole protocol of
``course_lib.evaluation`` (upsampling, float32 shot means, knapsack, F-scores) on the same random
per-video scores; only the knapsack solver differs. Uses the real SumMe annotations and their 5
standard splits where installed (``course-data summe``) or where a reference copy is present
(``$COURSE_SHARED_DATA``), else a stand-in with SumMe's video lengths and shot counts, on random
splits.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from course_lib import evaluation as ev
from course_lib.data import reference_file
from course_lib.data.summarization import (
    SummarizationDataset,
    VideoRecord,
    load_annotations,
    load_splits,
    make_splits,
    splits_file,
)

# SumMe's frame counts (Gygli et al. 2014), for the stand-in when the real annotations are absent.
SUMME_FRAMES = (4494, 4729, 3341, 3064, 5131, 5075, 9046, 1286, 4971, 9721, 1612, 950, 3187,
                4608, 6096, 3065, 6683, 2221, 1751, 3863, 9672, 5178, 4382, 2574, 3120)


def stand_in(rng: np.random.Generator) -> SummarizationDataset:
    """25 videos with SumMe's lengths, shots of ~150 frames, 15 random users each."""
    videos = {}
    for i, n in enumerate(SUMME_FRAMES, 1):
        cuts = np.sort(rng.choice(np.arange(1, n), size=n // 150 - 1, replace=False))
        bounds = np.concatenate([[0], cuts, [n]])
        videos[f"video_{i}"] = VideoRecord(
            key=f"video_{i}", n_frames=n, picks=np.arange(0, n, 15),
            change_points=np.stack([bounds[:-1], bounds[1:] - 1], axis=1),
            user_summary=rng.random((15, n)) < 0.15)
    return SummarizationDataset("summe-sized stand-in", videos, "max", "random")


def score_all(dataset, splits, scores, solver) -> tuple[float, np.ndarray]:
    """Evaluate every (split, epoch) as training would; return seconds and the F-score table."""
    start = time.perf_counter()
    table = np.array([[e.mean for e in ev.evaluate_epochs(dataset, scores[s], split.test_keys,
                                                          solver=solver)]
                      for s, split in enumerate(splits)])
    return time.perf_counter() - start, table


def same_selections(dataset, splits, scores) -> bool:
    """Whether both solvers pick exactly the same frames for every (split, epoch, video)."""
    for s, split in enumerate(splits):
        for epoch_scores in scores[s]:
            for key in split.test_keys:
                r = dataset[key]
                args = (epoch_scores[key], r.change_points, r.picks, r.n_frames)
                if not np.array_equal(ev.generate_summary(*args, solver="vectorised"),
                                      ev.generate_summary(*args, solver="dp")):
                    return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=101,
                        help="epochs scored per split (default 101: the reference's 100 and "
                             "its epoch -1); the speed-up grows with it, as the DP's share does")
    parser.add_argument("--seed", type=int, default=0, help="seeds the random scores")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    dataset = load_annotations("summe")  # the installed file first, then the reference copy
    split_path = next((path for path in (splits_file("summe"),
                                         reference_file("splits", "summe_splits.json"))
                       if path is not None and path.exists()), None)
    if dataset is None:
        dataset = stand_in(rng)
    splits = (load_splits(split_path, dataset) if split_path and dataset.name == "summe"
              else make_splits(dataset.keys(), rng=rng))
    scores = [[ev.random_scores(dataset, split.test_keys, rng) for _ in range(args.epochs)]
              for split in splits]
    n_videos = sum(len(s.test_keys) for s in splits) * args.epochs
    print(f"{dataset.name} ({dataset.source}): {len(splits)} splits × {args.epochs} epochs = "
          f"{n_videos} test-video evaluations")
    fast_s, fast_f = score_all(dataset, splits, scores, "vectorised")
    plain_s, plain_f = score_all(dataset, splits, scores, "dp")
    identical = same_selections(dataset, splits, scores)
    print(f"vectorised knapsack: {fast_s:8.2f} s")
    print(f"plain per-cell DP:   {plain_s:8.2f} s")
    print(f"speed-up: {plain_s / fast_s:.1f}×   identical selections: {identical}   "
          f"identical F-scores: {np.array_equal(fast_f, plain_f)}")
    print(f"mean F over splits of the last epoch: {fast_f[:, -1].mean():.2f} %")


if __name__ == "__main__":
    main()
