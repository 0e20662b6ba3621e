"""Downloading data files: mirrors tried in order, checked, and installed all together or not at
all.

Every download goes to a temporary ``<name>.<pid>-<random>.part`` file in the destination folder
(so the final rename cannot cross file systems). Only when every file of a set has arrived and
passed its checks (checksum, "not an HTML page", and the caller's own validation) are they renamed
into place, together: a failed or interrupted download leaves the files that were there before
untouched and no ``.part`` file behind, and one killed outright (no time to clean up) leaves one
that the next download of the same file removes, its process being gone.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.client import HTTPException
from pathlib import Path

from tqdm.auto import tqdm

from course_lib.data import DataError

CHUNK_SIZE = 1 << 20
TIMEOUT_S = 60
UNCHANGED = "The files already in {folder} (if any) are unchanged."
SCHEMES = ("http", "https", "file", "ftp")  # what urllib can fetch
# Errors of this machine, not of the network: retrying another mirror cannot help.
LOCAL_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def local_problem(error: BaseException, folder: Path) -> DataError | None:
    """The error as a clear message when it is this machine's (a full disk, a folder that
    cannot be written), else None."""
    if not (isinstance(error, OSError) and error.errno in LOCAL_ERRORS):
        return None
    fix = ("free some space there" if error.errno in (errno.ENOSPC, errno.EDQUOT)
           else "give yourself write access")
    return DataError(f"Cannot write in {folder} ({error.strerror}): {fix}, or choose another "
                     f"folder (--dest, or $COURSE_DATA_DIR). {UNCHANGED.format(folder=folder)}")


def md5sum(path: Path, *, gunzip: bool = False) -> str:
    """MD5 of a file read in chunks (large files never sit in memory whole).

    With ``gunzip=True`` it is the MD5 of the decompressed content, which identifies the data
    whatever gzip settings compressed it.
    """
    digest = hashlib.md5(usedforsecurity=False)
    with (gzip.open if gunzip else open)(path, "rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_folder(folder: Path) -> Path:
    """Create ``folder`` if needed, or say clearly why it cannot be one (e.g. it is a file)."""
    folder = Path(folder).expanduser()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise DataError(f"The folder {folder} cannot be created: {existing} is a file, not a "
                        "folder. Point --dest (or $COURSE_DATA_DIR) at a folder, or move the file "
                        "away.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"Cannot create the folder {folder} ({error.strerror or error}): "
                        "choose another folder (--dest, or $COURSE_DATA_DIR).") from error
    return folder


class Staging:
    """New files waiting in their destination folder, installed together by :meth:`commit`."""

    def __init__(self, folder: Path):
        folder = Path(folder).expanduser()
        # the folders this download creates, deepest first: removed again if nothing lands there
        self.created = [p for p in (folder, *folder.parents) if not p.exists()]
        self.folder = ensure_folder(folder)
        self.staged: dict[Path, Path] = {}  # final path -> temporary file holding its new content
        self.scratch: list[Path] = []  # temporary files that are never installed

    def new_file(self, name: str, *, install: bool = True) -> Path:
        """A fresh temporary file in the folder that :meth:`commit` will rename to ``name``
        (``install=False``: a scratch file, e.g. an archive, deleted with the others). Its name
        carries this process's id, so that a later run removes the ones a killed run left."""
        if install and (self.folder / name).is_dir():
            raise DataError(f"{self.folder / name} is a folder, where the downloaded file would "
                            "go: move it away, or choose another folder (--dest). "
                            f"{UNCHANGED.format(folder=self.folder)}")
        _remove_abandoned(self.folder, name)
        try:
            handle, temp = tempfile.mkstemp(prefix=f"{name}.{os.getpid()}-", suffix=".part",
                                            dir=self.folder)
        except OSError as error:
            raise local_problem(error, self.folder) or error from None
        os.close(handle)
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp's 0600 -> the mode any new file gets
        if install:
            self.staged[self.folder / name] = Path(temp)
        else:
            self.scratch.append(Path(temp))
        return Path(temp)

    def fetch(self, urls: Sequence[str], name: str, md5: str | None, *, install: bool = True,
              progress: bool = True, by_hand: str | None = None) -> Path:
        """Download ``name`` from the first of ``urls`` that delivers it whole (and with the
        right MD5) into a temporary file; returns that file for the caller to validate.
        ``by_hand``: what to do with a copy fetched by hand, if not to save it as ``name``."""
        if schemeless := [u for u in urls if urllib.parse.urlsplit(u).scheme not in SCHEMES]:
            raise DataError(
                f"Cannot download {name}: the URL {schemeless[0]!r} has no scheme. Write it in "
                f"full, e.g. 'https://{schemeless[0]}' (a mirror set in an environment variable "
                f"such as $COURSE_SUMMARIZATION_MIRROR too). "
                f"{UNCHANGED.format(folder=self.folder)}")
        temp = self.new_file(name, install=install)
        failures, unreached = [], False
        for url in urls:
            try:
                _fetch(url, temp, progress)
                _refuse_html(temp)
                if md5 is not None and (got := md5sum(temp)) != md5:
                    raise DataError(f"checksum mismatch: expected md5 {md5}, got {got}")
                return temp
            except (OSError, HTTPException, ValueError) as error:  # DataError is a ValueError
                if local := local_problem(error, self.folder):
                    raise local from None
                failures.append(f"  {url}: {error}")
                unreached |= isinstance(error, OSError) and not isinstance(
                    error, urllib.error.HTTPError)
        advice = ("Check the network connection (or proxy settings), then run the command again"
                  if unreached else "The servers answered, but not with the file: it may have "
                  "moved, or a mirror may hold another file")
        by_hand = by_hand or f"save it as {self.folder / name}"
        raise DataError(
            f"Could not download {name}; every mirror failed:\n" + "\n".join(failures) + "\n"
            f"{UNCHANGED.format(folder=self.folder)} {advice}; or fetch one of the URLs above by "
            f"hand and {by_hand}.")

    def commit(self) -> list[Path]:
        """Rename every staged file into place: all of them, or (if a rename fails) none.

        The files being replaced are first moved aside, so a failure half-way puts them back.
        """
        aside: dict[Path, Path] = {}
        done: list[Path] = []
        try:
            for final in self.staged:
                if final.exists():
                    aside[final] = final.with_name(f"{final.name}.{os.getpid()}.old")
                    os.replace(final, aside[final])
            for final, temp in self.staged.items():
                os.replace(temp, final)
                done.append(final)
        except BaseException:
            for final in done:
                final.unlink(missing_ok=True)
            for final, old in aside.items():
                os.replace(old, final)
            raise
        for old in aside.values():
            old.unlink(missing_ok=True)
        installed, self.staged = list(self.staged), {}
        return installed

    def discard(self) -> None:
        """Delete the temporary files, and the folders made for them if they are left empty."""
        for temp in [*self.staged.values(), *self.scratch]:
            temp.unlink(missing_ok=True)
        self.staged, self.scratch = {}, []
        for folder in self.created:
            try:
                folder.rmdir()  # only an empty folder: one that another process filled stays
            except OSError:
                break


def _remove_abandoned(folder: Path, name: str) -> None:
    """Delete the ``name`` downloads of runs that were killed (their process is gone) before
    they could clean up: a kill signal or a closed terminal leaves no time to."""
    for part in folder.glob(f"{name}.*.part"):
        found = re.fullmatch(rf"{re.escape(name)}\.(\d+)-\w+\.part", part.name)
        if found and not _running(int(found.group(1))):
            part.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, alive
        pass
    return True


def _umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def staging(folder: Path) -> Iterator[Staging]:
    """``with staging(folder) as stage: ...fetch, validate..., stage.commit()``; leaving the block
    in any other way (an error, Ctrl-C) deletes the temporary files and changes nothing else."""
    stage = Staging(folder)
    try:
        yield stage
    finally:
        stage.discard()


def download(urls: Sequence[str], dest: Path, md5: str | None, *, progress: bool = True) -> Path:
    """Fetch one file ``dest`` from the first of ``urls`` that delivers it whole with the right
    MD5, and only then put it in place of any previous ``dest``."""
    dest = Path(dest)
    with staging(dest.parent) as stage:
        stage.fetch(urls, dest.name, md5, progress=progress)
        stage.commit()
    return dest


def _fetch(url: str, part: Path, progress: bool) -> None:
    """Stream one URL to ``part``, refusing a response shorter than its announced length."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                  disable=not progress) as bar:
            received = 0
            while chunk := response.read(CHUNK_SIZE):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise DataError(f"incomplete download: received {received} of {total} bytes")


def _refuse_html(path: Path) -> None:
    """A server that answers with a web page (a login wall, a "moved" notice) is not the file."""
    with open(path, "rb") as stream:
        start = stream.read(512).lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head")):
        raise DataError("the server sent an HTML page instead of the file (a login or error "
                        "page?); the file may have moved")
