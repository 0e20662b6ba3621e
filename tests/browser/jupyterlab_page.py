"""Driving one notebook in JupyterLab as a student would, and reading what the page shows.

Kept apart from the fixtures (conftest) and the tests so both can import it. Playwright is
imported where it is used, so this module loads on machines without it and the suite can skip.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_DIR = REPO / "test-artifacts" / "browser"
OPEN_TIMEOUT_MS = 120_000  # the first page load compiles JupyterLab's bundle: ~20 s on 2 cores
RUN_TIMEOUT_S = 300  # smoke-tier notebooks take well under a minute; the first kernel is slow
RENDER_TIMEOUT_S = 20  # widgets and images render a moment after the kernel goes idle
MIN_IMAGE_SIDE = 48  # px; smaller is a broken or placeholder image, not a figure
MAX_SCREENSHOT_HEIGHT = 16_000  # px; Chromium cannot capture much taller pages


def missing_requirement() -> str | None:
    """Why the browser suite cannot run here, or None when it can."""
    if not CHROMIUM.exists():
        return ("Browser tests need Debian's chromium: `sudo apt-get install chromium` "
                "(the CI script does this)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Browser tests need Python playwright: `pip install -e .[dev]`"
    return None


@dataclass
class Lab:
    """A running JupyterLab server as the tests see it."""

    base_url: str
    scratch: Path  # git-ignored folder under the server root for test-made notebooks
    cookies: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def api(self, method: str, path: str) -> object:
        """Call the REST API; non-GET calls carry the XSRF cookie and header the server demands."""
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        if method != "GET" and not any(c.name == "_xsrf" for c in self.cookies):
            opener.open(self.base_url + "/lab", timeout=30).close()
        xsrf = {c.name: c.value for c in self.cookies}.get("_xsrf", "")
        request = urllib.request.Request(self.base_url + path, method=method,
                                         headers={"X-XSRFToken": xsrf})
        with opener.open(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self) -> None:
        """Stop every kernel, so the next notebook starts from a fresh one and none is left."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")


# One pass over the open notebook: the notebook model says what each cell produced, the DOM says
# what the student sees. Returns plain data so the assertions read in Python.
INSPECT_JS = r"""
() => {
  const WIDGET = 'application/vnd.jupyter.widget-view+json';
  const BAD = /Loading widget|Error displaying widget|model not found/;  // ipywidgets' own words
  const panel = window.jupyterapp.shell.currentWidget;
  const root = panel.content.node;
  const text = el => (el?.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 400);
  const report = {
    kernel: panel.node.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status,
    cells: [], problems: [], errors: 0, widgets: 0, plays: 0, animations: 0, images: 0,
    progress: 0, outputWidgets: 0, videos: 0,
  };
  const errorNodes = new Set();  // JupyterLab renders exceptions with the stderr mime type
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    report.cells.push({
      index, empty: cell.model.sharedModel.getSource().trim() === '',
      count: cell.model.executionCount,
      // From the model, not the prompt's DOM: JupyterLab may not have rendered a cell yet.
      running: cell.model.executionState === 'running',
    });
    const outputs = cell.model.outputs;
    for (let k = 0; k < outputs.length; k++) {
      const output = outputs.get(k), shown = cell.outputArea.widgets[k]?.node;
      if (output.type === 'error') {
        const {ename, evalue} = output.toJSON();
        report.errors += 1;
        report.problems.push(`error output: ${ename}: ${evalue} (cell ${index})`);
        if (shown) errorNodes.add(shown);
      }
      if (!(WIDGET in output.data)) continue;
      report.widgets += 1;
      if (!shown || !shown.querySelector('.jupyter-widgets') || BAD.test(shown.textContent)) {
        report.problems.push(`cell ${index}: widget output ${k} not rendered: ` +
                             `"${shown ? text(shown) : 'no output element'}"`);
      }
    }
  });
  for (const el of root.querySelectorAll('.jp-OutputArea-output')) {
    const mime = el.dataset.mimeType;
    if (mime === 'application/vnd.jupyter.stderr' &&
        !errorNodes.has(el.closest('.jp-OutputArea-child'))) {
      report.problems.push(`stderr output: ${text(el)}`);
    } else if (mime === 'text/plain' &&
               /^<(Figure size|matplotlib\.|IPython\.core\.display\.)/.test(text(el))) {
      report.problems.push(`shown as text instead of rendered: ${text(el)}`);
    }
  }
  for (const el of root.querySelectorAll('.widget-output .jp-OutputArea-output')) {
    if (BAD.test(el.textContent) && !el.querySelector('.jp-OutputArea-output')) {
      report.problems.push(`widget failed to display: ${text(el)}`);
    }
  }
  for (const img of root.querySelectorAll('.jp-OutputArea-output img')) {
    report.images += 1;
    const w = img.naturalWidth, h = img.naturalHeight;
    const where = img.closest('.animation') ? 'animation frame' :
                  img.closest('.jupyter-widgets') ? 'widget image' : 'figure';
    if (!img.complete || Math.min(w, h) < MIN_SIDE) {
      report.problems.push(`${where} ${report.images} is ${w}x${h} px (broken or empty)`);
      continue;
    }
    const canvas = document.createElement('canvas');
    canvas.width = Math.min(w, 256); canvas.height = Math.min(h, 256);
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let flat = true;  // a blank video frame can be meant; a blank figure never is
    for (let i = 4; i < px.length && flat; i += 4) {
      flat = px[i] === px[0] && px[i + 1] === px[1] && px[i + 2] === px[2];
    }
    if (flat && where === 'figure') {
      report.problems.push(`${where} ${report.images} (${w}x${h} px) is one flat colour`);
    }
  }
  for (const video of root.querySelectorAll('.jp-OutputArea-output video')) {
    report.videos += 1;  // an HTML5 player: it must have a source the browser can decode
    if (!video.currentSrc && !video.src) {
      report.problems.push(`video ${report.videos} has no source`);
    } else if (video.error) {
      report.problems.push(`video ${report.videos} cannot play (media error ` +
                           `${video.error.code}: ${video.error.message})`);
    }
  }
  report.outputWidgets = root.querySelectorAll('.widget-output').length;
  report.progress = root.querySelectorAll('.widget-hprogress').length;
  report.plays = root.querySelectorAll('.widget-play').length;
  for (const anim of root.querySelectorAll('.jp-OutputArea-output .animation')) {
    report.animations += 1;
    const slider = anim.querySelector('input[type=range].anim-slider');
    const titles = [...anim.querySelectorAll('.anim-buttons button')].map(b => b.title);
    if (!slider || !titles.includes('Play') || !titles.includes('Pause')) {
      report.problems.push(`animation ${report.animations} lacks its controls ` +
                           `(buttons: ${titles.join(', ') || 'none'})`);
    } else if (Number(slider.max) < 1) {
      report.problems.push(`animation ${report.animations} has ${Number(slider.max) + 1} frame`);
    }
  }
  return report;
}
""".replace("MIN_SIDE", str(MIN_IMAGE_SIDE))


def write_notebook(path: Path, sources: list[str]) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, path)
    return path


class NotebookPage:
    """A notebook open in JupyterLab, driven through the menus a student would use."""

    def __init__(self, page, lab, path: Path):
        self.page, self.lab, self.path = page, lab, path
        self.page_errors: list[str] = []
        page.on("pageerror", lambda e: self.page_errors.append(f"{e.name}: {e.message}"))

    def open(self) -> None:
        # A workspace per notebook: nothing restored from the previous test, no kernel dialog.
        relative = self.path.relative_to(REPO).as_posix()
        workspace = re.sub(r"\W", "-", self.path.stem)
        self.page.goto(f"{self.lab.base_url}/lab/workspaces/{workspace}/tree/{relative}",
                       timeout=OPEN_TIMEOUT_MS)
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(
                "() => { const panel = window.jupyterapp?.shell.currentWidget;"
                " return panel?.context?.isReady && panel.sessionContext.session?.kernel &&"
                " panel.node.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status"
                " === 'idle'; }", timeout=OPEN_TIMEOUT_MS)
        except PlaywrightTimeout:
            dialogs = self.page.locator(".jp-Dialog").all_inner_texts()  # e.g. no such kernel
            raise AssertionError(f"{relative} did not open with an idle kernel within "
                                 f"{OPEN_TIMEOUT_MS // 1000} s; dialogs: {dialogs}") from None

    def menu(self, menu: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{menu}$")).click()
        self.page.locator(".lm-Menu-item:not(.lm-mod-disabled)",
                          has_text=re.compile(f"^{item}")).first.click()

    def inspect(self) -> dict:
        return self.page.evaluate(INSPECT_JS)

    def run_all(self) -> None:
        """Clear stored outputs, Run All, and wait until every cell ran (or one failed)."""
        self.menu("Edit", "Clear Outputs of All Cells")
        self.menu("Run", "Run All Cells")
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            report = self.inspect()
            running = [c["index"] for c in report["cells"] if c["running"]]
            if report["kernel"] == "idle" and not running:
                pending = [c for c in report["cells"] if not c["empty"] and c["count"] is None]
                if not pending or report["errors"]:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.path.name} still running after {RUN_TIMEOUT_S} s; "
                                     f"cells running: {running}, kernel: {report['kernel']}")
            time.sleep(0.5)

    def settle(self) -> dict:
        """Inspect until nothing is left to report or the report stops changing (2 s).

        Widgets and images render a moment after the kernel goes idle; real defects stay.
        """
        deadline = time.monotonic() + RENDER_TIMEOUT_S
        report, unchanged = self.inspect(), 0
        while report["problems"] and unchanged < 4 and time.monotonic() < deadline:
            time.sleep(0.5)
            previous, report = report, self.inspect()
            unchanged = unchanged + 1 if report["problems"] == previous["problems"] else 0
        return report

    def show_whole_notebook(self) -> None:
        """Grow the window to the notebook's height: one screenshot holds it all, and no cell
        keeps the estimated height JupyterLab gives cells not yet scrolled to, which would shift
        the page under the pointer mid-click.
        """
        measure = ("() => { const notebook = window.jupyterapp.shell.currentWidget.content;"
                   " notebook.outerNode.scrollTo(0, 0);"
                   " return notebook.widgets.at(-1).node.getBoundingClientRect().bottom + 40; }")
        height = 0
        for _ in range(5):  # cells laid out for the first time change the total height
            new_height = min(max(self.page.evaluate(measure), 900), MAX_SCREENSHOT_HEIGHT)
            if new_height == height:
                break
            height = new_height
            self.page.set_viewport_size({"width": 1280, "height": int(height)})
            self.page.wait_for_timeout(500)  # let the enlarged layout paint

    def check_players(self) -> list[str]:
        """Each ipywidgets Play must move a slider shown in the same output (its jslink)."""
        problems = []
        plays = self.page.locator(".jp-Notebook .widget-play")
        for i in range(plays.count()):
            play = plays.nth(i)
            output = play.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea-output')]"
                                  "[last()]")
            if output.locator(".widget-slider .widget-readout").count() == 0:
                problems.append(f"Play widget {i + 1} has no slider in its output")
                continue
            read = ("el => [...el.querySelectorAll('.widget-slider .widget-readout')]"
                    ".map(r => r.textContent).join(' | ')")
            before = output.evaluate(read)
            self._select_cell_of(play)
            play.locator("button:has(.fa-play)").click()
            if not self._changes(output, read, before):
                problems.append(f"Play widget {i + 1}: clicking Play moved no slider in its "
                                f"output (still {before})")
            play.locator("button:has(.fa-stop)").click()
        return problems

    def check_animations(self) -> list[str]:
        """Each jshtml animation's Play button must advance its frame slider (its script ran)."""
        problems = []
        animations = self.page.locator(".jp-Notebook .jp-OutputArea-output .animation")
        for i in range(animations.count()):
            animation = animations.nth(i)
            slider = animation.locator("input.anim-slider")
            before = slider.input_value()
            self._select_cell_of(animation)
            animation.locator("button[title=Play]").click()
            if not self._changes(slider, "el => el.value", before):
                problems.append(f"animation {i + 1}: clicking Play did not advance its slider")
            animation.locator("button[title=Pause]").click()
        return problems

    @staticmethod
    def _select_cell_of(element) -> None:
        """Select the element's cell first, as a student's first click into a cell does.

        Selecting focuses the cell, and the browser scrolls it into view: a click that selects
        the cell and presses a button at once can land on the moved page instead of the button.
        """
        element.locator("xpath=ancestor::div[contains(concat(' ', @class, ' '), ' jp-Cell ')]"
                        ).locator(".jp-InputPrompt").click()

    def _changes(self, locator, read: str, before: str, timeout_ms: int = 5000) -> bool:
        """Whether the value read from the element differs from `before` within the timeout.

        Polled on every animation frame: a looping animation can be back on its first frame
        whenever a slower poll looks.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        handle = locator.element_handle()
        try:
            self.page.wait_for_function(f"([el, before]) => ({read})(el) !== before",
                                        arg=[handle, before], polling="raf", timeout=timeout_ms)
            return True
        except PlaywrightTimeout:
            return False


def run_in_browser(browser, lab, path: Path) -> tuple[dict, list[str]]:
    """Open, run all, wait, interact, screenshot: the report and every problem a student sees."""
    page = browser.new_page()
    notebook = NotebookPage(page, lab, path)
    try:
        notebook.open()
        notebook.run_all()
        report = notebook.settle()
        notebook.show_whole_notebook()
        problems = report["problems"] + notebook.check_players() + notebook.check_animations()
        not_run = [c["index"] for c in report["cells"] if not c["empty"] and c["count"] is None]
        if not_run:
            problems.append(f"cells never ran (Run All stopped): {not_run}")
        shot = SCREENSHOT_DIR / f"{path.stem}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=shot)
        problems += [f"javascript error on the page: {e}" for e in notebook.page_errors]
        return report, problems
    finally:
        page.close()
        lab.shutdown_sessions()


