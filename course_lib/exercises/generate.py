"""Write the student copies of the lecture notebooks: solutions become stubs.

Every line from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` (nbgrader's markers, so nbgrader
works on the same sources) becomes ``raise NotImplementedError(...)`` at the block's indentation;
inside a function that is an exercise of the lecture's checker module, its message says which
exercise it is and what to implement (the exercise's hint). A stub at the top level of a cell
would stop "Run all", so such cells get the ``raises-exception`` tag; stubs inside functions
raise only when called, and the checkers report that calmly.

    python -m course_lib.exercises.generate          # write notebooks/student/*.ipynb
    python -m course_lib.exercises.generate --check  # exit 1 if a copy is out of date
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import re
import sys
import textwrap
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
STUDENT_DIR = NOTEBOOK_DIR / "student"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
GENERIC_TASK = "Exercise: replace this line with your solution."
DEF = re.compile(r"(\s*)def (\w+)\(")
BANNER = ("> **Student copy** of `../{name}`, written by `python -m course_lib.exercises.generate`"
          " (edit the lecture notebook, not this file). Solve the cells that raise "
          "`NotImplementedError`; the checker after each one tells you whether you got it right.")


def lecture_notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def exercise_tasks(lecture: str) -> dict[str, str]:
    """What each exercise function of a lecture asks for, from its checker module."""
    try:
        module = importlib.import_module(f"course_lib.exercises.lecture{lecture}")
    except ModuleNotFoundError:
        return {}
    return {ex.name: f"Exercise {number}: implement {ex.name}. {ex.hint}"
            for number, ex in enumerate(module.EXERCISES, start=1)}


def stub(task: str, indent: str) -> str:
    """``raise NotImplementedError("<task>")``, wrapped to stay within 100 characters."""
    one_line = f"{indent}raise NotImplementedError({json.dumps(task, ensure_ascii=False)})"
    if len(one_line) <= 100:
        return one_line + "\n"
    chunks = textwrap.wrap(task, width=86 - len(indent), break_long_words=False)
    strings = [json.dumps(c + (" " if i < len(chunks) - 1 else ""), ensure_ascii=False)
               for i, c in enumerate(chunks)]
    body = "\n".join(f"{indent}    {s}" for s in strings)
    return f"{indent}raise NotImplementedError(\n{body})\n"


def strip_solutions(source: str, tasks: dict[str, str] | None = None) -> tuple[str, bool]:
    """Replace each solution block by a stub; also say whether a stub sits at top level.

    A block inside ``def name(...)`` with ``name`` in ``tasks`` gets that task as its message.
    """
    tasks = tasks or {}
    lines, out, inside, top_level = source.splitlines(keepends=True), [], False, False
    functions: list[tuple[str, str]] = []  # (indentation, name) of the enclosing defs
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"Nested {BEGIN!r} in:\n{source}")
            inside = True
            indent = re.match(r"\s*", line).group(0)
            top_level |= indent == ""
            enclosing = [name for depth, name in functions if len(depth) < len(indent)]
            out.append(stub(tasks.get(enclosing[-1] if enclosing else "", GENERIC_TASK), indent))
        elif stripped == END:
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r} in:\n{source}")
            inside = False
        elif not inside:
            if match := DEF.match(line):
                depth = match.group(1)
                functions = [f for f in functions if len(f[0]) < len(depth)] + [
                    (depth, match.group(2))]
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN!r} without {END!r} in:\n{source}")
    return "".join(out).rstrip("\n"), top_level


def student_copy(notebook: dict, name: str) -> dict:
    """The student version of a lecture notebook (a JSON dict): stubs, no outputs, a banner."""
    student = copy.deepcopy(notebook)
    tasks = exercise_tasks(name[:2])
    for cell in student["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        if BEGIN in source:
            new_source, top_level = strip_solutions(source, tasks)
            cell["source"] = new_source.splitlines(keepends=True)
            tags = cell.setdefault("metadata", {}).setdefault("tags", [])
            if top_level and "raises-exception" not in tags:
                tags.append("raises-exception")
    banner = {"cell_type": "markdown", "id": "student-copy-banner", "metadata": {},
              "source": [BANNER.format(name=name)]}
    student["cells"].insert(0, banner)
    student["metadata"].pop("widgets", None)
    return student


def render(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the student notebooks.")
    parser.add_argument("--check", action="store_true", help="only check they are current")
    args = parser.parse_args(argv)
    stale = []
    for path in lecture_notebooks():
        target = STUDENT_DIR / path.name
        text = render(student_copy(json.loads(path.read_text(encoding="utf-8")), path.name))
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale.append(target)
        else:
            STUDENT_DIR.mkdir(exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target}")
    for target in stale:
        print(f"out of date: {target} (run `python -m course_lib.exercises.generate`)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
