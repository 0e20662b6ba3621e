"""Write the stored reference outputs of every lecture's exercises.

Run after changing an exercise's input or solution:  python -m course_lib.exercises.references
(a unit test fails while the stored values and the library disagree).
"""

from __future__ import annotations

import importlib
import pkgutil

import course_lib.exercises as package
from course_lib.exercises.core import write_references


def lecture_modules():
    """Every ``lectureNN`` module of the package, imported."""
    return [importlib.import_module(f"{package.__name__}.{info.name}")
            for info in pkgutil.iter_modules(package.__path__) if info.name.startswith("lecture")]


def main() -> None:
    for module in lecture_modules():
        lecture = module.EXERCISES[0].lecture
        print(f"wrote {write_references(module.EXERCISES, lecture)}")


if __name__ == "__main__":
    main()
