"""``course-summarize``: summarize your own video with a trained model of the course.

    course-summarize my_video.mp4 --model sum-gan-sl --out summaries/
    course-summarize my_videos/ --h5-only --features googlenet --out data/mine/

Decodes the video, samples it at 2 frames per second, computes GoogLeNet pool5 features (the
benchmark's; ImageNet weights downloaded once) or the weight-free fallback, cuts KTS shots,
scores them with the model and keeps 15 % of the video by the knapsack. Writes the summary video,
a storyboard, the scores plot and an h5 file in the eccv16 layout (a folder of videos gives one
h5 with one group per video). Existing outputs are kept unless --overwrite; nothing is written
before every video has been read and scored, and then every output is written or none is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.evaluation import BUDGET
from course_lib.video import VideoError, decode
from course_lib.video import pipeline as pl
from course_lib.video.features import DIMS, KINDS, make_extractor
from course_lib.video.summarizers import NOTEBOOK_RUNS, check_features, load_summarizer

DEFAULT_MODEL = "sum-gan-sl"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="course-summarize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", type=Path, help="a video file, or a folder of videos")
    parser.add_argument("--model", default=None, help=f"a checkpoint file, a course-experiments "
                        f"job folder, or one of {', '.join(NOTEBOOK_RUNS)} (the checkpoint of "
                        f"notebook 03's, 04's or 05's main run: its first seed, at $COURSE_TIER's "
                        f"tier first; default {DEFAULT_MODEL})")
    parser.add_argument("--trained-on", default=None, help="the dataset a notebook checkpoint "
                        "was trained on: synthetic (the notebooks' default), summe or tvsum; job "
                        "folders record it")
    parser.add_argument("--budget", type=float, default=BUDGET,
                        help="the summary's share of the video (default 0.15)")
    parser.add_argument("--out", type=Path, default=Path("summaries"),
                        help="output folder (default ./summaries)")
    parser.add_argument("--features", choices=KINDS, default=None, help="default: what the model "
                        "was trained on; googlenet with --h5-only and no --model")
    parser.add_argument("--random-weights", action="store_true", help="GoogLeNet with random "
                        "weights (for timing and tests: its features mean nothing)")
    parser.add_argument("--h5-only", action="store_true",
                        help="only the h5 file of features and shots (no model needed)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return parser.parse_args(argv)


def videos_of(path: Path) -> list[Path]:
    """The file itself, or the videos of a folder (by suffix, sorted)."""
    if not path.is_dir():
        return [path]
    found = sorted(p for p in path.iterdir() if p.suffix.lower() in pl.VIDEO_SUFFIXES)
    if not found:
        raise VideoError(f"the folder {path} holds no videos (files ending in "
                         f"{', '.join(pl.VIDEO_SUFFIXES)}).")
    return found


def run(args: argparse.Namespace) -> list[Path]:
    """Check everything, read and score every video, and only then write: a bad file late in a
    folder, or a typo, stops the run before any output exists. If writing stops (Ctrl-C, a full
    disk), no output is written or replaced and the folders this run made are removed, so the
    same command starts again (outputs.all_at_once)."""
    from course_lib.video import outputs

    if not args.h5_only:
        pl.check_budget(args.budget)
    videos = videos_of(args.video)
    summarizer = None
    if not args.h5_only or args.model:
        summarizer = load_summarizer(args.model or DEFAULT_MODEL, trained_on=args.trained_on)
    kind = args.features or (summarizer.features if summarizer else "googlenet")
    scoring = summarizer is not None and not args.h5_only  # else the h5 of features alone
    folder = args.video.is_dir()
    paths = {v: pl.output_paths(v, args.out, args.h5_only) for v in videos}
    h5 = args.out / f"{args.video.resolve().name}.h5" if folder else paths[videos[0]]["h5"]
    for p in paths.values():
        p.pop("h5")
    everything = [h5] + [q for p in paths.values() for q in p.values()]
    stems: dict[str, list[str]] = {}
    for video in videos:
        stems.setdefault(video.stem, []).append(video.name)
    if clashes := [names for names in stems.values() if len(names) > 1]:
        raise VideoError(f"{' and '.join(clashes[0])} have the same name before their suffix, "
                         "so their outputs would collide: rename one.")
    if kind not in KINDS:
        raise VideoError(f"unknown features {kind!r}: choose one of {', '.join(KINDS)}.")
    if args.random_weights and kind != "googlenet":
        raise VideoError(f"--random-weights draws GoogLeNet's weights; the {kind} features have "
                         "none: leave it out, or add --features googlenet.")
    if scoring:
        check_features(summarizer, kind, DIMS[kind])
    for video in videos:  # a missing or broken file is said before the features' banner
        decode.probe(video)
    new_folders = {f for p in everything for f in p.parents if not f.exists()}
    try:
        outputs.check_outputs(everything, args.overwrite)
        extractor = make_extractor(kind, weights=None if args.random_weights else "imagenet")
        summaries = []
        for i, path in enumerate(videos, start=1):
            video = pl.analyse(path, extractor, key=f"video_{i}", progress=True)
            if scoring:
                video = pl.select(video, summarizer, args.budget)
            summaries.append(video)
            print(video.describe())
        written = [h5]
        with outputs.all_at_once():
            if scoring:
                for path, video in zip(videos, summaries, strict=True):
                    written += pl.write_outputs(video, paths[path], overwrite=args.overwrite,
                                                progress=True).values()
            outputs.write_h5([video.record for video in summaries], h5, name=args.video.stem)
    except BaseException:
        for made in sorted(new_folders, key=lambda f: len(f.parts), reverse=True):
            # the deepest first, and only where the run left nothing in it
            if made.is_dir() and not any(made.iterdir()):
                made.rmdir()
        raise
    used = [extractor.description, "KTS shots"]
    if scoring:
        used[1:1] = [f"model {summarizer.name} from {summarizer.source}"]
        used.append(f"{args.budget:.0%} budget by the knapsack")
    print("used: " + "; ".join(used))
    return written


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        written = run(args)
    except CourseError as error:
        print(f"course-summarize: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("course-summarize: interrupted; no output was written or replaced, so the same "
              "command starts it again.", file=sys.stderr)
        return 130
    print("wrote:\n" + "\n".join(f"  {p}" for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
