"""Exercises: checkers for the notebooks and the generator of the student copies."""

from course_lib.exercises.core import CheckResult, Exercise, Mistake, use_if_passed

__all__ = ["CheckResult", "Exercise", "Mistake", "use_if_passed"]
