"""The README indexes every page of docs/, and no relative link in them is broken."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        p.name for p in sorted((ROOT / "docs").glob("*.md")) if f"(docs/{p.name})" not in readme
    ]
    assert not missing, f"README.md's Documentation table does not link {missing}"


def test_relative_links_point_at_files_that_exist() -> None:
    broken = []
    for page in _pages():
        for line in page.read_text(encoding="utf-8").splitlines():
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):  # not in code
                if re.match(r"^[a-z]+:", target):
                    continue
                # A page another branch brings is linked as "(coming with …)" until then.
                if not (page.parent / target).exists() and "coming with" not in line:
                    broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)
