"""Exercise checkers: run a student's function on seeded inputs, compare with stored values.

Each lecture module (``lecture01.py``, ...) declares its exercises with :class:`Exercise`. The
expected outputs are *stored* in ``references/<lecture>.npz`` (written by
``python -m course_lib.exercises.references``), so a checker never trusts code that a student
may have edited; a unit test keeps the stored values equal to the library's implementation.

An exercise's inputs are chosen so that plausible wrong answers give different outputs (a wall
hit exactly, a batch of more than one, large logits ...), and its :class:`Mistake` list names
those wrong answers: when a student's outputs equal a mistake's, the verdict says which mistake
it is. A notebook then uses the student's function downstream once it passed
(:func:`use_if_passed`), so that solving an exercise has a visible consequence.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

REFERENCE_DIR = Path(__file__).parent / "references"


@dataclass
class CheckResult:
    """What a checker found; shown as one ✓/✗ line in the notebook."""

    exercise: str
    passed: bool
    message: str
    function: Callable | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"{'✓' if self.passed else '✗'} {self.exercise}: {self.message}"

    def __bool__(self) -> bool:
        return self.passed


def use_if_passed(result: CheckResult, library_function: Callable) -> Callable:
    """The function that ``result`` checked if it passed, else the library's; prints which."""
    if result.passed and result.function is not None:
        print(f"Using your `{result.exercise}` (its check passed).")
        return result.function
    print(f"Using the library's `{result.exercise}`: yours has not passed its check yet.")
    return library_function


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong answer: a function computing it, and what to tell its author."""

    hint: str
    wrong: Callable


Cases = dict[str, tuple]  # input cases by a label that says what each one tests


@dataclass(frozen=True)
class Exercise:
    """One exercise: seeded input cases, the library's answer and how closely it must match.

    ``outputs`` names the returned values (one name: the return value is taken whole, so a tuple
    of indices is one answer); ``tensor`` requires torch tensors (a loss must stay one to be
    trained), ``differentiable`` a result that gradients reach; ``dtype`` compares the dtype
    exactly or only its kind (integer, float, bool). ``hint`` says what to implement: it ends
    every ✗ that no known mistake explains, and the student copy's stub.
    """

    lecture: str
    name: str
    make_inputs: Callable[[], Cases]
    solution: Callable
    hint: str
    mistakes: tuple[Mistake, ...] = ()
    outputs: tuple[str, ...] = ("result",)
    tensor: bool = False
    differentiable: bool = False
    dtype: Literal["exact", "kind"] | None = None
    rtol: float = 1e-5
    atol: float = 1e-6

    def inputs(self) -> Cases:
        """Fresh copies of the seeded input cases (float tensors require grad when it matters)."""
        cases = self.make_inputs()
        if self.differentiable:
            for args in cases.values():
                for arg in args:
                    if isinstance(arg, torch.Tensor) and arg.is_floating_point():
                        arg.requires_grad_()
        return cases

    def expected(self) -> list[tuple[np.ndarray, ...]]:
        """The stored reference outputs per case (not recomputed: see the module docstring)."""
        path = REFERENCE_DIR / f"{self.lecture}.npz"
        with np.load(path) as stored:
            keys = sorted(k for k in stored.files if k.startswith(f"{self.name}/"))
            if not keys:
                raise KeyError(f"No stored reference for {self.name!r} in {path}; run "
                               "`python -m course_lib.exercises.references` to write them.")
            cases = sorted({k.split("/")[1] for k in keys})
            return [tuple(stored[k] for k in keys if k.split("/")[1] == case) for case in cases]

    def labels(self) -> list[str]:
        with torch.random.fork_rng(devices=[]):
            return list(self.make_inputs())

    def compute(self, fn: Callable) -> list[tuple]:
        """``fn``'s raw return values on every case, split into this exercise's outputs.

        Torch's global random state is set by the inputs and restored afterwards: a function that
        draws random numbers draws the same ones every time, and the notebook's stream is kept.
        """
        with torch.random.fork_rng(devices=[]):
            return [self._split(fn(*args)) for args in self.inputs().values()]

    def _split(self, out) -> tuple:
        if len(self.outputs) == 1:
            return (out,)
        if not isinstance(out, tuple | list) or len(out) != len(self.outputs):
            what = f"{len(out)} values" if isinstance(out, tuple | list) else _describe(out)
            raise _WrongStructure(f"returned {what}, expected a tuple "
                                  f"({', '.join(self.outputs)}).")
        return tuple(out)

    def check(self, fn: Callable) -> CheckResult:
        """The verdict; as a checker cell's last line, Jupyter shows it as one ✓/✗ line."""
        passed, message = self._verdict(fn)
        return CheckResult(self.name, passed, message, fn)

    def _verdict(self, fn: Callable) -> tuple[bool, str]:
        try:
            got = self.compute(fn)
        except NotImplementedError:
            return False, ("not implemented yet: replace the `raise NotImplementedError` with "
                           "your code and run the cell again.")
        except _WrongStructure as err:
            return False, f"{err} {self.hint}"
        except Exception as err:  # a student's bug: say what and where, never crash the notebook
            return False, f"raised {type(err).__name__}: {err}{_students_line(err)}"
        problem = self._first_difference(got, self.expected())
        if problem is None:
            return True, f"matches the reference (rtol={self.rtol:g}, atol={self.atol:g})."
        for mistake in self.mistakes:
            if self._first_difference(got, self._converted(self.compute(mistake.wrong))) is None:
                return False, f"{problem} Likely mistake: {mistake.hint}"
        return False, f"{problem} {self.hint}"

    def _converted(self, cases: list[tuple]) -> list[tuple[np.ndarray, ...]]:
        return [tuple(_to_numpy(o) for o in outs) for outs in cases]

    def _first_difference(self, got: list[tuple], expected: list[tuple[np.ndarray, ...]]
                          ) -> str | None:
        labels = self.labels()
        for label, outs, wants in zip(labels, got, expected, strict=True):
            for name, out, want in zip(self.outputs, outs, wants, strict=True):
                problem = self._difference(out, want)
                if problem is not None:
                    where = [f"on {label}"] if len(labels) > 1 else []
                    where += [name] if len(self.outputs) > 1 else []
                    return f"{', '.join(where)}: {problem}" if where else problem
        return None

    def _difference(self, out, want: np.ndarray) -> str | None:
        """What is wrong with one output (None if nothing), in the order a student fixes it."""
        if self.tensor and not isinstance(out, torch.Tensor):
            return (f"returned {_describe(out)}, expected a torch tensor (keep the computation "
                    "in torch: no .item(), NumPy or Python floats).")
        try:
            got = _to_numpy(out)
        except (TypeError, ValueError) as err:
            return f"returned {_describe(out)}, which is not an array ({err})."
        if got.dtype == object:
            return f"returned {_describe(out)}, expected an array of numbers."
        if want.shape == () and got.size == 1:
            got = got.reshape(())
        if got.shape != want.shape:
            swapped = sorted(got.shape) == sorted(want.shape)
            return (f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
                    f"{': the axes are in another order' if swapped else ''}.")
        if self.dtype == "exact" and got.dtype != want.dtype:
            return f"dtype {got.dtype}, expected {want.dtype}."
        kind = _KINDS.get(want.dtype.kind, want.dtype.kind)
        if self.dtype == "kind" and got.size and _KINDS.get(got.dtype.kind) != kind:
            return f"dtype {got.dtype}, expected {kind} values."
        problem = _value_difference(got, want, self.rtol, self.atol)
        if problem is None and self.differentiable and not getattr(out, "requires_grad", False):
            return ("the result carries no gradient: it must be computed from the inputs with "
                    "torch operations (no .detach(), .item(), NumPy or torch.tensor(...)).")
        return problem


_KINDS = {"i": "integer", "u": "integer", "f": "floating-point", "b": "boolean"}


class _WrongStructure(Exception):
    """A function returned the wrong number or kind of values."""


def _students_line(err: Exception) -> str:
    """`` (line N: `code`)``: the deepest line of the student's own code that ``err`` passed
    (not torch's or NumPy's); empty if it was raised calling the function (wrong arguments)."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename != __file__]
    if not frames:
        return ""
    line = [f for f in frames if f.filename == frames[0].filename][-1]
    return f" (line {line.lineno}: `{(line.line or '').strip()}`)"


def _describe(value) -> str:
    if value is None:
        return "None (is a `return` missing?)"
    name = type(value).__name__
    article = "an" if name[0] in "aeiou" else "a"
    if isinstance(value, torch.Tensor | np.ndarray):
        return f"{article} {name} of shape {tuple(value.shape)}"
    return f"{article} {name}"


def _value_difference(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    """None if close; else where the values differ, NaN and infinity named as such."""
    if got.dtype.kind not in "biuf" or want.dtype.kind not in "biuf":
        return None if np.array_equal(got, want) else "values differ."
    g, w = got.astype(np.float64), want.astype(np.float64)
    close = np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return None
    bad = np.argwhere(~close) if close.ndim else np.zeros((1, 0), dtype=np.int64)
    index = tuple(int(i) for i in bad[0])
    where = f" at index {index}" if index else ""
    of = f"{len(bad)} of {close.size} values differ; first" if close.size > 1 else "value"
    if not np.isfinite(g[index]) and np.isfinite(w[index]):
        nonfinite = int(np.count_nonzero(~np.isfinite(g) & np.isfinite(w)))
        return (f"{nonfinite} value(s) are {g[index]:g} where a finite number is expected; "
                f"first{where}: expected {w[index]:.6g}.")
    return (f"{of}{where}: got {g[index]:.6g}, expected {w[index]:.6g} "
            f"(tolerance rtol={rtol:g}, atol={atol:g}).")


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def write_references(exercises: list[Exercise], lecture: str) -> Path:
    """Store the library solution's outputs for one lecture's exercises."""
    arrays = {}
    for ex in exercises:
        for c, outs in enumerate(ex.compute(ex.solution)):
            for i, out in enumerate(outs):
                arrays[f"{ex.name}/{c:02d}/{i:02d}"] = _to_numpy(out)
    REFERENCE_DIR.mkdir(exist_ok=True)
    path = REFERENCE_DIR / f"{lecture}.npz"
    np.savez_compressed(path, **arrays)
    return path
