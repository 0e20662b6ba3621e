"""The generic downloader, against an HTTP server on 127.0.0.1 serving files the tests write."""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from course_lib.data import DataError
from course_lib.data.download import download, md5sum

PAYLOAD = bytes(range(256)) * 5000  # 1.28 MB: more than one download chunk
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    """Base URL of a local server for the folder ``tmp_path / "served"``."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "payload.bin").write_bytes(PAYLOAD)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=served))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def refused_url() -> str:
    """A URL on a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/payload.bin"


def test_md5sum_plain_and_gunzipped(tmp_path):
    plain, packed = tmp_path / "a.bin", tmp_path / "a.bin.gz"
    plain.write_bytes(PAYLOAD)
    packed.write_bytes(gzip.compress(PAYLOAD))
    assert md5sum(plain) == PAYLOAD_MD5
    assert md5sum(packed, gunzip=True) == PAYLOAD_MD5
    assert md5sum(packed) != PAYLOAD_MD5


def test_download_success(server, tmp_path):
    dest = tmp_path / "out" / "payload.bin"
    assert download([server + "payload.bin"], dest, PAYLOAD_MD5, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert list(dest.parent.iterdir()) == [dest]  # no .part file left behind


def test_download_without_checksum(server, tmp_path):
    dest = download([server + "payload.bin"], tmp_path / "payload.bin", None, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_bad_checksum_names_both_sums_and_removes_partial_file(server, tmp_path):
    dest = tmp_path / "payload.bin"
    wrong = "0" * 32
    with pytest.raises(DataError) as error:
        download([server + "payload.bin"], dest, wrong, progress=False)
    assert wrong in str(error.value) and PAYLOAD_MD5 in str(error.value)
    assert list(tmp_path.glob("payload.bin*")) == []


def test_first_mirror_dead_second_works(server, tmp_path):
    dest = tmp_path / "payload.bin"
    download([refused_url(), server + "payload.bin"], dest, PAYLOAD_MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_all_mirrors_dead_lists_each_mirror(server, tmp_path):
    mirrors = [refused_url(), server + "missing.bin"]
    with pytest.raises(DataError) as error:
        download(mirrors, tmp_path / "payload.bin", PAYLOAD_MD5, progress=False)
    message = str(error.value)
    assert all(mirror in message for mirror in mirrors)
    assert "404" in message
    assert list(tmp_path.glob("payload.bin*")) == []


def test_failed_download_keeps_existing_file(server, tmp_path):
    dest = tmp_path / "payload.bin"
    dest.write_bytes(b"previous")
    with pytest.raises(DataError):
        download([server + "missing.bin"], dest, PAYLOAD_MD5, progress=False)
    assert dest.read_bytes() == b"previous"
