"""Where the tests' data files live: inside the repository, so a fresh clone needs nothing beside it.

The one place that names these folders; test modules import the constants from here.
"""

from __future__ import annotations

from pathlib import Path

TESTS_ROOT = Path(__file__).resolve().parent
REPO_ROOT = TESTS_ROOT.parent
FIXTURES = TESTS_ROOT / "fixtures"
# Real Claude Code transcripts, stream-json output and hook payloads (see its README for their origin).
SAMPLES = FIXTURES / "claude-code-samples"
# The database spec nerv implements; its SQL blocks are run against nerv's schema.
DATABASE_SPEC = FIXTURES / "spec" / "DATABASE.md"
