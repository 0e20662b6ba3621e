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
    """One subcommand: what it downloads, its default folder, the download function, and how
    ``--mirror`` servers become its argument."""

    what: str
    folder: Callable[[], Path]
    fetch: Callable[..., Path]
    mirrored: Callable[[list[str]], dict]


def _files_under(name: str) -> Callable[[list[str]], dict]:
    """``--mirror`` for a download of one file: the file of that name on each server."""
    return lambda servers: {"urls": tuple(f"{server.rstrip('/')}/{name}" for server in servers)}


def _servers() -> Callable[[list[str]], dict]:
    """``--mirror`` for a download that lays its files out under each server itself."""
    return lambda servers: {"mirrors": tuple(server.rstrip("/") + "/" for server in servers)}


COMMANDS: dict[str, Command] = {
    "mnist": Command("the MNIST digits (4 files, ~11 MB)", mnist_dir, download_mnist,
                     _servers()),
    "moving-mnist-test": Command(
        "the standard Moving MNIST test set mnist_test_seq.npy (~819 MB)",
        lambda: moving_mnist_test_path().parent, download_moving_mnist_test,
        _files_under("mnist_test_seq.npy")),
    **{name: Command(f"the {title} GoogLeNet feature file (eccv16 layout) and its 5 splits",
                     summarization_dir, partial(download_summarization, name), _servers())
       for name, title in (("summe", "SumMe"), ("tvsum", "TVSum"))},
    "tvsum-annotations": Command(
        "TVSum's per-annotator 1-5 scores from the official release (a ~641 MB archive of "
        "which two small tables are kept)", summarization_dir, download_tvsum_annotations,
        _files_under("tvsum50_ver_1_1.tgz")),
}
# Where each download's files lie under a --mirror server (a lab's or a classroom's copy).
MIRROR_LAYOUT = {
    "mnist": "the four .gz files, e.g. <server>/train-images-idx3-ubyte.gz",
    "moving-mnist-test": "<server>/mnist_test_seq.npy",
    "summe": "as in the SUM-GAN-sl repository: <server>/data/SumMe/eccv16_dataset_summe_google_"
             "pool5.h5 and <server>/data/splits/summe_splits.json",
    "tvsum": "as in the SUM-GAN-sl repository: <server>/data/TVSum/eccv16_dataset_tvsum_google_"
             "pool5.h5 and <server>/data/splits/tvsum_splits.json",
    "tvsum-annotations": "<server>/tvsum50_ver_1_1.tgz",
}
# The downloads without a published checksum, whose --force accepts a file that is valid but not
# the published one.
FORCEABLE = ("summe", "tvsum", "tvsum-annotations")


def main(argv: list[str] | None = None) -> int:
    """Run one download subcommand; a data error is reported in one message, exit status 1."""
    parser = argparse.ArgumentParser(prog="course-data", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    subparsers = {}
    for name, command in COMMANDS.items():
        sub = subcommands.add_parser(name, help=f"download {command.what}")
        sub.add_argument("--dest", type=_folder, help=f"folder to save into (default: "
                         f"{_describe(command.folder)}, where the notebooks and "
                         "course-experiments look; $COURSE_DATA_DIR moves that)")
        sub.add_argument("--mirror", action="append", metavar="URL", type=_server,
                         help="download from this server instead of the published one (e.g. a "
                              "lab's or a classroom's copy; file:///... for a copy on disk; "
                              f"repeat it to try several in turn), laid out as "
                              f"{MIRROR_LAYOUT[name]}")
        sub.add_argument("--force", action="store_true",
                         help=FORCE_HELP if name in FORCEABLE else argparse.SUPPRESS)
        subparsers[name] = sub
    args = parser.parse_args(argv)
    command = COMMANDS[args.command]
    if args.force and args.command not in FORCEABLE:
        subparsers[args.command].error(
            "--force is for the downloads without a published checksum (summe, tvsum, "
            f"tvsum-annotations); {args.command}'s files have one, and a copy that does not match "
            "it is never installed: leave --force out")
    options = {"force": True} if args.force else {}
    if args.mirror:
        options |= command.mirrored(args.mirror)
    before = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    try:
        where = command.fetch(args.dest or command.folder(), **options)
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


def _server(text: str) -> str:
    """--mirror: a URL with its scheme, so that a typo is named before anything downloads."""
    if "://" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL: write it in full, e.g. "
                                         f"'https://{text}' or 'file:///path/to/copy'")
    return text


def _describe(folder: Callable[[], Path]) -> str:
    """The default folder for --help; a misconfigured one is reported when a download runs."""
    try:
        return str(folder())
    except DataError:
        return "unusable: see $COURSE_DATA_DIR"


if __name__ == "__main__":
    sys.exit(main())
