"""bench/run.py rewrites docs/benchmarks.md but keeps the sections other benchmarks appended."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from report_format import write_keeping_sections  # noqa: E402


def test_rewrite_keeps_marked_sections_in_order(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nold table\n\n<!-- section:gcodefile -->\n## G-code\n| a |\n<!-- /section:gcodefile -->\n\n"
                   "<!-- section:metrics -->\n## Metrics\n<!-- /section:metrics -->\n")
    write_keeping_sections(doc, "# Benchmarks\n\nnew table\n")
    text = doc.read_text()
    assert "old table" not in text and text.startswith("# Benchmarks\n\nnew table\n")
    assert text.index("<!-- section:gcodefile -->") < text.index("<!-- section:metrics -->")
    assert "## G-code\n| a |\n<!-- /section:gcodefile -->" in text and "<!-- /section:metrics -->" in text


def test_rewrite_of_a_new_file(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    write_keeping_sections(doc, "# Benchmarks\n")
    assert doc.read_text() == "# Benchmarks\n"
