"""course-data: download the course's data sets, e.g. `course-data mnist`.

A download replaces files already there only once the new ones have arrived whole and passed
their checks; if it fails or is interrupted (Ctrl-C), the old files stay as they were.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple

from course_lib.data import DataError
from course_lib.data.mnist import download_mnist, mnist_dir
from course_lib.data.moving_mnist import download_moving_mnist_test, moving_mnist_test_path
from course_lib.data.summarization import (
    download_summarization,
    download_tvsum_annotations,
    summarization_dir,
)

FORCE_HELP = ("install a file that is valid but not the published one (summe, tvsum: another "
              "number of videos, features not 1024 wide, or videos without shots or user "
              "summaries; tvsum-annotations: fewer videos or another checksum; there it also "
              "downloads again a table that is already here)")


class Command(NamedTuple):
    """One subcommand: what it downloads, its default folder, and the download function."""

    what: str
    folder: Callable[[], Path]
    fetch: Callable[..., Path]


COMMANDS: dict[str, Command] = {
    "mnist": Command("the MNIST digits (4 files, ~11 MB)", mnist_dir, download_mnist),
    "moving-mnist-test": Command(
        "the standard Moving MNIST test set mnist_test_seq.npy (~819 MB)",
        lambda: moving_mnist_test_path().parent, download_moving_mnist_test),
    **{name: Command(f"the {title} GoogLeNet feature file (eccv16 layout) and its 5 splits",
                     summarization_dir, partial(download_summarization, name))
       for name, title in (("summe", "SumMe"), ("tvsum", "TVSum"))},
    "tvsum-annotations": Command(
        "TVSum's per-annotator 1-5 scores from the official release (a ~641 MB archive of "
        "which two small tables are kept)", summarization_dir, download_tvsum_annotations),
}
# The downloads without a published checksum, whose --force accepts a file that is valid but not
# the published one.
FORCEABLE = ("summe", "tvsum", "tvsum-annotations")


def main(argv: list[str] | None = None) -> int:
    """Run one download subcommand; a data error is reported in one message, exit status 1."""
    parser = argparse.ArgumentParser(prog="course-data", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    for name, (what, folder, _) in COMMANDS.items():
        sub = subcommands.add_parser(name, help=f"download {what}")
        sub.add_argument("--dest", type=_folder, help=f"folder to save into (default: "
                         f"{_describe(folder)}, where the notebooks and course-experiments look; "
                         "$COURSE_DATA_DIR moves that)")
        if name in FORCEABLE:
            sub.add_argument("--force", action="store_true", help=FORCE_HELP)
    args = parser.parse_args(argv)
    _, folder, fetch = COMMANDS[args.command]
    options = {"force": True} if getattr(args, "force", False) else {}
    before = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    try:
        where = fetch(args.dest or folder(), **options)
    except DataError as error:
        print(f"course-data {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"course-data {args.command}: interrupted; nothing was changed (the files already "
              "there, if any, are as they were).", file=sys.stderr)
        return 130
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    print(f"Done: {where}")
    return 0


# kill, timeout and a closed terminal stop a download as Ctrl-C does, so that it cleans up
STOP_SIGNALS = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _folder(text: str) -> Path:
    """--dest: ``~`` expanded (a quoted one reaches the program as it is); empty refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty folder name: give a folder, or leave --dest "
                                         "out for the default")
    return Path(text).expanduser()


def _describe(folder: Callable[[], Path]) -> str:
    """The default folder for --help; a misconfigured one is reported when a download runs."""
    try:
        return str(folder())
    except DataError:
        return "unusable: see $COURSE_DATA_DIR"


if __name__ == "__main__":
    sys.exit(main())
