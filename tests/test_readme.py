"""The README's two set-up commands are a promise: keep them and CI in step."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must open with a bash block of set-up commands"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_the_two_commands() -> None:
    main_job, tests = _setup_commands()[:2]
    assert main_job == "pip install . && nerv demo"
    assert tests == "pip install -e '.[dev]' && python3 -m pytest"


def test_ci_runs_the_readme_test_command() -> None:
    test_command = _setup_commands()[1].split("&&")[-1].strip()
    ci = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in [line.strip() for line in ci], ".ci/run must run the README's test command"
    assert "python3 -m pip install -q -e '.[dev]'" in ci
