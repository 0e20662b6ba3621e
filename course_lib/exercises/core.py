"""Exercise checkers: run a student's function on a seeded input, compare with stored values.

Each lecture module (``lecture01.py``, ...) declares its exercises with :class:`Exercise`. The
expected outputs are *stored* in ``references/<lecture>.npz`` (written by
``python -m course_lib.exercises.references``), so a checker never trusts code that a student
may have edited; a unit test keeps the stored values equal to the library's implementation.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REFERENCE_DIR = Path(__file__).parent / "references"


@dataclass
class CheckResult:
    """What a checker found; shown as one ✓/✗ line in the notebook."""

    exercise: str
    passed: bool
    message: str

    def __repr__(self) -> str:
        return f"{'✓' if self.passed else '✗'} {self.exercise}: {self.message}"

    def __bool__(self) -> bool:
        return self.passed


@dataclass(frozen=True)
class Exercise:
    """One exercise: a seeded input, the library's answer and the tolerance it is checked at."""

    lecture: str
    name: str
    make_inputs: Callable[[], tuple]
    solution: Callable
    rtol: float = 1e-5
    atol: float = 1e-6
    hint: str = ""

    def expected(self) -> tuple[np.ndarray, ...]:
        """The stored reference outputs (not recomputed: see the module docstring)."""
        path = REFERENCE_DIR / f"{self.lecture}.npz"
        with np.load(path) as stored:
            keys = sorted(k for k in stored.files if k.startswith(f"{self.name}/"))
            if not keys:
                raise KeyError(f"No stored reference for {self.name!r} in {path}; run "
                               "`python -m course_lib.exercises.references` to write them.")
            return tuple(stored[k] for k in keys)

    def compute(self, fn: Callable) -> tuple[np.ndarray, ...]:
        """Run ``fn`` on fresh copies of the seeded inputs; outputs as a tuple of arrays."""
        out = fn(*self.make_inputs())
        return tuple(_to_numpy(o) for o in (out if isinstance(out, tuple) else (out,)))

    def check(self, fn: Callable) -> CheckResult:
        """The verdict; as a checker cell's last line, Jupyter shows it as one ✓/✗ line."""
        return self._compare(fn)

    def _compare(self, fn: Callable) -> CheckResult:
        try:
            got = self.compute(fn)
        except NotImplementedError:
            return CheckResult(self.name, False, "not implemented yet: replace the "
                               "`raise NotImplementedError` with your code and run the cell again.")
        except Exception as err:  # a student's bug: say what and where, never crash the notebook
            where = traceback.extract_tb(err.__traceback__)[-1]
            return CheckResult(self.name, False, f"raised {type(err).__name__}: {err} "
                               f"(line {where.lineno}: `{(where.line or '').strip()}`)")
        expected = self.expected()
        if len(got) != len(expected):
            return CheckResult(self.name, False, f"returned {len(got)} value(s), expected "
                               f"{len(expected)}.")
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            label = f"output {i}: " if len(expected) > 1 else ""
            if g.shape != e.shape:
                return CheckResult(self.name, False, f"{label}shape {tuple(g.shape)}, expected "
                                   f"{tuple(e.shape)}. {self.hint}".strip())
            if not np.allclose(g, e, rtol=self.rtol, atol=self.atol, equal_nan=True):
                diff = np.abs(g.astype(np.float64) - e.astype(np.float64))
                worst = np.unravel_index(np.nanargmax(diff), diff.shape) if diff.ndim else ()
                return CheckResult(
                    self.name, False,
                    f"{label}values differ (largest error {np.nanmax(diff):.3g} at index "
                    f"{tuple(int(j) for j in worst)}: got {float(g[worst]):.6g}, expected "
                    f"{float(e[worst]):.6g}; "
                    f"tolerance rtol={self.rtol:g}, atol={self.atol:g}). {self.hint}".strip())
        return CheckResult(self.name, True, f"matches the reference (rtol={self.rtol:g}, "
                           f"atol={self.atol:g}).")


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def write_references(exercises: list[Exercise], lecture: str) -> Path:
    """Store the library solution's outputs for one lecture's exercises."""
    arrays = {}
    for ex in exercises:
        for i, out in enumerate(ex.compute(ex.solution)):
            arrays[f"{ex.name}/{i:02d}"] = out
    REFERENCE_DIR.mkdir(exist_ok=True)
    path = REFERENCE_DIR / f"{lecture}.npz"
    np.savez_compressed(path, **arrays)
    return path
