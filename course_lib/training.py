"""The training loop every notebook uses: progress, live curves, evaluation and safe checkpoints.

A notebook supplies a ``step`` function (one optimisation step on one batch, returning its
losses) and the objects whose state matters; :func:`train` does the rest:

- *load the checkpoint if present, else train* (UvA DL course's pattern), so a lecturer can skip
  training and CI can train tiny models; an unfinished checkpoint is resumed;
- a ``tqdm.auto`` progress bar and, inside Jupyter, a live loss plot in an ipywidgets ``Output``;
- periodic evaluation on held-out data;
- checkpoints written atomically (a temporary file, then ``os.replace``), so a crash or a full
  disk never leaves a half-written file behind; they hold the random states too, so a resumed
  run ends exactly where an uninterrupted one would;
- Ctrl-C / "Interrupt kernel" takes effect *between* steps: the state after the last completed
  step is saved, then :class:`TrainingInterrupted` stops the cell with a one-line message.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pickle
import random
import secrets
import signal
import threading
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib.errors import CheckpointError

CHECKPOINT_ENV_VAR = "COURSE_CHECKPOINT_DIR"
# The fit functions' floor between two periodic checkpoints. On a GPU a paper-size save took
# 1.3-1.8 s (680-770 MiB) against 5-20 s of training between two epochs' saves; saving at most
# every 2 minutes costs about 1 % there, and a crash (Ctrl-C always saves) loses at most that.
CHECKPOINT_SECONDS = 120.0
# How train() begins the line it prints when it finds its run finished and only loads it (a
# worker of processes.fit_in_processes reads it to tell a loaded run from one it trained).
LOADED_FINISHED = "Loaded the finished run"


@dataclass
class History:
    """Losses per step, evaluation results per evaluation, and how the run ended.

    An evaluation may also give whole arrays (a summarizer's scores of each test video): they
    are kept in ``eval_arrays``, one row per evaluation, so a loaded run still shows how they
    changed epoch by epoch. (Checkpoints written before the course kept them load with none.)
    """

    train: dict[str, list[float]] = field(default_factory=dict)
    train_steps: list[int] = field(default_factory=list)
    evals: dict[str, list[float]] = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)
    completed_steps: int = 0
    finished: bool = False
    seconds: float = 0.0
    eval_arrays: dict[str, list[list[float]]] = field(default_factory=dict)

    def log(self, kind: str, step: int, metrics: dict[str, float | np.ndarray]) -> None:
        values, steps = (self.train, self.train_steps) if kind == "train" else (
            self.evals, self.eval_steps)
        steps.append(step)
        for key, value in metrics.items():
            if kind == "eval" and np.ndim(value):
                self.eval_arrays.setdefault(key, []).append(
                    np.asarray(value, dtype=np.float64).tolist())
            else:
                values.setdefault(key, []).append(float(value))

    def last(self, key: str, kind: str = "eval") -> float:
        """The latest value of ``key`` (from evaluations by default)."""
        return (self.evals if kind == "eval" else self.train)[key][-1]


def as_floats(metrics: dict[str, torch.Tensor]) -> dict[str, float]:
    """A step's logged 0-d tensors as floats, read from the device in one transfer.

    ``.item()`` on each would make the CPU wait for a GPU once per value (between the phases of
    an update, too), leaving the GPU idle while the CPU queues the next work; float64 keeps
    every value exactly what ``.item()`` gives.
    """
    values = torch.stack([v.detach().reshape(()).to(torch.float64) for v in metrics.values()])
    return dict(zip(metrics, values.tolist(), strict=True))


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


class GeneratorState:
    """Registers a ``torch.Generator`` in :func:`train`'s ``state`` so its position is saved.

    ``state={"model": model, "noise": GeneratorState(generator)}``: the checkpoint then stores
    the generator's state after the last completed step, and a resumed run draws the same random
    numbers an uninterrupted one would have drawn.
    """

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["state"])


class GradientState:
    """Registers a module's gradients in :func:`train`'s ``state`` so they are checkpointed too.

    For trainers whose next step reads gradients an earlier step left behind (SUM-GAN-sl clips
    over all parameters, stale gradients included): without them a resumed run's first clipping
    norm, and so its weights, would differ from an uninterrupted run's.
    """

    def __init__(self, module: torch.nn.Module):
        self.module = module

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: p.grad for name, p in self.module.named_parameters() if p.grad is not None}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, p in self.module.named_parameters():
            p.grad = state[name].to(p.device).clone() if name in state else None


def random_states() -> dict[str, Any]:
    """The global random states a step may consume: torch's (and CUDA's), numpy's, Python's."""
    numpy_state = np.random.get_state(legacy=False)
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy_key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
              "numpy_rest": [numpy_state["state"]["pos"], numpy_state["has_gauss"],
                             numpy_state["gauss"]]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    """Restore what :func:`random_states` returned."""
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    pos, has_gauss, gauss = states["numpy_rest"]
    np.random.set_state({"bit_generator": "MT19937", "has_gauss": has_gauss, "gauss": gauss,
                         "state": {"key": states["numpy_key"].numpy().astype(np.uint32),
                                   "pos": pos}})
    if "cuda" in states and torch.cuda.is_available():
        if len(states["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any], history: History) -> None:
    """Write ``state`` (objects with ``state_dict``), ``history`` and the global random states.

    Atomic (a temporary file beside ``path``, then ``os.replace``): a crash, a full disk or a
    killed kernel never leaves a half-written checkpoint, and the temporary files a killed save
    left behind are removed by the next save of the same checkpoint. Ctrl-C during the save is
    held back until the file is complete. The file gets the user's normal mode (umask).
    """
    with deferred_interrupts():
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
        payload = {"state": {k: v.state_dict() for k, v in state.items()},
                   "history": asdict(history), "random": random_states()}
        tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as handle:
                torch.save(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _write_progress(path, history)


def progress_path(path: Path) -> Path:
    """The small side file beside checkpoint ``path`` with its counters (:func:`read_progress`)."""
    return path.with_name(f"{path.name}.progress.json")


def _write_progress(path: Path, history: History) -> None:
    stat = path.stat()
    progress = {"completed_steps": history.completed_steps,
                "evaluations": len(history.eval_steps), "finished": history.finished,
                "checkpoint_bytes": stat.st_size, "checkpoint_mtime_ns": stat.st_mtime_ns}
    side = progress_path(path)
    tmp = side.parent / f".{side.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        tmp.write_text(json.dumps(progress))
        os.replace(tmp, side)
    except OSError:  # only a shortcut for readers: they fall back on the checkpoint itself
        tmp.unlink(missing_ok=True)


def read_progress(path: Path) -> dict[str, Any] | None:
    """``completed_steps``, ``evaluations`` and ``finished`` of checkpoint ``path`` (``None``
    without one), from its side file when that describes this very file (its size and time),
    else from the checkpoint itself: a paper-size checkpoint takes seconds to load, its side
    file none."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    try:
        progress = json.loads(progress_path(path).read_text())
        if (progress["checkpoint_bytes"], progress["checkpoint_mtime_ns"]) == (
                stat.st_size, stat.st_mtime_ns):
            return progress
    except (OSError, ValueError, KeyError, TypeError):
        pass
    history = History(**_read_payload(path)["history"])
    return {"completed_steps": history.completed_steps,
            "evaluations": len(history.eval_steps), "finished": history.finished}


def _unreadable(path: Path, problem: str, fix: str) -> CheckpointError:
    """One error naming the file, what is wrong and the fix (torch's own message, with its
    advice to load untrusted files, is not chained: ``raise ... from None``)."""
    return CheckpointError(f"Checkpoint {path} {problem}. {fix}", problem=f"{path} {problem}")


_DAMAGED_FIX = "It is damaged; delete it and the run trains from scratch."
_FOREIGN_FIX = (f"Move it out of the checkpoint folder (or set {CHECKPOINT_ENV_VAR} to another "
                "folder) and the run trains from scratch.")


def checkpoint_exists(path: Path) -> bool:
    """Whether the checkpoint is there. A folder that cannot be entered (no permission) makes
    ``Path.exists`` raise: that becomes a :class:`CheckpointError` naming the folder and the
    fix."""
    try:
        return path.exists()
    except PermissionError as error:
        raise CheckpointError(
            f"The checkpoint folder {path.parent} cannot be entered ({error.strerror}), so "
            f"{path.name} cannot be looked for or saved. Give yourself access (chmod u+rwx "
            f"{path.parent}) or set {CHECKPOINT_ENV_VAR} to a folder of yours.") from None


def _read_payload(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except PermissionError as error:
        raise _unreadable(path, f"cannot be read ({error.strerror})",
                          f"Give yourself read access (chmod u+r {path}), or "
                          + _FOREIGN_FIX[0].lower() + _FOREIGN_FIX[1:]) from None
    if not head:
        raise _unreadable(path, "is empty (0 bytes)", _DAMAGED_FIX)
    if head.startswith(b"version https://git-lfs"):
        raise _unreadable(path, "is a git-LFS pointer, not the checkpoint itself",
                          "Run `git lfs pull` to download it, or delete the pointer file and "
                          "the run trains from scratch.")
    if not zipfile.is_zipfile(path):
        raise _unreadable(path, "is damaged or truncated (not a complete PyTorch archive)"
                          if head.startswith(b"PK") else "is not a PyTorch archive (another "
                          "kind of file, or damaged)", _DAMAGED_FIX)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise _unreadable(path, "holds objects other than tensors and numbers, so it was not "
                          "written by the course's training loop", _FOREIGN_FIX) from None
    except Exception as err:  # a corrupted archive raises anything
        raise _unreadable(path, f"cannot be read ({type(err).__name__})", _DAMAGED_FIX) from None
    if not isinstance(payload, dict) or not {"state", "history"} <= payload.keys():
        raise _unreadable(path, "lacks the model state or the training history, so it was not "
                          "written by the course's training loop", _FOREIGN_FIX)
    return payload


def load_checkpoint(path: Path, state: dict[str, Any], *, restore_random: bool = True
                    ) -> History:
    """Restore ``state`` in place (and the global random states) from ``path``; return the
    stored history. A damaged or foreign file raises a :class:`CheckpointError` that names the
    file, what is wrong with it and the fix."""
    payload = _read_payload(path)
    try:
        history = History(**payload["history"])
    except TypeError as err:
        raise _unreadable(path, f"has a malformed training history ({err})",
                          _FOREIGN_FIX) from None
    missing = sorted(set(state) - set(payload["state"]))
    if missing:
        raise _unreadable(path, f"does not hold {', '.join(map(repr, missing))}: it belongs to "
                          "another configuration or an older version of the course", _FOREIGN_FIX)
    for key, obj in state.items():
        try:
            obj.load_state_dict(payload["state"][key])
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise _unreadable(path, f"does not fit this run's {key!r} ({type(err).__name__}: "
                              f"{first_line}): it belongs to another configuration",
                              _FOREIGN_FIX) from None
    if restore_random and "random" in payload:
        set_random_states(payload["random"])
    return history


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (Jupyter's "Interrupt kernel") stopped :func:`train` between two steps.

    Raised after the state of the last completed step was saved, so that an enclosing loop
    (pre-training then training, a loop over seeds) stops too. ``history`` is the run so far.
    Inside Jupyter the cell shows only the one-line message, without a traceback.
    """

    def __init__(self, message: str, history: History | None = None):
        super().__init__(message)
        self.history = history

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


_deferring = False


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C, Jupyter's interrupt) until the block ends, then raise it.

    An interrupt in the middle of ``optimizer.step()`` or of ``torch.save`` would leave
    half-updated parameters or a broken file; deferring it keeps every step and every save
    atomic. A nested block leaves the interrupt to the outermost one. Outside the main thread
    this is a no-op.
    """
    global _deferring
    if _deferring or threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted = False

    def remember(signum, frame):
        nonlocal interrupted
        interrupted = True

    previous = signal.signal(signal.SIGINT, remember)
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt


LIVE_ENV_VAR = "COURSE_LIVE"


def live_by_default() -> bool:
    """Live figures when running in a notebook's kernel, unless ``COURSE_LIVE=0``: a notebook run
    in batch (``jupyter nbconvert --execute``, papermill) has nobody to watch them, and nbclient
    can stall for good after a cell that updates a widget (jupyter/nbclient issue 312)."""
    return os.environ.get(LIVE_ENV_VAR, "1") != "0" and in_notebook()


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


def train(step: Callable[[Any], dict[str, float]],
          batches: Callable[[int], Iterable] | Iterable, total_steps: int, *,
          state: dict[str, Any], evaluate: Callable[[], dict[str, Any]] | None = None,
          eval_every: int = 0, evaluate_first: bool = False, checkpoint: Path | None = None,
          checkpoint_every: int = 0, checkpoint_seconds: float = 0.0,
          title: str = "training", live: bool | None = None,
          plot: Callable[[History], Any] | None = None) -> History:
    """Run ``step`` on ``total_steps`` batches, or load the finished run from ``checkpoint``.

    ``batches(start_step)`` returns an iterator over the batches from step ``start_step`` on
    (0 for a fresh run), so that a resumed run continues the data stream where it stopped; a
    plain iterable is accepted too (a resumed run then takes it from wherever it stands).

    ``state`` maps names to objects with ``state_dict``/``load_state_dict`` (models, optimizers,
    schedulers, a ``torch.Generator`` wrapped in :class:`GeneratorState`): with the global random
    states of torch, numpy and Python, exactly what the checkpoint stores and a resume restores,
    so an interrupted and resumed run ends with the same weights and history as an uninterrupted
    one. (Loading a finished run restores them too: later cells see the same random numbers
    whether the run was trained or loaded.)

    ``evaluate`` runs every ``eval_every`` steps, at the end and, with ``evaluate_first``, before
    the first step (logged as step 0); it returns numbers (and arrays: :class:`History`).
    ``checkpoint`` is written every ``checkpoint_every`` steps once ``checkpoint_seconds`` have
    passed since the last save (0: at every such step; a paper-size checkpoint on a GPU costs
    seconds), at the end (the only save marked finished) and on an interrupt; if it cannot be
    written, one warning says so and training goes on in memory. ``live`` (default: inside
    Jupyter) draws the live loss plot: ``plot`` (a function ``History -> Figure``) when given,
    else :func:`course_lib.plotting.plot_history`.

    Ctrl-C (Jupyter's "Interrupt kernel") takes effect between steps: the state after the last
    completed step is saved, then :class:`TrainingInterrupted` (a ``KeyboardInterrupt``) is
    raised so that enclosing code stops too. (A ``KeyboardInterrupt`` raised inside an
    evaluation leaves its step saved without it: the resumed run evaluates it first.) In
    Jupyter the cell ends with its one line, e.g.
    ``TrainingInterrupted: 01-composite: stopped after step 157 of 1000, saved to ...; run the
    cell again to resume.``
    """
    history = History()
    if checkpoint is not None and checkpoint_exists(checkpoint):
        history = load_checkpoint(checkpoint, state)
        if history.finished:
            print(f"{LOADED_FINISHED} from {checkpoint} ({history.completed_steps} steps, "
                  f"trained in {history.seconds:.0f} s). To train again, move that file away.")
            return history
        print(f"Resuming from {checkpoint} after step {history.completed_steps}.")
    resumed_after = history.completed_steps
    live = live_by_default() if live is None else live
    live_plot = LivePlot(title, plot=plot) if live else None
    batch_iter = iter(batches(history.completed_steps) if callable(batches) else batches)
    started = time.monotonic() - history.seconds
    target = checkpoint
    saved_at = time.monotonic()
    before_evaluation = None  # the random states while an evaluation runs

    def run_evaluation(step_number: int) -> None:
        nonlocal before_evaluation
        if evaluate is not None and history.eval_steps[-1:] != [step_number]:
            before_evaluation = random_states()
            history.log("eval", step_number, evaluate())
        before_evaluation = None

    def save() -> None:
        nonlocal target, saved_at
        saved_at = time.monotonic()
        history.seconds = saved_at - started
        if target is None:
            return
        try:
            save_checkpoint(target, state, history)
        except OSError as err:
            warnings.warn(f"Could not write the checkpoint {target} ({type(err).__name__}: "
                          f"{err}). Training goes on and the model stays in memory, but it is "
                          f"not saved; set {CHECKPOINT_ENV_VAR} to a writable folder to keep "
                          "checkpoints.", RuntimeWarning, stacklevel=3)
            target = None

    progress = tqdm(range(history.completed_steps, total_steps), initial=history.completed_steps,
                    total=total_steps, desc=title)
    try:
        # A fresh run's first evaluation, or the one a KeyboardInterrupt raised inside the
        # evaluation after the last saved step kept from being logged: redone before going on.
        done = history.completed_steps
        if evaluate_first if done == 0 else eval_every and done % eval_every == 0:
            with deferred_interrupts():
                run_evaluation(done)
        for number in progress:
            with deferred_interrupts():
                metrics = step(next(batch_iter))
                history.log("train", number + 1, metrics)
                history.completed_steps = number + 1
                if eval_every and (number + 1) % eval_every == 0:
                    run_evaluation(number + 1)
                if (checkpoint_every and (number + 1) % checkpoint_every == 0
                        and time.monotonic() - saved_at >= checkpoint_seconds):
                    save()
            progress.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
            if live_plot is not None:
                live_plot.update(history)
        with deferred_interrupts():
            run_evaluation(history.completed_steps)
            history.finished = True
            save()
    except KeyboardInterrupt:
        if before_evaluation is not None:  # saved as before the unfinished evaluation
            set_random_states(before_evaluation)
        try:
            save()
        except KeyboardInterrupt:  # a second Ctrl-C during the save: the save completed first
            pass
        where = (f"saved to {target}; run the cell again to resume" if target is not None
                 else "not saved; the model in memory holds that state")
        raise TrainingInterrupted(f"{title}: stopped after step {history.completed_steps} of "
                                  f"{total_steps}, {where}.", history) from None
    finally:
        progress.close()
        if live_plot is not None:
            live_plot.update(history, force=True)
    print(finished_line(title, history, resumed_after))
    return history


def finished_line(title: str, history: History, resumed_after: int = 0) -> str:
    """What a finished run printed: its steps, time and last step's metrics. A saved notebook
    keeps this line where a viewer without the widgets' state shows a progress bar at 0 %."""
    resumed = f", resumed after step {resumed_after}" if resumed_after else ""
    metrics = ", ".join(f"{key} {values[-1]:.4g}" for key, values in history.train.items())
    seconds = f"{history.seconds:.1f}" if history.seconds < 10 else f"{history.seconds:.0f}"
    return (f"{title}: finished {history.completed_steps} steps in {seconds} s of "
            f"training{resumed}" + (f"; last step: {metrics}" if metrics else "") + ".")
