"""Own sections of docs/benchmarks.md: a benchmark writes its table between
`<!-- section:<name> -->` and `<!-- /section:<name> -->` (appended at the end the first time);
bench/run.py keeps such sections when it rewrites the file."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(name: str, body: str, doc: Path = DOC) -> None:
    """Replace (or append) the section `name` with `body`."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    block = f"<!-- section:{name} -->\n{body.rstrip()}\n<!-- /section:{name} -->"
    pattern = re.compile(rf"<!-- section:{re.escape(name)} -->.*?<!-- /section:{re.escape(name)} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text, encoding="utf-8")


def read_section(name: str, doc: Path = DOC) -> str:
    """The body of section `name` ("" when absent)."""
    match = re.search(rf"<!-- section:{re.escape(name)} -->\n(.*?)<!-- /section:{re.escape(name)} -->",
                      doc.read_text(encoding="utf-8") if doc.exists() else "", re.S)
    return match.group(1) if match else ""
