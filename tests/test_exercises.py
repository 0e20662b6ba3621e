import json

import numpy as np
import pytest
import torch

from course_lib.exercises import generate
from course_lib.exercises.core import Exercise
from course_lib.exercises.references import lecture_modules

ALL_EXERCISES = [ex for module in lecture_modules() for ex in module.EXERCISES]


@pytest.mark.parametrize("exercise", ALL_EXERCISES, ids=lambda e: f"{e.lecture}-{e.name}")
def test_stored_references_match_the_library(exercise):
    # Fails when a solution or an input changed without `python -m course_lib.exercises.references`.
    got, expected = exercise.compute(exercise.solution), exercise.expected()
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=exercise.rtol, atol=exercise.atol)
    assert exercise.check(exercise.solution).passed


@pytest.mark.parametrize("exercise", ALL_EXERCISES, ids=lambda e: f"{e.lecture}-{e.name}")
def test_checkers_report_stubs_and_crashes_without_raising(exercise):
    def stub(*args):
        raise NotImplementedError

    def crash(*args):
        return 1 / 0

    assert "not implemented yet" in exercise.check(stub).message
    assert "ZeroDivisionError" in exercise.check(crash).message


def test_checker_names_the_problem():
    from course_lib.exercises import lecture01 as ex

    wrong_shape = ex.REVERSED.check(lambda frames: frames[:, :-1])
    assert not wrong_shape and "shape (2, 4, 9), expected (2, 5, 9)" in wrong_shape.message
    no_flip = ex.REVERSED.check(lambda frames: frames)
    assert not no_flip and "values differ" in no_flip.message and "dim 1" in no_flip.message
    no_bounce = ex.BOUNCE.check(lambda p, v: (p + v, v))
    assert not no_bounce
    mean_not_sum = ex.NATS.check(
        lambda z, t: torch.nn.functional.binary_cross_entropy_with_logits(z, t))
    assert not mean_not_sum and "tolerance" in mean_not_sum.message


def test_exercise_without_stored_reference_says_how_to_write_it():
    exercise = Exercise("01", "no_such_exercise", lambda: (1,), lambda x: x)
    with pytest.raises(KeyError, match="course_lib.exercises.references"):
        exercise.expected()


def test_strip_solutions_keeps_indentation_and_flags_top_level_stubs():
    source = ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n"
              "    ### END SOLUTION\n\nprint(f)")
    stripped, top_level = generate.strip_solutions(source)
    assert stripped == f"def f(x):\n    y = 1\n    {generate.STUB}\n\nprint(f)"
    assert not top_level
    _, top_level = generate.strip_solutions("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    assert top_level
    for broken in ("### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                   "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"):
        with pytest.raises(ValueError):
            generate.strip_solutions(broken)


def test_student_copy_has_stubs_no_solutions_no_outputs():
    notebook = {"metadata": {"widgets": {}}, "nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "id": "a", "metadata": {}, "execution_count": 3,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}],
         "source": ["### BEGIN SOLUTION\n", "secret = 42\n", "### END SOLUTION"]},
    ]}
    student = generate.student_copy(notebook, "01_x.ipynb")
    code = student["cells"][1]
    assert "secret" not in "".join(code["source"]) and code["outputs"] == []
    assert code["execution_count"] is None and code["metadata"]["tags"] == ["raises-exception"]
    assert student["cells"][0]["cell_type"] == "markdown" and "widgets" not in student["metadata"]
    assert notebook["cells"][0]["outputs"]  # the lecture notebook itself is untouched


def test_committed_student_copies_are_current():
    assert generate.main(["--check"]) == 0, "run `python -m course_lib.exercises.generate`"
    lectures = generate.lecture_notebooks()
    assert lectures, "no lecture notebooks found"
    for path in lectures:
        student = json.loads((generate.STUDENT_DIR / path.name).read_text(encoding="utf-8"))
        text = "".join("".join(c["source"]) for c in student["cells"])
        assert generate.BEGIN not in text and generate.END not in text
        assert (generate.BEGIN in path.read_text(encoding="utf-8")) == (generate.STUB in text)
