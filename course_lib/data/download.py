"""Downloading data files: mirrors tried in order, checksums verified, never a half-written file.

A download goes to ``<dest>.part`` and is renamed into place only once it is complete and its
checksum matches, so an interrupted download can never be mistaken for a good file.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from collections.abc import Sequence
from http.client import HTTPException
from pathlib import Path

from tqdm.auto import tqdm

from course_lib.data import DataError

CHUNK_SIZE = 1 << 20
TIMEOUT_S = 60


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


def download(urls: Sequence[str], dest: Path, md5: str | None, *, progress: bool = True) -> Path:
    """Fetch ``dest`` from the first of ``urls`` that delivers it whole with the right MD5."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    failures = []
    for url in urls:
        try:
            _fetch(url, part, progress)
            if md5 is not None and (got := md5sum(part)) != md5:
                raise DataError(f"checksum mismatch: expected md5 {md5}, got {got}")
        except (OSError, HTTPException, ValueError, DataError) as error:
            part.unlink(missing_ok=True)
            failures.append(f"  {url}: {error}")
            continue
        os.replace(part, dest)
        return dest
    raise DataError(
        f"Could not download {dest.name}; every mirror failed:\n" + "\n".join(failures) + "\n"
        f"Check the network connection (or proxy settings), then run the command again; "
        f"or fetch one of the URLs above by hand and save it as {dest}."
    )


def _fetch(url: str, part: Path, progress: bool) -> None:
    """Stream one URL to ``part``, refusing a response shorter than its announced length."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=part.stem,
                  disable=not progress) as bar:
            received = 0
            while chunk := response.read(CHUNK_SIZE):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise DataError(f"incomplete download: received {received} of {total} bytes")

