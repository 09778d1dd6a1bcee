"""A fresh clone passes on its own: the tests read data only from inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

from fixture_paths import DATABASE_SPEC, REPO_ROOT, SAMPLES, TESTS_ROOT

# Ways a test could reach outside the clone: the old ``../shared`` folder, or the repository's parent.
OUTSIDE = re.compile(r"""\.\./shared|/\s*["']shared["']|parents\[\d+\]\.parent\b|REPO_ROOT\.parent\b""")


def _test_sources() -> list[str]:
    return sorted(
        str(path.relative_to(REPO_ROOT))
        for path in TESTS_ROOT.rglob("*.py")
        if path != Path(__file__).resolve()
    )


def test_no_test_file_reads_outside_the_repository() -> None:
    offenders = [
        f"{name}:{number}: {line.strip()}"
        for name in _test_sources()
        for number, line in enumerate((REPO_ROOT / name).read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == [], "use tests/fixtures, not files beside the clone:\n" + "\n".join(offenders)


def test_the_pattern_catches_the_old_ways() -> None:
    """The guard above is only as good as its pattern: prove it flags what used to be there."""
    for line in (
        'SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "claude-code-samples"',
        "# verbatim from ../shared/spec/DATABASE.md",
        'SAMPLES = REPO_ROOT.parent / "claude-code-samples"',
    ):
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search('project = service.create_project("shared")')


def test_every_sample_is_inside_the_repository_and_documented() -> None:
    assert SAMPLES.is_relative_to(REPO_ROOT) and DATABASE_SPEC.is_relative_to(REPO_ROOT)
    readme = (SAMPLES / "README.md").read_text()
    data = sorted(p.name for p in SAMPLES.iterdir() if p.name != "README.md")
    assert len(data) == 10, data
    assert [name for name in data if f"`{name}`" not in readme] == []
    assert "CREATE TABLE" in DATABASE_SPEC.read_text()
