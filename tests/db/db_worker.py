"""A separate process for the migrate-once test: wait at a barrier, then open the database.

    python db_worker.py DB BARRIER_DIR INDEX

Prints one JSON line: {"index", "applied", "error"}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> int:
    db, barrier, index = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    from nerv import DatabaseService  # imported before the barrier: the race is on the file

    (barrier / f"ready-{index}").touch()
    deadline = time.monotonic() + 60
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("barrier timeout")
        time.sleep(0.0005)
    applied: list[str] = []
    error = None
    try:
        with DatabaseService(db, actor=f"opener-{index}") as service:
            applied = service.applied_migrations
            service.create_project(f"from {index}")
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"index": index, "applied": applied, "error": error}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
