"""Settings for every test session: the unit tests and the notebooks that nbval runs.

Set before any kernel starts, so the notebooks' kernels inherit them: the smoke tier, and a
fresh checkpoint folder so every run really trains instead of loading an earlier checkpoint.
The suite runs in two processes (pytest-xdist, ``-n 2 --dist loadfile`` in pyproject.toml: a
file's tests stay together, so a notebook's cells run in order in one kernel); each process
gets a checkpoint folder of its own, since two processes running the same lecture would train
the same runs and meet each other's locks. ``-n 0`` runs everything in one process.
"""

import os
import tempfile
import time
from pathlib import Path

import pytest

os.environ.setdefault("COURSE_TIER", "smoke")
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    os.environ["COURSE_CHECKPOINT_DIR"] = tempfile.mkdtemp(prefix=f"course-checkpoints-{_WORKER}-")
else:
    os.environ.setdefault("COURSE_CHECKPOINT_DIR", tempfile.mkdtemp(prefix="course-checkpoints-"))

# Each of the suite's processes, and every kernel or worker it starts, gets its share of the
# cores. Left to their default (one thread per core), two processes on two cores each ran their
# small products on two threads that waited on each other: notebook 04's cell that makes four
# quick updates per option took 47.5 s instead of 7.4 s beside one busy core. A notebook sees
# one core then and trains its fits one at a time (tests/test_processes.py and
# tests/test_sum_gan.py train fits side by side with processes=2). The cores are counted here,
# not by course_lib.processes.available_cores: importing that imports torch, which reads the
# variable as it loads and ignores it afterwards.
if _WORKER and "OMP_NUM_THREADS" not in os.environ:
    _CORES = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")  # not on macOS
              else os.cpu_count() or 1)
    _SHARE = _CORES // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ["OMP_NUM_THREADS"] = str(max(1, _SHARE))

SCREENSHOTS = Path(__file__).parent / "test-artifacts" / "browser"  # the browser suite's
_STARTED = time.time()


def pytest_terminal_summary(terminalreporter):
    """The browser suite's screenshots of this run, listed at the end so people look at them
    (here, in the process that reports, since the suite may run in another)."""
    taken = sorted(p for p in SCREENSHOTS.glob("*.png") if p.stat().st_mtime >= _STARTED)
    if taken:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in taken:
            terminalreporter.write_line(str(path.relative_to(Path(__file__).parent)))


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected theirs
def pytest_collection_modifyitems(config, items):
    """Each lecture notebook runs once per session: where a browser test runs it (Chromium
    present, not deselected), nbval's run of the same cells is left out. The browser run checks
    all that nbval does (every cell ran, none raised) and more (nothing on stderr, every widget
    and figure shown); nbval's run of them took about a tenth of the suite's time. ``pytest
    notebooks/`` still runs them under nbval, cell by cell."""
    in_browser = {f"notebooks/{item.callspec.params['notebook'].name}" for item in items
                  if item.nodeid.startswith("tests/browser/test_notebooks_in_browser.py::"
                                            "test_notebook_in_browser[")}
    twice = [item for item in items if item.nodeid.split("::")[0] in in_browser]
    if twice:
        config.hook.pytest_deselected(items=twice)
        items[:] = [item for item in items if item.nodeid.split("::")[0] not in in_browser]


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: none without it (-p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    """xdist's file scheduling with the browser tests handed out first. They are about five
    minutes of one process's work (one notebook after another in one JupyterLab, about one
    core); xdist hands out the files with the most tests first, so they came last and the other
    process sat idle for most of them (a 13-minute suite ended with 3 minutes on one core)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class BrowserFirst(LoadFileScheduling):
        def _assign_work_unit(self, node):
            for scope in [s for s in self.workqueue if s.startswith("tests/browser/")]:
                self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return BrowserFirst(config, log)
