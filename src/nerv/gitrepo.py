"""What git says about a folder: whether it is a repository, and its default branch.

Read with the ``git`` program (it knows worktrees, packed refs and remotes);
without git, the branch HEAD names is read from ``.git/HEAD`` directly.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT_S = 10


def _git(folder: Path, *args: str) -> str | None:
    """``git -C folder ARGS`` stdout (stripped), or None when it fails or git is missing."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def _head_file_branch(folder: Path) -> str | None:
    """The branch ``.git/HEAD`` points at (a worktree's ``.git`` file is followed)."""
    dot_git = folder / ".git"
    try:
        if dot_git.is_file():
            pointer = dot_git.read_text(encoding="utf-8").strip()
            if not pointer.startswith("gitdir:"):
                return None
            dot_git = (folder / pointer.split(":", 1)[1].strip()).resolve()
        head = (dot_git / "HEAD").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    prefix = "ref: refs/heads/"
    if not head.startswith(prefix):
        return None  # detached: HEAD holds a commit id
    return head[len(prefix):] or None


def default_branch(folder: Path) -> str | None:
    """The branch a repository's work lands on: the remote's default (``origin/HEAD``) when
    the clone knows it, else the branch checked out; None outside a repository or on a
    detached HEAD."""
    remote_head = _git(folder, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    if remote_head and "/" in remote_head:
        return remote_head.split("/", 1)[1]
    current = _git(folder, "symbolic-ref", "--quiet", "--short", "HEAD")
    if current:
        return current
    if _git(folder, "rev-parse", "--git-dir") is not None:
        return None  # a repository on a detached HEAD
    return _head_file_branch(folder)
