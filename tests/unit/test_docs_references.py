"""Every reference to the design docs, in code, configs, units, tests and the README,
resolves inside the repository: the file is in docs/, and the section, row or item it
names is there. A renumbered section or a moved file breaks this test, not a reader."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
DOCS = ROOT / "docs"
REFERENCE = re.compile(
    r"docs/(?P<file>[a-z_]+\.md)(?:,? (?P<what>sections?|rows?|items?) (?P<first>\d+a?))?"
)
ANCHORS = {
    "section": lambda n: rf"^## {n}\. ",
    "row": lambda n: rf"^\| {n} \|",
    "item": lambda n: rf"^{n}\. \*\*",
}
OUTSIDE = re.compile(r"(?<![\w/])(ARCHITECTURE|FAULTS|STYLE|CLI|PLANT|LIBRARIES)\.md")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    suffixes = {".py", ".md", ".yaml", ".service", ".toml", ".js", ""}
    return [ROOT / n for n in names if Path(n).suffix in suffixes and (ROOT / n).is_file()]


def test_every_docs_reference_resolves() -> None:
    broken: list[str] = []
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for ref in REFERENCE.finditer(line):
                target = DOCS / ref["file"]
                where = f"{path.relative_to(ROOT)}:{number}: {ref[0]}"
                if not target.is_file():
                    broken.append(f"{where}: no such file")
                elif ref["what"]:
                    kind = ref["what"].rstrip("s")
                    anchor = ANCHORS[kind](ref["first"])
                    if not re.search(anchor, target.read_text(encoding="utf-8"), re.MULTILINE):
                        broken.append(f"{where}: no {kind} {ref['first']} in {ref['file']}")
    assert broken == []


def test_no_reference_points_outside_the_repository() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{number}: {match[0]}"
        for path in tracked_text_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        for match in OUTSIDE.finditer(line)
        if "shared" in line or path.parent != DOCS
    ]
    assert outside == []
