"""Writing one benchmark's section of docs/performance.md, leaving the others alone."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def replace_section(heading: str, body: str, doc: Path = DOC) -> None:
    """Replace the section that starts with ``heading`` (e.g. ``## Hook``) up to the next ``## ``,
    or append it when the file has none; ``body`` is everything below the heading."""
    text = doc.read_text() if doc.exists() else "# Performance\n"
    section = f"{heading}\n\n{body.strip()}\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        after = "" if end < 0 else "\n" + text[end + 1 :]
        text = text[:start] + section + after
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
