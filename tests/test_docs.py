"""The README and the pages under docs/ link to each other: every relative link must reach a file
that ships, and every #anchor a heading of that file, as GitHub and JupyterLab render them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(h) for h in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)}


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [link for link in LINK.findall(" ".join(text.split()))
            if not re.match(r"[a-z]+:", link)]


def broken_links(page: Path) -> list[str]:
    broken = []
    for link in relative_links(page):
        path, _, fragment = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no file {target.name}")
        elif fragment and fragment not in anchors(target):
            broken.append(f"{link}: no heading with the anchor #{fragment} in {target.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_reaches_a_file_and_heading(page):
    assert not broken_links(page)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in relative_links(PAGES[0])}
    assert set(PAGES[1:]) <= linked, sorted(p.name for p in set(PAGES[1:]) - linked)


def test_the_check_catches_a_missing_file_and_a_missing_heading(tmp_path):
    page = tmp_path / "README.md"
    page.write_text("# Top\n\n## A heading, with punctuation\n\n[ok](#a-heading-with-punctuation) "
                    "[gone](docs/missing.md) [bad\nanchor](README.md#nowhere)\n")
    assert broken_links(page) == ["docs/missing.md: no file missing.md",
                                  "README.md#nowhere: no heading with the anchor #nowhere in "
                                  "README.md"]
