"""The suite's own scheduling (conftest.py): the browser tests, one process's longest run of
work, are handed out first, so that both processes end together."""

import types
from pathlib import Path

from xdist.remote import Producer

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


class Node:
    """What xdist's scheduler asks of a worker: tests to run, and to stop."""

    shutting_down = False

    def __init__(self, name):
        self.gateway, self.sent = types.SimpleNamespace(id=name), []

    def send_runtest_some(self, indices):
        self.sent += indices

    def shutdown(self):
        self.shutting_down = True


def scheduler(pytestconfig, dist):
    """The root conftest's scheduler for two processes sharing the tests as ``dist`` says."""
    options = {"dist": dist, "tx": ["2*popen"]}
    config = types.SimpleNamespace(getoption=options.get, getvalue=options.get,
                                   option=types.SimpleNamespace(loadscopereorder=True))
    plugin = next(p for p in pytestconfig.pluginmanager.get_plugins()
                  if getattr(p, "__file__", None) == str(ROOT_CONFTEST))
    return plugin.pytest_xdist_make_scheduler(config, Producer("test", enabled=False))


def test_the_browser_tests_go_first_and_the_rest_as_xdist_orders_them(pytestconfig):
    collection = ([f"tests/test_many.py::test_{i}" for i in range(5)]
                  + ["tests/test_one.py::test_it"]
                  + [f"tests/browser/test_in_browser.py::test_{i}" for i in range(2)]
                  + [f"tests/test_three.py::test_{i}" for i in range(3)])
    schedule = scheduler(pytestconfig, "loadfile")
    first, second = Node("gw0"), Node("gw1")
    for node in (first, second):
        schedule.add_node(node)
        schedule.add_node_collection(node, collection)
    schedule.schedule()
    files = [[collection[i].split("::")[0] for i in node.sent] for node in (first, second)]
    assert files[0][:2] == ["tests/browser/test_in_browser.py"] * 2  # whatever its size
    assert files[1] == ["tests/test_many.py"] * 5  # then the most tests first, as xdist does
    assert scheduler(pytestconfig, "load") is None  # other ways to share tests: xdist's own


def test_a_notebook_the_browser_runs_is_left_out_of_nbval_and_the_rest_stay(pytestconfig):
    def item(nodeid, notebook=None):
        callspec = types.SimpleNamespace(params={"notebook": Path("/repo/notebooks") / notebook}
                                         ) if notebook else None
        return types.SimpleNamespace(nodeid=nodeid, callspec=callspec)

    in_browser = item("tests/browser/test_notebooks_in_browser.py::test_notebook_in_browser"
                      "[01_a]", "01_a.ipynb")
    harness = item("tests/browser/test_notebooks_in_browser.py::test_harness_passes")
    kept = [item("notebooks/02_b.ipynb::Cell 0"), item("notebooks/student/01_a.ipynb::Cell 0"),
            item("tests/test_x.py::test_01_a")]
    twice = [item("notebooks/01_a.ipynb::Cell 0"), item("notebooks/01_a.ipynb::Cell 3")]
    items, deselected = [in_browser, harness, twice[0], *kept, twice[1]], []
    hook = types.SimpleNamespace(pytest_deselected=lambda items: deselected.extend(items))
    plugin = next(p for p in pytestconfig.pluginmanager.get_plugins()
                  if getattr(p, "__file__", None) == str(ROOT_CONFTEST))
    plugin.pytest_collection_modifyitems(types.SimpleNamespace(hook=hook), items)
    assert items == [in_browser, harness, *kept] and deselected == twice
    alone = [*twice, *kept]  # no browser test collected (no Chromium, or -m "not browser")
    plugin.pytest_collection_modifyitems(types.SimpleNamespace(hook=hook), alone)
    assert alone == [*twice, *kept]
