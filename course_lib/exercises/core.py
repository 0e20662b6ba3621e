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

Every case gets its own copy of its inputs (an answer that changes one in place cannot spoil the
next case, and is told that it changed it). A differentiable exercise also compares the gradients
that reach each of its inputs with stored ones, so an answer whose values are right but that cuts
one input from the graph (``.detach()``, NumPy) is caught, not only one with no gradient at all.
"""

from __future__ import annotations

import copy
import inspect
import traceback
from collections.abc import Callable, Sequence
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
    trained), ``differentiable`` a result whose gradients with respect to every float tensor
    argument (and the parameters of a module argument) equal the solution's, except the arguments
    named in ``data_args`` (targets, noise: data, which training never differentiates);
    ``dtype`` compares the dtype exactly or only its kind (integer, float, bool). ``hint`` says
    what to implement: it ends every ✗ that no known mistake explains, and the student copy's
    stub.
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
    data_args: tuple[str, ...] = ()

    def inputs(self) -> Cases:
        """The seeded input cases, each with its own copies (a case never shares an object with
        another); float tensors require grad when it matters."""
        cases = {label: tuple(_fresh(arg) for arg in args)
                 for label, args in self.make_inputs().items()}
        if self.differentiable:
            names = self.arg_names()
            for args in cases.values():
                for name, arg in zip(names, args, strict=False):
                    if (isinstance(arg, torch.Tensor) and arg.is_floating_point()
                            and name not in self.data_args):
                        arg.requires_grad_()
        return cases

    def arg_names(self) -> list[str]:
        """The solution's parameter names, to name an argument in a verdict."""
        return list(inspect.signature(self.solution).parameters)

    def expected(self) -> list[tuple[np.ndarray, ...]]:
        """The stored reference outputs per case (not recomputed: see the module docstring)."""
        return [tuple(arrays.values()) for arrays in self._stored(f"{self.name}/")]

    def expected_gradients(self) -> list[dict[str, np.ndarray]]:
        """The stored gradients per case, by input name (see :meth:`gradients`)."""
        return self._stored(f"{_GRAD}/{self.name}/")

    def _stored(self, prefix: str) -> list[dict[str, np.ndarray]]:
        path = REFERENCE_DIR / f"{self.lecture}.npz"
        with np.load(path) as stored:
            keys = sorted(k for k in stored.files if k.startswith(prefix))
            if not keys:
                raise KeyError(f"No stored reference {prefix!r} in {path}; run "
                               "`python -m course_lib.exercises.references` to write them.")
            by_case: dict[str, dict[str, np.ndarray]] = {}
            for key in keys:
                case, item = key[len(prefix):].split("/", 1)
                by_case.setdefault(case, {})[item] = stored[key]
            return [by_case[case] for case in sorted(by_case)]

    def labels(self) -> list[str]:
        with torch.random.fork_rng(devices=[]):
            return list(self.make_inputs())

    def compute(self, fn: Callable) -> list[tuple]:
        """``fn``'s raw return values on every case, split into this exercise's outputs."""
        return [call.outputs for call in self._calls(fn)]

    def _calls(self, fn: Callable) -> list[_Call]:
        """``fn`` called on every case, with what it returned and which inputs it changed.

        Torch's global random state is set by the inputs and restored afterwards: a function that
        draws random numbers draws the same ones every time, and the notebook's stream is kept.
        """
        calls, names = [], self.arg_names()
        with torch.random.fork_rng(devices=[]):
            for label, args in self.inputs().items():
                before = [_fresh(arg) for arg in args]
                outputs = self._split(fn(*args))
                changed = [name for name, arg, old in zip(names, args, before, strict=False)
                           if not _same(arg, old)]
                calls.append(_Call(label, args, outputs, changed))
        return calls

    def _split(self, out) -> tuple:
        """The outputs of a multi-value result: a tuple, list, array ... of the right length."""
        if len(self.outputs) == 1:
            return (out,)
        if not _is_sequence(out) or len(out) != len(self.outputs):
            what = f"{len(out)} values" if isinstance(out, tuple | list) else _describe(out)
            raise _WrongStructure(f"returned {what}, expected a tuple "
                                  f"({', '.join(self.outputs)}) (or a list or array of "
                                  f"{len(self.outputs)}).")
        return tuple(out)

    def gradients(self, calls: list[_Call]) -> list[dict[str, np.ndarray | None]]:
        """Per case, the gradient of Σ w·output (fixed random weights w per output) with respect
        to each differentiable input; None for an input that no gradient reaches.

        Random weights rather than ones: the sum of a softmax's weights is constant, so its
        gradient through ones would be zero whatever the answer did.
        """
        names, found = self.arg_names(), []
        for call in calls:
            leaves = {name: leaf for name, arg in zip(names, call.args, strict=False)
                      for name, leaf in _leaves(name, arg)}
            total = sum((_weighted(out, i) for i, out in enumerate(call.outputs)
                         if isinstance(out, torch.Tensor) and out.requires_grad),
                        torch.zeros(()))
            grads = (torch.autograd.grad(total, list(leaves.values()), allow_unused=True)
                     if leaves and total.requires_grad else [None] * len(leaves))
            found.append({name: None if g is None else _to_numpy(g)
                          for name, g in zip(leaves, grads, strict=True)})
        return found

    def check(self, fn: Callable) -> CheckResult:
        """The verdict; as a checker cell's last line, Jupyter shows it as one ✓/✗ line."""
        passed, message = self._verdict(fn)
        return CheckResult(self.name, passed, message, fn)

    def _verdict(self, fn: Callable) -> tuple[bool, str]:
        try:
            calls = self._calls(fn)
        except NotImplementedError:
            return False, ("not implemented yet: replace the `raise NotImplementedError` with "
                           "your code and run the cell again.")
        except _WrongStructure as err:
            return False, f"{err} {self.hint}"
        except Exception as err:  # a student's bug: say what and where, never crash the notebook
            return False, f"{_raised(err)} {self.hint}"
        got = [call.outputs for call in calls]
        problem = self._first_difference(got, self.expected())
        mutated = next((call for call in calls if call.changed), None)
        if mutated is not None:
            where = f" (on {mutated.label})" if len(calls) > 1 else ""
            names = " and ".join(f"`{name}`" for name in mutated.changed)
            also = f" Its result is wrong too: {problem}" if problem else ""
            return False, (f"changes its argument {names} in place{where}: the caller's data "
                           "is not yours to change. Work on a copy (`x = x.clone()` in torch, "
                           "`x = x.copy()` in NumPy) or use operations that return a new array "
                           f"(`x = x - y`, not `x -= y` or `x[...] = ...`).{also}")
        if problem is None and self.differentiable:
            try:
                problem = self._gradient_difference(calls)
            except Exception as err:  # e.g. an in-place change of a value backward needs
                return False, f"computing the gradient {_raised(err)}"
            if problem is not None:  # right values: no mistake of the list (all values) fits
                return False, problem
            return True, (f"matches the reference, values and gradients (rtol={self.rtol:g}, "
                          f"atol={self.atol:g}).")
        if problem is None:
            return True, f"matches the reference (rtol={self.rtol:g}, atol={self.atol:g})."
        for mistake in self.mistakes:
            if self._first_difference(got, self._converted(self.compute(mistake.wrong))) is None:
                return False, f"{problem} Likely mistake: {mistake.hint}"
        return False, f"{problem} {self.hint}"

    def _gradient_difference(self, calls: list[_Call]) -> str | None:
        """What is wrong with the gradients (None if nothing): an input that no gradient reaches,
        or one that gets a different gradient, named with the case."""
        got_all, wanted_all = self.gradients(calls), self.expected_gradients()
        for call, got, wanted in zip(calls, got_all, wanted_all, strict=True):
            where = f"on {call.label}: " if len(calls) > 1 else ""
            for name, grad in got.items():  # in the order of the arguments
                want = wanted[name]
                if grad is None and np.any(want != 0):
                    return (f"{where}the values are right, but no gradient reaches `{name}`: "
                            "training could not learn through it. Keep every step on it in "
                            "torch (no .detach(), .data, .item(), NumPy or torch.tensor(...)).")
                grad = np.zeros_like(want) if grad is None else grad
                problem = _value_difference(grad.reshape(want.shape), want, self.rtol, self.atol)
                if problem is not None:
                    return (f"{where}the values are right, but the gradient with respect to "
                            f"`{name}` is not: {problem} Part of the computation is cut from "
                            "the graph (a .detach(), .data or torch.no_grad() on one path?) or "
                            "uses an operation with another gradient.")
        return None

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
_GRAD = "grad"  # the prefix of the stored gradients' keys


@dataclass
class _Call:
    """One case's call of an answer: its inputs, outputs, and the inputs it changed in place."""

    label: str
    args: tuple
    outputs: tuple
    changed: list[str]


def _fresh(arg):
    """A copy of one input that shares nothing with it (a tensor keeps requires_grad)."""
    if isinstance(arg, torch.Tensor):
        return arg.detach().clone().requires_grad_(arg.requires_grad)
    return copy.deepcopy(arg)


def _same(now, before) -> bool:
    """Whether an input is unchanged since ``before`` was copied (NaN equals NaN)."""
    if isinstance(now, torch.nn.Module):
        now, before = now.state_dict(), before.state_dict()
    if isinstance(now, dict):
        return now.keys() == before.keys() and all(_same(now[k], before[k]) for k in now)
    if isinstance(now, torch.Tensor | np.ndarray):
        a, b = _to_numpy(now), _to_numpy(before)
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(now, list | tuple):
        return len(now) == len(before) and all(map(_same, now, before))
    try:
        return bool(now == before)
    except Exception:  # noqa: BLE001 - an object that cannot say: assume unchanged
        return True


def _is_sequence(value) -> bool:
    """A tuple, list, 1-or-more-dimensional array or tensor: what ``a, b = value`` unpacks."""
    if isinstance(value, torch.Tensor | np.ndarray):
        return value.ndim > 0
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _leaves(name: str, arg) -> list[tuple[str, torch.Tensor]]:
    """The tensors of one argument that gradients are compared for, by name."""
    if isinstance(arg, torch.Tensor) and arg.requires_grad:
        return [(name, arg)]
    if isinstance(arg, torch.nn.Module):
        return [(f"{name}.{p}", t) for p, t in arg.named_parameters() if t.requires_grad]
    return []


def _weighted(out: torch.Tensor, index: int) -> torch.Tensor:
    """Σ w·out with fixed random weights w in [0.5, 1.5), the same for every answer: drawn in
    float32 and then cast, so that an answer computed in float64 is weighted alike (drawn in
    its own precision, they were other numbers, and a right answer's gradient looked wrong)."""
    weights = 0.5 + torch.rand(out.shape, generator=torch.Generator().manual_seed(index))
    return (out * weights.to(out.dtype)).sum()


def _raised(err: Exception) -> str:
    """``raised <Error>: <message> (line N: `code`)``, with advice when torch refused an
    in-place operation or a negative slicing step (NumPy's ``x[::-1]``)."""
    text = f"raised {type(err).__name__}: {err}{_students_line(err)}"
    if isinstance(err, ValueError) and "step must be greater than zero" in str(err):
        text += (" A torch tensor cannot be sliced with a negative step (NumPy's `x[:, ::-1]`): "
                 "reverse it with `x.flip(dims)`, e.g. `x.flip(1)` for dim 1.")
    if isinstance(err, RuntimeError) and ("in-place" in str(err) or "inplace" in str(err)):
        text += (" An operation changed a tensor in place (`x[...] = `, `+=`, a method ending "
                 "in `_`): work on a copy (`x = x.clone()`) or use operations that return a new "
                 "tensor (`torch.where`, `x * mask`, `x.masked_fill(...)`).")
    return text


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
    """Store the library solution's outputs (and gradients, where they count) for one lecture's
    exercises."""
    arrays = {}
    for ex in exercises:
        calls = ex._calls(ex.solution)
        for c, call in enumerate(calls):
            for i, out in enumerate(call.outputs):
                arrays[f"{ex.name}/{c:02d}/{i:02d}"] = _to_numpy(out)
        if ex.differentiable:
            for c, grads in enumerate(ex.gradients(calls)):
                for name, grad in grads.items():
                    if grad is None:
                        raise ValueError(f"{ex.name}: no gradient reaches `{name}` in the "
                                         "solution; name it in `data_args` if it is data.")
                    arrays[f"{_GRAD}/{ex.name}/{c:02d}/{name}"] = grad
    REFERENCE_DIR.mkdir(exist_ok=True)
    path = REFERENCE_DIR / f"{lecture}.npz"
    np.savez_compressed(path, **arrays)
    return path
