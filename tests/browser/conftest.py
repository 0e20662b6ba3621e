"""One JupyterLab server and one Chromium for the whole browser suite, always stopped afterwards.

Starting them once keeps the suite fast (JupyterLab's first page load alone takes ~20 s on two
cores). Every process the suite starts carries a marker in its environment, inherited by kernels
and Chromium's helpers, so the teardown can prove that none of them outlives the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from .jupyterlab_page import CHROMIUM, REPO, SCREENSHOT_DIR, Lab

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
MARKER = "COURSE_BROWSER_SUITE"
# Settings a student never needs to touch but that would break an unattended run: no news
# toast over the notebook, no autosave writing outputs into the committed notebooks, and the
# notebook's own kernel started without the kernel-selection dialog.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
}
SERVER_START_TIMEOUT = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _marked_processes(token: str) -> list[str]:
    """Processes (pid and command) whose environment carries this suite's marker."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"{proc.name}: {command[:160]}")
        except OSError:  # exited meanwhile, or not ours
            continue
    return found


def _write_settings(folder: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_for_server(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n"
                               f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base_url + "/api/status", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.25)
    raise RuntimeError(f"jupyter lab did not answer within {SERVER_START_TIMEOUT} s:\n"
                       f"{log.read_text()[-3000:]}")


def _stop_server(process: subprocess.Popen, lab: Lab) -> None:
    """Ask the server to stop (it shuts its kernels down), then make sure its group is gone."""
    try:
        lab.api("POST", "/api/shutdown")
        process.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def marker_token() -> str:
    """Unique to this run, so parallel runs and other Jupyter processes are never mistaken."""
    return uuid.uuid4().hex


@pytest.fixture(scope="session")
def lab(tmp_path_factory, marker_token):
    """`jupyter lab` on a free 127.0.0.1 port, smoke tier, with throw-away state folders."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    settings = tmp / "settings"
    _write_settings(settings)
    checkpoints = tmp / "checkpoints"
    checkpoints.mkdir()
    env = dict(os.environ, COURSE_TIER="smoke", COURSE_CHECKPOINT_DIR=str(checkpoints),
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_CONFIG_DIR=str(tmp / "config"),
               JUPYTER_DATA_DIR=str(tmp / "data"), **{MARKER: marker_token})
    env.pop("MPLBACKEND", None)
    port = _free_port()
    log = tmp / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.token=",
        "--ServerApp.password=", "--ServerApp.ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--ServerApp.root_dir={REPO}",
        "--ServerApp.allow_root=True", f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        # Absolute, so opening a notebook leaves no .ipynb_checkpoints folder in the repository.
        f"--FileCheckpoints.checkpoint_dir={tmp / 'lab-checkpoints'}",
        # window.jupyterapp lets the tests read the notebook model (which outputs are widgets).
        "--LabApp.expose_app_in_browser=True",
    ]
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    scratch = SCREENSHOT_DIR / f"scratch-{marker_token[:8]}"
    with log.open("w") as log_file:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(base_url=f"http://127.0.0.1:{port}", scratch=scratch)
    try:
        _wait_for_server(lab.base_url, process, log)
        scratch.mkdir()
        yield lab
    finally:
        _stop_server(process, lab)
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        os.killpg(process.pid, 0)
        raise AssertionError(f"jupyter lab's process group {process.pid} survived the teardown")
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def browser(lab, tmp_path_factory, marker_token):
    """Debian's Chromium driven by Playwright, with a fresh profile; checks nothing outlives it."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            env={**os.environ, MARKER: marker_token}, viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes(marker_token):
    """After the server and browser fixtures are torn down, nothing the suite started survives."""
    yield
    deadline = time.monotonic() + 10  # kernels and Chromium helpers exit a moment after asked
    while (left := _marked_processes(marker_token)) and time.monotonic() < deadline:
        time.sleep(0.25)
    for entry in left:
        os.kill(int(entry.split(":")[0]), signal.SIGKILL)
    assert not left, "processes left behind by the browser suite:\n" + "\n".join(left)
