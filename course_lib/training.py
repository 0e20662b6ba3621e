"""The training loop every notebook uses: progress, live curves, evaluation and safe checkpoints.

A notebook supplies a ``step`` function (one optimisation step on one batch, returning its
losses) and the objects whose state matters; :func:`train` does the rest:

- *load the checkpoint if present, else train* (UvA DL course's pattern), so a lecturer can skip
  training and CI can train tiny models; an unfinished checkpoint is resumed;
- a ``tqdm.auto`` progress bar and, inside Jupyter, a live loss plot in an ipywidgets ``Output``;
- periodic evaluation on held-out data;
- checkpoints written atomically (a temporary file, then ``os.replace``), so a crash or a full
  disk never leaves a half-written file behind;
- Ctrl-C / "Interrupt kernel" takes effect *between* steps: the cell ends normally, keeping (and
  saving) the state after the last completed step.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

CHECKPOINT_ENV_VAR = "COURSE_CHECKPOINT_DIR"


@dataclass
class History:
    """Losses per step, evaluation results per evaluation, and how the run ended."""

    train: dict[str, list[float]] = field(default_factory=dict)
    train_steps: list[int] = field(default_factory=list)
    evals: dict[str, list[float]] = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)
    completed_steps: int = 0
    finished: bool = False
    seconds: float = 0.0

    def log(self, kind: str, step: int, metrics: dict[str, float]) -> None:
        values, steps = (self.train, self.train_steps) if kind == "train" else (
            self.evals, self.eval_steps)
        steps.append(step)
        for key, value in metrics.items():
            values.setdefault(key, []).append(float(value))

    def last(self, key: str, kind: str = "eval") -> float:
        """The latest value of ``key`` (from evaluations by default)."""
        return (self.evals if kind == "eval" else self.train)[key][-1]


def checkpoint_dir() -> Path:
    """``$COURSE_CHECKPOINT_DIR``, else ``checkpoints/`` at the repository root."""
    configured = os.environ.get(CHECKPOINT_ENV_VAR)
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "checkpoints"


def checkpoint_path(name: str, config: Any) -> Path:
    """A checkpoint file named after the run and a hash of its configuration.

    Changing any size or setting therefore trains a new model instead of loading a checkpoint
    whose tensors no longer fit.
    """
    settings = asdict(config) if is_dataclass(config) else dict(config)
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    tier = settings.get("tier", "custom")
    return checkpoint_dir() / f"{name}-{tier}-{digest[:8]}.pt"


def save_checkpoint(path: Path, state: dict[str, Any], history: History) -> None:
    """Write ``state`` (objects with ``state_dict``) and ``history`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state": {k: v.state_dict() for k, v in state.items()}, "history": asdict(history)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, state: dict[str, Any]) -> History:
    """Restore ``state`` in place from ``path``; return the stored history."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        for key, obj in state.items():
            obj.load_state_dict(payload["state"][key])
    except (KeyError, RuntimeError, EOFError, OSError) as err:
        raise RuntimeError(
            f"Checkpoint {path} does not fit this model ({type(err).__name__}: {err}). "
            f"Delete the file to train from scratch.") from err
    return History(**payload["history"])


@contextmanager
def deferred_interrupts() -> Iterator[dict[str, bool]]:
    """Hold back SIGINT (Ctrl-C, Jupyter's interrupt) until the block ends, then raise it.

    An interrupt in the middle of ``optimizer.step()`` would leave half-updated parameters;
    deferring it keeps every step atomic. Outside the main thread this is a no-op.
    """
    flag = {"interrupted": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def remember(signum, frame):
        flag["interrupted"] = True

    previous = signal.signal(signal.SIGINT, remember)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
    if flag["interrupted"]:
        raise KeyboardInterrupt


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class LivePlot:
    """A loss plot redrawn in place inside an ipywidgets ``Output``.

    ``plot`` draws the figure from the history so far (default:
    :func:`course_lib.plotting.plot_history` with ``title``). It is redrawn at most every
    ``period`` s, and no sooner than four times the last drawing's duration after it, so that
    drawing takes at most a fifth of the time however slow the figure or the machine.
    """

    def __init__(self, title: str, period: float = 2.0,
                 plot: Callable[[History], Any] | None = None):
        import ipywidgets as widgets
        from IPython.display import display

        self.title = title
        self.period = period
        self.plot = plot
        self._last = self._cost = 0.0
        self.output = widgets.Output()
        display(self.output)

    def update(self, history: History, force: bool = False) -> None:
        if not force and time.monotonic() - self._last < max(self.period, 4 * self._cost):
            return
        started = time.monotonic()
        import matplotlib.pyplot as plt
        from IPython.display import clear_output, display

        from course_lib.plotting import plot_history

        fig = self.plot(history) if self.plot else plot_history(history, title=self.title)
        with self.output:
            clear_output(wait=True)
            display(fig)
        plt.close(fig)
        self._last = time.monotonic()
        self._cost = self._last - started


def train(step: Callable[[Any], dict[str, float]], batches: Iterable, total_steps: int, *,
          state: dict[str, Any], evaluate: Callable[[], dict[str, float]] | None = None,
          eval_every: int = 0, checkpoint: Path | None = None, checkpoint_every: int = 0,
          title: str = "training", live: bool | None = None,
          plot: Callable[[History], Any] | None = None) -> History:
    """Run ``step`` on ``total_steps`` batches, or load the finished run from ``checkpoint``.

    ``state`` maps names to objects with ``state_dict``/``load_state_dict`` (models, optimizers,
    schedulers): exactly what the checkpoint stores. ``evaluate`` is called every ``eval_every``
    steps and at the end. ``live`` (default: inside Jupyter) draws the live loss plot: ``plot``
    (a function ``History -> Figure``) when given, else :func:`course_lib.plotting.plot_history`.
    """
    history = History()
    if checkpoint is not None and checkpoint.exists():
        history = load_checkpoint(checkpoint, state)
        if history.finished:
            print(f"Loaded a finished run from {checkpoint} ({history.completed_steps} steps, "
                  f"trained in {history.seconds:.0f} s). Delete the file to train again.")
            return history
        print(f"Resuming from {checkpoint} after step {history.completed_steps}.")
    live = in_notebook() if live is None else live
    live_plot = LivePlot(title, plot=plot) if live else None
    batch_iter = iter(batches)
    started = time.monotonic() - history.seconds

    def run_evaluation(step_number: int) -> None:
        if evaluate is not None and history.eval_steps[-1:] != [step_number]:
            history.log("eval", step_number, evaluate())

    def save() -> None:
        history.seconds = time.monotonic() - started
        if checkpoint is not None:
            save_checkpoint(checkpoint, state, history)

    progress = tqdm(range(history.completed_steps, total_steps), initial=history.completed_steps,
                    total=total_steps, desc=title)
    try:
        for number in progress:
            with deferred_interrupts():
                metrics = step(next(batch_iter))
                history.log("train", number + 1, metrics)
                history.completed_steps = number + 1
                if eval_every and (number + 1) % eval_every == 0:
                    run_evaluation(number + 1)
                if checkpoint_every and (number + 1) % checkpoint_every == 0:
                    save()
            progress.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
            if live_plot is not None:
                live_plot.update(history)
        with deferred_interrupts():
            run_evaluation(history.completed_steps)
            history.finished = True
            save()
    except KeyboardInterrupt:
        save()
        where = f", saved to {checkpoint}; run the cell again to resume" if checkpoint else ""
        print(f"Interrupted: kept the state after step {history.completed_steps}{where}.")
    finally:
        progress.close()
        if live_plot is not None:
            live_plot.update(history, force=True)
    return history
