"""Downloads against an HTTP server on 127.0.0.1 serving files the tests write: the generic
downloader, benchmark sets installed both-or-neither, and TVSum's annotations from its release."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import h5py
import numpy as np
import pytest

from course_lib import cli
from course_lib.data import DATA_ENV_VAR, SHARED_DATA_ENV_VAR, DataError, reference_file
from course_lib.data import download as download_module
from course_lib.data import summarization as sm
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


def test_the_advice_fits_the_failure(server, tmp_path):
    """A server that answers without the file is not a network problem; an unreachable one is."""
    with pytest.raises(DataError, match="The servers answered, but not with the file") as error:
        download([server + "missing.bin"], tmp_path / "payload.bin", None, progress=False)
    assert "network" not in str(error.value)
    with pytest.raises(DataError, match="Check the network connection"):
        download([refused_url(), server + "missing.bin"], tmp_path / "payload.bin", None,
                 progress=False)
    with pytest.raises(DataError, match="'localhost:8765/a' has no scheme"):
        download(["localhost:8765/a"], tmp_path / "payload.bin", None, progress=False)


def test_a_full_disk_or_an_unwritable_folder_is_this_machines_problem(server, tmp_path,
                                                                      monkeypatch):
    tried = []

    def full(url, part, progress):
        tried.append(url)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download_module, "_fetch", full)
    with pytest.raises(DataError, match=r"Cannot write in .*\(No space left on device\): free "
                                        "some space there") as error:
        download([server + "payload.bin", server + "again.bin"], tmp_path / "payload.bin", None,
                 progress=False)
    assert len(tried) == 1 and "mirror" not in str(error.value)  # no use trying the others
    monkeypatch.undo()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(download_module.tempfile, "mkstemp", read_only)
    with pytest.raises(DataError, match="Cannot write in .*Read-only file system.*--dest"):
        download([server + "payload.bin"], tmp_path / "payload.bin", None, progress=False)


def test_a_killed_runs_leftovers_go_and_a_running_ones_stay(server, tmp_path):
    abandoned = tmp_path / "payload.bin.4194399-x1y2.part"  # above Linux's largest process id
    running = tmp_path / f"payload.bin.{os.getpid()}-a1b2.part"
    other = tmp_path / "other.bin.4194399-x1y2.part"
    for part in (abandoned, running, other):
        part.write_bytes(b"half")
    download([server + "payload.bin"], tmp_path / "payload.bin", PAYLOAD_MD5, progress=False)
    assert not abandoned.exists() and running.exists() and other.exists()


def test_a_folder_where_the_file_goes_is_refused_before_downloading(server, tmp_path):
    (tmp_path / "payload.bin").mkdir()
    with pytest.raises(DataError, match="payload.bin is a folder, where the downloaded file"):
        download([server + "payload.bin"], tmp_path / "payload.bin", None, progress=False)
    assert (tmp_path / "payload.bin").is_dir() and len(list(tmp_path.iterdir())) == 2


def test_failed_download_keeps_existing_file(server, tmp_path):
    dest = tmp_path / "payload.bin"
    dest.write_bytes(b"previous")
    with pytest.raises(DataError):
        download([server + "missing.bin"], dest, PAYLOAD_MD5, progress=False)
    assert dest.read_bytes() == b"previous"


# ---------------------------------------------------------------- benchmark sets: both or neither

def write_benchmark(path, n_videos: int, width: int = sm.BENCHMARK_FEATURE_DIM,
                    annotated: bool = True, features: bool = True) -> bytes:
    """A feature file in the eccv16 layout with ``n_videos`` small valid videos; its bytes."""
    rng = np.random.default_rng(n_videos)
    with h5py.File(path, "w") as f:
        for i in range(1, n_videos + 1):
            g = f.create_group(f"video_{i}")
            g["n_frames"], g["picks"] = 60, np.arange(0, 60, 15)
            if features:
                g["features"] = rng.random((4, width)).astype(np.float32)
            if annotated:
                g["change_points"] = np.array([[0, 29], [30, 59]])
                g["user_summary"] = (rng.random((2, 60)) < 0.3).astype(np.float32)
    return path.read_bytes()


def write_splits(path, n_videos: int) -> bytes:
    keys = [f"video_{i}" for i in range(1, n_videos + 1)]
    sm.save_splits(sm.make_splits(keys, rng=np.random.default_rng(0)), path)
    return path.read_bytes()


@pytest.fixture
def summe_mirror(server, tmp_path):
    """(mirror URL, served feature file, served splits file, data folder holding good files)."""
    served = tmp_path / "served"
    features, splits = (served / r.path for r in sm.REMOTE_FILES["summe"])
    features.parent.mkdir(parents=True)
    splits.parent.mkdir(parents=True, exist_ok=True)
    write_benchmark(features, 25)
    write_splits(splits, 25)
    folder = tmp_path / "data"
    folder.mkdir()
    write_benchmark(sm.feature_file("summe", folder), 25)
    write_splits(sm.splits_file("summe", folder), 25)
    return server, features, splits, folder


def snapshot(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def run_cli(*argv) -> int:
    return cli.main([*argv])


BAD_MIRRORS = {
    # what the mirror does -> (how to set it up, message fragment)
    "HTML page with status 200": (
        lambda f, s: f.write_text("<!DOCTYPE html><html><body>Sign in</body></html>"),
        "HTML page"),
    "a valid file with 3 videos": (
        lambda f, s: (write_benchmark(f, 3), write_splits(s, 3)), "holds 3 videos"),
    "TVSum's 50 videos under SumMe's name": (
        lambda f, s: (write_benchmark(f, 50), write_splits(s, 50)), "holds 50 videos"),
    "512-d features": (lambda f, s: write_benchmark(f, 25, width=512), "features 512 wide"),
    "no shots or user summaries": (lambda f, s: write_benchmark(f, 25, annotated=False),
                                   "no user summaries or no shots for 25 videos"),
    "an annotation-only copy": (lambda f, s: write_benchmark(f, 25, features=False),
                                "annotation-only copy, not the feature file"),
    "the splits answer 404": (lambda f, s: s.unlink(), "404"),
    "an LFS pointer": (
        lambda f, s: f.write_bytes(b"version https://git-lfs.github.com/spec/v1\n"),
        "not a readable HDF5 file"),
}


@pytest.mark.parametrize("case", BAD_MIRRORS)
def test_a_failed_download_leaves_the_good_files_untouched(case, summe_mirror, capsys):
    url, features, splits, folder = summe_mirror
    setup, fragment = BAD_MIRRORS[case]
    setup(features, splits)
    before = snapshot(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(sm.MIRROR_ENV_VAR, url)
        assert run_cli("summe", "--dest", str(folder)) == 1
    message = capsys.readouterr().err
    assert fragment in message and "unchanged" in message and ".part" not in message
    assert snapshot(folder) == before  # both old files, and no .part file


def test_force_installs_a_smaller_file_and_its_splits_together(summe_mirror, monkeypatch):
    url, features, splits, folder = summe_mirror
    new = write_benchmark(features, 3), write_splits(splits, 3)
    monkeypatch.setenv(sm.MIRROR_ENV_VAR, url)
    assert run_cli("summe", "--dest", str(folder), "--force") == 0
    assert (sm.feature_file("summe", folder).read_bytes(),
            sm.splits_file("summe", folder).read_bytes()) == new
    assert len(list(folder.iterdir())) == 2


def test_ctrl_c_during_the_second_file_changes_nothing(summe_mirror, monkeypatch):
    url, _, _, folder = summe_mirror
    before = snapshot(folder)
    real_fetch, calls = download_module._fetch, []

    def interrupted(url, part, progress):
        calls.append(url)
        real_fetch(url, part, progress)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "_fetch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sm.download_summarization("summe", folder, mirrors=[url], progress=False)
    assert len(calls) == 2 and snapshot(folder) == before


class SlowHandler(QuietHandler):
    """Announces a large file, sends a little of it, then stalls: a download in progress."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(10 * len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD[:1000])
        self.wfile.flush()
        time.sleep(30)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_killed_download_cleans_up_as_ctrl_c_does(sig, summe_mirror):
    """kill, timeout and a closed terminal send these: the download's files go, the good ones
    stay, and the command says so."""
    _, _, _, folder = summe_mirror
    before = snapshot(folder)
    slow = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    threading.Thread(target=slow.serve_forever, args=(0.01,), daemon=True).start()
    env = {**os.environ, sm.MIRROR_ENV_VAR: f"http://127.0.0.1:{slow.server_address[1]}/"}
    command = subprocess.Popen([sys.executable, "-m", "course_lib.cli", "summe", "--dest",
                                str(folder)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        while not list(folder.glob("*.part")):  # the download has started
            assert command.poll() is None, command.stderr.read()
            time.sleep(0.05)
        command.send_signal(getattr(signal, sig))
        assert command.wait(timeout=60) == 130
        assert "interrupted; nothing was changed" in command.stderr.read()
    finally:
        command.kill()
        slow.shutdown()
        slow.server_close()
    assert snapshot(folder) == before  # no .part file


def test_dest_expands_a_quoted_home_and_refuses_an_empty_name(summe_mirror, monkeypatch,
                                                                capsys):
    url, features, splits, _ = summe_mirror
    home = features.parents[3]  # tmp_path
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(sm.MIRROR_ENV_VAR, url)
    assert run_cli("summe", "--dest", "~/mine") == 0  # as a quoted "~/mine" arrives
    assert sm.feature_file("summe", home / "mine").read_bytes() == features.read_bytes()
    with pytest.raises(SystemExit):
        run_cli("summe", "--dest", "")
    assert "an empty folder name" in capsys.readouterr().err


def test_ctrl_c_in_the_cli_says_nothing_changed(monkeypatch, capsys):
    def interrupted(folder, **options):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "summe", cli.COMMANDS["summe"]._replace(fetch=interrupted))
    assert cli.main(["summe"]) == 130
    assert "interrupted; nothing was changed" in capsys.readouterr().err


def test_a_failed_rename_puts_the_old_files_back(summe_mirror, monkeypatch):
    url, features, splits, folder = summe_mirror
    write_benchmark(features, 30)
    write_splits(splits, 30)
    before = snapshot(folder)
    real_replace, installs = os.replace, []

    def failing(src, dst):
        if str(src).endswith(".part"):
            installs.append(dst)
            if len(installs) == 2:
                raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(download_module.os, "replace", failing)
    with pytest.raises(OSError, match="disk full"):
        sm.download_summarization("summe", folder, mirrors=[url], force=True, progress=False)
    assert snapshot(folder) == before


def test_dest_that_is_a_file_is_reported(tmp_path, capsys):
    target = tmp_path / "not-a-folder"
    target.write_text("x")
    assert run_cli("summe", "--dest", str(target), "--force") == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "x"


# ---------------------------------------------------------------- TVSum's annotations

def tvsum_table(n_videos=50, n_annotators=20, low=1, high=5) -> str:
    rng = np.random.default_rng(5)
    lines = []
    for v in range(n_videos):
        n_frames = int(rng.integers(40, 90))
        for _ in range(n_annotators):
            scores = rng.integers(low, high + 1, n_frames)
            lines.append(f"vid{v:08d}\tVT\t" + ",".join(map(str, scores)))
    return "\n".join(lines) + "\n"


def tvsum_info(table: str) -> str:
    ids = dict.fromkeys(line.split("\t")[0] for line in table.splitlines())
    return "category\tvideo_id\ttitle\turl\tlength\n" + "".join(
        f"VT\t{v}\ta title\thttps://www.youtube.com/watch?v={v}\t0:10\n" for v in ids)


def write_release(path, anno: str | bytes | None, info: str | None, *, nested=True) -> None:
    """A .tgz laid out like TVSum's release: the tables in a data zip inside (or directly)."""
    files = {f"data/{sm.TVSUM_INFO_FILE}": info, f"data/{sm.TVSUM_ANNOTATION_FILE}": anno}
    files = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()
             if v is not None}
    # the release's other zips (videos, ~600 MB) are never opened: this one is not even a zip
    members = {"ydata-tvsum50-v1_1/README": b"readme",
               "ydata-tvsum50-v1_1/ydata-tvsum50-video.zip": b"the videos, not read"}
    if nested:
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as z:
            for name, content in files.items():
                z.writestr(name, content)
        members["ydata-tvsum50-v1_1/ydata-tvsum50-data.zip"] = inner.getvalue()
    else:
        members.update({f"ydata-tvsum50-v1_1/{k}": v for k, v in files.items()})
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info_ = tarfile.TarInfo(name)
            info_.size = len(content)
            tar.addfile(info_, io.BytesIO(content))


@pytest.mark.parametrize("nested", [True, False])
def test_tvsum_annotations_are_extracted_and_loaded(server, tmp_path, nested, monkeypatch):
    table = tvsum_table()
    write_release(tmp_path / "served" / "tvsum.tgz", table, tvsum_info(table), nested=nested)
    folder = tmp_path / "data" / "summarization"
    path = sm.download_tvsum_annotations(folder, urls=[server + "tvsum.tgz"], md5=None,
                                         progress=False)
    assert path.read_text() == table
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [sm.TVSUM_ANNOTATION_FILE, sm.TVSUM_INFO_FILE])  # no archive, no .part left
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    monkeypatch.setenv(SHARED_DATA_ENV_VAR, str(tmp_path / "nowhere"))
    data = sm.load_tvsum_annotations()
    assert len(data) == 50 and data.source == str(path)
    first = data["video_1"]
    assert first.user_scores.shape == (20, first.n_frames) and first.video_name == "vid00000000"
    np.testing.assert_array_equal(first.picks, np.arange(0, first.n_frames, 15))


def test_the_official_table_already_here_is_not_downloaded_again(server, tmp_path, capsys):
    table = tvsum_table()
    archive = tmp_path / "served" / "tvsum.tgz"
    write_release(archive, table, tvsum_info(table))
    folder, known = tmp_path / "data", hashlib.md5(table.encode()).hexdigest()
    fetch = partial(sm.download_tvsum_annotations, folder, urls=[server + "tvsum.tgz"], md5=known)
    installed = fetch(progress=False)
    archive.unlink()  # the release is gone: only a download would notice
    assert fetch() == installed and installed.read_text() == table
    assert "already here, the official table" in capsys.readouterr().out
    with pytest.raises(DataError, match="404"):
        fetch(force=True)  # --force downloads it again


BAD_RELEASES = {
    "19 annotators": (dict(anno=tvsum_table(n_annotators=19)), "19 annotators"),
    "scores 0-5": (dict(anno=tvsum_table(low=0)), "not integers from 1 to 5"),
    "10 videos": (dict(anno=tvsum_table(n_videos=10)), "holds 10 videos"),
    "no annotation table": (dict(anno=None), f"holds no {sm.TVSUM_ANNOTATION_FILE}"),
    "not a tgz": (dict(raw=b"PK\x03\x04 a zip, not a tgz"), "not a readable .tgz"),
    "an HTML page": (dict(raw=b"<html><body>Moved</body></html>"), "HTML page"),
    "another MD5": (dict(anno=tvsum_table(), md5="0" * 32), "not the known"),
}


@pytest.mark.parametrize("case", BAD_RELEASES)
def test_a_bad_tvsum_release_installs_nothing(case, server, tmp_path):
    spec, fragment = BAD_RELEASES[case]
    archive = tmp_path / "served" / "tvsum.tgz"
    if "raw" in spec:
        archive.write_bytes(spec["raw"])
    else:
        write_release(archive, spec["anno"], tvsum_info(tvsum_table()))
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / sm.TVSUM_ANNOTATION_FILE).write_text("the good old table")
    with pytest.raises(DataError, match=fragment):
        sm.download_tvsum_annotations(folder, urls=[server + "tvsum.tgz"],
                                      md5=spec.get("md5"), progress=False)
    assert snapshot(folder) == {sm.TVSUM_ANNOTATION_FILE: b"the good old table"}


REAL_TVSUM = reference_file("tvsum")


@pytest.mark.shared_data
@pytest.mark.skipif(REAL_TVSUM is None, reason="set $COURSE_SHARED_DATA to the reference data")
def test_the_real_table_passes_the_checksum_and_matches_the_reference_layout(server, tmp_path,
                                                                             monkeypatch):
    table = gzip.decompress((REAL_TVSUM / "ydata-anno.tsv.gz").read_bytes())
    write_release(tmp_path / "served" / "tvsum.tgz", table, tvsum_info(table.decode()))
    folder = tmp_path / "data" / "summarization"
    sm.download_tvsum_annotations(folder, urls=[server + "tvsum.tgz"], progress=False)
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    built = sm.load_tvsum_annotations()
    assert built.source == str(folder / sm.TVSUM_ANNOTATION_FILE)
    reference = sm.read_h5(REAL_TVSUM / "tvsum_annotations.h5", name="tvsum",
                           require_features=False)
    for key in reference.keys():
        want, got = reference[key], built[key]
        assert (got.video_name, got.n_frames) == (want.video_name, want.n_frames)
        np.testing.assert_array_equal(got.picks, want.picks)
        np.testing.assert_allclose(got.gtscore, want.gtscore, atol=1e-6)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_downloaded_file_gets_the_umasks_mode(server, tmp_path, umask, mode):
    """Like every file the course writes (checkpoints, results), not mkstemp's 0600."""
    previous = os.umask(umask)
    try:
        dest = download([server + "payload.bin"], tmp_path / "payload.bin", PAYLOAD_MD5,
                        progress=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(dest.stat().st_mode) == mode


@pytest.mark.parametrize("name", cli.COMMANDS)
def test_every_download_asks_a_mirror_for_the_files_its_help_names(name, server, tmp_path,
                                                                    capsys):
    """``course-data NAME --mirror URL`` asks that server, under the layout ``--help`` gives, and
    a failed first download leaves no empty folder behind."""
    dest = tmp_path / "new" / "data"
    assert cli.main([name, "--dest", str(dest), "--mirror", server + "lab"]) == 1
    first_file = re.search(r"<server>/(\S+)", cli.MIRROR_LAYOUT[name]).group(1)
    assert f"{server}lab/{first_file}: HTTP Error 404" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_a_mirror_on_the_command_line_must_be_a_url(capsys):
    with pytest.raises(SystemExit):
        cli.main(["summe", "--mirror", "lab.example.org/course"])
    assert "https://lab.example.org/course" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["mnist", "moving-mnist-test"])
def test_force_on_a_download_with_a_checksum_says_why_it_does_not_apply(name, capsys):
    with pytest.raises(SystemExit):
        cli.main([name, "--force"])
    err = capsys.readouterr().err
    assert f"course-data {name}: error: --force is for" in err and "leave --force out" in err


def test_a_mirror_without_a_scheme_is_named_with_the_fix(server, tmp_path):
    """urllib's "unknown url type" hid that the mirror lacks its https://."""
    bare = server.removeprefix("http://") + "payload.bin"
    with pytest.raises(DataError, match=rf"the URL '{bare}' has no scheme\. Write it in full, "
                                        rf"e.g\. 'https://{bare}'.*unchanged"):
        download([bare, server + "payload.bin"], tmp_path / "payload.bin", PAYLOAD_MD5,
                 progress=False)
    assert list(tmp_path.iterdir()) == [tmp_path / "served"]
