"""``course-data``: download the course's data sets, e.g. ``course-data mnist``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from course_lib.data import DataError
from course_lib.data.mnist import download_mnist, mnist_dir
from course_lib.data.moving_mnist import download_moving_mnist_test, moving_mnist_test_path
from course_lib.data.summarization import download_summarization, summarization_dir

# Subcommand -> (what it downloads, default folder, download function taking the folder).
COMMANDS: dict[str, tuple[str, Callable[[], Path], Callable[[Path], Path]]] = {
    "mnist": ("the MNIST digits (4 files, ~11 MB)", mnist_dir, download_mnist),
    "moving-mnist-test": (
        "the standard Moving MNIST test set mnist_test_seq.npy (~819 MB)",
        lambda: moving_mnist_test_path().parent,
        download_moving_mnist_test,
    ),
    **{name: (f"the {title} GoogLeNet feature file (eccv16 layout) and its 5 splits",
              summarization_dir, partial(download_summarization, name))
       for name, title in (("summe", "SumMe"), ("tvsum", "TVSum"))},
}


def main(argv: list[str] | None = None) -> int:
    """Run one download subcommand; a data error is reported in one message, exit status 1."""
    parser = argparse.ArgumentParser(prog="course-data", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    for name, (what, default, _) in COMMANDS.items():
        sub = subcommands.add_parser(name, help=f"download {what}")
        sub.add_argument("--dest", type=Path, help=f"folder to save into (default: {default()})")
    args = parser.parse_args(argv)
    _, default, fetch = COMMANDS[args.command]
    try:
        where = fetch(args.dest or default())
    except DataError as error:
        print(f"course-data {args.command}: {error}", file=sys.stderr)
        return 1
    print(f"Done: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
