"""Every lecture notebook as a student meets it: opened in JupyterLab in Chromium, run, looked at.

Every cell must run without an error (so nbval need not run these notebooks again: conftest.py
leaves its run out when this one runs them), and the browser must show what the code made: no
error outputs, nothing on stderr, every widget rendered, animations playing, figures drawn. Two
synthetic notebooks prove the harness itself: one that must pass and one whose every defect must
be caught.
"""

from __future__ import annotations

import pytest

from .jupyterlab_page import REPO, SCREENSHOT_DIR, missing_requirement

if (_reason := missing_requirement()) is not None:
    pytest.skip(_reason, allow_module_level=True)

from .jupyterlab_page import run_in_browser, write_notebook  # noqa: E402

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))

pytestmark = pytest.mark.browser
VIDEOS = {"07_summarize_a_video": 2}  # HTML5 video players a notebook shows


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_in_browser(browser, lab, notebook):
    before = notebook.read_bytes()
    report, problems = run_in_browser(browser, lab, notebook)
    assert notebook.read_bytes() == before, "the browser run changed the notebook file"
    if notebook.stem in VIDEOS:  # the original and its summary, side by side
        assert report["videos"] == VIDEOS[notebook.stem], report
    assert not problems, (f"{notebook.name} in JupyterLab (screenshot "
                          f"{SCREENSHOT_DIR.relative_to(REPO)}/{notebook.stem}.png):\n  "
                          + "\n  ".join(problems))


SETUP = ("import io\nimport ipywidgets as w\nimport matplotlib.pyplot as plt\n"
         "import numpy as np\nfrom celluloid import Camera\n"
         "from IPython.display import HTML, Image, display\n"
         "def png(a):\n    buffer = io.BytesIO()\n    plt.imsave(buffer, a, format='png')\n"
         "    return buffer.getvalue()")
ANIMATION = ("fig, ax = plt.subplots(figsize=(3, 3))\ncamera = Camera(fig)\nfor i in range(5):\n"
             "    ax.plot([0, i], [0, i], 'b')\n    camera.snap()\n"
             "anim = camera.animate(interval=50)\nplt.close(fig)\n")
# Every kind of output the course uses, working.
WORKING = [
    SETUP,
    "play = w.Play(min=0, max=9, interval=50)\nslider = w.IntSlider(min=0, max=9)\n"
    "w.jslink((play, 'value'), (slider, 'value'))\nw.HBox([play, slider])",
    "out = w.Output()\ndisplay(out)\nwith out:\n    fig, ax = plt.subplots(figsize=(4, 3))\n"
    "    ax.plot([1, 3, 2])\n    plt.show()",
    "from tqdm.auto import tqdm\nfor _ in tqdm(range(5)):\n    pass",
    ANIMATION + "HTML(anim.to_jshtml())",
    "fig, ax = plt.subplots(figsize=(4, 3))\nax.imshow([[0, 1], [1, 0]])\nplt.show()",
    "w.interactive(lambda x: x, x=(0, 10))",
]
# One defect per cell, each paired with the start of the problem the harness must report.
BROKEN = [
    (SETUP, None),
    ("w.HBox([w.Play(min=0, max=9, interval=50), w.IntSlider(min=0, max=9)])",
     "Play widget 1: clicking Play moved no slider in its output"),
    ("display({'application/vnd.jupyter.widget-view+json': {'model_id': 'nope',"
     " 'version_major': 2, 'version_minor': 0}}, raw=True)",
     "cell 2: widget output 0 not rendered"),
    (ANIMATION + "import re\nHTML(re.sub(r'(?s)<script.*?</script>', '', anim.to_jshtml()))",
     "animation frame 1 is 0x0 px"),
    ("display(Image(png(np.random.rand(10, 10))))", "figure 2 is 10x10 px"),
    ("display(Image(png(np.ones((300, 300)))))", "figure 3 (300x300 px) is one flat colour"),
    ("plt.figure()", "shown as text instead of rendered: <Figure size"),
    ("import sys\nprint('careful', file=sys.stderr)", "stderr output: careful"),
    ("1 / 0", "error output: ZeroDivisionError"),
    ("print('never reached')", "cells never ran (Run All stopped): [9]"),
]
BROKEN_ALSO = [  # reported once the page is driven, not tied to one cell
    "animation 1: clicking Play did not advance its slider",
    "javascript error on the page: ReferenceError",
]


def test_harness_passes_a_working_notebook(browser, lab):
    """The harness must find each kind of output and accept it when it works."""
    path = write_notebook(lab.scratch / "harness_working.ipynb", WORKING)
    report, problems = run_in_browser(browser, lab, path)
    assert not problems
    found = {key: report[key] for key in
             ("widgets", "plays", "animations", "images", "progress", "outputWidgets")}
    # Widget outputs: player, Output, tqdm bar, interactive (which holds a second Output).
    # Images: the Output's figure, the animation frame, the plain figure.
    assert found == {"widgets": 4, "plays": 1, "animations": 1, "images": 3, "progress": 1,
                     "outputWidgets": 2}


def test_harness_catches_a_broken_notebook(browser, lab):
    """Each defect a student could meet must be reported, or the suite proves nothing."""
    path = write_notebook(lab.scratch / "harness_broken.ipynb", [code for code, _ in BROKEN])
    _, problems = run_in_browser(browser, lab, path)
    expected = [want for _, want in BROKEN if want] + BROKEN_ALSO
    missed = [want for want in expected if not any(p.startswith(want) for p in problems)]
    assert not missed, f"the harness missed {missed}; it reported {problems}"
